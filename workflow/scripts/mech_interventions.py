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
    non_kick = torch.tensor([i for i in range(H) if i not in set(all_kick)], dtype=torch.long)
    R, S = p["random_sets"], p["noise_seeds"]
    base_mus = [0.0, 2.0]

    def baseline(gi, group, conditions):
        """Each condition's targets and R random non-kick sets of the same size, over S noise seeds
        (shared by all sets): effects at mu = 0 and mu = 2 against the unintervened run."""
        bgen = torch.Generator().manual_seed(seed + 1000 + gi)
        noises = torch.randn(S, p["T"], D, generator=bgen, dtype=W_hh.dtype)
        h0s = torch.randn(S, H, generator=bgen, dtype=W_hh.dtype)
        res = {}
        for name, cond in conditions.items():
            k = int(cond.targets.numel())
            if k == 0 or k > non_kick.numel():
                res[name] = {"skipped": f"{k} targets; {non_kick.numel()} non-kick neurons to draw random sets from"}
                continue
            sets = [cond.targets] + [non_kick[torch.randperm(non_kick.numel(), generator=bgen)[:k]] for _ in range(R)]
            eff = mech.intervention_effects(weights, sets, cond.pathway, base_mus, noises, h0s, window=p["window"],
                                            re_tol=p["re_tol"], im_min=p["im_min"])
            res[name] = {"n_targets": k, "pathway": cond.pathway, "mus": base_mus, "n_random": R, "n_seeds": S,
                         **{key: eff[key].tolist() for key in ("changes", "pairs", "spread", "ref_changes",
                                                               "ref_pairs", "ref_spread")}}
            log(f"group {gi + 1} {name} baseline: targets pairs(0) {eff['pairs'][0, :, 0].mean():.2f}, random "
                f"{eff['pairs'][1:, :, 0].mean():.2f}, unintervened {eff['ref_pairs'].mean():.2f}; changes(0) "
                f"{eff['changes'][0, :, 0].mean():.1f} vs random {eff['changes'][1:, :, 0].mean():.1f} "
                f"(unintervened {eff['ref_changes'].mean():.1f})")
        return res

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
        entry["baseline"] = baseline(gi, group, conditions)
        out["groups"].append(entry)
    out["provenance"] = provenance({**p, "weights": sm.params.weights}, seed, t0)
    write_json(out, sm.output[0])
    log(f"wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
