"""Emergence of the orbit during training (docs/mechanism.md E.10): per-epoch transition rate, unstable
and complex Jacobian fractions, the bifurcation epoch, onsets that persist and the exit from the
i.i.d. loss plateau. :func:`run` is the whole analysis of one model (``workflow/scripts/mech_evolution.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from rnnhmm.model import Weights

from .circuit import make_generator, masked_spectrum_counts, output_change_times
from .measures import DIVERGE_NORM, display_epochs, evaluated_epoch_indices, persistent_onset, plateau_exit
from .numerics import fit_pca


def _dwell_stats(outputs: torch.Tensor) -> tuple[float, float]:
    """(transition rate = mean of 1/dwell, mean dwell) of outputs (T,); (0, T) with < 2 changes."""
    ct = output_change_times(outputs)
    dwell = torch.diff(ct).double()
    if dwell.numel() == 0:
        return 0.0, float(outputs.shape[0])
    return float((1.0 / dwell).mean()), float(dwell.mean())


def _run_models(W_ih: torch.Tensor, W_hh: torch.Tensor, noise: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """E models driven by one shared noise: W_ih (E, H, D), W_hh (E, H, H), noise (T, D),
    h0 (E, H) -> states h_1..h_T (E, T, H)."""
    drive = torch.einsum("td,ehd->eth", noise, W_ih)
    W_hh_T = W_hh.transpose(-1, -2)
    h = h0.unsqueeze(1)                                                    # (E, 1, H)
    states = []
    for t in range(noise.shape[0]):
        h = torch.relu(drive[:, t:t + 1] + h @ W_hh_T)
        states.append(h)
    return torch.cat(states, 1) if states else drive


def evolution_metrics(weights_list: Sequence[Weights], T: int = 5000, warmup: int = 10,
                      generator: torch.Generator | None = None, seed: int | None = 0,
                      h0: torch.Tensor | None = None, sigma: float = 1.0, h0_scale: float = 0.1,
                      h_eps: float = 0.05, trials: int = 20, tdh2: int = 10, re_tol: float = 0.1,
                      im_min: float = 0.05, chunk: int = 512, return_states: bool = False) -> dict:
    """Per-checkpoint dynamics metrics along training (docs/mechanism.md E.10, ``second_order``).

    All checkpoints (same H, D, K) see the SAME h0, warm-up noise (warmup, D), main noise (T, D),
    perturbations and perturbation noises, drawn once from ``generator`` (or ``seed``); each
    epoch's warm-up starts afresh from h0 (no state is carried between epochs). Epochs run as
    one batch. h0 defaults to (2 randn - 1) * h0_scale; noise has std ``sigma``.

    Per epoch (all over the T main steps after warm-up; outputs argmax(W_out h)):
    * ``sampled_change_rate`` fraction of steps whose Gumbel-sampled output (as the model emits
      it) changes: comparable with the same statistic on HMM samples (docs/claims.md);
    * ``transition_rate`` mean of 1/dwell over the dwell times between output changes
      (0 with fewer than 2 changes), ``mean_dwell`` (T with fewer than 2 changes), in steps;
    * with J_t = diag(1[h_t > 0]) W_hh (the exact step Jacobian): ``unstable_fraction`` fraction of
      steps with any |lambda| > 1, ``complex_fraction`` fraction with an eigenvalue with
      |Re w| < re_tol and Im w > im_min, and the mean counts ``unstable_count``, ``complex_count``;
    * ``dh2`` (E, H) expected second-order perturbation, mean over ``trials``: from the warmed
      state plus (2 randn - 1) * h_eps and tdh2 - 1 noisy steps, the noise-free path
      h_{k+1} = ReLU(W_hh h_k) with D_k = 1[h_k > 0] over tdh2 steps, d1_0 = W_ih w_0,
      d1_k = W_hh D_{k-1} d1_{k-1} + W_ih w_k, d2 <- W_hh D_u d2 + 1/2 W_hh (d1_u^2 * D_u), u < tdh2.
    Returns a dict of float64 tensors (E,) (``dh2`` (E, H)), plus ``outputs`` (E, T) int64,
    ``max_norm`` (E,) the largest |h| of the run (inf where non-finite), ``finite`` (E,) bool (False
    where the trajectory diverged: some |h| > DIVERGE_NORM, the project's divergence bound, or a
    non-finite state; such a snapshot's metrics are meaningless and every consumer excludes and
    counts it) and ``states`` (E, T, H) if requested.
    """
    if len(weights_list) == 0:
        raise ValueError("weights_list is empty")
    W_ih = torch.stack([w.W_ih for w in weights_list])
    W_hh = torch.stack([w.W_hh for w in weights_list])
    W_out = torch.stack([w.W_out for w in weights_list])
    E, H, D = W_ih.shape
    dtype = W_hh.dtype
    gen = make_generator(generator, seed)
    kw = dict(generator=gen, dtype=dtype)
    h_start = (2 * torch.randn(H, **kw) - 1) * h0_scale
    if h0 is not None:
        h_start = h0.to(dtype)
    warm_noise = torch.randn(warmup, D, **kw) * sigma
    noise = torch.randn(T, D, **kw) * sigma
    pert = (2 * torch.randn(trials, H, **kw) - 1) * h_eps
    pert_noise = torch.randn(trials, max(tdh2 - 1, 0), D, **kw) * sigma
    omega = torch.randn(trials, tdh2, D, **kw) * sigma

    h_warm = h_start.expand(E, H)
    if warmup > 0:
        h_warm = _run_models(W_ih, W_hh, warm_noise, h_warm)[:, -1]       # (E, H)
    states = _run_models(W_ih, W_hh, noise, h_warm)                       # (E, T, H)
    outputs = (states @ W_out.transpose(-1, -2)).argmax(-1)              # (E, T)
    norms = states.norm(dim=-1)                                          # (E, T)
    max_norm = norms.amax(1).double() if T else torch.zeros(E, dtype=torch.float64)
    max_norm[~torch.isfinite(norms).all(1)] = float("inf")

    rate = torch.zeros(E, dtype=torch.float64)
    dwell = torch.zeros(E, dtype=torch.float64)
    unst_frac, cplx_frac = torch.zeros_like(rate), torch.zeros_like(rate)
    unst_cnt, cplx_cnt = torch.zeros_like(rate), torch.zeros_like(rate)
    for e in range(E):
        rate[e], dwell[e] = _dwell_stats(outputs[e])
        masks, inverse = torch.unique(states[e] > 0, dim=0, return_inverse=True)
        # J_t = diag(1[h_t > 0]) W_hh, once per distinct mask, on the active units only
        u_unst, u_cplx = masked_spectrum_counts(masks, W_hh[e], re_tol, im_min, chunk)
        n_unst = u_unst[inverse].double()
        n_cplx = u_cplx[inverse].double()
        unst_frac[e], cplx_frac[e] = (n_unst > 0).double().mean(), (n_cplx > 0).double().mean()
        unst_cnt[e], cplx_cnt[e] = n_unst.mean(), n_cplx.mean()

    # expected second-order perturbation, batched over (E, trials)
    W_hh_T, W_ih_T = W_hh.transpose(-1, -2), W_ih.transpose(-1, -2)    # (E, H, H), (E, D, H)
    hp = h_warm[:, None, :] + pert[None]                                 # (E, trials, H)
    for j in range(pert_noise.shape[1]):
        hp = torch.relu(hp @ W_hh_T + pert_noise[:, j] @ W_ih_T)
    d1 = d2 = Dk_prev = None
    for k in range(tdh2):
        Dk = (hp > 0).to(dtype)
        inp = omega[:, k] @ W_ih_T
        d1 = inp if d1 is None else (Dk_prev * d1) @ W_hh_T + inp
        d2 = torch.zeros_like(hp) if d2 is None else d2
        d2 = (Dk * d2) @ W_hh_T + 0.5 * ((d1 * d1 * Dk) @ W_hh_T)
        Dk_prev = Dk
        hp = torch.relu(hp @ W_hh_T)
    dh2 = d2.mean(1).double() if d2 is not None else torch.zeros(E, H, dtype=torch.float64)

    # outputs sampled as the model emits them (Gumbel-max, noise shared by every epoch; drawn last
    # so the other draws are unchanged): their change rate is the statistic the HMM is compared on
    gumbel = -torch.log(-torch.log(torch.rand(T, W_out.shape[1], **kw).clamp(1e-12, 1 - 1e-12)))
    sampled = (states @ W_out.transpose(-1, -2) + gumbel).argmax(-1)
    sampled_rate = (sampled[:, 1:] != sampled[:, :-1]).double().mean(1)
    out = {"transition_rate": rate, "mean_dwell": dwell, "sampled_change_rate": sampled_rate,
           "unstable_fraction": unst_frac,
           "complex_fraction": cplx_frac, "unstable_count": unst_cnt, "complex_count": cplx_cnt,
           "dh2": dh2, "outputs": outputs, "max_norm": max_norm, "finite": max_norm <= DIVERGE_NORM}
    if return_states:
        out["states"] = states
    return out


def bifurcation_epoch(epochs, complex_fraction, threshold: float = 0.02):
    """First epoch whose complex-eigenvalue fraction jumps by more than ``threshold`` in absolute
    value from the previous evaluated epoch; returns ``epochs[i + 1]`` for the first such jump i
    (the first epoch in the new regime; the reference reports ep_rate * i), or None."""
    cf = torch.as_tensor(complex_fraction, dtype=torch.float64).reshape(-1)
    ep = list(epochs)
    if len(ep) != cf.numel():
        raise ValueError(f"{len(ep)} epochs but {cf.numel()} fractions")
    jumps = torch.nonzero(torch.diff(cf).abs() > threshold).reshape(-1)
    return None if jumps.numel() == 0 else ep[int(jumps[0]) + 1]


def second_loss_drop(loss_per_epoch, epochs=None, smooth: int = 5, rel_threshold: float = 0.1,
                     min_gap: int | None = None):
    """Epoch of the second drop of a training-loss curve (double descent), or None.

    Rule: smooth the loss with a centred moving average of ``smooth`` epochs (edge-replicated),
    take the drop rate r_i = s_i - s_{i+1}; a *drop* is a maximal run of epochs with
    r_i > rel_threshold * max(r); runs closer than ``min_gap`` epochs (default ``smooth``) are
    merged. With at least two drops (i.e. separated by a plateau), returns ``epochs[i]`` for the
    steepest step i of the second drop; otherwise None (e.g. a monotone exponential decay has a
    single drop). ``epochs`` defaults to 0..n-1.
    """
    loss = torch.as_tensor(loss_per_epoch, dtype=torch.float64).reshape(-1)
    n = loss.numel()
    ep = list(range(n)) if epochs is None else list(epochs)
    if len(ep) != n:
        raise ValueError(f"{len(ep)} epochs but {n} losses")
    if n < 3:
        return None
    w = max(1, int(smooth))
    if w > 1:
        left, right = (w - 1) // 2, w // 2
        padded = torch.cat([loss[:1].expand(left), loss, loss[-1:].expand(right)])
        s = padded.unfold(0, w, 1).mean(-1)
    else:
        s = loss
    r = s[:-1] - s[1:]
    rmax = float(r.max())
    if not rmax > 0:
        return None
    above = (r > rel_threshold * rmax).tolist()
    runs = []
    for i, a in enumerate(above):
        if a and (i == 0 or not above[i - 1]):
            runs.append([i, i])
        elif a:
            runs[-1][1] = i
    gap = w if min_gap is None else int(min_gap)
    merged = []
    for run in runs:
        if merged and run[0] - merged[-1][1] - 1 < gap:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    if len(merged) < 2:
        return None
    lo, hi = merged[1]
    i = lo + int(torch.argmax(r[lo:hi + 1]))
    return ep[i]


# ----------------------------------------------------------------------------------------------

def warmup_epochs(blob: dict) -> int:
    """Epochs of the warm-up curriculum (validated on shorter sequences) of a training record:
    ``training.warmup_epochs`` of its provenance (0 without a curriculum, or when the warm-up length
    is not shorter than the sequences; the engine then trains at full length throughout)."""
    p = (blob.get("provenance") or {}).get("params") or {}
    n, lw = int(p.get("warmup_epochs") or 0), int(p.get("warmup_seq_len") or 0)
    seq_len = p.get("seq_len")
    if n <= 0 or lw <= 0 or (seq_len is not None and lw >= int(seq_len)):
        return 0
    return n


def phase_starts(warmup: int, n_epochs: int) -> list[int]:
    """Positions (0-based, into the per-epoch loss) where a new curriculum phase starts: the switch
    to full-length sequences after ``warmup`` epochs, when it falls inside the run."""
    return [warmup] if 0 < warmup < n_epochs else []


def clean(x):
    """Floats for JSON: NaN / inf become None."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return float(a) if np.isfinite(a) else None
    return [clean(r) for r in a] if a.ndim > 1 else [float(v) if np.isfinite(v) else None for v in a]


ONSET_KEYS = ("unstable_fraction", "complex_fraction")


def onset_repeat(weights: list, epochs: list[int], out: dict, kw: dict, p: dict, window: int = 3) -> dict:
    """The persistent onsets again with an independent noise run (seed + 1) on the snapshots within
    ``window`` evaluated epochs of each onset (the rest as in the first run): how far the detector
    moves with the noise, the onset's measured uncertainty beside the snapshot stride. Per key:
    the repeated onset (None where none), absent where the first run found none."""
    idx = sorted({j for k in ONSET_KEYS if out["onsets"][k] is not None
                  for j in range(max(0, epochs.index(out["onsets"][k]) - window),
                                 min(len(epochs), epochs.index(out["onsets"][k]) + window + 1))})
    if not idx:
        return {}
    m2 = evolution_metrics([weights[j] for j in idx], **{**kw, "seed": kw["seed"] + 1})
    rep = {}
    for k in ONSET_KEYS:
        if out["onsets"][k] is None:
            continue
        vals, fin = list(out[k]), list(out["finite"])
        for jj, j in enumerate(idx):
            v = float(m2[k][jj])
            vals[j], fin[j] = (v if np.isfinite(v) else None), bool(m2["finite"][jj])
        rep[k] = persistent_onset(epochs, vals, p["bifurcation_threshold"], finite=fin,
                                  min_frac=p["onset_min_fraction"])
    return rep


def run(blob: dict, evo: dict, settings: dict, seed: int, model: str, hmm: str, log=print) -> dict:
    """The emergence analysis of one model (settings: config ``mechanism.evolution``) from its
    training record ``blob`` (model.pt: losses) and per-epoch weights ``evo`` (evolution.pt): the
    JSON record, without provenance."""
    p = settings
    t0 = time.perf_counter()
    val_loss = [float(v) for v in blob["val_loss"]]
    train_loss = [float(v) for v in blob["train_loss"]]
    out = {"model": model, "hmm": hmm, "val_loss": val_loss, "train_loss": train_loss,
           "second_loss_drop": second_loss_drop(val_loss, epochs=range(1, len(val_loss) + 1))}
    snapshots = list(evo.get("epochs", []))
    if not snapshots:
        raise ValueError(f"the evolution snapshots hold no per-epoch weights (is {model} in config.evolution.match?)")
    idx = evaluated_epoch_indices(snapshots, p["stride"])
    epochs = [int(snapshots[i]) for i in idx]
    weights = [Weights(evo["weight_ih"][i].double(), evo["weight_hh"][i].double(), evo["readout"][i].double())
               for i in idx]
    kw = dict(T=p["T"], warmup=p["warmup"], seed=seed, trials=p["trials"], tdh2=p["tdh2"])
    log(f"{model}: {len(epochs)} of {len(snapshots)} snapshots (stride {p['stride']}), T={p['T']}")
    m = evolution_metrics(weights, **kw)
    log(f"metrics in {time.perf_counter() - t0:.1f} s")
    cf = m["complex_fraction"].numpy()
    bif = bifurcation_epoch(epochs, cf, p["bifurcation_threshold"])
    rate = m["transition_rate"].numpy()
    finite = m["finite"].numpy()
    last = rate[-p["converged_last"]:][finite[-p["converged_last"]:]]
    out.update(
        epochs=epochs, snapshot_epochs=[int(e) for e in snapshots], stride=p["stride"],
        transition_rate=clean(rate), mean_dwell=clean(m["mean_dwell"]),
        unstable_fraction=clean(m["unstable_fraction"]), complex_fraction=clean(cf),
        unstable_count=clean(m["unstable_count"]), complex_count=clean(m["complex_count"]),
        finite=finite.tolist(), sqrt_abs_dh2=clean(np.sqrt(np.abs(m["dh2"].numpy()))),
        bifurcation_epoch=bif, converged_rate=float(last.mean()) if last.size else None,
        converged_last=p["converged_last"], sampled_change_rate=clean(m["sampled_change_rate"]),
        fraction_threshold=p["bifurcation_threshold"], onset_min_fraction=p["onset_min_fraction"],
        T=p["T"],
    )
    # onsets that persist and the exit from the loss plateau (what the claims test; docs/claims.md)
    fin = finite.tolist()
    out["onsets"] = {k: persistent_onset(epochs, out[k], p["bifurcation_threshold"], finite=fin,
                                              min_frac=p["onset_min_fraction"])
                     for k in ONSET_KEYS}
    out["onset_repeat"] = onset_repeat(weights, epochs, out, kw, p)
    out["warmup_epochs"] = warmup_epochs(blob)
    out["plateau_exit"] = plateau_exit(val_loss, phase_starts=phase_starts(out["warmup_epochs"], len(val_loss)))
    # divergence is a result: snapshots past the bound are excluded and counted (docs/claims.md)
    out["divergence_bound"] = DIVERGE_NORM
    out["max_norm"] = [float(x) if np.isfinite(x) else None for x in m["max_norm"].numpy()]
    out["diverged_epochs"] = [e for e, f in zip(epochs, fin) if not f]
    out["n_diverged"] = len(out["diverged_epochs"])
    out["non_finite_epochs"] = out["diverged_epochs"]   # older name, kept for readers of old files
    if out["diverged_epochs"]:
        log(f"{out['n_diverged']} of {len(epochs)} snapshots diverge (|h| > {DIVERGE_NORM:g} or non-finite; "
            f"excluded from onsets and rates): {out['diverged_epochs']}")
    log(f"persistent onsets {out['onsets']}; loss plateau exit {out['plateau_exit']}")
    # PCA across selected epochs: the same noise and h0 for every epoch (same seed), own PCA(2) each
    shown = display_epochs(epochs, p["n_pca_epochs"], bif)
    sel = [epochs.index(e) for e in shown]
    ms = evolution_metrics([weights[i] for i in sel], return_states=True, **kw)
    coords, outputs, evr = [], [], []
    for j in range(len(sel)):
        X = ms["states"][j]
        if not bool(ms["finite"][j]):
            coords.append(None)
            outputs.append(None)
            evr.append(None)
            continue
        pca = fit_pca(X, 2)
        coords.append(np.clip(pca.transform(X[: p["pca_steps"]].numpy()), -15, 15).tolist())
        outputs.append(ms["outputs"][j, : p["pca_steps"]].tolist())
        evr.append((100 * pca.explained_variance_ratio_).tolist())
    out["pca"] = {"epochs": shown, "coords": coords, "outputs": outputs, "explained_variance": evr}
    return out
