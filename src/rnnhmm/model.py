"""The noise-driven ReLU RNN of the paper (docs/training.md B.1) and its sampling.

    h_t = ReLU(W_ih x_t + W_hh h_{t-1}),   x_t ~ N(0, I_d),   y_t = W_out h_t,
    o_t = one_hot(argmax(y_t + g_t)),      g_t ~ Gumbel(0, 1)   (hard Gumbel-softmax, tau = 1)

No biases. Shapes: ``W_ih`` (H, D), ``W_hh`` (H, H), ``W_out`` (K, H). Every function accepts an
optional leading *model* axis S on the weights (S, H, D) etc. together with inputs (S, B, ...),
so several models of the same shape run as one batched computation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["Weights", "NoiseRNN", "run_rnn", "recurrence", "driven_recurrence", "project_inputs", "gumbel_noise",
           "gumbel_hard", "generate_outputs", "load_weights"]


class Weights(NamedTuple):
    """Plain weight tensors of one model (or of S models with a leading axis)."""

    W_ih: torch.Tensor  # (H, D)
    W_hh: torch.Tensor  # (H, H)
    W_out: torch.Tensor  # (K, H)

    @property
    def hidden_size(self) -> int:
        return self.W_hh.shape[-1]

    @property
    def input_dim(self) -> int:
        return self.W_ih.shape[-1]

    @property
    def n_outputs(self) -> int:
        return self.W_out.shape[-2]

    def to(self, *args, **kwargs) -> Weights:
        return Weights(*(w.to(*args, **kwargs) for w in self))

    def double(self) -> Weights:
        """The same weights in float64 (the mechanism analyses run in double precision)."""
        return Weights(*(w.double() for w in self))


_CPU_PER_MODEL = True  # tests switch it off to run the accelerators' branch on the CPU


def addmm_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """out[s] += a[s] @ b[s] for every model s, in place; ``out`` a (S, B, H) view whose
    per-model blocks are contiguous. On the CPU one in-place addmm per model (a batched matmul
    into a strided output would go through a temporary and a copy); elsewhere one batched matmul."""
    if out.device.type == "cpu" and _CPU_PER_MODEL:
        for s in range(out.shape[0]):
            out[s].addmm_(a[s], b[s])
    else:
        out.baddbmm_(a, b)


class _Recurrence(torch.autograd.Function):
    """h_t = ReLU(a_t), a_t = drive_t + W_hh h_{t-1}, for S models: drive (S, L, B, H) time-major,
    W_hh (S, H, H), h0 (S, B, H) -> states (S, L, B, H).

    Forward: per step one matmul-add into the output and an in-place ReLU. Backward:
    dA_t = (G_t + dA_{t+1} W_hh) * [h_t > 0] per step; the weight gradient is one matmul over all
    steps instead of one per step, and no autograd graph is built per step.
    """

    @staticmethod
    def forward(ctx, drive, W_hh, h0):
        # the states overwrite the drive in place (a_t = drive_t + W_hh h_{t-1}, then ReLU):
        # no per-step copy of the drive into a fresh output
        states = drive
        ctx.mark_dirty(states)
        _recur_inplace(states, W_hh, h0)
        ctx.save_for_backward(W_hh, h0, states)
        return states

    @staticmethod
    @torch.profiler.record_function("rnn backward")
    def backward(ctx, G):
        W_hh, h0, states = ctx.saved_tensors
        return _recurrence_backward(G, W_hh, h0, states, ctx.needs_input_grad[2])


def _recur_inplace(states: torch.Tensor, W_hh: torch.Tensor, h0: torch.Tensor) -> None:
    """states (S, L, B, H) holds the drive on entry and h_1..h_L on exit (time-major, in place)."""
    W_T = W_hh.transpose(1, 2)
    h = h0
    for t in range(states.shape[1]):
        h_t = states[:, t]
        addmm_(h_t, h, W_T)
        h_t.relu_()
        h = h_t


def _recurrence_backward(G, W_hh, h0, states, need_h0: bool):
    """(dA, dW_hh, dh0 or None) of the recurrence: dA_t = (G_t + dA_{t+1} W_hh) * [h_t > 0] per
    step, dA (S, L, B, H) a fresh contiguous tensor; dW_hh as one matmul over all steps."""
    S, L, B, H = states.shape
    dA = G.clone(memory_format=torch.contiguous_format)
    mask = torch.sign(states)  # ReLU outputs: 1 where h_t > 0, else 0
    nxt = None
    for t in range(L - 1, -1, -1):
        d_t = dA[:, t]
        if nxt is not None:
            addmm_(d_t, nxt, W_hh)
        d_t.mul_(mask[:, t])
        nxt = d_t
    # dW_hh = sum_t dA_t^T h_{t-1}: one matmul over steps 1..L-1 plus the h0 term
    dW = torch.bmm(dA[:, 0].transpose(1, 2), h0)
    if L > 1:
        dW.baddbmm_(dA[:, 1:].reshape(S, (L - 1) * B, H).transpose(1, 2), states[:, :-1].reshape(S, (L - 1) * B, H))
    dh0 = torch.bmm(dA[:, 0], W_hh) if need_h0 else None
    return dA, dW, dh0


class _DrivenRecurrence(torch.autograd.Function):
    """The input projection and the recurrence in one function: noise (S, B, L, D) batch-major,
    W_ih (S, H, D), W_hh (S, H, H), h0 (S, B, H) -> states (S, L, B, H), time-major.

    Same numbers as ``recurrence(project_inputs(W_ih, noise), W_hh, h0)``; what it saves is that
    function's copy of the drive, or, where the recurrence wrote into the projection's output in
    place (the engine before), autograd's bookkeeping for an in-place write into a view: a
    CopySlices node that zero-fills, copies and clones the full (S, L, B, H) gradient per backward
    pass (peak memory -20% at H = 150, d = 100, docs/training.md). W_ih's gradient is the
    projection's own matmul, x^T dA, computed as autograd computes it for ``torch.bmm(x, W_ih^T)``.
    """

    @staticmethod
    def forward(ctx, noise, W_ih, W_hh, h0):
        S, B, L, D = noise.shape
        x = noise.transpose(1, 2).reshape(S, L * B, D)
        states = torch.bmm(x, W_ih.transpose(1, 2)).view(S, L, B, W_ih.shape[1])
        _recur_inplace(states, W_hh, h0)
        ctx.save_for_backward(x, W_ih, W_hh, h0, states)
        ctx.shape = (S, B, L, D)
        return states

    @staticmethod
    @torch.profiler.record_function("rnn backward")
    def backward(ctx, G):
        x, W_ih, W_hh, h0, states = ctx.saved_tensors
        S, B, L, D = ctx.shape
        dA, dW, dh0 = _recurrence_backward(G, W_hh, h0, states, ctx.needs_input_grad[3])
        dA_flat = dA.view(S, L * B, -1)
        dW_ih = torch.bmm(x.transpose(1, 2), dA_flat).transpose(1, 2) if ctx.needs_input_grad[1] else None
        dnoise = None
        if ctx.needs_input_grad[0]:
            dnoise = torch.bmm(dA_flat, W_ih).view(S, L, B, D).transpose(1, 2)
        return dnoise, dW_ih, dW, dh0


def driven_recurrence(W_ih: torch.Tensor, noise: torch.Tensor, W_hh: torch.Tensor,
                      h0: torch.Tensor | None = None) -> torch.Tensor:
    """States of S models driven by ``noise``, time-major: W_ih (S, H, D), noise (S, B, L, D),
    W_hh (S, H, H), h0 (S, B, H) or None -> (S, L, B, H). Under autograd one function with a
    hand-written backward (:class:`_DrivenRecurrence`); without, the same in-place loop."""
    S, B, L, D = noise.shape
    if h0 is None:
        h0 = noise.new_zeros(S, B, W_hh.shape[-1])
    if torch.is_grad_enabled() and any(t.requires_grad for t in (noise, W_ih, W_hh, h0)):
        return _DrivenRecurrence.apply(noise, W_ih, W_hh, h0)
    states = project_inputs(W_ih, noise)
    _recur_inplace(states, W_hh, h0)
    return states


def recurrence(drive: torch.Tensor, W_hh: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """States of S models, time-major: drive (S, L, B, H), W_hh (S, H, H), h0 (S, B, H) or None.

    Differentiable (custom backward); without autograd, the same loop with no graph. ``drive`` is
    left unchanged (the states go into a contiguous copy; :func:`driven_recurrence` is the
    projection and recurrence without that copy).
    """
    S, L, B, H = drive.shape
    if h0 is None:
        h0 = drive.new_zeros(S, B, H)
    return _Recurrence.apply(drive.clone(memory_format=torch.contiguous_format), W_hh, h0)


def project_inputs(W_ih: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """W_ih x_t for every step of S models, time-major: W_ih (S, H, D), noise (S, B, L, D) ->
    (S, L, B, H), as one batched matmul over (S, L*B, D) (the weights are not copied per sequence)."""
    S, B, L, D = noise.shape
    x = noise.transpose(1, 2).reshape(S, L * B, D)
    return torch.bmm(x, W_ih.transpose(1, 2)).view(S, L, B, W_ih.shape[1])


def run_rnn(W_ih: torch.Tensor, W_hh: torch.Tensor, noise: torch.Tensor,
            h0: torch.Tensor | None = None) -> torch.Tensor:
    """Hidden states h_1..h_L driven by ``noise``.

    One model: weights (H, D), (H, H), noise (..., B, L, D), h0 (..., B, H) or None for zeros.
    S models: weights (S, H, D), (S, H, H), noise (S, B, L, D), h0 (S, B, H). Returns (..., B, L, H).
    The input projection of all steps is one matmul, (S, B*L, D) @ (S, D, H) for S models (W_ih is
    not copied per sequence); only the recurrence loops over time. Under autograd the recurrence
    is :func:`recurrence` (custom backward); without, the plain loop (the numbers the analyses
    have always had, bit for bit).
    """
    if W_ih.dim() == 3:
        S, B, L, D = noise.shape
        drive = torch.bmm(noise.reshape(S, B * L, D), W_ih.transpose(1, 2)).view(S, B, L, W_ih.shape[1])
    else:
        drive = noise @ W_ih.transpose(-1, -2)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (W_ih, W_hh, noise, h0)):
        d = drive if W_ih.dim() == 3 else drive.reshape(1, -1, *drive.shape[-2:])
        hh = W_hh if W_hh.dim() == 3 else W_hh.unsqueeze(0)
        h = None if h0 is None else h0.reshape(d.shape[0], -1, h0.shape[-1])
        states = recurrence(d.transpose(1, 2), hh, h)  # (S, L, B, H)
        return states.transpose(1, 2).reshape(drive.shape)
    h = drive.new_zeros(*drive.shape[:-2], W_hh.shape[-1]) if h0 is None else h0
    W_hh_T = W_hh.transpose(-1, -2)
    states = []
    for d in drive.unbind(-2):
        h = torch.relu(d + h @ W_hh_T)
        states.append(h)
    return torch.stack(states, dim=-2)


def _draw(fn, shape, generator, like: torch.Tensor) -> torch.Tensor:
    """``fn`` (torch.rand / randn) of ``shape`` from ``generator`` on the generator's own device,
    then moved to ``like``'s device: the same numbers wherever the weights live."""
    dev = generator.device if generator is not None else like.device
    if dev.type == "meta":
        dev = torch.device("cpu")
    return fn(shape, generator=generator, device=dev, dtype=like.dtype).to(like.device)


def gumbel_noise(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel(0, 1) samples with the shape, dtype and device of ``like`` (drawn on the
    generator's device when one is given)."""
    u = _draw(torch.rand, like.shape, generator, like)
    exp_sample = (-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10)  # Exp(1)
    return -torch.log(exp_sample)


def gumbel_hard(logits: torch.Tensor, tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Hard Gumbel-softmax with the straight-through gradient (as F.gumbel_softmax(hard=True)).

    Forward: one-hot of argmax(logits + g); backward: gradient of softmax((logits + g) / tau).
    """
    g = gumbel_noise(logits, generator)
    soft = torch.softmax((logits + g) / tau, dim=-1)
    hard = torch.nn.functional.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


class NoiseRNN(nn.Module):
    """Trainable model. Parameters ``weight_ih`` (H, D), ``weight_hh`` (H, H), ``readout`` (K, H),
    initialised as PyTorch's nn.RNN / nn.Linear defaults: U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, hidden_size: int, input_dim: int, n_outputs: int = 3, random_h0: bool = True):
        super().__init__()
        if hidden_size < 1 or input_dim < 1 or n_outputs < 2:
            raise ValueError(f"bad sizes: hidden {hidden_size}, input {input_dim}, outputs {n_outputs}")
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_dim).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.readout = nn.Parameter(torch.empty(n_outputs, hidden_size).uniform_(-bound, bound))
        self.random_h0 = random_h0

    @property
    def hidden_size(self) -> int:
        return self.weight_hh.shape[0]

    @property
    def input_dim(self) -> int:
        return self.weight_ih.shape[1]

    def weights(self) -> Weights:
        return Weights(self.weight_ih.detach(), self.weight_hh.detach(), self.readout.detach())

    def forward(self, noise: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """noise (B, L, D) -> sampled one-hot outputs (B, L, K), differentiable (straight-through).

        h_0 ~ N(0, I) per sequence and call when ``random_h0`` (the paper's ``init=True``), else 0.
        """
        B = noise.shape[0]
        h0 = torch.randn(B, self.hidden_size, device=noise.device) if self.random_h0 else None
        hidden = run_rnn(self.weight_ih, self.weight_hh, noise, h0)
        return gumbel_hard(hidden @ self.readout.T, tau)


@torch.no_grad()
def generate_outputs(weights: Weights, n_seq: int, seq_len: int, uniform_first: bool = True,
                     generator: torch.Generator | None = None, chunk: int = 8192) -> torch.Tensor:
    """Sample output symbols of a trained model for evaluation (docs/training.md B.2), as int64 (n_seq, seq_len).

    Starts from h_0 = 0. With ``uniform_first`` (the reference's evaluation protocol) the first
    symbol is read from h_0 (logits 0, hence uniform) and the rest from h_1..h_{L-1}; otherwise
    all L symbols come from h_1..h_L. Sampling o_t ~ Categorical(softmax(y_t)) is the forward
    pass of the hard Gumbel-softmax. Works with the weights on any device; the random numbers come
    from ``generator``'s device (so a CPU generator gives the same samples for CPU or GPU weights);
    the result is on the weights' device.
    """
    W_ih, W_hh, W_out = weights
    out = []
    for start in range(0, n_seq, chunk):
        b = min(chunk, n_seq - start)
        steps = seq_len - 1 if uniform_first else seq_len
        noise = _draw(torch.randn, (b, steps, W_ih.shape[1]), generator, W_ih)
        hidden = run_rnn(W_ih, W_hh, noise)
        if uniform_first:
            hidden = torch.cat([hidden.new_zeros(b, 1, hidden.shape[-1]), hidden], dim=1)
        logits = hidden @ W_out.T
        out.append((logits + gumbel_noise(logits, generator)).argmax(dim=-1))
    return torch.cat(out, dim=0)


def load_weights(path, kind: str = "last", map_location="cpu") -> Weights:
    """Read the ``kind`` ('last' or 'best') weights from a model file written by this pipeline
    (training, or the import of an external model). Its pickle holds numpy arrays and records, so it
    is read with ``weights_only=False``: never point it at a file from elsewhere (use
    :func:`rnnhmm.external_weights.load_reference_weights`)."""
    blob = torch.load(path, map_location=map_location, weights_only=False)
    if kind not in blob:
        raise KeyError(f"{path}: no '{kind}' weights; has {sorted(k for k in blob if k in ('last', 'best'))}")
    sd = blob[kind]
    return Weights(sd["weight_ih"], sd["weight_hh"], sd["readout"])
