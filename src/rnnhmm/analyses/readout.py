"""Readout-axis alignment with the orbit plane (docs/mechanism.md E.11, G.4). :func:`run` covers every
readout model (``workflow/scripts/mech_readout.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnhmm.config import ModelSpec, derive_seed
from rnnhmm.model import Weights, run_rnn

from .circuit import make_generator


def readout_alignment(weights: Weights, n_steps: int = 5000, generator: torch.Generator | None = None,
                      seed: int | None = 0, sigma: float = 1.0, readouts: Sequence[int] = (0, 2)) -> dict:
    """Alignment of the readout rows with the PC1-PC2 plane of a noise-driven trajectory.

    Runs n_steps from h_0 ~ N(0, I) with noise std ``sigma`` (draws from ``generator`` or
    ``seed``), fits PCA(2) on h_1..h_n. For each normalised readout row a_c:
    ``projection`` (K,) = sqrt((a_c.PC1)^2 + (a_c.PC2)^2) in [0, 1]; ``angle`` (K,) = arccos of it
    in radians (``angle_deg`` in degrees); ``mean_projection`` = mean projection over ``readouts``
    (default 0 and 2, skipping the rare symbol 1); ``pcs`` (2, H); ``explained_variance_ratio`` (2,).
    """
    W_ih, W_hh, W_out = weights
    H, D = W_hh.shape[0], W_ih.shape[1]
    gen = make_generator(generator, seed)
    h0 = torch.randn(1, H, generator=gen, dtype=W_hh.dtype)
    noise = torch.randn(1, n_steps, D, generator=gen, dtype=W_hh.dtype) * sigma
    X = run_rnn(W_ih, W_hh, noise, h0)[0].double()
    if not bool(torch.isfinite(X).all()):
        raise ValueError("readout_alignment: the noise-driven trajectory diverged (non-finite states)")
    X = X - X.mean(0)
    _, S, Vh = torch.linalg.svd(X, full_matrices=False)
    pcs = Vh[:2]
    var = S ** 2
    evr = var[:2] / var.sum().clamp_min(torch.finfo(var.dtype).tiny)
    a = W_out.double()
    a = a / a.norm(dim=1, keepdim=True)
    proj = (a @ pcs.T).norm(dim=1).clamp(0.0, 1.0)
    angle = torch.arccos(proj)
    return {"projection": proj, "angle": angle, "angle_deg": torch.rad2deg(angle),
            "mean_projection": float(proj[list(readouts)].mean()), "pcs": pcs,
            "explained_variance_ratio": evr}


# ----------------------------------------------------------------------------------------------
# 6. claim statistics (docs/claims.md): kick neurons per transition direction, weight contrasts


def run(models, weights, states: dict, settings: dict, seed: int, log=print) -> list[dict]:
    """Readout alignment of every readout model (ids ``models``, float64 ``weights`` in the same order;
    ``states``: HMM name -> number of states; settings: config ``mechanism.readout``): one row per
    model. A diverging trajectory is recorded in the row's ``error``, not raised."""
    rows = []
    for mid, w in zip(models, weights):
        spec = ModelSpec.parse(mid)
        row = {"model": mid, "hmm": spec.hmm, "states": states[spec.hmm], "seed": spec.seed}
        try:
            r = readout_alignment(w, n_steps=settings["n_steps"], seed=derive_seed("readout", mid, seed))
            row.update(projection=r["projection"].tolist(), angle_deg=r["angle_deg"].tolist(),
                       mean_projection=r["mean_projection"],
                       explained_variance=(100 * r["explained_variance_ratio"]).tolist(), error=None)
        except ValueError as err:  # a diverging trajectory: recorded, not fatal
            row.update(projection=None, angle_deg=None, mean_projection=None, explained_variance=None, error=str(err))
        rows.append(row)
        log(f"{mid}: mean projection {row['mean_projection']}" + (f" ({row['error']})" if row["error"] else ""))
    return rows
