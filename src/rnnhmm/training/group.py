"""Training of one group of models (:func:`rnnhmm.training.grouping.training_groups`) with the batched engine, and
the files it leaves per model: ``s{seed}/model.pt`` (weights, losses, plateau verdict, HMM,
provenance), ``losses.tsv`` and ``evolution.pt`` (``workflow/scripts/train_group.py``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnhmm.config import validate_config
from rnnhmm.hmm import HMM
from rnnhmm.paths import member_folder

from .convergence import training_verdict
from .engine import train_many
from .grouping import cadence, training_groups
from .settings import TrainConfig, device_fingerprint, resolve_device


def run(config: dict, gid: str, params: dict, seeds, data_files, checkpoint, out_dir, provenance, log=print) -> None:
    """Train group ``gid`` of ``config`` (the workflow's config; keys outside its schema are ignored)
    with the training parameters ``params`` for ``seeds``, from the data files ``data_files`` (one
    per seed), resuming from / checkpointing to ``checkpoint``; write each model's files under
    ``out_dir``. ``provenance(params, seed, device)`` makes each model's provenance record."""
    p, seeds = dict(params), list(seeds)
    # log/checkpoint cadence: read from the config now (not a rule parameter: editing it reruns nothing)
    # the Snakefile adds derived keys (skipped_figures) that are not part of the config's schema
    full_config = validate_config({k: v for k, v in dict(config).items() if k != "skipped_figures"})
    group = {g.id: g for g in training_groups(full_config)}[gid]
    every = cadence(full_config, group)
    device, lock = resolve_device(p["device"], log=log)
    fp = device_fingerprint(torch.device(device))
    log(f"training group {gid} ({len(seeds)} models, seeds {seeds}) on {device} ({fp['name']}), "
        f"{torch.get_num_threads()} CPU threads; {json.dumps(p)}; cadence {every}")
    hmm = group.hmm
    data = [np.load(f) for f in data_files]
    fields = TrainConfig.__dataclass_fields__
    base = TrainConfig(hidden=group.hidden, input_dim=group.input,
                       **{k: v for k, v in {**p, **every}.items() if k in fields})
    cfgs = [replace(base, seed=s, device=device) for s in seeds]
    results = train_many(cfgs, [d["train"] for d in data], [d["val"] for d in data],
                         n_outputs=data[0]["emission"].shape[1], checkpoint_path=checkpoint, log=log)
    out_dir = Path(out_dir)
    for seed, d, res in zip(seeds, data, results):
        folder = out_dir / member_folder(seed)
        folder.mkdir(parents=True, exist_ok=True)
        prov = provenance(p, seed, res.device)
        prov.update(training_wall_time_s=res.wall_time_s, resumed_from_epoch=res.resumed_from_epoch,
                    device_name=res.device_name, resume_identical=res.resume_identical,
                    training_group=gid, group_seeds=seeds)
        # did it leave the i.i.d.-output plateau? (validation loss vs i.i.d. symbols and HMM samples)
        verdict = training_verdict(HMM(hmm, d["transition"], d["emission"], d["start"]), res.val_loss,
                                   seq_len=d["val"].shape[1], batch_size=base.batch_size, blur=base.blur,
                                   val_obs=d["val"], seed=seed)
        log(f"s{seed}: {verdict['message']}")
        blob = {
            "plateau": verdict,
            "last": res.last, "best": res.best, "best_epoch": res.best_epoch, "best_val": res.best_val,
            "train_loss": res.train_loss, "val_loss": res.val_loss,
            "hmm": {"name": hmm, "transition": d["transition"], "emission": d["emission"], "start": d["start"]},
            "provenance": prov,
        }
        losses = {"epoch": np.arange(1, len(res.train_loss) + 1), "train": res.train_loss, "val": res.val_loss}
        if res.val_bound:  # objective likelihood: train is minus the FIVO bound, val_bound the validation bound
            blob["val_bound"] = res.val_bound
            losses["val_bound"] = res.val_bound
        torch.save(blob, folder / "model.pt")
        pd.DataFrame(losses).to_csv(folder / "losses.tsv", sep="\t", index=False)
        torch.save(res.evolution or {"epochs": []}, folder / "evolution.pt")
        log(f"s{seed}: last val {res.val_loss[-1]:.4f}, best {res.best_val:.4f} at epoch {res.best_epoch}")
    ckpt = Path(checkpoint)
    ckpt.unlink(missing_ok=True)
    ckpt.with_name(ckpt.name + ".evo").unlink(missing_ok=True)
    log(f"done in {results[0].wall_time_s:.1f} s on {results[0].device} ({results[0].device_name})")
