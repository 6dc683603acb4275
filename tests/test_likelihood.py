"""rnnhmm.evaluation.likelihood: the HMM's exact forward log-likelihood, the RNN's particle-filter
estimate and the KL rate between them, each against an answer known without the code under test,
and each with a case where the check must report worse / fail."""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from rnnhmm.evaluation.likelihood import converged_kl_rate, kl_rate, rnn_loglik
from rnnhmm.hmm import HMM, cyclic, fully_connected, hmm_forward, hmm_loglik, linear_chain
from rnnhmm.model import Weights, generate_outputs

torch.set_num_threads(1)
F64 = torch.float64


def _w(W_ih, W_hh, W_out) -> Weights:
    return Weights(*(torch.as_tensor(np.asarray(m, dtype=float), dtype=F64) for m in (W_ih, W_hh, W_out)))


def _tiny_hmm() -> HMM:
    T = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]]
    E = [[0.8, 0.15, 0.05], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]]
    return HMM("tiny", np.array(T), np.array(E), np.array([0.9, 0.05, 0.05]))


def _brute_force(hmm: HMM, y) -> float:
    """p(y) by summing over every hidden path z_0..z_{T-1} (the sampling convention of HMM.sample)."""
    M, p = hmm.n_states, 0.0
    for z in itertools.product(range(M), repeat=len(y)):
        q = hmm.start[z[0]] * hmm.emission[z[0], y[0]]
        for t in range(1, len(y)):
            q *= hmm.transition[z[t - 1], z[t]] * hmm.emission[z[t], y[t]]
        p += q
    return p


# ------------------------------------------------------------------------------------------ (1) HMM
def test_forward_equals_enumeration_over_hidden_paths():
    hmm = _tiny_hmm()
    ys = np.array(list(itertools.product(range(3), repeat=4)))  # all 81 sequences of T = 4
    ll, steps = hmm_forward(hmm, ys)
    exact = np.log([_brute_force(hmm, y) for y in ys])
    assert np.allclose(ll, exact, atol=1e-12)
    assert np.allclose(steps.sum(1), ll) and np.allclose(hmm_loglik(hmm, ys), ll)
    assert np.exp(ll).sum() == pytest.approx(1.0, abs=1e-12)
    # must fail: the same recursion with another initial distribution is not this HMM's likelihood
    other = HMM("tiny-uniform-start", hmm.transition, hmm.emission)
    assert np.abs(hmm_loglik(other, ys) - exact).max() > 0.5
    # an impossible sequence gets -inf, not NaN
    frozen = HMM("frozen", np.eye(2), np.eye(2))
    assert list(hmm_loglik(frozen, np.array([[0, 1], [1, 1]]))) == [-np.inf, math.log(0.5)]


def test_forward_convention_matches_hmm_sample():
    """Empirical frequencies of HMM.sample's length-2 sequences agree with exp(forward); the shifted
    convention (first symbol emitted from z_1 = start A) must not."""
    hmm = _tiny_hmm()
    n = 100_000
    obs = hmm.sample(n, 2, seed=5).astype(np.int64)
    freq = np.bincount(obs[:, 0] * 3 + obs[:, 1], minlength=9) / n
    ys = np.array(list(itertools.product(range(3), repeat=2)))
    p = np.exp(hmm_loglik(hmm, ys))
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) < 5 * se)
    shifted = HMM("shifted", hmm.transition, hmm.emission, hmm.start @ hmm.transition)
    ps = np.exp(hmm_loglik(shifted, ys))
    assert np.max(np.abs(freq - ps) / se) > 20


def test_rare_symbol_definition():
    assert linear_chain(2).rare_symbol() == 1 and linear_chain(5).rare_symbol() == 1
    assert fully_connected().rare_symbol() is None and cyclic().rare_symbol() is None


# --------------------------------------------------------------------------- (2) closed form: uniform
@pytest.mark.parametrize("uniform_first", [True, False])
def test_zero_readout_gives_exact_uniform_likelihood(uniform_first):
    g = np.random.default_rng(0)
    W_ih, W_hh = g.normal(size=(6, 3)), 0.5 * g.normal(size=(6, 6))
    y = g.integers(0, 3, size=(7, 9))
    for P in (1, 5, 64):
        ll, inc, st = rnn_loglik(_w(W_ih, W_hh, np.zeros((3, 6))), y, P, seed=P, uniform_first=uniform_first)
        assert np.allclose(ll, 9 * math.log(1 / 3), atol=1e-10) and np.allclose(inc, -math.log(3), atol=1e-10)
        assert st["n_diverged"] == 0 and st["resample_fraction"] == 0.0
    # must fail: a non-zero readout is not uniform
    ll, _, _ = rnn_loglik(_w(W_ih, W_hh, g.normal(size=(3, 6))), y, 64, seed=1, uniform_first=uniform_first)
    assert np.abs(ll - 9 * math.log(1 / 3)).max() > 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_closed_form_and_cpu():
    g = np.random.default_rng(0)
    w = _w(g.normal(size=(6, 3)), 0.3 * g.normal(size=(6, 6)), np.zeros((3, 6)))
    y = g.integers(0, 3, size=(5, 8))
    ll, _, st = rnn_loglik(w, y, 128, device="cuda")
    assert st["device"].startswith("cuda") and np.allclose(ll, 8 * math.log(1 / 3), atol=1e-10)
    w2 = _w(g.normal(size=(6, 3)), 0.3 * g.normal(size=(6, 6)), g.normal(size=(3, 6)))
    a, _, _ = rnn_loglik(w2, np.repeat(y, 20, 0), 2048, device="cuda")
    b, _, _ = rnn_loglik(w2, np.repeat(y, 20, 0), 2048, device="cpu")
    assert abs(a.mean() - b.mean()) < 0.05


# ------------------------------------------------------------------ (3) exact likelihoods by quadrature
X = np.linspace(-8, 8, 1601)
PHI = np.exp(-X ** 2 / 2) / math.sqrt(2 * math.pi) * (X[1] - X[0])


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def test_iid_model_matches_quadrature():
    """W_hh = 0: the outputs are i.i.d. with q(k) = E_x softmax(W_out ReLU(W_ih x))[k], a 1-D integral
    (H = 2, D = 1: h = (s x+, s x-)), so log p(y) = sum_t log q(y_t) exactly."""
    s, c = 1.0, 2.0
    W_ih, W_out = [[s], [-s]], c * np.array([[1., -1], [-1, -1], [-1, 1.5]])
    h = np.stack([np.maximum(s * X, 0), np.maximum(-s * X, 0)], 1)
    q = (PHI[:, None] * _softmax(h @ W_out.T)).sum(0)
    assert q.sum() == pytest.approx(1, abs=1e-9) and q.min() < 0.2  # non-uniform
    y = np.random.default_rng(2).integers(0, 3, size=(40, 12))
    exact = np.log(q)[y].sum(1)
    ll, inc, _ = rnn_loglik(_w(W_ih, np.zeros((2, 2)), W_out), y, 4096, seed=3, uniform_first=False)
    # each step's increment estimates q(y_t) without bias (relative sd ~1.4% per step at P = 4096)
    ratio = np.array([np.exp(inc[y == k]).mean() / q[k] for k in range(3)])
    assert np.abs(ratio - 1).max() < 0.01
    assert abs((ll - exact).mean()) < 0.03 and np.abs(ll - exact).max() < 0.25
    # must fail: a slightly different readout (c = 1.7) has other frequencies; the uniform model too
    q2 = (PHI[:, None] * _softmax(h @ (W_out * 1.7 / c).T)).sum(0)
    assert np.abs(np.array([np.exp(inc[y == k]).mean() for k in range(3)]) / q2 - 1).max() > 0.03
    assert np.abs(ll - 12 * math.log(1 / 3)).mean() > 0.5


@functools.cache
def _recurrent_exact_cached(a, b, c, ys: tuple) -> np.ndarray:
    return _recurrent_exact_uncached(a, b, c, ys)


def _recurrent_exact(a, b, c, ys):
    return _recurrent_exact_cached(a, b, c, tuple(map(tuple, np.asarray(ys).tolist())))


def _recurrent_exact_uncached(a, b, c, ys):
    """p(y) for H = D = 1, K = 2: h_t = ReLU(a x_t + b h_{t-1}), h_0 = 0, P(y = 0 | h) = sigmoid(2 c h),
    by the backward recursion beta_t(h') = E_x[g_t(h) beta_{t+1}(h)], h = ReLU(a x + b h'), on a grid
    of h values (linear interpolation), p(y) = beta_1(0). No particle filter involved."""
    hmax = (8 * a) / (1 - b) + 1
    hg = np.linspace(0, hmax, 2001)
    hn = np.maximum(a * X[None, :] + b * hg[:, None], 0)  # (Gh, Gx): next state from each grid state
    g0 = 1 / (1 + np.exp(-2 * c * hn))
    out = []
    for y in ys:
        beta = np.ones_like(hg)
        for t in range(len(y) - 1, -1, -1):
            g = g0 if y[t] == 0 else 1 - g0
            beta = (PHI[None, :] * g * np.interp(hn, hg, beta)).sum(1)
        out.append(beta[0])
    return np.array(out)


@pytest.mark.parametrize("ess_threshold", [0.0, 0.5, 1.0])
def test_recurrent_filter_matches_quadrature(ess_threshold):
    """A model with memory (b = 0.9), every sequence of T = 3, without resampling, adaptive and at every step."""
    a, b, c = 1.0, 0.9, 2.0
    ys = np.array(list(itertools.product((0, 1), repeat=3)))
    exact = _recurrent_exact(a, b, c, ys)
    assert exact.sum() == pytest.approx(1, abs=1e-4)
    reps = 20
    ll, _, st = rnn_loglik(_w([[a]], [[b]], [[c], [-c]]), np.repeat(ys, reps, 0), 2048, seed=1,
                           uniform_first=False, ess_threshold=ess_threshold)
    p = np.exp(ll).reshape(8, reps).mean(1)  # the filter is unbiased in p
    assert np.abs(p / exact - 1).max() < 0.03
    if ess_threshold == 1.0:
        assert st["resample_fraction"] == 1.0
    # must fail: the time-reversed sequences (memory makes order matter) and the memoryless model
    assert np.abs(p / exact[[int("".join(map(str, y[::-1])), 2) for y in ys]] - 1).max() > 0.1
    assert np.abs(p / _recurrent_exact(a, 0.0, c, ys) - 1).max() > 0.1


@pytest.mark.parametrize("uniform_first", [True, False])
def test_filter_convention_matches_generate_outputs(uniform_first):
    """exp(filter loglik) of each length-3 sequence agrees with the frequencies of generate_outputs'
    samples under the same ``uniform_first``; the other convention must not."""
    w = _w([[1.0]], [[0.9]], [[2.0], [-2.0]])
    n = 200_000
    o = generate_outputs(w, n, 3, uniform_first=uniform_first, generator=torch.Generator().manual_seed(0)).numpy()
    freq = np.bincount(o[:, 0] * 4 + o[:, 1] * 2 + o[:, 2], minlength=8) / n
    ys = np.array(list(itertools.product((0, 1), repeat=3)))
    se = np.sqrt(freq * (1 - freq) / n)
    est = {}
    for uf in (True, False):
        ll, inc, _ = rnn_loglik(w, np.repeat(ys, 10, 0), 4096, seed=2, uniform_first=uf)
        est[uf] = np.exp(ll).reshape(8, 10).mean(1)
        if uf:
            assert np.allclose(inc[:, 0], -math.log(2))
    err = np.abs(est[uniform_first] - freq)
    assert np.all(err < 5 * se + 0.01 * freq)
    assert np.max(np.abs(est[not uniform_first] - freq) / se) > 20


# ------------------------------------------------------------------------------------------ (4) ranking
def _iid_model(c=20.0, perm=(0, 1, 2)) -> Weights:
    """i.i.d. symbols: 0 when x > 0, 2 when x < 0, the rare symbol 1 near x = 0 (frequency ~0.011 at c = 20)."""
    return _w([[1.0], [-1.0]], np.zeros((2, 2)), c * np.array([[1., -1], [-1, -1], [-1, 1]])[list(perm)])


def test_worse_models_rank_worse():
    hmm = linear_chain(2)
    y = hmm.sample(200, 30, seed=3)
    good = kl_rate(_iid_model(), hmm, y, 64, seed=0)  # marginal frequencies right, no memory
    uni = kl_rate(_w([[1.0], [-1.0]], np.zeros((2, 2)), np.zeros((3, 2))), hmm, y, 64, seed=0)
    scr = kl_rate(_iid_model(perm=(1, 0, 2)), hmm, y, 64, seed=0)  # readout scrambled: rare symbol frequent
    assert good["entropy_rate"] == pytest.approx(0.27, abs=0.02)  # lin2's entropy rate
    assert good["rare_symbol"] == 1 and 0 < good["rare_step_fraction"] < 0.03
    for a, b in ((good, uni), (good, scr)):
        gap, se = b["kl_rate"] - a["kl_rate"], math.hypot(a["kl_se"], b["kl_se"])
        assert gap > 3 * se  # the worse model ranks worse, beyond the combined SE
        assert not (-gap > 3 * se)  # must fail: the reverse ranking
    # memory helps: mutual inhibition with self-excitation (persistent symbol runs) beats the i.i.d. model
    rec = kl_rate(_w([[1.0], [-1.0]], [[0.8, -0.5], [-0.5, 0.8]], 5 * np.array([[1., -1], [-1, -1], [-1, 1]])),
                  hmm, y, 64, seed=0)
    gap, se = good["kl_rate"] - rec["kl_rate"], math.hypot(good["kl_se"], rec["kl_se"])
    assert gap > 3 * se and rec["kl_rate"] > 0
    # the uniform model's KL is known exactly: log 3 - entropy rate (up to the first step's uniform symbol)
    assert uni["kl_rate"] == pytest.approx(math.log(3) - uni["entropy_rate"], abs=1e-9)
    assert good["kl_rate"] > 0 and good["n_diverged"] == 0


# ------------------------------------------------------------------------------------ (5) doubling rule
def test_doubling_rule_stops_and_reports_particles():
    hmm = linear_chain(2)
    y = hmm.sample(100, 30, seed=3)
    uni = _w([[1.0], [-1.0]], np.zeros((2, 2)), np.zeros((3, 2)))
    r = converged_kl_rate(uni, hmm, y, p0=4, p_max=64)  # exact at any P: stops at the first doubling
    assert r["converged"] and r["particles"] == 8 and [t[0] for t in r["trace"]] == [4, 8]
    assert r["kl_rate"] == r["trace"][-1][1] and r["kl_se"] == r["trace"][-1][2]
    # a model whose estimate still moves a lot with P: must report not converged, at p_max
    peaked = _w([[3.0]], [[0.9]], [[3.0], [-30.0], [-3.0]])
    r = converged_kl_rate(peaked, hmm, y, p0=1, p_max=4)
    assert not r["converged"] and r["particles"] == 4 and [t[0] for t in r["trace"]] == [1, 2, 4]
    moves = np.abs(np.diff([t[1] for t in r["trace"]]))
    assert np.all(moves >= np.array([t[2] for t in r["trace"][1:]]))
    # the iid model converges from above somewhere in 8..1024
    r = converged_kl_rate(_iid_model(), hmm, y, p0=8, p_max=1024)
    est = [t[1] for t in r["trace"]]
    assert r["converged"] and 16 <= r["particles"] <= 1024 and est[0] > est[-1]
    # the paired yardstick (the move's own SE, far below the SE over sequences) is stricter: on the
    # peaked model the default rule stops while the estimate still moves by more than its move SE
    r = converged_kl_rate(peaked, hmm, y, p0=4, p_max=1024)
    rp = converged_kl_rate(peaked, hmm, y, p0=4, p_max=1024, paired=True)
    assert r["converged"] and rp["converged"] and rp["particles"] > r["particles"]
    assert rp["trace"][-1][4] < rp["trace"][-1][2]
    assert [t[:3] for t in rp["trace"][:len(r["trace"])]] == [t[:3] for t in r["trace"]]  # same estimates
    last = r["trace"][-1]
    assert abs(last[1] - r["trace"][-2][1]) > last[4]  # the default stop fails the paired rule


# ---------------------------------------------------------------------------------------- (6) divergence
def test_divergent_particles_are_excluded_and_counted():
    y = np.zeros((6, 8), dtype=np.int64)
    W_ih = 100 * np.array([[1.0], [-1.0], [1.0], [-1.0]])
    W_out = np.zeros((2, 4))
    # spectral radius 1e3: every particle's |h| passes 1e6 within a few steps
    ll, inc, st = rnn_loglik(_w(W_ih, 1e3 * np.eye(4), W_out), y, 32, uniform_first=False)
    assert st["n_diverged"] == 6 * 32 and np.all(st["diverged_per_seq"] == 32) and st["dead_sequences"] == 6
    assert np.all(ll == -np.inf) and not np.isnan(inc).any()
    # part of the particles diverge (h grows 10x a step once positive; h = 0 stays): counted, and with
    # weight 0 the estimate is of p(y, no divergence) = P(|h_t| <= 1e6 for all t) (1/2)^8 here, the
    # survival probability simulated directly
    ll, inc, st = rnn_loglik(_w([[1.0]], [[10.0]], np.zeros((2, 1))), y, 4096, uniform_first=False)
    assert 0 < st["n_diverged"] < 6 * 4096 and st["dead_sequences"] == 0 and not np.isnan(inc).any()
    g = torch.Generator().manual_seed(0)
    hs, ok = torch.zeros(200_000, dtype=F64), torch.ones(200_000, dtype=torch.bool)
    for _ in range(8):
        hs = torch.relu(torch.randn(200_000, generator=g, dtype=F64) + 10 * hs)
        ok &= hs <= 1e6
    survive = ok.double().mean().item()
    assert 0.05 < survive < 0.95
    assert np.exp(ll - 8 * math.log(0.5)).mean() == pytest.approx(survive, rel=0.03)
    assert abs(np.exp(ll - 8 * math.log(0.5)).mean() - 1) > 0.1  # must fail: keeping them would give 1
    # must fail: a stable recurrent matrix has nothing to exclude
    ll, _, st = rnn_loglik(_w(W_ih, 0.5 * np.eye(4), W_out), y, 32, uniform_first=False)
    assert st["n_diverged"] == 0 and st["dead_sequences"] == 0 and np.all(np.isfinite(ll))
    # kl_rate reports them
    r = kl_rate(_w(W_ih, 1e3 * np.eye(4), np.zeros((3, 4))), linear_chain(2), linear_chain(2).sample(3, 8, seed=0), 16)
    assert r["n_diverged"] == 3 * 16 and r["kl_rate"] == np.inf


def _model_file(path, W_ih, W_hh, W_out):
    torch.save({"last": {"weight_ih": W_ih, "weight_hh": W_hh, "readout": W_out}}, path)
    return path


def test_model_likelihood_record_ranks_and_counts_divergence(tmp_path):
    """The pipeline's per-model record (rule model_likelihood): a model that emits the HMM's symbols
    i.i.d. at random scores a finite KL rate; the same readout on a network whose state blows up
    under noise gets no KL rate (None) and its dead sequences counted: divergence is a result."""
    from rnnhmm.evaluation.evaluate import model_likelihood

    spec = {"kind": "linear_chain", "states": 2, "seq_len": 20}
    lc = {"n_seq": 40, "p0": 16, "p_max": 64, "paired": True, "seed": 1, "weights": "last"}
    g = torch.Generator().manual_seed(0)
    H, D = 8, 2
    W_ih, W_out = torch.randn(H, D, generator=g), 0.1 * torch.randn(3, H, generator=g)
    calm = _model_file(tmp_path / "calm.pt", W_ih, 0.1 * torch.randn(H, H, generator=g), W_out)
    out, _ = model_likelihood(calm, "lin2", spec, lc, True, H, D, 0, log=lambda *a: None)
    assert out["diverged"] is None and math.isfinite(out["kl_rate"]) and out["kl_rate"] > 0.1
    assert out["particles"] in (16, 32, 64) and out["n_seq"] == 40 and out["dead_sequences"] == 0
    blow = _model_file(tmp_path / "blow.pt", W_ih.abs(), 3.0 * torch.eye(H), W_out)
    out, _ = model_likelihood(blow, "lin2", spec, lc, True, H, D, 0, log=lambda *a: None)
    assert out["kl_rate"] is None and out["dead_sequences"] > 0 and "divergence bound" in out["diverged"]
