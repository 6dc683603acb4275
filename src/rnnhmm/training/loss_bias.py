"""Where does the training loss have its minimum? (docs/loss_bias.md)

The paper trains with the debiased Sinkhorn divergence between a batch of B generated sequences
and B target sequences (one-hot, flattened to R^(KL)). Its *expected value over batches* is what
training descends, and in high dimension the expected divergence between two finite samples is
not minimised by the target distribution itself: a generator with less diverse sequences lands
closer, on average, to a finite sample of the target.

This module measures that directly, without any RNN: it evaluates the validation-style loss
(:func:`rnnhmm.training.convergence.batched_loss`, exactly the training loss) of sequences drawn
from *perturbed copies of the HMM* against fresh samples of the HMM itself:

* ``switch_scale`` multiplies every off-diagonal transition probability (1 = the HMM; < 1
  switches states less often);
* ``rare`` sets the emission probability of the rare symbol (an output of stationary frequency
  below 1/(2K), e.g. the linear chains' middle symbol at 0.01) in every state, the other symbols
  scaled to keep each row a distribution;
* ``flip``: each symbol of an HMM sample is replaced, with this probability, by an independent draw
  from the HMM's output frequencies (i.i.d. noise on top of the right dynamics).

Every variant is scored against the same target draws (a paired design): ``excess`` is the
variant's loss minus the HMM's own loss on the same targets, so a negative excess beyond its
standard error means the loss prefers the variant to the truth.

``scaling``: geomloss's eps-scaling factor (0.5, its default and the paper's; closer to 1 anneals
eps more slowly, so the divergence is nearer its value at the final eps = blur^2), or ``"exact"``:
the unregularised optimal-transport cost of each batch pair (an assignment problem between two
uniform clouds of B points, cost |x - y|^2 / 2 as geomloss's p = 2; its self-terms are 0), the
eps -> 0 limit of the debiased divergence. Separating the two says what the paper's Sinkhorn setting
adds to what optimal transport itself prefers.
"""

from __future__ import annotations

import numpy as np

from ..hmm import HMM, hmm_loglik
from .convergence import batched_loss

__all__ = ["perturbed", "loss_landscape", "likelihood_landscape", "exact_ot_loss", "batch_loss"]


def exact_ot_loss(x_idx: np.ndarray, y_idx: np.ndarray, K: int, batch_size: int) -> float:
    """Unregularised OT cost (|x - y|^2 / 2 of one-hot sequences, the optimal one-to-one matching of
    each batch of ``batch_size`` consecutive rows), mean over batches: the eps -> 0 limit of the
    debiased Sinkhorn divergence between two uniform clouds of equal size."""
    from scipy.optimize import linear_sum_assignment

    n, L = y_idx.shape
    vals = []
    for s in range(0, n, batch_size):
        x, y = x_idx[s:s + batch_size], y_idx[s:s + batch_size]
        cost = (x[:, None, :] != y[None, :, :]).sum(-1).astype(np.float64)  # |x - y|^2 / 2 for one-hot
        r, c = linear_sum_assignment(cost)
        vals.append(float(cost[r, c].mean()))
    return float(np.mean(vals))


def batch_loss(x_idx, y_idx, K: int, batch_size: int, blur: float, scaling: float | str = 0.5) -> float:
    """The validation-style loss at eps-scaling ``scaling`` (0.5: exactly the training loss), or the
    exact OT cost for ``scaling="exact"`` (:func:`exact_ot_loss`)."""
    if scaling == "exact":
        return exact_ot_loss(x_idx, y_idx, K, batch_size)
    if float(scaling) == 0.5:
        return batched_loss(x_idx, y_idx, K, batch_size, blur)
    import torch

    from .sinkhorn import onehot_sinkhorn

    eye = torch.eye(K)
    vals = []
    for s in range(0, y_idx.shape[0], batch_size):
        e = min(s + batch_size, y_idx.shape[0])
        x = eye[torch.as_tensor(x_idx[s:e], dtype=torch.long)].reshape(1, e - s, -1)
        y = eye[torch.as_tensor(y_idx[s:e], dtype=torch.long)].reshape(1, e - s, -1)
        vals.append(float(onehot_sinkhorn(x, y, blur=blur, scaling=float(scaling), need_grad=False)[0][0]))
    return float(np.mean(vals))


def perturbed(hmm: HMM, switch_scale: float = 1.0, rare: float | None = None) -> HMM:
    """A copy of ``hmm`` whose off-diagonal transitions are scaled by ``switch_scale`` and whose rare
    symbol is emitted with probability ``rare`` in every state (None: unchanged)."""
    T = hmm.transition.copy()
    off = (T - np.diag(np.diag(T))) * switch_scale
    if np.any(off.sum(1) > 1):
        raise ValueError(f"switch_scale {switch_scale} makes a row's off-diagonal mass exceed 1")
    T = off + np.diag(1.0 - off.sum(1))
    E = hmm.emission.copy()
    if rare is not None:
        k = hmm.rare_symbol()
        if k is None:
            raise ValueError(f"HMM '{hmm.name}' has no rare symbol")
        others = [j for j in range(E.shape[1]) if j != k]
        E[:, others] *= (1.0 - rare) / E[:, others].sum(1, keepdims=True)
        E[:, k] = rare
    return HMM(f"{hmm.name}_s{switch_scale:g}_r{rare}", T, E, hmm.start)


def loss_landscape(hmm: HMM, seq_len: int, batch_size: int, blur: float, reps: int,
                   switch_scales=(0.7, 0.85, 1.0, 1.15), rares=(None,), flips=(), seed: int = 0,
                   scaling: float | str = 0.5) -> list[dict]:
    """Loss of every (rare, switch_scale) variant and of every ``flips`` probability (on the HMM
    itself) against ``reps`` fresh target draws of ``hmm`` (2 batches of ``batch_size`` each). Rows:
    blur, scaling, rare, switch_scale, flip, change_rate (the variant samples' output changes per step),
    loss and its SE, excess over the HMM's own loss on the same targets and its SE (paired over draws)."""
    rng = np.random.default_rng(seed)
    n = 2 * batch_size
    targets = [hmm.sample(n, seq_len, seed=rng).astype(np.int64) for _ in range(reps)]
    K = hmm.n_outputs
    freq = hmm.output_frequencies()

    def losses(model: HMM, flip: float = 0.0) -> tuple[np.ndarray, float]:
        vals, changes = [], []
        for y in targets:
            x = model.sample(n, seq_len, seed=rng).astype(np.int64)
            if flip:
                m = rng.random(x.shape) < flip
                x[m] = rng.choice(K, size=int(m.sum()), p=freq)
            vals.append(batch_loss(x, y, K, batch_size, blur, scaling))
            changes.append(float((x[:, 1:] != x[:, :-1]).mean()))
        return np.array(vals), float(np.mean(changes))

    # every variant is built first, so an impossible one is refused before any loss is computed
    variants = [(r, s, 0.0, perturbed(hmm, s, r)) for r in rares for s in switch_scales]
    variants += [(None, 1.0, f, hmm) for f in flips]
    truth = losses(hmm)
    rows = []
    for r, s, f, v in variants:
        vals, changes = truth if (r is None and s == 1.0 and not f) else losses(v, f)
        d = vals - truth[0]
        rows.append({"blur": blur, "scaling": scaling, "seq_len": seq_len, "batch": batch_size, "reps": reps,
                     "rare": "hmm" if r is None else r, "switch_scale": s, "flip": f, "change_rate": changes,
                     "loss": float(vals.mean()), "loss_se": float(vals.std(ddof=1) / np.sqrt(reps)),
                     "excess": float(d.mean()), "excess_se": float(d.std(ddof=1) / np.sqrt(reps))})
    return rows


def likelihood_landscape(hmm: HMM, seq_len: int, n_seq: int, reps: int,
                         switch_scales=(0.7, 0.85, 1.0, 1.15), rares=(None,), seed: int = 0) -> list[dict]:
    """The likelihood objective's landscape over the same variants as :func:`loss_landscape`.

    Training by likelihood minimises E_y~HMM[-log q(y)] / L over models q; for an HMM variant q the
    exact log q(y) is the forward algorithm (:func:`rnnhmm.hmm.hmm_loglik`), so no particle filter
    and no RNN enter. Per draw, ``n_seq`` fresh HMM sequences of ``seq_len`` steps are scored under
    the HMM and under every variant; ``excess`` = mean over sequences of (log p(y) - log q(y)) / L,
    paired over ``reps`` draws: an estimate of the KL rate KL(p || q) per step, >= 0 in expectation
    with equality only at q = p (Gibbs' inequality), so the HMM is the minimum. A variant that gives
    probability 0 to a sequence the HMM emits (the rare symbol at probability 0) has an infinite
    excess; ``impossible`` is the fraction of such sequences. Rows: as loss_landscape's (loss = mean
    negative log-likelihood per step), plus ``objective`` and ``impossible``."""
    rng = np.random.default_rng(seed)
    variants = [(r, s, perturbed(hmm, s, r)) for r in rares for s in switch_scales]
    draws = [hmm.sample(n_seq, seq_len, seed=rng).astype(np.int64) for _ in range(reps)]
    truth = [hmm_loglik(hmm, y) for y in draws]
    rows = []
    for r, s, v in variants:
        losses, excess, impossible = [], [], []
        for y, lp in zip(draws, truth):
            lq = hmm_loglik(v, y)
            bad = ~np.isfinite(lq)
            impossible.append(float(bad.mean()))
            losses.append(float(-lq.mean() / seq_len) if not bad.any() else np.inf)
            excess.append(float((lp - lq).mean() / seq_len) if not bad.any() else np.inf)
        losses, excess = np.array(losses), np.array(excess)
        finite = bool(np.isfinite(excess).all())
        rows.append({"objective": "likelihood", "seq_len": seq_len, "n_seq": n_seq, "reps": reps,
                     "rare": "hmm" if r is None else r, "switch_scale": s, "change_rate": v.change_probability(),
                     "loss": float(losses.mean()),
                     "loss_se": float(losses.std(ddof=1) / np.sqrt(reps)) if finite and reps > 1 else float("nan"),
                     "excess": float(excess.mean()),
                     "excess_se": float(excess.std(ddof=1) / np.sqrt(reps)) if finite and reps > 1 else float("nan"),
                     "impossible": float(np.mean(impossible))})
    return rows
