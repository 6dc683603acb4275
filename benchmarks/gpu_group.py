"""Train one group of the paper config for a few epochs through the pipeline's own code
(rnnhmm.training.grouping's groups, rnnhmm.hmm's data as the make_data rule samples it, rnnhmm.training.engine's loop,
device resolution and checkpoints as the train rule uses them); print s/epoch and peak memory.

    python benchmarks/gpu_group.py [--group lin2/h150_d100/s0_1_2] [--epochs 3] [--config config/config.yaml]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from rnnhmm.config import derive_seed, load_config
from rnnhmm.hmm import build_hmm
from rnnhmm.training.engine import train_many
from rnnhmm.training.grouping import cadence, training_groups
from rnnhmm.training.settings import TrainConfig, resolve_device

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--group", default="lin2/h150_d100/s0_1_2")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    cfg = load_config(args.config)
    group = {g.id: g for g in training_groups(cfg)}[args.group]
    spec = cfg["hmms"][group.hmm]
    hmm = build_hmm(group.hmm, spec)
    n = cfg["data"]["num_seq"]
    tr, va = [], []
    for seed in group.seeds:
        obs = hmm.sample(n, spec["seq_len"], seed=derive_seed("data", group.hmm, seed))
        tr.append(obs[: n // 3])
        va.append(obs[n // 3: 2 * (n // 3)])
    device, lock = resolve_device(group.params["device"], log=print)
    fields = TrainConfig.__dataclass_fields__
    base = TrainConfig(hidden=group.hidden, input_dim=group.input,
                       **{k: v for k, v in {**group.params, **cadence(cfg, group)}.items() if k in fields})
    cfgs = [replace(base, seed=s, device=device, epochs=args.epochs, log_every=1) for s in group.seeds]
    print(f"group {group.id}: {len(cfgs)} models, H={group.hidden} D={group.input} L={spec['seq_len']}, "
          f"{len(tr[0])}+{len(va[0])} sequences, batch {base.batch_size}, {args.epochs} epochs on {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else ""))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = train_many(cfgs, tr, va, n_outputs=hmm.n_outputs, checkpoint_path=Path(tmp) / "ckpt.pt", log=print)
        wall = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.startswith("cuda") else float("nan")
    print(f"trained in {wall:.1f} s ({wall / args.epochs:.2f} s/epoch for the group, first epoch included); "
          f"peak GPU memory {peak:.2f} GiB; val losses {[round(r.val_loss[-1], 4) for r in res]}")


if __name__ == "__main__":
    main()
