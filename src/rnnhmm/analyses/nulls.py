"""Null networks: the same analyses and claims on networks that lack the paper's mechanism.

A claim passing on a learned network is evidence for the paper's mechanism only if the same
selection-plus-statistic pipeline fails on networks without it (docs/claims.md, "Null networks").
Each counted model gets null networks of two kinds, written in the pipeline's model format and run
through the very same analysis and claim code (their ids: ``<model>-null-<kind>``):

* ``plateau``: the model's own weights before it learned: its evolution snapshot at the last epoch
  on the i.i.d.-output loss plateau (:func:`plateau_epoch`). Same initialisation, same data, same
  optimiser: only the learning that the paper's mechanism is said to come from is missing.
* ``shuffle``: the learned weights with the off-diagonal recurrent weights of every row permuted
  (:func:`shuffle_recurrent`). Each neuron keeps its self-connection, its input weights, its readout
  and the multiset of its incoming recurrent weights (so its summed recurrent input, the row's
  scale and sign balance, and the spectral bulk stay); which neuron drives which, i.e. the circuit
  structure the paper describes, is destroyed. The same permutation is applied to every evolution
  snapshot, so the training-history claims have a null too.

Numpy and torch only; no Snakemake.
"""

from __future__ import annotations

import numpy as np
import torch

from .measures import plateau_exit

NULL_KINDS = ("plateau", "shuffle")


def off_diagonal(n: int) -> np.ndarray:
    """(n, n - 1): row i holds the column indices j != i of an n x n matrix, ascending."""
    return np.array([[j for j in range(n) if j != i] for i in range(n)], dtype=np.int64).reshape(n, max(n - 1, 0))


def row_permutations(n: int, seed: int) -> np.ndarray:
    """(n, n - 1) per-row permutations of the off-diagonal column indices of an n x n matrix."""
    rng = np.random.default_rng(seed)
    off = off_diagonal(n)
    return np.stack([row[rng.permutation(n - 1)] for row in off]) if n > 1 else off


def shuffle_recurrent(W: torch.Tensor, perms: np.ndarray) -> torch.Tensor:
    """``W`` (n x n, or a stack (..., n, n)) with the off-diagonal entries of every row permuted
    by ``perms`` (:func:`row_permutations`); the diagonal stays. Row sums, each row's entries and the
    diagonal are unchanged."""
    n = W.shape[-1]
    out = W.clone()
    if n < 2:
        return out
    rows = torch.arange(n).unsqueeze(1).expand(n, n - 1)
    off = torch.as_tensor(off_diagonal(n), dtype=torch.long)
    out[..., rows, off] = W[..., rows, torch.as_tensor(perms, dtype=torch.long)]
    return out


def plateau_epoch(val_loss, warmup: int, snapshot_epochs) -> dict:
    """The snapshot epoch of the ``plateau`` null: the last epoch before the loss left its
    i.i.d.-output plateau (:func:`rnnhmm.analyses.measures.plateau_exit`) at which the validation
    loss was still within 3 noise SDs of the plateau level (before the drop began), in the phase
    (curriculum) where the exit happened; the last snapshot at or before it. Without a plateau exit
    (the model never left the plateau) the last snapshot; without a loss curve the first snapshot.

    Returns {'epoch', 'exit', 'why'}."""
    snaps = sorted(int(e) for e in snapshot_epochs)
    if not snaps:
        raise ValueError("no evolution snapshots: the plateau null needs per-epoch weights (config.evolution.match)")
    loss = np.asarray([np.nan if v is None else float(v) for v in val_loss], dtype=float)
    if loss.size == 0 or not np.isfinite(loss).any():
        return {"epoch": snaps[0], "exit": None, "why": "no loss curve: the first snapshot"}
    starts = [warmup] if 0 < warmup < loss.size else []
    pe = plateau_exit(loss, phase_starts=starts)
    if pe["epoch"] is None:
        return {"epoch": snaps[-1], "exit": None,
                "why": "the loss never left its plateau: the last snapshot (the model itself is a plateau network)"}
    exit_ep = int(pe["epoch"])
    ph = pe["phases"][pe["phase"]]
    first = int(ph["first_epoch"])
    band = pe["plateau"] - 3.0 * pe["noise_sd"]
    on = [e for e in range(first, exit_ep) if np.isfinite(loss[e - 1]) and loss[e - 1] >= band]
    target = on[-1] if on else max(first, exit_ep - 1)
    before = [e for e in snaps if e <= target]
    ep = before[-1] if before else snaps[0]
    return {"epoch": ep, "exit": exit_ep,
            "why": f"last epoch on the plateau (loss >= plateau {pe['plateau']:.4g} - 3 x noise SD "
                   f"{pe['noise_sd']:.2g}) before the exit at epoch {exit_ep}: {target}; snapshot {ep}"}


def _weights_of(evo: dict, i: int) -> dict:
    return {k: evo[k][i].clone() for k in ("weight_ih", "weight_hh", "readout")}


def make_null(blob: dict, evo: dict, kind: str, seed: int, warmup: int = 0) -> tuple[dict, dict]:
    """(model.pt blob, evolution.pt dict) of the ``kind`` null network of a model from its training
    record ``blob`` (model.pt) and snapshots ``evo`` (evolution.pt). Both weight slots ('last',
    'best') hold the null's weights; ``blob['null']`` records kind, epoch and why; the loss history
    is the model's own (the null is not trained)."""
    if kind not in NULL_KINDS:
        raise ValueError(f"unknown null kind {kind!r}; known: {', '.join(NULL_KINDS)}")
    out = dict(blob)
    if kind == "plateau":
        epochs = [int(e) for e in evo.get("epochs", [])]
        info = plateau_epoch(blob.get("val_loss", []), warmup, epochs)
        w = _weights_of(evo, epochs.index(info["epoch"]))
        out.update(last=w, best={k: v.clone() for k, v in w.items()})
        out["null"] = {"kind": kind, **info}
        # the plateau network's history is the model's up to that epoch: no training-history null
        return out, {"epochs": []}
    n = blob["last"]["weight_hh"].shape[-1]
    perms = row_permutations(n, seed)
    for slot in ("last", "best"):
        out[slot] = {**blob[slot], "weight_hh": shuffle_recurrent(blob[slot]["weight_hh"], perms)}
    out["null"] = {"kind": kind, "seed": int(seed),
                   "why": "off-diagonal recurrent weights permuted within each row (diagonal, inputs, readout kept)"}
    evo_out = dict(evo)
    if len(evo.get("epochs", [])):
        evo_out["weight_hh"] = shuffle_recurrent(evo["weight_hh"], perms)
    return out, evo_out
