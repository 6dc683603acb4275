"""Training by likelihood (``training.objective: likelihood``): the FIVO bound of rnnhmm.training.fivo
is a lower bound of log p_RNN that tightens with the particle count, matches a plain per-model
implementation, lowers the KL rate when trained on, resumes identically, and is accepted by the
config schema. The Sinkhorn objective's numbers are tests/test_engine.py's (unchanged)."""

import copy
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rnnhmm.config import ConfigError, validate_config
from rnnhmm.evaluation.likelihood import kl_rate
from rnnhmm.hmm import linear_chain
from rnnhmm.model import Weights
from rnnhmm.training.engine import BatchedModels, train_many
from rnnhmm.training.fivo import DEAD_LOG_INCREMENT, draw, fivo_bound
from rnnhmm.training.settings import TrainConfig, TrainingInterrupted

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from reference_fivo import reference_bound  # noqa: E402  (the bound written plainly, one model at a time)


def _weights(S, H, D, K=3, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(S, H, D, generator=g) * scale / math.sqrt(D),
            torch.randn(S, H, H, generator=g) * 0.9 / math.sqrt(H),
            torch.randn(S, K, H, generator=g) * 2.0]


@pytest.mark.parametrize("random_h0,ess,grow,limit", [(True, 0.5, 0.0, 1e6), (False, 1.0, 0.0, 1e6),
                                                      (True, 0.0, 0.0, 1e6), (True, 0.5, 3.0, 1e6),
                                                      (False, 0.5, 0.0, 1.5)])
def test_bound_matches_plain_per_model_filter(random_h0, ess, grow, limit):
    """Same random numbers -> the batched bound and its gradient (hand-written backward) equal the plain
    per-model loop under autograd. ``grow``: a self-excitation that makes whole sequences diverge
    (3.0); ``limit``: a divergence bound low enough (1.5) that some particles of living sequences
    die."""
    S, B, P, L, H, D = 2, 5, 8, 12, 6, 3
    ws = _weights(S, H, D)
    ws[1] = ws[1] + grow * torch.eye(H)
    ws = [w.requires_grad_() for w in ws]
    y = torch.randint(0, 3, (S, B, L), generator=torch.Generator().manual_seed(1))
    gens = [torch.Generator().manual_seed(s) for s in range(S)]
    dr = draw(gens, B, P, L, D, H, random_h0, "cpu")
    bound, stats = fivo_bound(*ws, y, dr, ess, diverge_norm=limit)
    bound.sum().backward()
    grads = [w.grad.clone() for w in ws]
    refw = [[w.detach()[s].clone().requires_grad_() for w in ws] for s in range(S)]
    ref = reference_bound(refw, y, dr, ess, diverge_norm=limit)
    for s in range(S):
        ref[s].sum().backward()
        assert torch.allclose(bound[s], ref[s], rtol=1e-5, atol=1e-4), (bound[s], ref[s])
        for g, r in zip(grads, refw[s]):
            assert torch.allclose(g[s], r.grad, rtol=1e-4, atol=1e-4)
    if grow:
        assert 0 < int(stats["dead"].sum()) < S * B
    if limit < 10:
        assert int(stats["n_diverged"].sum()) > 0 and int(stats["dead"].sum()) < S * B
    if ess == 0.0:
        assert int(stats["resampled"].sum()) == 0
    elif ess == 1.0:
        assert int(stats["resampled"].sum()) > 0


def _iid_model_loglik(W_ih, W_out, y):
    """A model with W_hh = 0 and d = 1 emits i.i.d. symbols: p(o = k) = E_x[softmax(W_out ReLU(W_ih x))_k],
    x ~ N(0, 1), by quadrature on a fine grid (float64). Returns log p(y) per sequence."""
    x = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    w = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * (x[1] - x[0])
    h = torch.relu(x[:, None] * W_ih.double()[:, 0][None, :])  # (n, H)
    q = (torch.softmax(h @ W_out.double().T, dim=1) * w[:, None]).sum(0)  # (K,)
    assert abs(float(q.sum()) - 1.0) < 1e-9
    return torch.log(q)[torch.as_tensor(y)].sum(-1).numpy()


def test_bound_is_a_lower_bound_that_tightens_with_particles():
    """E[bound] <= log p(y) (exact, by quadrature) for every particle count, and the bound approaches
    log p as P grows (P = 1, 8, 64): Jensen gaps strictly decreasing beyond their noise."""
    H, L, N = 4, 10, 400
    g = torch.Generator().manual_seed(3)
    W_ih = torch.randn(1, H, 1, generator=g) * 2.0
    W_hh = torch.zeros(1, H, H)
    W_out = torch.randn(1, 3, H, generator=g) * 3.0  # strongly state-dependent readout: a real Jensen gap
    y = torch.randint(0, 3, (1, N, L), generator=g)
    exact = _iid_model_loglik(W_ih[0], W_out[0], y[0].numpy())
    gaps, ses = {}, {}
    for P in (1, 8, 64):
        dr = draw([torch.Generator().manual_seed(10 + P)], N, P, L, 1, H, True, "cpu")
        with torch.no_grad():
            bound, _ = fivo_bound(W_ih, W_hh, W_out, y, dr, 0.5)
        d = exact - bound[0].double().numpy()
        gaps[P], ses[P] = float(d.mean()), float(d.std(ddof=1) / math.sqrt(N))
        assert gaps[P] > -3 * ses[P], (P, gaps[P], ses[P])  # a lower bound, within Monte Carlo error
    assert gaps[1] > 0.5  # the single-particle (Jensen) gap is large on this model
    assert gaps[1] - gaps[8] > 3 * math.hypot(ses[1], ses[8]), (gaps, ses)
    assert gaps[8] - gaps[64] > 3 * math.hypot(ses[8], ses[64]), (gaps, ses)
    assert gaps[64] < 0.1 * gaps[1], (gaps, ses)


def test_divergent_particles_get_weight_zero_and_the_arithmetic_stays_finite():
    """Every particle diverges; dead particles keep moving and would reach inf (float32) within the
    30 steps if they were not zeroed: the bound and the gradient stay finite."""
    S, B, P, L, H, D = 1, 3, 4, 30, 5, 2
    W_ih, _, W_out = (w.requires_grad_() for w in _weights(S, H, D))
    W_hh = (1e3 * torch.eye(H)).unsqueeze(0).requires_grad_()  # every particle blows up within a few steps
    y = torch.zeros(S, B, L, dtype=torch.long)
    dr = draw([torch.Generator().manual_seed(0)], B, P, L, D, H, True, "cpu")
    bound, stats = fivo_bound(W_ih, W_hh, W_out, y, dr, 0.5)
    bound.sum().backward()
    assert torch.isfinite(bound).all() and int(stats["dead"]) == B and int(stats["n_diverged"]) == B * P
    assert float(bound.detach().max()) <= 3 * DEAD_LOG_INCREMENT  # the dead steps' constant, several steps of it
    assert all(torch.isfinite(w.grad).all() for w in (W_ih, W_hh, W_out))


def _data(S=2, n=256, L=20, seed=0):
    hmm = linear_chain(2)
    obs = [hmm.sample(n, L, seed=seed + k) for k in range(S)]
    return hmm, [o[: n // 2] for o in obs], [o[n // 2:] for o in obs]


def _cfgs(seeds, **kw):
    base = dict(hidden=8, input_dim=3, epochs=4, batch_size=32, lr=0.01, device="cpu", checkpoint_every=1,
                log_every=100, objective="likelihood", particles=8)
    base.update(kw)
    return [TrainConfig(seed=s, **base) for s in seeds]


def test_likelihood_training_lowers_the_kl_rate():
    """H = 16, d = 4 on the 2-state chain, 120 optimiser steps of the bound: the KL rate (P = 128
    filter, held-out HMM sequences) falls by far more than 3 SE; the Sinkhorn validation loss is
    still recorded every epoch, and the plateau verdict runs on it."""
    from rnnhmm.training.convergence import training_verdict

    hmm = linear_chain(2)
    L = 30
    obs = hmm.sample(256 + 128, L, seed=5)
    tr, va = obs[:256], obs[256:]
    held = hmm.sample(200, L, seed=99)
    cfg = TrainConfig(hidden=16, input_dim=4, epochs=15, batch_size=32, lr=0.01, device="cpu", seed=2,
                      random_h0=False, checkpoint_every=100, log_every=100, objective="likelihood",
                      particles=16, lr_schedule="cosine")
    init = BatchedModels([2], 16, 4, 3, False, torch.device("cpu"))
    w0 = Weights(*(init.state(0)[k] for k in ("weight_ih", "weight_hh", "readout")))
    res = train_many([cfg], [tr], [va], log=lambda m: None)[0]
    w1 = Weights(*(res.last[k] for k in ("weight_ih", "weight_hh", "readout")))
    before = kl_rate(w0, hmm, held, particles=128, uniform_first=False)
    after = kl_rate(w1, hmm, held, particles=128, uniform_first=False)
    drop = before["kl_rate"] - after["kl_rate"]
    assert drop > 3 * math.hypot(before["kl_se"], after["kl_se"]), (before["kl_rate"], after["kl_rate"])
    assert after["kl_rate"] < 0.5 * before["kl_rate"]
    assert len(res.train_loss) == len(res.val_loss) == len(res.val_bound) == 15
    assert np.all(np.isfinite(res.val_loss)) and np.all(np.isfinite(res.val_bound))
    assert res.val_bound[-1] > res.val_bound[0]  # the validation bound rises
    assert res.train_loss[-1] < res.train_loss[0]  # minus the training bound falls
    assert res.best_epoch == 1 + int(np.argmax(res.val_bound)) and res.best_val == res.val_loss[res.best_epoch - 1]
    verdict = training_verdict(hmm, res.val_loss, seq_len=L, batch_size=cfg.batch_size, blur=cfg.blur,
                               val_obs=va, seed=2)
    assert "message" in verdict


def test_likelihood_resume_equals_uninterrupted(tmp_path):
    _, tr, va = _data()
    cfgs = _cfgs([1, 2], epochs=5, evolution_every=2)
    full = train_many(cfgs, tr, va, log=lambda m: None)
    ckpt = tmp_path / "batch.pt"
    with pytest.raises(TrainingInterrupted):
        train_many(cfgs, tr, va, checkpoint_path=ckpt, log=lambda m: None, stop_after=2)
    msgs = []
    resumed = train_many(cfgs, tr, va, checkpoint_path=ckpt, log=msgs.append)
    assert any("resumed from" in m and "at epoch 2/5" in m for m in msgs)
    for a, b in zip(full, resumed):
        assert a.train_loss == b.train_loss and a.val_loss == b.val_loss and a.val_bound == b.val_bound
        assert a.best_epoch == b.best_epoch and a.evolution_epochs == b.evolution_epochs == [1, 2, 4]
        for k in a.last:
            assert torch.equal(a.last[k], b.last[k]) and torch.equal(a.best[k], b.best[k])


def test_grouped_models_equal_models_trained_alone():
    _, tr, va = _data(S=2, n=128)
    cfgs = _cfgs([3, 7], epochs=2)
    many = train_many(cfgs, tr, va, log=lambda m: None)
    for c, t, v, r in zip(cfgs, tr, va, many):
        alone = train_many([c], [t], [v], log=lambda m: None)[0]
        np.testing.assert_allclose(r.train_loss, alone.train_loss, rtol=1e-5)
        np.testing.assert_allclose(r.val_bound, alone.val_bound, rtol=1e-5)
        for k in r.last:
            assert torch.allclose(r.last[k], alone.last[k], atol=1e-5)


def test_init_from_starts_from_the_files_weights(tmp_path):
    """Fine-tune: init_from's {seed} names one file per model; its 'best' (or 'last') weights start
    the run (a tiny learning rate leaves them in place)."""
    _, tr, va = _data(S=2, n=64)
    files = {}
    for seed in (1, 2):
        m = BatchedModels([100 + seed], 8, 3, 3, True, torch.device("cpu"))
        files[seed] = {"last": {k: v * 0 for k, v in m.state(0).items()}, "best": m.state(0)}
        torch.save(files[seed], tmp_path / f"s{seed}.pt")
    cfgs = _cfgs([1, 2], epochs=1, lr=1e-9, init_from=str(tmp_path / "s{seed}.pt"), init_weights="best")
    msgs = []
    res = train_many(cfgs, tr, va, log=msgs.append)
    for seed, r in zip((1, 2), res):
        for k, v in files[seed]["best"].items():
            assert torch.allclose(r.last[k], v, atol=1e-6), k
    assert sum("initial weights from" in m for m in msgs) == 2
    with pytest.raises(ValueError, match="shape"):
        train_many(_cfgs([1], hidden=5, init_from=str(tmp_path / "s{seed}.pt")), tr[:1], va[:1], log=lambda m: None)


def test_schema_accepts_the_likelihood_objective_and_rejects_an_unknown_one():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    ok = copy.deepcopy(cfg)
    ok["training"].update(objective="likelihood", particles=128, ess_threshold=0.3, init_from="m/s{seed}/model.pt",
                          init_weights="best")
    out = validate_config(ok)
    assert out["training"]["objective"] == "likelihood"
    assert "objective" not in validate_config(copy.deepcopy(cfg))["training"]  # nothing filled in: params unchanged
    bad = copy.deepcopy(cfg)
    bad["training"]["objective"] = "maximum_likelihood"
    with pytest.raises(ConfigError) as err:
        validate_config(bad)
    msg = str(err.value)
    assert "\n" not in msg and "config.training.objective: 'maximum_likelihood' is not one of" in msg, msg
    with pytest.raises(ValueError, match="objective"):
        TrainConfig(hidden=4, input_dim=2, objective="maximum_likelihood")


def test_sinkhorn_stays_the_default_and_records_no_bound():
    cfg = TrainConfig(hidden=4, input_dim=2, epochs=1, batch_size=32, device="cpu", log_every=100)
    assert (cfg.objective, cfg.particles, cfg.ess_threshold, cfg.init_from) == ("sinkhorn", 64, 0.5, None)
    _, tr, va = _data(S=1, n=64)
    res = train_many([cfg], tr, va, log=lambda m: None)[0]
    assert res.val_bound == [] and len(res.val_loss) == 1


def test_group_job_writes_the_validation_bound(tmp_path):
    """The pipeline's group job (rnnhmm.training.group.run) under objective likelihood: model.pt and
    losses.tsv carry the validation bound beside the Sinkhorn losses, and the plateau verdict is made."""
    import pandas as pd

    from rnnhmm.training import group
    from rnnhmm.training.grouping import training_groups

    cfg = validate_config({
        "hmms": {"lin2": {"kind": "linear_chain", "states": 2, "seq_len": 10}},
        "models": [{"name": "g", "hmms": ["lin2"], "hidden": [4], "input": [2], "seeds": [0, 1]}],
        "training": {"epochs": 2, "batch_size": 16, "device": "cpu", "objective": "likelihood", "particles": 4},
    })
    grp = training_groups(cfg)[0]  # (seed 0 keeps evolution snapshots by default: a group of its own)
    hmm = linear_chain(2)
    files = []
    for s in grp.seeds:
        obs = hmm.sample(64, 10, seed=s)
        f = tmp_path / f"s{s}.npz"
        np.savez(f, train=obs[:32], val=obs[32:], transition=hmm.transition, emission=hmm.emission, start=hmm.start)
        files.append(f)
    out = tmp_path / "out"
    group.run(cfg, grp.id, grp.params, grp.seeds, files, tmp_path / "ckpt.pt", out, lambda p, s, d: {},
              log=lambda m: None)
    for s in grp.seeds:
        blob = torch.load(out / f"s{s}" / "model.pt", weights_only=False)
        assert len(blob["val_bound"]) == len(blob["val_loss"]) == 2 and "message" in blob["plateau"]
        tsv = pd.read_csv(out / f"s{s}" / "losses.tsv", sep="\t")
        assert list(tsv.columns) == ["epoch", "train", "val", "val_bound"]


def test_checkpoint_written_before_the_objective_existed_is_resumed(tmp_path):
    """A Sinkhorn checkpoint whose key lacks the settings added with the objective (as one written
    by the code before) is resumed, not restarted; a likelihood run does not take it over."""
    from dataclasses import asdict

    from rnnhmm.training.engine import LATER_KEYS

    assert LATER_KEYS == {k: getattr(TrainConfig(hidden=1, input_dim=1), k) for k in LATER_KEYS}
    _, tr, va = _data(S=1, n=64)
    cfgs = _cfgs([1], epochs=3, objective="sinkhorn", particles=64)
    ckpt = tmp_path / "c.pt"
    with pytest.raises(TrainingInterrupted):
        train_many(cfgs, tr, va, checkpoint_path=ckpt, log=lambda m: None, stop_after=1)
    blob = torch.load(ckpt, weights_only=False)
    old = [{k: v for k, v in asdict(c).items() if k not in ("device", "log_every", "checkpoint_every")
            and k not in LATER_KEYS} for c in cfgs]
    assert blob["resume_key"] == old
    msgs = []
    train_many(cfgs, tr, va, checkpoint_path=ckpt, log=msgs.append)
    assert any("resumed from" in m for m in msgs)
    msgs = []
    train_many(_cfgs([1], epochs=3), tr, va, checkpoint_path=ckpt, log=msgs.append)
    assert any("other settings" in m for m in msgs)
