"""Emergence of the orbit during training (spec E.10) from one model's per-epoch weights; thin
wrapper over rnnhmm.mechanism.evolution_metrics / bifurcation_epoch / second_loss_drop."""
import time

import numpy as np
import torch

from rnnhmm import dynamics as dyn
from rnnhmm import mechanism as mech
from rnnhmm.config import derive_seed
from rnnhmm.io import job_log, provenance, write_json
from rnnhmm.mechanism_claims import display_epochs, evaluated_epoch_indices
from rnnhmm.model import Weights


def clean(x):
    """Floats for JSON: NaN / inf become None."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return float(a) if np.isfinite(a) else None
    return [clean(r) for r in a] if a.ndim > 1 else [float(v) if np.isfinite(v) else None for v in a]


sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    w = sm.wildcards
    model = f"{w.hmm}/h{w.hidden}_d{w.input}/s{w.seed}"
    p = dict(sm.params.evolution)
    seed = derive_seed("evolution", model, sm.params.seed)
    blob = torch.load(sm.input.model, map_location="cpu", weights_only=False)
    evo = torch.load(sm.input.evolution, map_location="cpu", weights_only=False)
    val_loss = [float(v) for v in blob["val_loss"]]
    train_loss = [float(v) for v in blob["train_loss"]]
    out = {"model": model, "hmm": w.hmm, "val_loss": val_loss, "train_loss": train_loss,
           "second_loss_drop": mech.second_loss_drop(val_loss, epochs=range(1, len(val_loss) + 1))}
    snapshots = list(evo.get("epochs", []))
    if not snapshots:
        raise ValueError(f"{sm.input.evolution} holds no per-epoch weights (is {model} in config.evolution.match?)")
    idx = evaluated_epoch_indices(snapshots, p["stride"])
    epochs = [int(snapshots[i]) for i in idx]
    weights = [Weights(evo["weight_ih"][i].double(), evo["weight_hh"][i].double(), evo["readout"][i].double())
               for i in idx]
    kw = dict(T=p["T"], warmup=p["warmup"], seed=seed, trials=p["trials"], tdh2=p["tdh2"])
    log(f"{model}: {len(epochs)} of {len(snapshots)} snapshots (stride {p['stride']}), T={p['T']}")
    m = mech.evolution_metrics(weights, **kw)
    log(f"metrics in {time.perf_counter() - t0:.1f} s")
    cf = m["complex_fraction"].numpy()
    bif = mech.bifurcation_epoch(epochs, cf, p["bifurcation_threshold"])
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
    out["onsets"] = {k: mech.persistent_onset(epochs, out[k], p["bifurcation_threshold"], finite=fin,
                                              min_frac=p["onset_min_fraction"])
                     for k in ("unstable_fraction", "complex_fraction")}
    out["plateau_exit"] = mech.plateau_exit(val_loss)
    out["non_finite_epochs"] = [e for e, f in zip(epochs, fin) if not f]
    if out["non_finite_epochs"]:
        log(f"non-finite snapshots (excluded from onsets and rates): {out['non_finite_epochs']}")
    log(f"persistent onsets {out['onsets']}; loss plateau exit {out['plateau_exit']}")
    # PCA across selected epochs: the same noise and h0 for every epoch (same seed), own PCA(2) each
    shown = display_epochs(epochs, p["n_pca_epochs"], bif)
    sel = [epochs.index(e) for e in shown]
    ms = mech.evolution_metrics([weights[i] for i in sel], return_states=True, **kw)
    coords, outputs, evr = [], [], []
    for j in range(len(sel)):
        X = ms["states"][j]
        if not bool(torch.isfinite(X).all()):
            coords.append(None)
            outputs.append(None)
            evr.append(None)
            continue
        pca = dyn.fit_pca(X, 2)
        coords.append(np.clip(pca.transform(X[: p["pca_steps"]].numpy()), -15, 15).tolist())
        outputs.append(ms["outputs"][j, : p["pca_steps"]].tolist())
        evr.append((100 * pca.explained_variance_ratio_).tolist())
    out["pca"] = {"epochs": shown, "coords": coords, "outputs": outputs, "explained_variance": evr}
    out["provenance"] = provenance(p, seed, t0)
    write_json(out, sm.output[0])
    log(f"bifurcation epoch {bif}, second loss drop {out['second_loss_drop']}, converged rate "
        f"{out['converged_rate']}; wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
