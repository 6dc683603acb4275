"""Speed of one likelihood training step (``training.objective: likelihood``): the engine's batched FIVO
bound (:func:`rnnhmm.training.fivo.likelihood_loss`: S models x B sequences x P particles as one
(S, B*P, H) tensor, the input projection of all steps in one matmul) against the same bound written
plainly (``benchmarks/reference_fivo.py``: a loop over models and steps, autograd), side by side.

A step = draw the random numbers, compute the bound of a batch of B HMM sequences with P particles
per sequence, backward. Both run in this process on the same weights, data and random numbers
(their bounds are checked equal first), warmed up, alternately (``--repeats``); reported: model-steps
per second of each and the median over the pairs of reference time / engine time. Then where the
engine's time goes: forward (draws + bound) vs backward wall time, and a torch.profiler table of the
top operators (``--no-profile`` skips it).

    python benchmarks/bench_likelihood.py                 # small shape: H=50, D=10, B x P = 16 x 32, L=30, 3 models
    python benchmarks/bench_likelihood.py --paper         # H=150, D=100, B x P = 64 x 64, L=50
    python benchmarks/bench_likelihood.py --hidden 100 --particles 128 --models 1 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from rnnhmm.hmm import linear_chain
from rnnhmm.training.engine import BatchedModels
from rnnhmm.training.fivo import draw, likelihood_loss

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_fivo import reference_bound_one  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def engine_step(models, y, P, ess, random_h0, parts=None):
    t0 = time.perf_counter()
    loss, _ = likelihood_loss(models.params, models.noise_gens, y, P, ess, random_h0)
    sync(models.device)
    t1 = time.perf_counter()
    for p in models.parameters():
        p.grad = None
    loss.sum().backward()
    sync(models.device)
    if parts is not None:
        parts["forward"].append(t1 - t0)
        parts["backward"].append(time.perf_counter() - t1)
    return loss.detach()


def reference_step(weights, gens, y, P, ess, random_h0):
    """One model after the other: draw (the same numbers as the engine), bound, backward."""
    S, B, L = y.shape
    losses = []
    for s, (w, g) in enumerate(zip(weights, gens)):
        for p in w:
            p.grad = None
        dr = draw([g], B, P, L, w[0].shape[1], w[1].shape[0], random_h0, w[0].device)
        bound = reference_bound_one(*w, y[s], dr.noise[0], None if dr.h0 is None else dr.h0[0], dr.u[0], ess)
        loss = -bound.sum() / (L * B)
        loss.backward()
        losses.append(loss.detach())
    sync(y.device)
    return torch.stack(losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paper", action="store_true", help="H=150, D=100, B x P = 64 x 64, L=50")
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--input", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16, help="sequences per step (B)")
    ap.add_argument("--particles", type=int, default=32, help="particles per sequence (P)")
    ap.add_argument("--seq-len", type=int, default=30)
    ap.add_argument("--models", type=int, default=3, help="models trained together (S)")
    ap.add_argument("--ess", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-profile", action="store_true")
    a = ap.parse_args()
    if a.paper:
        a.hidden, a.input, a.batch, a.particles, a.seq_len = 150, 100, 64, 64, 50
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    S, H, D, B, P, L = a.models, a.hidden, a.input, a.batch, a.particles, a.seq_len
    hmm = linear_chain(2)
    y = torch.stack([torch.as_tensor(hmm.sample(B, L, seed=s)) for s in range(S)]).long().to(dev)
    seeds = list(range(S))
    models = BatchedModels(seeds, H, D, 3, True, dev)
    weights = [[models.params[k].detach()[s].clone().requires_grad_() for k in ("weight_ih", "weight_hh", "readout")]
               for s in range(S)]
    ref_gens = [torch.Generator(device=dev).manual_seed(1000 + s) for s in seeds]
    for g, r in zip(models.noise_gens, ref_gens):
        g.set_state(r.get_state())
    print(f"shape: S={S} models, H={H}, D={D}, B x P = {B} x {P}, L={L}, ess {a.ess}, {dev}, "
          f"{torch.get_num_threads()} thread(s)")
    # same random numbers -> same bound (both generators in the same state)
    e = engine_step(models, y, P, a.ess, True)
    r = reference_step(weights, ref_gens, y, P, a.ess, True)
    print(f"check: engine loss {e.tolist()} reference {r.tolist()} (max diff {float((e - r).abs().max()):.2e})")
    # timing, alternating, warmed up by the check above
    te, tr = [], []
    parts = {"forward": [], "backward": []}
    for _ in range(a.repeats):
        sync(dev)
        t = time.perf_counter()
        engine_step(models, y, P, a.ess, True, parts)
        te.append(time.perf_counter() - t)
        t = time.perf_counter()
        reference_step(weights, ref_gens, y, P, a.ess, True)
        tr.append(time.perf_counter() - t)
    ratio = statistics.median(b / c for b, c in zip(tr, te))
    me, mr = statistics.median(te), statistics.median(tr)
    print(f"engine:    {S / me:.2f} model-steps/s ({me:.3f} s per step of {S} models; forward "
          f"{statistics.median(parts['forward']):.3f} s, backward {statistics.median(parts['backward']):.3f} s)")
    print(f"reference: {S / mr:.2f} model-steps/s ({mr:.3f} s)")
    print(f"summary (S={S} H={H} D={D} BxP={B}x{P} L={L}, {a.threads} thread(s), {dev}): engine / reference "
          f"= {ratio:.2f}x (median of {a.repeats} side-by-side pairs)")
    if not a.no_profile:
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=acts) as prof:
            engine_step(models, y, P, a.ess, True)
        key = "cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=15))
        labelled = {ev.key: ev.cpu_time_total for ev in prof.key_averages() if ev.key.startswith(("fivo", "noise"))}
        total = sum(parts["forward"][-1:]) + sum(parts["backward"][-1:])
        print("forward phases (record_function, CPU time incl. children, us): "
              + ", ".join(f"{k} {v:.0f}" for k, v in sorted(labelled.items())) + f"; step wall ~{total * 1e6:.0f} us")


if __name__ == "__main__":
    main()
