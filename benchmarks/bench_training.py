"""Training throughput: the pipeline's training path before issue 14 (the *reference*: the old
``rnnhmm.training.train()``, frozen in ``benchmarks/reference_training.py``, one model at a time)
vs the one loop it has now (``rnnhmm.training.engine.train_many``: S seeds at once).

Both run in this process, on the same settings and data, both warmed up, alternately
(``--repeats``), because other processes on a shared machine make absolute timings noisy: the
reported speed-up is the median over the side-by-side pairs of (reference time / engine time).
Before the timing, one engine epoch (and one reference epoch) is profiled with torch.profiler and
broken down into noise generation, RNN forward, Sinkhorn, backward (of which the RNN's), optimiser,
and the time outside kernels (Python, dispatch).

Reported: models x epochs per second of each, their ratio, and the peak memory of each phase (CPU:
peak resident set size sampled during the phase; CUDA: torch.cuda.max_memory_allocated).

    python benchmarks/bench_training.py                        # CPU configs' shapes, L 30 and 50, 1 and 2 threads
    python benchmarks/bench_training.py --paper --device cuda  # H=150, D=100, L=100, batch 4096
    python benchmarks/bench_training.py --device cuda --project   # s/epoch at every paper shape + GPU-hours

``--project`` measures seconds per epoch per model of both at every (L, H, D) shape of the paper
grid (docs/training.md; 10000 + 10000 sequences, batch 4096) and prints the projected hours of all 150
models (128 x 500 epochs, 18 x 1500, 4 x 1000), trained in the pipeline's groups.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from rnnhmm.hmm import linear_chain
from rnnhmm.training.engine import train_many
from rnnhmm.training.settings import TrainConfig
from rnnhmm.training.sinkhorn import FALLBACKS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_training import reference_train  # noqa: E402


# ---------------------------------------------------------------------------------------------
class PeakMemory:
    """Peak memory during a block: CUDA max_memory_allocated, or the sampled resident set size."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._stop = False
            self.peak = self._rss()

            def sample():
                while not self._stop:
                    self.peak = max(self.peak, self._rss())
                    time.sleep(0.005)

            self._t = threading.Thread(target=sample, daemon=True)
            self._t.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop = True
            self._t.join()
            self.peak = max(self.peak, self._rss())

    def describe(self) -> str:
        what = "CUDA max allocated" if self.device.type == "cuda" else "peak RSS"
        return f"{self.peak / 2**20:.0f} MiB {what}"


def make_data(S: int, n_train: int, n_val: int, L: int, states: int, seed: int = 0):
    hmm = linear_chain(states)
    tr, va = [], []
    for s in range(S):
        obs = hmm.sample(n_train + n_val, L, seed=seed + s)
        tr.append(obs[:n_train])
        va.append(obs[n_train:])
    return tr, va


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _cfgs(seeds, H, D, epochs, batch, device):
    return [TrainConfig(hidden=H, input_dim=D, epochs=epochs, batch_size=batch, seed=s, device=str(device),
                        checkpoint_every=10**9, log_every=10**9) for s in seeds]


def time_reference(seeds, tr, va, H, D, epochs, batch, device):
    sync(device)
    t = time.perf_counter()
    for c, a, b in zip(_cfgs(seeds, H, D, epochs, batch, device), tr, va):
        reference_train(c, a, b, device=device)
    sync(device)
    return time.perf_counter() - t


def time_engine(seeds, tr, va, H, D, epochs, batch, device):
    sync(device)
    t = time.perf_counter()
    train_many(_cfgs(seeds, H, D, epochs, batch, device), tr, va, log=lambda m: None)
    sync(device)
    return time.perf_counter() - t


CATEGORIES = [("noise", "noise generation (input noise, h0, Gumbel uniforms)"),
              ("rnn forward", "RNN forward (input projection, recurrence, readout, Gumbel-softmax)"),
              ("sinkhorn", "Sinkhorn loss (costs, iterations, gradient)"),
              ("backward", "backward pass"),
              ("rnn backward", "  of which the RNN recurrence"),
              ("optimiser", "optimiser (per-model clipping, Adam)")]


def profile_epoch(seeds, tr, va, H, D, batch, device) -> str:
    """One engine epoch under torch.profiler (after a warm-up epoch): where the time goes."""
    from torch.profiler import ProfilerActivity, profile

    time_engine(seeds, tr, va, H, D, 1, batch, device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync(device)
    t = time.perf_counter()
    with profile(activities=acts) as prof:
        time_engine(seeds, tr, va, H, D, 1, batch, device)
    wall = time.perf_counter() - t
    ev = prof.key_averages()
    by_name = {e.key: e for e in ev}
    rows = []
    for key, what in CATEGORIES:
        e = by_name.get(key)
        ms = (e.cpu_time_total / 1e3) if e is not None else 0.0
        rows.append(f"    {what:<72s} {ms:8.1f} ms  {100 * ms / (wall * 1e3):5.1f}%")
    top = sum(by_name[k].cpu_time_total / 1e3 for k, _ in CATEGORIES if k in by_name and k != "rnn backward")
    rest = wall * 1e3 - top
    rows.append(f"    {'everything else (epoch bookkeeping, data, Python between the phases)':<72s} {rest:8.1f} ms  "
                f"{100 * rest / (wall * 1e3):5.1f}%")
    kernels = sum(e.self_cpu_time_total for e in ev if e.key.startswith("aten::")) / 1e3
    rows.append(f"    {'time inside aten kernels (all phases)':<72s} {kernels:8.1f} ms  "
                f"{100 * kernels / (wall * 1e3):5.1f}%")
    rows.append(f"    {'outside kernels (Python, dispatch, autograd, profiler)':<72s} {wall * 1e3 - kernels:8.1f} ms  "
                f"{100 * (wall * 1e3 - kernels) / (wall * 1e3):5.1f}%")
    head = f"  one epoch of {len(seeds)} models, profiled: {wall * 1e3:.0f} ms (profiler overhead included)\n"
    return head + "\n".join(rows)


# ---------------------------------------------------------------------------------------------
def paper_groups(config_path: Path):
    """(L, H, D, n_models, epochs) of every training job the pipeline plans for a config."""
    from rnnhmm.config import load_config
    from rnnhmm.training.grouping import training_groups

    cfg = load_config(config_path)
    return [(cfg["hmms"][g.hmm]["seq_len"], g.hidden, g.input, len(g.seeds), g.params["epochs"])
            for g in training_groups(cfg)]


def project(args, device):
    """Seconds per epoch at every (L, H, D) of the paper grid, reference vs engine, and the
    projected hours of the 150-model grid as the pipeline trains it (one job per group)."""
    groups = paper_groups(Path(args.config))
    n_models = sum(g[3] for g in groups)
    shapes = sorted({g[:3] for g in groups}, key=lambda s: (s[0] * s[1], s))
    S = 3
    per_epoch = {}
    print(f"\nprojection: {len(groups)} training jobs, {len(shapes)} shapes (L, H, D); {args.project_epochs} "
          f"epoch(s) each, {args.project_n}+{args.project_n} sequences per model, batch {args.project_batch}")
    t_start = time.perf_counter()
    for L, H, D in shapes:
        if time.perf_counter() - t_start > args.project_budget:
            print(f"  (time budget of {args.project_budget:.0f} s spent: "
                  f"{len(shapes) - len(per_epoch)} shapes not measured; "
                  f"they are projected from the largest measured shape)")
            break
        tr, va = make_data(S, args.project_n, args.project_n, L, 2)
        wtr, wva = [t[:args.project_batch] for t in tr], [v[:args.project_batch] for v in va]
        time_reference([0], wtr[:1], wva[:1], H, D, 1, args.project_batch, device)  # warm-ups: one batch
        time_engine(list(range(S)), wtr, wva, H, D, 1, args.project_batch, device)
        t_ref = time_reference([0], tr[:1], va[:1], H, D, args.project_epochs, args.project_batch, device)
        with PeakMemory(device) as pm:
            t_eng = time_engine(list(range(S)), tr, va, H, D, args.project_epochs, args.project_batch, device)
        per_epoch[(L, H, D)] = (t_ref / args.project_epochs, t_eng / args.project_epochs, pm.peak)
        r, e, m = per_epoch[(L, H, D)]
        print(f"  L={L:3d} H={H:3d} D={D:3d}: reference {r:7.3f} s/epoch (1 model), engine {e:7.3f} s/epoch "
              f"({S} models; {e / S:.3f} per model, {S * r / e:5.1f}x), peak {m / 2**30:.2f} GiB", flush=True)
    fallback = per_epoch[max(per_epoch, key=lambda s: s[0] * s[1])]
    pe = lambda L, H, D: per_epoch.get((L, H, D), fallback)  # noqa: E731
    ref_h = sum(n * ep * pe(L, H, D)[0] for L, H, D, n, ep in groups) / 3600
    eng_h = sum(ep * pe(L, H, D)[1] for L, H, D, n, ep in groups) / 3600  # one job per group
    peak = max(v[2] for v in per_epoch.values())
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"projected time for the {n_models}-model grid on one {dev}: reference {ref_h:.2f} h (one model at a time), "
          f"engine {eng_h:.2f} h ({len(groups)} group jobs one after another; ratio {ref_h / eng_h:.1f}x); "
          f"largest group's peak memory {peak / 2**30:.2f} GiB "
          f"({'CUDA max allocated' if device.type == 'cuda' else 'RSS'}); "
          f"measured in {time.perf_counter() - t_start:.0f} s")


def bench_shape(args, device, L):
    S = args.seeds
    seeds = list(range(S))
    tr, va = make_data(S, args.n_train, args.n_val, L, args.states)
    print(f"\n== {S} models, H={args.hidden} D={args.input} L={L}, {args.n_train}+{args.n_val} sequences, "
          f"batch {args.batch}, {args.epochs} epochs, {args.repeats} alternating repeats")
    if not args.no_profile:
        print(profile_epoch(seeds, tr, va, args.hidden, args.input, args.batch, device))
    # warm-up of both (allocator, kernels, geomloss's first call), then alternate
    time_reference(seeds[:1], tr[:1], va[:1], args.hidden, args.input, 1, args.batch, device)
    time_engine(seeds, tr, va, args.hidden, args.input, 1, args.batch, device)
    best = {"reference": np.inf, "engine": np.inf}
    mem = {}
    run = {"reference": time_reference, "engine": time_engine}
    pairs = []
    for r in range(args.repeats):
        t_pair = {}
        for name in ("reference", "engine"):
            with PeakMemory(device) as pm:
                t = run[name](seeds, tr, va, args.hidden, args.input, args.epochs, args.batch, device)
            mem[name] = max(mem.get(name, 0), pm.peak)
            pm.peak = mem[name]
            mem[name + "_desc"] = pm.describe()
            best[name] = min(best[name], t)
            t_pair[name] = t
            print(f"  run {r + 1}: {name:9s} {t:7.2f} s  ({S * args.epochs / t:.3f} models x epochs / s)", flush=True)
        pairs.append(t_pair["reference"] / t_pair["engine"])
    rate = {k: S * args.epochs / v for k, v in best.items()}
    ratio = float(np.median(pairs))
    print(f"  reference: {rate['reference']:.3f} models x epochs / s (best run)   {mem['reference_desc']}")
    print(f"  engine:    {rate['engine']:.3f} models x epochs / s (best run)   {mem['engine_desc']}")
    print(f"  speed-up (engine / reference), L={L}: {ratio:.2f}x median of the {len(pairs)} side-by-side pairs "
          f"({', '.join(f'{p:.2f}' for p in pairs)}); best run vs best run {rate['engine'] / rate['reference']:.2f}x")
    return {"ratio": ratio, "pairs": pairs, "engine": rate["engine"], "reference": rate["reference"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="models trained (S seeds of one shape)")
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--input", type=int, default=10)
    ap.add_argument("--seq-len", type=int, nargs="+", default=[30, 50], help="one or more sequence lengths")
    ap.add_argument("--states", type=int, default=3, help="linear-chain HMM states of the data")
    ap.add_argument("--n-train", type=int, default=1024, help="training sequences per model")
    ap.add_argument("--n-val", type=int, default=1024, help="validation sequences per model")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternating timed runs of each (pairs)")
    ap.add_argument("--no-profile", action="store_true", help="skip the torch.profiler breakdown")
    ap.add_argument("--paper", action="store_true",
                    help="paper settings: H=150, D=100, L=100, 10000+10000 sequences, batch 4096")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="torch CPU threads, one comparison per count (default 1 2: 1 is what each pipeline "
                         "training job uses, 2 the machine's cores; 0: torch's default)")
    ap.add_argument("--project", action="store_true", help="s/epoch at every paper shape and GPU-hours of the grid")
    ap.add_argument("--only-project", action="store_true", help="--project without the timed comparison")
    ap.add_argument("--project-epochs", type=int, default=1)
    ap.add_argument("--project-n", type=int, default=10000, help="train (= validation) sequences per model")
    ap.add_argument("--project-batch", type=int, default=4096)
    ap.add_argument("--project-budget", type=float, default=1e9, help="stop measuring new shapes after this many s")
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "config/config.yaml"))
    args = ap.parse_args()
    if args.paper:
        args.hidden, args.input, args.seq_len = 150, 100, [100]
        args.n_train, args.n_val, args.batch = 10000, 10000, 4096
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        args.threads = args.threads[:1]  # the CPU thread count barely matters beside a GPU
    default_threads = torch.get_num_threads()
    results = {}
    for n in args.threads:
        torch.set_num_threads(n or default_threads)
        print(f"device {device} ({torch.get_num_threads()} CPU threads, torch {torch.__version__}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
        if not args.only_project:
            results[torch.get_num_threads()] = {L: bench_shape(args, device, L) for L in args.seq_len}
    if results:
        print(f"\nsummary (H={args.hidden} D={args.input}, {args.seeds} models, batch {args.batch}; "
              "engine / reference, median of the side-by-side pairs; the pipeline's training jobs use 1 thread each):")
        for n, per_L in results.items():
            cells = "; ".join(f"L={L}: {r['ratio']:.2f}x (engine {r['engine']:.2f} models x epochs/s)"
                              for L, r in per_L.items())
            gm = float(np.exp(np.mean(np.log([r["ratio"] for r in per_L.values()]))))
            print(f"  {n} thread{'s' if n > 1 else ''}: {cells}; geometric mean {gm:.2f}x")
        print(f"Sinkhorn problems redone in the log domain: {FALLBACKS['log_domain']} "
              f"of {FALLBACKS['calls']}")
    if args.project or args.only_project:
        project(args, device)


if __name__ == "__main__":
    main()
