"""Train one model and write model.pt, losses.tsv and evolution.pt (thin wrapper over rnnhmm.training)."""
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnhmm.io import job_log, provenance
from rnnhmm.training import TrainConfig, train

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p = dict(sm.params.training)
    data = np.load(sm.input.data)
    cfg = TrainConfig(
        hidden=int(sm.wildcards.hidden), input_dim=int(sm.wildcards.input), seed=int(sm.wildcards.seed),
        **{k: v for k, v in p.items() if k in TrainConfig.__dataclass_fields__},
    )
    log(f"training {sm.wildcards.hmm} h{cfg.hidden} d{cfg.input_dim} seed {cfg.seed}: {json.dumps(p)}")
    res = train(cfg, data["train"], data["val"], n_outputs=data["emission"].shape[1],
                checkpoint_path=sm.params.checkpoint, log=log)
    prov = provenance(p, cfg.seed, t0, res.device)
    prov["training_wall_time_s"] = res.wall_time_s
    prov["resumed_from_epoch"] = res.resumed_from_epoch
    blob = {
        "last": res.last, "best": res.best, "best_epoch": res.best_epoch, "best_val": res.best_val,
        "train_loss": res.train_loss, "val_loss": res.val_loss,
        "hmm": {"name": sm.wildcards.hmm, "transition": data["transition"], "emission": data["emission"],
                "start": data["start"]},
        "provenance": prov,
    }
    torch.save(blob, sm.output.model)
    pd.DataFrame({"epoch": np.arange(1, len(res.train_loss) + 1), "train": res.train_loss,
                  "val": res.val_loss}).to_csv(sm.output.losses, sep="\t", index=False)
    torch.save(res.evolution or {"epochs": []}, sm.output.evolution)
    Path(sm.params.checkpoint).unlink(missing_ok=True)
    log(f"done in {res.wall_time_s:.1f} s on {res.device}; last val {res.val_loss[-1]:.4f}, "
        f"best {res.best_val:.4f} at epoch {res.best_epoch}")
