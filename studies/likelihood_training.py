"""One small model trained by likelihood (``training.objective: likelihood``) through the pipeline's
engine, scored before and after: KL rate from its HMM (particle filter, h_0 = 0, no uniform first
symbol: training's convention), the Sinkhorn plateau verdict from its recorded validation losses,
and its free-running change rate and symbol frequencies against held-out HMM sequences. Feeds
docs/training.md ("Training by likelihood").

    PYTHONPATH=src .venv/bin/python studies/likelihood_training.py   # lin2, H=50, d=10, L=50, 30 epochs
    PYTHONPATH=src .venv/bin/python studies/likelihood_training.py --particles 256 --batch 16

Settings (defaults): 640 training + 640 validation sequences, batch 64 x 64 particles (10 steps an
epoch), Adam lr 0.003 with a cosine schedule to 0.05x, gradient clip 1.0, h_0 = 0, one CPU thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rnnhmm.evaluation.likelihood import kl_rate
from rnnhmm.hmm import cyclic, fully_connected, linear_chain
from rnnhmm.model import Weights, generate_outputs
from rnnhmm.training.convergence import training_verdict
from rnnhmm.training.engine import BatchedModels, train_many
from rnnhmm.training.settings import TrainConfig

FAMILIES = {"lin2": lambda: linear_chain(2), "lin5": lambda: linear_chain(5), "fully": fully_connected,
            "cyclic": cyclic}
KEYS = ("weight_ih", "weight_hh", "readout")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default="lin2", choices=sorted(FAMILIES))
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--input", type=int, default=10)
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--n-train", type=int, default=640)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--particles", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-particles", type=int, default=1024)
    a = ap.parse_args()
    torch.set_num_threads(1)
    hmm = FAMILIES[a.family]()
    L = a.seq_len
    obs = hmm.sample(2 * a.n_train, L, seed=a.seed + 1)
    tr, va = obs[:a.n_train], obs[a.n_train:]
    held = hmm.sample(300, L, seed=a.seed + 7)
    cfg = TrainConfig(hidden=a.hidden, input_dim=a.input, epochs=a.epochs, batch_size=a.batch, lr=a.lr, grad_clip=1.0,
                      device="cpu", seed=a.seed, random_h0=False, checkpoint_every=10**6, log_every=5,
                      objective="likelihood", particles=a.particles, lr_schedule="cosine", lr_min_factor=0.05)
    init = BatchedModels([a.seed], a.hidden, a.input, hmm.n_outputs, False, torch.device("cpu"))
    w0 = Weights(*(init.state(0)[k] for k in KEYS))
    t = time.time()
    res = train_many([cfg], [tr], [va], n_outputs=hmm.n_outputs)[0]
    print(f"trained {a.epochs} epochs in {time.time() - t:.0f} s")
    w1 = Weights(*(res.last[k] for k in KEYS))
    for name, w in (("initial", w0), ("last", w1)):
        r = kl_rate(w, hmm, held, particles=a.eval_particles, uniform_first=False)
        print(f"{name}: KL rate {r['kl_rate']:.4f} +- {r['kl_se']:.4f} nats/step (P = {a.eval_particles}; "
              f"HMM entropy rate {r['entropy_rate']:.4f})")
    print("Sinkhorn plateau verdict:", training_verdict(hmm, res.val_loss, seq_len=L, batch_size=a.batch,
                                                        val_obs=va, seed=a.seed)["message"])
    print("validation bound, first / best / last:", round(res.val_bound[0], 4), round(max(res.val_bound), 4),
          round(res.val_bound[-1], 4))
    o = generate_outputs(w1, 2000, L, uniform_first=False, generator=torch.Generator().manual_seed(0)).numpy()
    K = hmm.n_outputs
    print(f"change rate: model {float((o[:, 1:] != o[:, :-1]).mean()):.4f}, "
          f"HMM {float((held[:, 1:] != held[:, :-1]).mean()):.4f}")
    print("symbol frequencies: model", np.round(np.bincount(o.ravel(), minlength=K) / o.size, 4),
          "HMM", np.round(np.bincount(held.ravel(), minlength=K) / held.size, 4))


if __name__ == "__main__":
    main()
