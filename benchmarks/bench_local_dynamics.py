"""Time rnnhmm.analyses.local.local_dynamics (docs/dynamics.md) against a naive reference-style loop.

The vectorised version runs all states x rollouts of a chunk as one batch (only time is a Python
loop); the naive loop handles one state, one rollout and one step at a time and computes the
eigenvalues of the full H x H Jacobian per state with numpy, as the reference does.

Model: random weights of the paper's size (H=150, D=100, K=3), W_hh Gaussian rescaled to spectral
radius --radius (near 1, so the noisy run neither dies nor blows up). Scenarios:
  typical: random readout (classes flip quickly, rollouts stop early);
  worst:   readout W_out[0] = 1, others 0, so with h >= 0 the class never changes and every
           rollout runs all max_steps (upper bound on the cost for any readout).

    python benchmarks/bench_local_dynamics.py                  # both scenarios, 10000 x 20 x 60
    python benchmarks/bench_local_dynamics.py --scenario worst --n-states 2000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from rnnhmm.analyses.local import local_dynamics
from rnnhmm.analyses.numerics import jacobian_spectrum_stats, simulate
from rnnhmm.model import Weights


def random_model(H: int, D: int, K: int, radius: float, seed: int, scenario: str) -> Weights:
    g = torch.Generator().manual_seed(seed)
    W_hh = torch.randn(H, H, generator=g) / H ** 0.5
    W_hh = W_hh * (radius / torch.linalg.eigvals(W_hh).abs().max())
    bound = 1.0 / H ** 0.5
    W_ih = (torch.rand(H, D, generator=g) * 2 - 1) * bound
    if scenario == "worst":
        W_out = torch.zeros(K, H)
        W_out[0] = 1.0
    else:
        W_out = (torch.rand(K, H, generator=g) * 2 - 1) * bound
    return Weights(W_ih, W_hh, W_out)


def naive_local_dynamics(weights: Weights, states: torch.Tensor, n_rollouts: int, max_steps: int, seed: int):
    """Reference-style: one state, one rollout, one step at a time; full-matrix numpy eigenvalues."""
    W_ih, W_hh, W_out = weights
    g = torch.Generator().manual_seed(seed)
    W_hh_np = W_hh.numpy().astype(np.float64)
    out = []
    for h_start in states:
        logits = W_out @ h_start
        c = int(torch.argmax(torch.softmax(logits, -1)))
        rts, signs = [], []
        for _ in range(n_rollouts):
            h = h_start.clone()
            prev_l = float(logits[c])
            prev_s = 0
            n_flip = 0
            rt = max_steps
            for step in range(max_steps):
                x = torch.randn(W_ih.shape[1], generator=g)
                h = torch.relu(W_ih @ x + W_hh @ h)
                lg = W_out @ h
                if int(torch.argmax(lg)) != c:
                    rt = step + 1
                    break
                l = float(lg[c])
                s = int(np.sign(l - prev_l))
                if s != 0:
                    if prev_s != 0 and s != prev_s:
                        n_flip += 1
                    prev_s = s
                prev_l = l
            rts.append(rt)
            signs.append(n_flip)
        hn = h_start.numpy().astype(np.float64)
        J = (W_hh_np @ hn > 0)[:, None] * W_hh_np
        lam = np.linalg.eigvals(J)
        w = (lam - 1) / (lam + 1 + 1e-8)
        out.append((np.mean(rts), np.mean(signs), int(np.sum(w.real > 0))))
    return np.array(out)


def run(scenario: str, args) -> dict:
    w = random_model(args.hidden, args.input, 3, args.radius, args.seed, scenario)
    gen = torch.Generator().manual_seed(args.seed + 1)
    hidden, _ = simulate(w, args.n_states, warmup=args.warmup, generator=gen)
    states = hidden[0]

    t0 = time.perf_counter()
    res = local_dynamics(w, states, n_rollouts=args.rollouts, max_steps=args.max_steps, generator=gen)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    eig = jacobian_spectrum_stats(w.W_hh, states)  # the eigenvalue part alone, timed again
    t_eig = time.perf_counter() - t0
    assert np.array_equal(res["n_unstable"], eig["n_unstable"].numpy())

    sub = states[: args.naive_states]
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the naive loop's best setting (tiny ops; no intra-op threading overhead)
    t0 = time.perf_counter()
    naive = naive_local_dynamics(w, sub, args.rollouts, args.max_steps, args.seed + 2)
    t_naive = time.perf_counter() - t0
    torch.set_num_threads(n_threads)
    per_vec = t_vec / len(states)
    per_naive = t_naive / len(sub)
    return dict(scenario=scenario, n=len(states), t_vec=t_vec, t_eig=t_eig, per_vec=per_vec, per_naive=per_naive,
                ratio=per_naive / per_vec, rt_vec=float(res["residency"][: len(sub)].mean()),
                rt_vec_all=float(res["residency"].mean()), rt_naive=float(naive[:, 0].mean()),
                unst_vec=float(res["n_unstable"][: len(sub)].mean()), unst_naive=float(naive[:, 2].mean()),
                n_naive=len(sub))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=["typical", "worst", "both"], default="both")
    p.add_argument("--n-states", type=int, default=10_000)
    p.add_argument("--rollouts", type=int, default=20)
    p.add_argument("--max-steps", type=int, default=60)
    p.add_argument("--hidden", type=int, default=150)
    p.add_argument("--input", type=int, default=100)
    p.add_argument("--radius", type=float, default=0.98, help="spectral radius of W_hh")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--naive-states", type=int, default=10, help="states timed with the naive loop")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    scenarios = ["typical", "worst"] if args.scenario == "both" else [args.scenario]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"H={args.hidden} D={args.input} N={args.n_states} rollouts={args.rollouts} max_steps={args.max_steps}")
    rows = [run(s, args) for s in scenarios]
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    hdr = (f"{'scenario':<9} {'N':>6} {'vec total s':>11} {'(eig s)':>8} {'vec ms/state':>12} "
           f"{'naive ms/state':>14} {'ratio':>7} {'mean RT vec/naive':>18} {'unstable vec/naive':>19}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['scenario']:<9} {r['n']:>6} {r['t_vec']:>11.2f} {r['t_eig']:>8.2f} {1e3 * r['per_vec']:>12.3f} "
              f"{1e3 * r['per_naive']:>14.2f} {r['ratio']:>7.0f} "
              f"{r['rt_vec']:>8.2f} / {r['rt_naive']:<7.2f} {r['unst_vec']:>8.2f} / {r['unst_naive']:<7.2f}")
    print(f"(naive timed on the first {rows[0]['n_naive']} states; 'vec total' includes the eigenvalues; "
          f"mean RT over all states: " + ", ".join(f"{r['scenario']} {r['rt_vec_all']:.2f}" for r in rows) + ")")


if __name__ == "__main__":
    main()
