"""Model, loss and training loop: real properties on tiny problems."""
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnhmm.hmm import linear_chain
from rnnhmm.model import NoiseRNN, Weights, driven_recurrence, generate_outputs, gumbel_hard, run_rnn
from rnnhmm.training.engine import train
from rnnhmm.training.settings import TrainConfig, TrainingInterrupted, sinkhorn_loss


def test_run_rnn_matches_explicit_recursion():
    torch.manual_seed(0)
    W_ih, W_hh = torch.randn(6, 3), 0.5 * torch.randn(6, 6)
    x, h0 = torch.randn(4, 7, 3), torch.randn(4, 6)
    out = run_rnn(W_ih, W_hh, x, h0)
    h = h0
    for t in range(7):
        h = torch.relu(W_ih @ x[:, t].T + W_hh @ h.T).T
        assert torch.allclose(out[:, t], h, atol=1e-6)
    # a leading model axis runs two models at once
    both = run_rnn(torch.stack([W_ih, 2 * W_ih]), torch.stack([W_hh, W_hh]), torch.stack([x, x]), torch.stack([h0, h0]))
    assert torch.allclose(both[0], out, atol=1e-6)
    assert torch.allclose(both[1], run_rnn(2 * W_ih, W_hh, x, h0), atol=1e-6)


def test_gumbel_hard_samples_softmax_and_passes_gradient():
    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -1.0], requires_grad=True)
    samples = gumbel_hard(logits.expand(200000, 3))
    assert torch.all(samples.detach().sum(-1) == 1)
    freq = samples.detach().mean(0)
    assert torch.allclose(freq, torch.softmax(logits, -1).detach(), atol=0.005)
    (samples[:, 0].sum()).backward()
    assert logits.grad is not None and logits.grad[0] > 0  # straight-through gradient


def test_generate_outputs_first_symbol_uniform_under_reference_protocol():
    torch.manual_seed(0)
    H = 8
    w = Weights(torch.randn(H, 2), 0.3 * torch.randn(H, H), 5 * torch.randn(3, H))
    g = torch.Generator().manual_seed(1)
    obs = generate_outputs(w, 30000, 4, uniform_first=True, generator=g)
    assert obs.shape == (30000, 4)
    assert np.allclose(np.bincount(obs[:, 0].numpy(), minlength=3) / 30000, 1 / 3, atol=0.015)


def test_sinkhorn_loss_zero_for_identical_clouds_and_grows_with_shift():
    torch.manual_seed(0)
    x = torch.randn(300, 6)
    loss = sinkhorn_loss(0.2)
    same = loss(x, x.clone()).item()
    shifts = [loss(x, x + s).item() for s in (0.5, 1.0, 2.0)]
    assert abs(same) < 1e-3
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    # for a pure translation the debiased divergence is |shift|^2 / 2 per point
    assert shifts[2] == pytest.approx(0.5 * 4 * 6, rel=0.05)


def _tiny(epochs=6, **kw):
    hmm = linear_chain(2)
    obs = hmm.sample(512, 12, seed=0)
    cfg = TrainConfig(hidden=12, input_dim=3, epochs=epochs, batch_size=128, seed=3, device="cpu",
                      checkpoint_every=1, log_every=100, **kw)
    return cfg, obs[:256], obs[256:]


def test_training_lowers_the_loss():
    cfg, tr, va = _tiny(epochs=25, lr=0.01)
    res = train(cfg, tr, va, log=lambda m: None)
    assert len(res.train_loss) == 25
    assert np.mean(res.val_loss[-3:]) < 0.7 * np.mean(res.val_loss[:3])
    assert res.best_val == min(res.val_loss)
    assert res.best_epoch == int(np.argmin(res.val_loss)) + 1


def test_best_weights_are_a_copy_not_the_live_parameters():
    cfg, tr, va = _tiny(epochs=8, lr=0.05)  # a large lr makes the loss jump around
    res = train(cfg, tr, va, log=lambda m: None)
    if res.best_epoch == cfg.epochs:
        pytest.skip("best epoch happened to be the last one")
    assert not torch.equal(res.best["weight_hh"], res.last["weight_hh"])


def test_killed_run_resumes_from_checkpoint_identically(tmp_path):
    cfg, tr, va = _tiny(epochs=6, evolution_every=1)
    full = train(cfg, tr, va, log=lambda m: None)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingInterrupted):
        train(cfg, tr, va, checkpoint_path=ckpt, log=lambda m: None, stop_after=4)
    assert ckpt.exists()
    msgs = []
    resumed = train(cfg, tr, va, checkpoint_path=ckpt, log=msgs.append)
    assert resumed.resumed_from_epoch == 4
    assert any("resumed" in m for m in msgs)
    assert np.allclose(resumed.train_loss, full.train_loss, rtol=1e-5)
    assert np.allclose(resumed.val_loss, full.val_loss, rtol=1e-5)
    assert torch.allclose(resumed.last["weight_hh"], full.last["weight_hh"], atol=1e-6)
    assert resumed.evolution_epochs == list(range(1, 7))
    assert resumed.evolution["weight_hh"].shape == (6, 12, 12)


def test_checkpoint_with_other_settings_is_not_reused(tmp_path):
    cfg, tr, va = _tiny(epochs=4)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingInterrupted):
        train(cfg, tr, va, checkpoint_path=ckpt, log=lambda m: None, stop_after=2)
    cfg2, _, _ = _tiny(epochs=4, grad_clip=0.3)
    res = train(cfg2, tr, va, checkpoint_path=ckpt, log=lambda m: None)
    assert res.resumed_from_epoch == 0


def test_model_initialisation_follows_pytorch_defaults():
    m = NoiseRNN(100, 10)
    bound = 1 / np.sqrt(100)
    for p in (m.weight_ih, m.weight_hh, m.readout):
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.9 * bound
    with pytest.raises(ValueError):
        NoiseRNN(0, 3)


@pytest.mark.parametrize("per_model", [True, False])  # False: the batched step used on GPUs
def test_recurrence_gradient_equals_autograd_through_the_loop(per_model, monkeypatch):
    import rnnhmm.model

    monkeypatch.setattr(rnnhmm.model, "_CPU_PER_MODEL", per_model)
    g = torch.Generator().manual_seed(0)
    S, B, L, D, H = 2, 5, 7, 3, 6
    W_ih = (0.5 * torch.randn(S, H, D, generator=g, dtype=torch.float64)).requires_grad_()
    W_hh = (0.5 * torch.randn(S, H, H, generator=g, dtype=torch.float64)).requires_grad_()
    h0 = torch.randn(S, B, H, generator=g, dtype=torch.float64).requires_grad_()
    noise = torch.randn(S, B, L, D, generator=g, dtype=torch.float64)
    w = torch.randn(S, B, L, H, generator=g, dtype=torch.float64)
    (run_rnn(W_ih, W_hh, noise, h0) * w).sum().backward()
    fast = [p.grad.clone() for p in (W_ih, W_hh, h0)]
    for p in (W_ih, W_hh, h0):
        p.grad = None
    # the engine's path: projection and recurrence in one function, time-major output
    (driven_recurrence(W_ih, noise, W_hh, h0) * w.transpose(1, 2)).sum().backward()
    driven = [p.grad.clone() for p in (W_ih, W_hh, h0)]
    for p in (W_ih, W_hh, h0):
        p.grad = None
    h, states = h0, []
    for t in range(L):  # the textbook loop, autograd all the way
        h = torch.relu(noise[:, :, t] @ W_ih.transpose(1, 2) + h @ W_hh.transpose(1, 2))
        states.append(h)
    (torch.stack(states, 2) * w).sum().backward()
    for a, d, p in zip(fast, driven, (W_ih, W_hh, h0)):
        assert torch.allclose(a, p.grad, rtol=1e-10, atol=1e-12)
        assert torch.allclose(d, p.grad, rtol=1e-10, atol=1e-12)


DEVICES = ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_generate_outputs_follows_the_weights_device(device):
    """Random numbers come from the generator's device, results live on the weights' device: a CPU
    generator gives the same samples whatever the weights' device (meta: shapes only)."""
    torch.manual_seed(0)
    H = 8
    w = Weights(torch.randn(H, 2), 0.3 * torch.randn(H, H), 5 * torch.randn(3, H))
    ref = generate_outputs(w, 50, 6, generator=torch.Generator().manual_seed(1))
    out = generate_outputs(w.to(device), 50, 6, generator=torch.Generator().manual_seed(1))
    assert out.device.type == device and out.shape == (50, 6) and out.dtype == torch.int64
    if device != "meta":
        assert torch.equal(out.cpu(), ref)


# --- placement: GPU requests and per-job device choice, without a GPU ---------------------------

def test_jobs_ask_for_a_gpu_only_when_they_will_use_one(monkeypatch):
    from rnnhmm.training.placement import cuda_present, wants_gpu

    assert wants_gpu("cpu", cuda=True) == 0
    assert wants_gpu("cuda", cuda=False) == 1 and wants_gpu("cuda:1", cuda=False) == 1
    assert wants_gpu("auto", cuda=False) == 0 and wants_gpu("auto", cuda=True) == 1
    # jobs on a cluster: 'auto' asks for one whatever the planning host has; 'cpu' never does
    assert wants_gpu("auto", cuda=False, cluster=True) == 1 and wants_gpu("cpu", cuda=True, cluster=True) == 0
    monkeypatch.setenv("RNNHMM_CUDA", "0")
    assert not cuda_present() and wants_gpu("auto") == 0
    monkeypatch.setenv("RNNHMM_CUDA", "1")
    assert cuda_present() and wants_gpu("auto") == 1


def test_concurrent_jobs_take_free_gpu_slots(tmp_path):
    from rnnhmm.training.placement import claim_gpu_slot

    held = [claim_gpu_slot(2, tmp_path) for _ in range(2)]
    assert [i for i, _ in held] == [0, 1]  # one job per GPU first
    assert claim_gpu_slot(2, tmp_path) == (None, None)  # all taken (slots_per_gpu=1)
    held[0][1].close()  # a job ends (or dies): its GPU is free again
    i, fh = claim_gpu_slot(2, tmp_path)
    assert i == 0
    shared = [claim_gpu_slot(2, tmp_path / "shared", slots_per_gpu=2) for _ in range(4)]  # keep the locks
    assert [i for i, _ in shared] == [0, 1, 0, 1]  # two jobs per GPU where memory allows


def test_resolve_device_at_job_start(tmp_path):
    from rnnhmm.training.settings import resolve_device

    assert resolve_device("cpu") == ("cpu", None)
    assert resolve_device("auto", n_gpus=0) == ("cpu", None)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda", n_gpus=0)
    assert resolve_device("auto", n_gpus=1) == ("cuda:0", None)
    assert resolve_device("cuda:3", n_gpus=4) == ("cuda:3", None)
    a, la = resolve_device("auto", n_gpus=2, lock_dir=tmp_path)
    b, lb = resolve_device("cuda", n_gpus=2, lock_dir=tmp_path)
    assert (a, b) == ("cuda:0", "cuda:1") and la is not None and lb is not None


def test_train_rule_requests_gpu_only_where_auto_finds_one(tmp_path):
    """Dry runs of the quick config with device auto: no GPU on the planning machine -> gpu=0, a
    GPU -> gpu=1; one thread either way (common.smk's train_threads)."""
    import os
    import re
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config/quick.yaml").read_text())
    cfg["training"]["device"] = "auto"
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(cfg))
    for cuda, gpu, threads in (("0", 0, 1), ("1", 1, 1)):
        out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"),
                              "--configfile", str(path), "--cores", "4", "-n", "--directory", str(tmp_path),
                              "results/models/lin2/h16_d8/s0/model.pt"],
                             capture_output=True, text=True, env={**os.environ, "RNNHMM_CUDA": cuda}, timeout=300)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text[-3000:]
        block = text[text.index("rule train:"):]
        block = block[:block.index("resources:") + 200]
        # Snakemake prints no threads line for one thread
        assert (f"threads: {threads}\n" in block) if threads > 1 else ("threads:" not in block), block
        assert re.search(rf"resources: [^\n]*gpu={gpu}\b", block), block[:800]
