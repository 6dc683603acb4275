"""Did a training run leave the i.i.d. plateau?

A noise-driven RNN first learns the HMM's output frequencies and emits (nearly) independent
symbols: its Sinkhorn loss then sits on a plateau. Whether it later learns the HMM's temporal
structure is read off two reference losses computed exactly like the validation loss (same batch
size, sequence length, blur, debiased Sinkhorn divergence against the same validation targets):

* ``iid``: sequences of independent symbols drawn with the validation data's own symbol
  frequencies (the plateau's level);
* ``hmm``: fresh sequences of the HMM itself (what a perfect model reaches).

``progress = (iid - val) / (iid - hmm)`` is 0 on the plateau and 1 at the HMM's level. A run has
*left the plateau* when its final validation loss (mean of the last epochs) is closer to the HMM's
level than to the i.i.d. level, i.e. ``progress >= 0.5``; each reference is the mean over
``repeats`` fresh draws, and their spread is reported beside it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["batched_loss", "reference_losses", "plateau_verdict", "training_verdict", "final_validation",
           "LEFT_PLATEAU_PROGRESS"]

LEFT_PLATEAU_PROGRESS = 0.5


def batched_loss(x_idx: np.ndarray, y_idx: np.ndarray, K: int, batch_size: int, blur: float) -> float:
    """The training loss of symbol sequences ``x_idx`` against targets ``y_idx`` (int (N, L), same N):
    the debiased Sinkhorn divergence of one-hot batches of ``batch_size`` (consecutive rows), mean
    over batches, exactly as a validation epoch computes it."""
    from .sinkhorn import onehot_sinkhorn

    eye = torch.eye(K)
    n = y_idx.shape[0]
    vals = []
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        x = eye[torch.as_tensor(x_idx[s:e], dtype=torch.long)].reshape(1, e - s, -1)
        y = eye[torch.as_tensor(y_idx[s:e], dtype=torch.long)].reshape(1, e - s, -1)
        vals.append(float(onehot_sinkhorn(x, y, blur=blur, need_grad=False)[0][0]))
    return float(np.mean(vals))


def reference_losses(hmm, val_obs: np.ndarray, batch_size: int, blur: float = 0.2, repeats: int = 3,
                     seed: int = 0) -> dict:
    """Validation-style Sinkhorn losses of i.i.d. symbols and of fresh HMM samples against
    ``val_obs`` (int symbols (N, L)); mean and SD over ``repeats`` draws."""
    val_obs = np.asarray(val_obs, dtype=np.int64)
    K = hmm.n_outputs
    n, L = val_obs.shape
    freq = np.bincount(val_obs.ravel(), minlength=K) / val_obs.size
    rng = np.random.default_rng(seed)
    iid, fresh = [], []
    for _ in range(repeats):
        iid.append(batched_loss(rng.choice(K, size=(n, L), p=freq), val_obs, K, batch_size, blur))
        fresh.append(batched_loss(hmm.sample(n, L, seed=rng).astype(np.int64), val_obs, K, batch_size, blur))
    return {"iid_mean": float(np.mean(iid)), "iid_sd": float(np.std(iid)),
            "hmm_mean": float(np.mean(fresh)), "hmm_sd": float(np.std(fresh)), "repeats": repeats}


def plateau_verdict(val_loss, refs: dict, last: int | None = None) -> dict:
    """Compare the mean validation loss of the last epochs (default: the last 5% or 5 epochs)
    with the reference losses; returns progress, left_plateau and a one-line message."""
    v = np.asarray(val_loss, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"final_val": float("nan"), "progress": float("nan"), "left_plateau": False,
                "message": "WARNING: no finite validation loss: the run diverged", **refs}
    k = last or max(5, v.size // 20)
    final = float(v[-k:].mean())
    span = refs["iid_mean"] - refs["hmm_mean"]
    progress = float((refs["iid_mean"] - final) / span) if span > 0 else float("nan")
    left = bool(np.isfinite(progress) and progress >= LEFT_PLATEAU_PROGRESS)
    ref_txt = (f"i.i.d. outputs {refs['iid_mean']:.3f} ± {refs['iid_sd']:.3f}, HMM samples "
               f"{refs['hmm_mean']:.3f} ± {refs['hmm_sd']:.3f}")
    if left:
        msg = f"left the i.i.d. plateau: final validation loss {final:.3f} ({ref_txt}; progress {progress:.2f})"
    else:
        msg = (f"WARNING: validation loss never left the i.i.d. plateau: final {final:.3f} ({ref_txt}; "
               f"progress {progress:.2f} < {LEFT_PLATEAU_PROGRESS}); this model did not learn its HMM's "
               f"temporal structure - train longer or use a recipe from docs/cpu_recipes.md")
    return {"final_val": final, "progress": progress, "left_plateau": left, "message": msg, **refs}


def final_validation(val_loss, refs: dict, warmup_epochs: int = 0, last: int | None = None) -> dict:
    """The final-length validation loss and the HMM reference beside it, for ``learned``'s
    validation-loss condition (:func:`rnnhmm.claims.learned.validation_bound`).

    ``val_loss``: the run's validation loss per epoch; ``warmup_epochs``: its first epochs validated
    on shorter sequences (the warm-up curriculum, rnnhmm.training.settings), whose losses are on
    another scale and are left out; ``refs``: :func:`reference_losses` (or the plateau verdict that
    carries them), computed at the full length. The window is :func:`plateau_verdict`'s (the last
    5% or 5 epochs, default) over the finite full-length epochs. Returns {last_mean, last_sd (ddof 0),
    last_n, first_epoch (1-based), hmm_mean, hmm_sd, hmm_repeats, message}; last_mean None (with the
    message) when no full-length finite epoch exists."""
    v = np.asarray(val_loss, dtype=float)
    ep = np.arange(1, v.size + 1)
    keep = (ep > int(warmup_epochs or 0)) & np.isfinite(v)
    base = {"hmm_mean": refs.get("hmm_mean"), "hmm_sd": refs.get("hmm_sd"), "hmm_repeats": refs.get("repeats"),
            "warmup_epochs": int(warmup_epochs or 0)}
    if not keep.any():
        why = ("no finite validation loss" if v.size else "no validation loss history") + \
              (f" after the {warmup_epochs} warm-up epochs" if warmup_epochs and v.size else "")
        return {"last_mean": None, "last_sd": None, "last_n": 0, "first_epoch": None, **base, "message": why}
    vv, ee = v[keep], ep[keep]
    k = min(last or max(5, v.size // 20), vv.size)
    return {"last_mean": float(vv[-k:].mean()), "last_sd": float(vv[-k:].std()), "last_n": int(k),
            "first_epoch": int(ee[-k]), **base, "message": ""}


def training_verdict(hmm, val_loss, seq_len: int, batch_size: int, blur: float = 0.2,
                     val_obs: np.ndarray | None = None, n_val: int = 1024, seed: int = 0) -> dict:
    """:func:`plateau_verdict` of a finished run. ``val_obs``: the run's validation sequences
    (int symbols (N, L)); without them, ``n_val`` fresh HMM sequences of ``seq_len`` stand in
    (the same distribution)."""
    if val_obs is None:
        val_obs = hmm.sample(n_val, seq_len, seed=seed)
    refs = reference_losses(hmm, val_obs, batch_size=min(batch_size, len(val_obs)), blur=blur, seed=seed)
    return plateau_verdict(val_loss, refs)
