"""Emergence of the orbit during training (docs/mechanism.md E.10) from one model's per-epoch
weights: adapter over rnnhmm.analyses.evolution."""
import torch

from rnnhmm.analyses import evolution
from rnnhmm.config import derive_seed
from rnnhmm.io import job, write_json
from rnnhmm.paths import wildcards_id

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    w, p = sm.wildcards, dict(sm.params.evolution)
    model = wildcards_id(w)
    seed = derive_seed("evolution", model, sm.params.seed)
    blob = torch.load(sm.input.model, map_location="cpu", weights_only=False)
    evo = torch.load(sm.input.evolution, map_location="cpu", weights_only=False)
    out = evolution.run(blob, evo, p, seed, model, w.hmm, log)
    out["provenance"] = log.provenance(p, seed)
    write_json(out, sm.output[0])
    log(f"bifurcation epoch {out['bifurcation_epoch']}, second loss drop {out['second_loss_drop']}, converged rate "
        f"{out['converged_rate']}; wrote {sm.output[0]} in {log.elapsed():.1f} s")
