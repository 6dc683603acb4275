"""Training throughput: a reference-style loop (one model at a time) vs rnnhmm.engine (S at once).

Both run in this process, on the same settings and data, alternately (``--repeats``), because other
processes on a shared machine make absolute timings noisy; the best time of each is reported.

(1) reference: what the authors' code does per model: torch.nn.RNN(relu, bias=False) +
    nn.Linear(bias=False) + F.gumbel_softmax(hard=True) + geomloss SamplesLoss(blur=0.2)
    (backend auto = tensorized), Adam (betas 0.9, 0.9), clip_grad_norm_, validation pass.
(2) engine: rnnhmm.engine.train_many, the S seeds in one process (same mathematics; see its
    docstring), validation pass included.

Reported: models x epochs per second of each, their ratio, and the peak memory of each phase (CPU:
peak resident set size sampled during the phase; CUDA: torch.cuda.max_memory_allocated).

    python benchmarks/bench_training.py                        # small CPU settings
    python benchmarks/bench_training.py --paper --device cuda  # H=150, D=100, L=100, batch 4096
    python benchmarks/bench_training.py --paper --device cuda --project   # + GPU-hours of the grid

``--project`` measures the per-epoch time per model of both methods at every (H, D, L) shape of
the paper grid (spec C.5) and prints the projected hours for all 150 models (128 x 500 epochs,
18 x 1500, 4 x 1000).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnhmm.engine import train_many
from rnnhmm.hmm import linear_chain
from rnnhmm.training import TrainConfig


# ---------------------------------------------------------------------------------------------
def reference_train(seed: int, y_train: torch.Tensor, y_val: torch.Tensor, H: int, D: int, epochs: int,
                    batch: int, device: torch.device, random_h0: bool = True, clip: float = 0.9) -> list[float]:
    """One model, the reference's way. y_*: one-hot (N, L, 3) on device. Returns val losses."""
    from geomloss import SamplesLoss

    torch.manual_seed(seed)
    rnn = nn.RNN(D, H, num_layers=1, nonlinearity="relu", bias=False, batch_first=True).to(device)
    fc = nn.Linear(H, 3, bias=False).to(device)
    params = list(rnn.parameters()) + list(fc.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.9))
    crit = SamplesLoss(blur=0.2)
    N, L, _ = y_train.shape

    def fwd(b):
        x = torch.randn(b, L, D, device=device)
        h0 = torch.randn(1, b, H, device=device) if random_h0 else torch.zeros(1, b, H, device=device)
        out, _ = rnn(x, h0)
        return F.gumbel_softmax(fc(out), tau=1.0, hard=True, dim=-1)

    val = []
    for _ in range(epochs):
        for s in range(0, N, batch):
            y = y_train[s:s + batch]
            o = fwd(y.shape[0])
            loss = crit(o.reshape(y.shape[0], -1), y.reshape(y.shape[0], -1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        with torch.no_grad():
            vl = []
            for s in range(0, y_val.shape[0], batch):
                y = y_val[s:s + batch]
                o = fwd(y.shape[0])
                vl.append(crit(o.reshape(y.shape[0], -1), y.reshape(y.shape[0], -1)).item())
        val.append(float(np.mean(vl)))
    return val


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


def time_reference(seeds, tr, va, H, D, epochs, batch, device):
    eye = torch.eye(3, device=device)
    sync(device)
    t = time.perf_counter()
    for s, a, b in zip(seeds, tr, va):
        reference_train(s, eye[torch.as_tensor(a, dtype=torch.long, device=device)],
                        eye[torch.as_tensor(b, dtype=torch.long, device=device)],
                        H, D, epochs, batch, device)
    sync(device)
    return time.perf_counter() - t


def time_engine(seeds, tr, va, H, D, epochs, batch, device):
    cfgs = [TrainConfig(hidden=H, input_dim=D, epochs=epochs, batch_size=batch, seed=s, device=str(device),
                        checkpoint_every=10**9, log_every=10**9) for s in seeds]
    sync(device)
    t = time.perf_counter()
    train_many(cfgs, tr, va, log=lambda m: None)
    sync(device)
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------
def paper_grid():
    """(hmm, L, H, D, n_models, epochs) groups of the paper's 150 models (spec C.4, C.5)."""
    rows = []
    L_of = {"Two": 100, "Three": 30, "Four": 30, "Five": 40}
    for hmm, L in L_of.items():
        for H in (50, 150, 200):
            for D in (1, 10, 100, 200):
                if hmm != "Five" or H == 50 or (H == 150 and D == 200):
                    rows.append((hmm, L, H, D, 3, 500))
                elif H == 200:
                    rows.append((hmm, L, H, D, 3, 1500))
                elif D == 1:  # Five h150 i1: seed 0 1000 epochs, seeds 1, 2 1500
                    rows += [(hmm, L, H, D, 1, 1000), (hmm, L, H, D, 2, 1500)]
                else:  # Five h150 i10 / i100: seed 0 500, seeds 1, 2 1500
                    rows += [(hmm, L, H, D, 1, 500), (hmm, L, H, D, 2, 1500)]
    rows.append(("Fully", 30, 150, 100, 3, 500))
    rows.append(("Cyclic", 40, 150, 100, 3, 1000))
    return rows


def project(args, device):
    rows = paper_grid()
    assert sum(r[4] for r in rows) == 150
    assert sorted({(r[5], sum(q[4] for q in rows if q[5] == r[5])) for r in rows}) == [(500, 128), (1000, 4), (1500, 18)]
    shapes = sorted({(r[1], r[2], r[3]) for r in rows})
    per_epoch = {}
    S = 3
    print(f"\nprojection: measuring {len(shapes)} shapes (L, H, D), {args.project_epochs} epochs each, "
          f"{args.n_train}+{args.n_val} sequences, batch {args.batch}")
    for L, H, D in shapes:
        tr, va = make_data(S, args.n_train, args.n_val, L, 2)
        time_engine([0], tr[:1], va[:1], H, D, 1, args.batch, device)  # warm-up (allocator, kernels)
        t_ref = time_reference([0], tr[:1], va[:1], H, D, args.project_epochs, args.batch, device)
        t_eng = time_engine(list(range(S)), tr, va, H, D, args.project_epochs, args.batch, device)
        per_epoch[(L, H, D)] = (t_ref / args.project_epochs, t_eng / (S * args.project_epochs))
        print(f"  L={L:3d} H={H:3d} D={D:3d}: reference {per_epoch[(L, H, D)][0]:.3f} s/epoch/model, "
              f"engine {per_epoch[(L, H, D)][1]:.3f} s/epoch/model")
    ref_h = sum(n * ep * per_epoch[(L, H, D)][0] for _, L, H, D, n, ep in rows) / 3600
    eng_h = sum(n * ep * per_epoch[(L, H, D)][1] for _, L, H, D, n, ep in rows) / 3600
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"projected time for the 150-model grid on {dev}: reference {ref_h:.1f} h, engine {eng_h:.1f} h "
          f"(seeds batched 3 at a time; ratio {ref_h / eng_h:.1f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="models trained (S seeds of one shape)")
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--input", type=int, default=10)
    ap.add_argument("--seq-len", type=int, default=30)
    ap.add_argument("--states", type=int, default=3, help="linear-chain HMM states of the data")
    ap.add_argument("--n-train", type=int, default=1024, help="training sequences per model")
    ap.add_argument("--n-val", type=int, default=1024, help="validation sequences per model")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2, help="alternating timed runs of each; best is kept")
    ap.add_argument("--paper", action="store_true",
                    help="paper settings: H=150, D=100, L=100, 10000+10000 sequences, batch 4096")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--project", action="store_true", help="also project GPU-hours of the 150-model grid")
    ap.add_argument("--project-epochs", type=int, default=2)
    args = ap.parse_args()
    if args.paper:
        args.hidden, args.input, args.seq_len, args.n_train, args.n_val, args.batch = 150, 100, 100, 10000, 10000, 4096
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    S = args.seeds
    seeds = list(range(S))
    tr, va = make_data(S, args.n_train, args.n_val, args.seq_len, args.states)
    print(f"device {device} ({torch.get_num_threads()} CPU threads, torch {torch.__version__}); {S} models, "
          f"H={args.hidden} D={args.input} L={args.seq_len}, {args.n_train}+{args.n_val} sequences, "
          f"batch {args.batch}, {args.epochs} epochs, {args.repeats} alternating repeats")
    best = {"reference": np.inf, "engine": np.inf}
    mem = {}
    run = {"reference": time_reference, "engine": time_engine}
    for r in range(args.repeats):
        for name in ("reference", "engine"):
            with PeakMemory(device) as pm:
                t = run[name](seeds, tr, va, args.hidden, args.input, args.epochs, args.batch, device)
            mem[name] = max(mem.get(name, 0), pm.peak) if r else pm.peak
            pm.peak = mem[name]
            mem[name + "_desc"] = pm.describe()
            best[name] = min(best[name], t)
            print(f"  run {r + 1}: {name:9s} {t:7.2f} s  ({S * args.epochs / t:.3f} models x epochs / s)")
    rate = {k: S * args.epochs / v for k, v in best.items()}
    print(f"reference: {rate['reference']:.3f} models x epochs / s   {mem['reference_desc']}")
    print(f"engine:    {rate['engine']:.3f} models x epochs / s   {mem['engine_desc']}")
    print(f"speed-up (engine / reference): {rate['engine'] / rate['reference']:.2f}x")
    if args.project:
        project(args, device)


if __name__ == "__main__":
    main()
