"""Causal interventions on the single model (spec E.9): kick, noise-projection and control
conditions for both kick groups, mu swept from 0; thin wrapper over rnnhmm.mechanism."""
import time

import torch

from rnnhmm import dynamics as dyn
from rnnhmm import mechanism as mech
from rnnhmm.config import derive_seed
from rnnhmm.io import job_log, provenance, read_json, write_json
from rnnhmm.mechanism_claims import mu_grid, mu_index
from rnnhmm.model import Weights, load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p = dict(sm.params.interventions)
    model = sm.params.model
    kick = read_json(sm.input.kick)
    weights = Weights(*(t.double() for t in load_weights(sm.input.model, sm.params.weights)))
    W_hh, W_out = weights.W_hh, weights.W_out
    H, D = W_hh.shape[0], weights.W_ih.shape[1]
    mus = mu_grid(p["mu_max"], p["mu_step"])
    if not any(abs(m - 1.0) < 1e-9 for m in mus):
        raise ValueError(f"the mu grid {mus} must contain 1 (the unintervened run)")
    show = [mus[mu_index(mus, m)] for m in p["show_mus"]]
    groups = kick["groups"]
    all_kick = [i for g in groups for i in g]
    seed = derive_seed("interventions", model, sm.params.seed)
    out = {"model": model, "hmm": kick["hmm"], "mus": mus, "show_mus": show,
           "kick_status": kick["group_status"], "groups": []}
    for gi, group in enumerate(groups):
        entry = {"group": gi + 1, "neurons": group, "status": kick["group_status"][gi]}
        if not group:
            entry["skipped"] = "kick group is empty"
            out["groups"].append(entry)
            log(f"group {gi + 1}: empty, skipped")
            continue
        gen = torch.Generator().manual_seed(seed + gi)
        noise = torch.randn(p["T"], D, generator=gen, dtype=W_hh.dtype)
        h0 = torch.randn(H, generator=gen, dtype=W_hh.dtype)
        conditions = {
            "kick": mech.kick_condition(H, group),
            "noise_projection": mech.noise_projection_condition(W_hh, group, all_kick, p["noise_topk"]),
            "control": mech.control_condition(W_hh, all_kick, p["control_topk"]),
        }
        pca = None
        entry["conditions"] = {}
        for name, cond in conditions.items():
            res = mech.intervention_sweep(weights, cond, mus, noise, h0, window=p["window"],
                                          re_tol=p["re_tol"], im_min=p["im_min"])
            states = res["states"]
            if pca is None:  # one plane per group: PCA(2) of the unintervened (mu = 1) run
                pca = dyn.fit_pca(states[mu_index(mus, 1.0)], 2)
                entry["explained_variance"] = (100 * pca.explained_variance_ratio_).tolist()
            n_changes = [int(mech.output_change_times(o).numel()) for o in res["outputs"]]
            entry["conditions"][name] = {
                "targets": cond.targets.tolist(), "n_targets": int(cond.targets.numel()),
                "pathway": cond.pathway,
                "pairs_mean": res["pairs_mean"].tolist(), "pairs_std": res["pairs_std"].tolist(),
                "n_changes": n_changes,
                "trajectories": {f"{m:g}": pca.transform(states[mu_index(mus, m)].numpy()).tolist()  # all T steps
                                 for m in show},
            }
            log(f"group {gi + 1} {name}: {cond.targets.numel()} targets; pairs at mu=0/1/{mus[-1]:g}: "
                f"{res['pairs_mean'][0]:.2f} / {res['pairs_mean'][mu_index(mus, 1.0)]:.2f} / "
                f"{res['pairs_mean'][-1]:.2f}; output changes at mu=1: {n_changes[mu_index(mus, 1.0)]}")
        out["groups"].append(entry)
    out["provenance"] = provenance({**p, "weights": sm.params.weights}, seed, t0)
    write_json(out, sm.output[0])
    log(f"wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
