"""Kick neurons, integrating populations, weight blocks, pre-activation maps and mean activities of
every kick model (spec E.6, E.8); thin wrapper over rnnhmm.mechanism and rnnhmm.dynamics."""
import time

import numpy as np
import torch

from rnnhmm import dynamics as dyn
from rnnhmm import mechanism as mech
from rnnhmm.config import derive_seed
from rnnhmm.io import job_log, provenance, write_json
from rnnhmm.mechanism_claims import complete_kick_groups
from rnnhmm.model import Weights, load_weights

sm = snakemake  # noqa: F821


def analyse(model, path, out_path, p, log):
    t0 = time.perf_counter()
    seed = derive_seed("kick", model, sm.params.seed)
    gen = torch.Generator().manual_seed(seed)
    weights = Weights(*(t.double() for t in load_weights(path, sm.params.weights)))
    W_hh = weights.W_hh
    H = W_hh.shape[0]
    out = {"model": model, "hmm": model.split("/")[0], "hidden": H, "error": None}

    # 1. regions of one noisy trajectory (spec E.6) and the kick criterion (spec E.8)
    hidden, noise = dyn.simulate(weights, p["T"], warmup=p["warmup"], generator=gen)
    hidden, noise = hidden[0], noise[0]
    ld = dyn.local_dynamics(weights, hidden, n_rollouts=p["n_rollouts"], max_steps=p["max_steps"], generator=gen)
    groups = torch.as_tensor(ld["groups"][1:])
    pre = mech.preactivations(weights, hidden[1:], noise[1:], h0=hidden[0])
    counts = {name: int((groups == code).sum()) for name, code in
              (("transition", mech.GROUP_TRANSITION), ("kick", mech.GROUP_KICK),
               ("cluster", mech.GROUP_CLUSTER), ("other", mech.GROUP_OTHER))}
    out["region_counts"] = counts
    log(f"{model}: regions {counts}")
    outputs = (hidden[1:] @ weights.W_out.T).argmax(-1)
    # per transition direction ("leaving class c"), in per-neuron standardised units; a direction
    # where no neuron passes gets an empty group (no stand-in neurons: issue 10)
    sel = mech.select_kick_neurons_directional(pre, groups, outputs, theta=p["theta"], eps=p["eps"],
                                               max_per_group=p["max_per_group"])
    indices = sel["indices"]
    out.update(scores=torch.nan_to_num(sel["scores"], nan=-1e9).tolist(), direction_classes=sel["classes"],
               direction_steps=sel["n_steps"], n_passing=int((torch.nan_to_num(sel["scores"], nan=-1.0) > 0).sum()))
    if len(sel["classes"]) < 2:
        out["error"] = f"fewer than two output classes on the orbit: {sel['classes']}"
    kick, status = complete_kick_groups(indices, [[], []], 0)
    out.update(selected=[list(map(int, g)) for g in indices], n_selected=[len(g) for g in indices],
               groups=kick, group_status=status, criterion={k: p[k] for k in ("theta", "eps", "max_per_group")},
               criterion_units="per-neuron SD of the pre-activation (threshold at 0)")
    log(f"kick groups {kick} ({status}) for directions leaving classes {sel['classes']}; "
        f"{out['n_passing']} (neuron, direction) pairs pass")
    if out["error"]:
        log(out["error"])
    if kick[0] and kick[1]:
        out["kick_contrast"] = mech.weight_contrast(W_hh, kick[0], kick[1], seed=derive_seed(seed, "kick-contrast"))
        log(f"kick weights: {out['kick_contrast']}")

    # 2. integrating populations and sorted weight blocks
    if kick[0] and kick[1]:
        pop1, pop2, order = mech.integrating_populations(W_hh, kick, topk=min(p["population_size"], H - sum(map(len, kick))))
        g = [W_hh[torch.as_tensor(k)].mean(0) for k in kick]  # weights from each neuron onto kick group 1 / 2
        out["populations"] = [pop1.tolist(), pop2.tolist()]
        out["population_to_kick"] = [[float(g[j][pop].mean()) for j in range(2)] for pop in (pop1, pop2)]
        kk, kp, pp = mech.sorted_weight_blocks(W_hh, kick, (pop1, pop2))
        out["blocks"] = {"kick_kick": kk.tolist(), "kick_pop": kp.tolist(), "pop_pop": pp.tolist()}
        non_kick = [i for i in range(H) if i not in set(kick[0]) | set(kick[1])]
        out["population_contrast"] = mech.weight_contrast(W_hh, pop1, pop2, candidates=non_kick,
                                                          seed=derive_seed(seed, "population-contrast"))
        log(f"population weights: {out['population_contrast']}")
    else:
        out["populations"], out["population_to_kick"], out["blocks"] = [[], []], None, None
        log("a kick group is empty: no populations or weight blocks")

    # 3. pre-activation maps along the orbit: one run from h0 ~ N(0, I), PCA(2)
    flat = [i for g in kick for i in g]
    h0 = torch.randn(H, generator=gen, dtype=W_hh.dtype)
    hid, nz = dyn.simulate(weights, p["activity_steps"], h0=h0, generator=gen)
    hid, nz = hid[0], nz[0]
    pca = dyn.fit_pca(hid, 2)
    pre_map = mech.preactivations(weights, hid, nz, h0=h0)
    out["preact_map"] = {
        "coords": pca.transform(hid.numpy()).tolist(),
        "explained_variance": (100 * pca.explained_variance_ratio_).tolist(),
        "neurons": flat,
        "neuron_group": [gi + 1 for gi, g in enumerate(kick) for _ in g],
        "pre": pre_map[:, flat].T.tolist() if flat else [],
        "outputs": (hid @ weights.W_out.T).argmax(-1).tolist(),
    }

    # 4. mean activities of the kick groups and populations, from a small random h0
    h0 = 0.1 * torch.randn(H, generator=gen, dtype=W_hh.dtype)
    hid, _ = dyn.simulate(weights, p["mean_activity_steps"], h0=h0, generator=gen)
    hid = hid[0]  # every step: the figure data shows the first mean_activity_show
    act = {}
    for name, idx in (("kick1", kick[0]), ("kick2", kick[1]),
                      ("pop1", out["populations"][0]), ("pop2", out["populations"][1])):
        act[name] = hid[:, idx].mean(1).tolist() if len(idx) else None
    act["outputs"] = (hid @ weights.W_out.T).argmax(-1).tolist()
    out["mean_activity"] = act
    out["provenance"] = provenance({**p, "weights": sm.params.weights}, seed, t0)
    write_json(out, out_path)
    log(f"wrote {out_path} in {time.perf_counter() - t0:.1f} s")


with job_log(sm.log[0]) as log:
    torch.set_num_threads(max(1, sm.threads))
    for model, path, out_path in zip(sm.params.models, sm.input.models, sm.output):
        analyse(model, path, out_path, dict(sm.params.kick), log)
