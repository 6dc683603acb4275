"""Batched training engine: same losses as one-model-at-a-time training, exact Sinkhorn rewrite."""
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnhmm.hmm import linear_chain
from rnnhmm.model import gumbel_hard
from rnnhmm.training.engine import BatchedModels, train, train_many
from rnnhmm.training.settings import TrainConfig, TrainingInterrupted, lr_at, sinkhorn_loss
from rnnhmm.training.sinkhorn import onehot_sinkhorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reference_training import reference_train  # noqa: E402  (the pipeline's loop before issue 14)


def _clouds(S=3, B=200, L=12, K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(S, B, L, K, generator=g)
    x = gumbel_hard(logits).reshape(S, B, L * K)  # straight-through values, one-hot up to rounding
    y = torch.eye(K)[torch.randint(0, K, (S, B, L), generator=g)]
    y[2, :, 0] = torch.tensor([1.0, 0.0, 0.0])  # model 2: first symbol constant -> smaller diameter
    return x, y.reshape(S, B, L * K)


def test_onehot_sinkhorn_equals_geomloss_value_and_gradient():
    x, y = _clouds()
    ref_loss, ref_grad = [], []
    loss_fn = sinkhorn_loss(0.2)
    for s in range(x.shape[0]):
        xs = x[s].detach().clone().requires_grad_()
        val = loss_fn(xs, y[s])
        val.backward()
        ref_loss.append(val.item())
        ref_grad.append(xs.grad)
    cache = {}
    for _ in range(2):  # second call: target-target term from the cache
        loss, grad = onehot_sinkhorn(x, y, blur=0.2, bb_cache=cache, cache_key="batch0")
        assert torch.allclose(loss, torch.tensor(ref_loss), rtol=1e-6, atol=1e-5)
        G = torch.stack(ref_grad)
        assert (grad - G).abs().max() <= 1e-4 * G.abs().max()
    assert len(cache) == 3
    no_grad_loss, none = onehot_sinkhorn(x, y, need_grad=False)
    assert none is None and torch.allclose(no_grad_loss, loss, atol=1e-5)


def _data(S=3, n=384, L=10, seed=0):
    hmm = linear_chain(2)
    obs = [hmm.sample(n, L, seed=seed + k) for k in range(S)]
    return [o[: n // 2] for o in obs], [o[n // 2:] for o in obs]


DEVICE = os.environ.get("RNNHMM_TEST_DEVICE", "cpu")  # benchmarks/gpu_check.sh sets cuda


def _cfgs(seeds, **kw):
    base = dict(hidden=10, input_dim=3, epochs=4, batch_size=96, lr=0.01, device=DEVICE,
                checkpoint_every=1, log_every=100)
    base.update(kw)
    return [TrainConfig(seed=s, **base) for s in seeds]


@pytest.mark.parametrize("random_h0,grad_clip", [(True, 0.9), (False, 0.05)])
def test_batched_training_equals_single_model_training(random_h0, grad_clip):
    """A model trained in a group equals the same model trained alone (a group of one), and both
    equal the reference loop (geomloss, autograd, global RNG) the pipeline used before."""
    tr, va = _data()
    cfgs = _cfgs([3, 7, 11], random_h0=random_h0, grad_clip=grad_clip)
    many = train_many(cfgs, tr, va, log=lambda m: None)
    for cfg, t, v, res in zip(cfgs, tr, va, many):
        alone = train(cfg, t, v, log=lambda m: None)
        ref = reference_train(cfg, t, v, device=DEVICE)
        for other in (alone, ref):
            o = other if isinstance(other, dict) else other.__dict__
            np.testing.assert_allclose(res.train_loss, o["train_loss"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(res.val_loss, o["val_loss"], rtol=1e-5, atol=1e-5)
            for k in o["last"]:
                assert torch.allclose(res.last[k], o["last"][k], atol=1e-5), k
        assert res.best_epoch == alone.best_epoch


def test_checkpoint_size_does_not_grow_with_snapshots(tmp_path):
    tr, va = _data(S=2)
    sizes = {}
    for n in (2, 6):
        ckpt = tmp_path / f"c{n}.pt"
        with pytest.raises(TrainingInterrupted):
            train_many(_cfgs([1, 2], epochs=10, evolution_every=1), tr, va, checkpoint_path=ckpt,
                       log=lambda m: None, stop_after=n)
        sizes[n] = ckpt.stat().st_size
        evo = ckpt.with_name(ckpt.name + ".evo")
        assert evo.stat().st_size == n * (8 + 4 * 2 * (10 * 3 + 10 * 10 + 3 * 10))  # appended records
    assert abs(sizes[6] - sizes[2]) < 2000, sizes  # only the loss histories grow


def test_cosine_lr_schedule():
    cfg = TrainConfig(hidden=4, input_dim=2, epochs=5, lr=0.01, lr_schedule="cosine", lr_min_factor=0.1)
    lrs = [lr_at(cfg, e) for e in range(1, 6)]
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.001)
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[2] == pytest.approx(0.0055)
    assert lr_at(replace(cfg, lr_schedule="constant"), 3) == 0.01
    # with a warm-up the cosine covers the full-length epochs only
    wc = replace(cfg, epochs=7, warmup_epochs=2, warmup_seq_len=3)
    wl = [lr_at(wc, e) for e in range(1, 8)]
    assert wl[:3] == pytest.approx([0.01] * 3) and wl[-1] == pytest.approx(0.001)
    assert all(a > b for a, b in zip(wl[2:], wl[3:]))
    tr, va = _data(S=1)
    a = train_many(_cfgs([1], epochs=3), tr, va, log=lambda m: None)[0]
    b = train_many(_cfgs([1], epochs=3, lr_schedule="cosine", lr_min_factor=0.01), tr, va, log=lambda m: None)[0]
    assert a.train_loss[0] == b.train_loss[0] and a.val_loss[1:] != b.val_loss[1:]


def test_resume_on_another_device_kind_says_it_is_not_identical(tmp_path):
    tr, va = _data(S=1)
    ckpt = tmp_path / "c.pt"
    with pytest.raises(TrainingInterrupted):
        train_many(_cfgs([1], epochs=4), tr, va, checkpoint_path=ckpt, log=lambda m: None, stop_after=2)
    blob = torch.load(ckpt, weights_only=False)
    assert blob["device"]["type"] == torch.device(DEVICE).type
    blob["device"] = {"type": "xpu", "name": "Some Other Accelerator", "capability": "9.0"}
    torch.save(blob, ckpt)
    msgs = []
    res = train_many(_cfgs([1], epochs=4, log_every=1), tr, va, checkpoint_path=ckpt, log=msgs.append)[0]
    assert res.resumed_from_epoch == 2 and not res.resume_identical
    assert any("NOT be identical" in m and "Some Other Accelerator" in m for m in msgs)


def test_per_model_clipping_matches_clip_grad_norm():
    m = BatchedModels([0, 1], hidden=6, input_dim=2, n_outputs=3, random_h0=True, device=torch.device("cpu"))
    for p in m.parameters():
        p.grad = torch.randn_like(p) * torch.tensor([0.01, 10.0]).view(-1, *[1] * (p.dim() - 1))
    expected = []
    for s in range(2):
        gs = [p.grad[s].clone().requires_grad_(False) for p in m.parameters()]
        ps = [torch.zeros_like(g, requires_grad=True) for g in gs]
        for p, g in zip(ps, gs):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(ps, 0.9)
        expected.append([p.grad for p in ps])
    m.clip_per_model(0.9)
    for s in range(2):
        for p, e in zip(m.parameters(), expected[s]):
            assert torch.allclose(p.grad[s], e, rtol=1e-6, atol=1e-8)


def test_engine_resume_equals_uninterrupted(tmp_path):
    tr, va = _data(S=2)
    cfgs = _cfgs([1, 2], epochs=5, evolution_every=2)
    full = train_many(cfgs, tr, va, log=lambda m: None)
    ckpt = tmp_path / "batch.pt"
    with pytest.raises(TrainingInterrupted):
        train_many(cfgs, tr, va, checkpoint_path=ckpt, log=lambda m: None, stop_after=2)
    msgs = []
    resumed = train_many(cfgs, tr, va, checkpoint_path=ckpt, log=msgs.append)
    assert any("resumed from" in m and "at epoch 2/5" in m for m in msgs)
    for a, b in zip(full, resumed):
        assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
        assert a.evolution_epochs == b.evolution_epochs == [1, 2, 4]
        for k in a.last:
            assert torch.equal(a.last[k], b.last[k])


def test_configs_must_differ_only_in_seed():
    tr, va = _data(S=2)
    cfgs = _cfgs([1, 2])
    cfgs[1].lr = 0.5
    with pytest.raises(ValueError, match="differ only in seed"):
        train_many(cfgs, tr, va, log=lambda m: None)


def test_warmup_curriculum_trains_on_the_first_steps_then_the_full_length():
    """warmup_epochs on the first warmup_seq_len steps, then the full length; best weights are
    chosen on the full length only; off (0) is the paper's training."""
    import numpy as np

    from rnnhmm.hmm import linear_chain
    from rnnhmm.training.engine import train_many
    from rnnhmm.training.settings import TrainConfig

    hmm = linear_chain(2)
    obs = hmm.sample(64, 12, seed=0)
    cfg = TrainConfig(hidden=8, input_dim=2, epochs=4, batch_size=32, device="cpu", checkpoint_every=100,
                      warmup_epochs=2, warmup_seq_len=4)
    r = train_many([cfg], [obs[:32]], [obs[32:]])[0]
    v = np.asarray(r.val_loss)
    assert v[:2].max() < v[2:].min()  # 4-step sequences are much closer than 12-step ones
    assert r.best_epoch in (3, 4)
    try:
        TrainConfig(hidden=8, input_dim=2, warmup_epochs=2)
    except ValueError as err:
        assert "go together" in str(err)
    else:
        raise AssertionError("warmup_epochs without warmup_seq_len must be refused")


def test_epsilon_schedule_equals_geomloss():
    """The engine restates geomloss's eps-scaling schedule instead of importing a private module."""
    import pytest

    from rnnhmm.training.sinkhorn import epsilon_schedule

    legacy = pytest.importorskip("geomloss._legacy.sinkhorn_divergence")
    for d in (1.0, 7.3, 24.5):
        assert epsilon_schedule(2, d, 0.2, 0.5) == legacy.epsilon_schedule(2, d, 0.2, 0.5)
