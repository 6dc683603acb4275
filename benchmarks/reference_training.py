"""Frozen copy of the pipeline's training path before issue 14 (``rnnhmm.training.train`` at
2bfc5a5, with the ``run_rnn`` / ``NoiseRNN`` / ``gumbel_hard`` it used): one model at a time,
geomloss's Sinkhorn divergence, autograd through a Python loop over time steps.

Kept only as the *reference* of ``benchmarks/bench_training.py`` and of the equivalence test
(``tests/test_engine.py``): the pipeline trains through :func:`rnnhmm.training.engine.train_many`.
No checkpoints, snapshots or logging: just the arithmetic and the random-number order.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

_LOSS_CACHE: dict = {}


def sinkhorn_loss(blur: float = 0.2):
    key = float(blur)
    if key not in _LOSS_CACHE:
        from geomloss import SamplesLoss

        _LOSS_CACHE[key] = SamplesLoss(loss="sinkhorn", p=2, blur=blur, debias=True, scaling=0.5,
                                       backend="tensorized")
    return _LOSS_CACHE[key]


def run_rnn(W_ih, W_hh, noise, h0=None):
    drive = noise @ W_ih.transpose(-1, -2)
    h = drive.new_zeros(*drive.shape[:-2], W_hh.shape[-1]) if h0 is None else h0
    W_hh_T = W_hh.transpose(-1, -2)
    states = []
    for d in drive.unbind(-2):
        h = torch.relu(d + h @ W_hh_T)
        states.append(h)
    return torch.stack(states, dim=-2)


def gumbel_hard(logits, tau=1.0):
    u = torch.rand(logits.shape, device=logits.device, dtype=logits.dtype)
    g = -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))
    soft = torch.softmax((logits + g) / tau, dim=-1)
    hard = torch.nn.functional.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


class NoiseRNN(nn.Module):
    def __init__(self, hidden_size, input_dim, n_outputs=3, random_h0=True):
        super().__init__()
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_dim).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.readout = nn.Parameter(torch.empty(n_outputs, hidden_size).uniform_(-bound, bound))
        self.random_h0 = random_h0

    def forward(self, noise, tau=1.0):
        B = noise.shape[0]
        h0 = torch.randn(B, self.weight_hh.shape[0], device=noise.device) if self.random_h0 else None
        hidden = run_rnn(self.weight_ih, self.weight_hh, noise, h0)
        return gumbel_hard(hidden @ self.readout.T, tau)


def reference_train(cfg, train_obs: np.ndarray, val_obs: np.ndarray, n_outputs: int = 3,
                    device: str | torch.device = "cpu") -> dict:
    """The old ``train()``'s loop. ``cfg``: anything with TrainConfig's attributes. Returns the
    per-epoch losses and the last weights."""
    import random

    device = torch.device(device)
    eye = torch.eye(n_outputs, device=device)
    y_train = eye[torch.as_tensor(train_obs, dtype=torch.long, device=device)]
    y_val = eye[torch.as_tensor(val_obs, dtype=torch.long, device=device)]
    L = y_train.shape[1]
    loss_fn = sinkhorn_loss(cfg.blur)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    model = NoiseRNN(cfg.hidden, cfg.input_dim, n_outputs, random_h0=cfg.random_h0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)

    def batches(n):
        return [(s, min(s + cfg.batch_size, n)) for s in range(0, n, cfg.batch_size)]

    train_hist, val_hist = [], []
    for _ in range(cfg.epochs):
        losses = []
        for s, e in batches(y_train.shape[0]):
            noise = torch.randn(e - s, L, cfg.input_dim, device=device)
            out = model(noise, cfg.tau)
            loss = loss_fn(out.reshape(e - s, -1), y_train[s:e].reshape(e - s, -1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            vl = []
            for s, e in batches(y_val.shape[0]):
                noise = torch.randn(e - s, L, cfg.input_dim, device=device)
                out = model(noise, cfg.tau)
                vl.append(loss_fn(out.reshape(e - s, -1), y_val[s:e].reshape(e - s, -1)).item())
        train_hist.append(float(np.mean(losses)))
        val_hist.append(float(np.mean(vl)))
    last = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"train_loss": train_hist, "val_loss": val_hist, "last": last}
