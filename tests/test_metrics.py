"""Tests of rnnhmm.metrics (spec section D): Sinkhorn matching, HMM noise floors, emission statistics."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

from rnnhmm.evaluation.metrics import (
    compare,
    emission_statistics,
    matched_distances,
    output_frequencies,
    output_transition_matrix,
    sinkhorn_plan,
    sinkhorn_plan_argmax,
    volatility,
)
from rnnhmm.hmm import cyclic, fully_connected, linear_chain, one_hot


# ---------------------------------------------------------------------- helpers
def literal_sinkhorn(x, y, eps=0.1, max_iter=1000, tol=0.1):
    """Line-by-line float64 transcription of spec D.1 step 4 (the reference SinkhornSolver)."""
    x, y = x.double(), y.double()
    n, m = x.shape[0], y.shape[0]
    C = torch.cdist(x, y, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    a = torch.full((n,), 1.0 / n, dtype=torch.float64)
    b = torch.full((m,), 1.0 / m, dtype=torch.float64)
    u = torch.zeros(n, dtype=torch.float64)
    v = torch.zeros(m, dtype=torch.float64)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the iteration count is returned)
        u_prev, v_prev = u, v
        K = (-C + u[:, None] + v[None, :]) / eps
        u = eps * (torch.log(a + 1e-8) - torch.logsumexp(K, dim=1)) + u
        K = (-C + u[:, None] + v[None, :]) / eps
        v = eps * (torch.log(b + 1e-8) - torch.logsumexp(K, dim=0)) + v
        if float((u - u_prev).abs().sum() + (v - v_prev).abs().sum()) < tol:
            break
    pi = torch.exp((-C + u[:, None] + v[None, :]) / eps)
    return pi.argmax(dim=0), it, pi


def flat_one_hot(obs, K=3):
    return torch.from_numpy(one_hot(obs, K)).reshape(obs.shape[0], -1)


# ---------------------------------------------------------------------- Sinkhorn matching (D.1)
@pytest.mark.parametrize("kind", ["one_hot", "gaussian"])
def test_matching_recovers_permutation(kind):
    rng = np.random.default_rng(0)
    n = 400
    if kind == "one_hot":  # 400 random ternary sequences of length 20 are distinct w.h.p.
        obs = rng.integers(0, 3, size=(n, 20))
        assert len({tuple(r) for r in obs}) == n
        x = torch.from_numpy(one_hot(obs, 3))  # (n, L, K)
    else:
        x = torch.from_numpy(rng.normal(size=(n, 30)).astype(np.float32))
    perm = torch.from_numpy(rng.permutation(n))
    y = x[perm]  # y_j = x_{perm[j]}
    idx, n_iter = sinkhorn_plan_argmax(x.reshape(n, -1), y.reshape(n, -1))
    assert 1 <= n_iter <= 1000
    assert torch.equal(idx, perm)
    d = matched_distances(x, y)
    assert d.shape == (n,)
    assert float(d.abs().max()) == 0.0


def test_plan_marginals_tiny_case():
    g = torch.Generator().manual_seed(1)
    n = 6
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = torch.randn(n, 4, generator=g, dtype=torch.float64) + 0.3
    target = torch.full((n,), 1 / n + 1e-8, dtype=torch.float64)  # a = b = 1/n (+1e-8 in the log)
    pi = sinkhorn_plan(x, y, tol=1e-12, max_iter=5000)
    assert pi.shape == (n, n)
    assert torch.allclose(pi.sum(dim=1), target, rtol=1e-9)
    assert torch.allclose(pi.sum(dim=0), target, rtol=1e-9)
    # the literal log-domain recursion converges to the same plan
    _, _, pi_ref = literal_sinkhorn(x, y, tol=1e-12, max_iter=5000)
    assert torch.allclose(pi, pi_ref, rtol=1e-6, atol=1e-15)
    # the default stopping rule (sum|du|+sum|dv| < 0.1) leaves the columns exact, rows close
    pi_def = sinkhorn_plan(x, y)
    assert torch.allclose(pi_def.sum(dim=0), target, rtol=1e-9)
    assert torch.allclose(pi_def.sum(dim=1), target, rtol=0.5)
    # n != m: masses 1 + n*1e-8 and 1 + m*1e-8 differ slightly, so the scaling never converges
    # exactly; marginals still hold to ~1e-6 at a tight tolerance
    y7 = torch.randn(7, 4, generator=g, dtype=torch.float64)
    pi7 = sinkhorn_plan(x, y7, tol=1e-6, max_iter=5000)
    assert torch.allclose(pi7.sum(dim=1), torch.full((n,), 1 / n, dtype=torch.float64), rtol=1e-5)
    assert torch.allclose(pi7.sum(dim=0), torch.full((7,), 1 / 7, dtype=torch.float64), rtol=1e-5)


@pytest.mark.parametrize("hmm,L", [(linear_chain(2), 100), (fully_connected(), 30)], ids=["lin2", "fully"])
def test_matches_literal_reference_on_hmm_data(hmm, L):
    x = flat_one_hot(hmm.sample(400, L, seed=5))
    y = flat_one_hot(hmm.sample(300, L, seed=6))
    # an outlier column far from every row forces the exact (non-absorbed) fallback path
    y[-1] = 0.0
    idx_ref, it_ref, _ = literal_sinkhorn(x, y)
    d_ref = (x[idx_ref] - y).norm(dim=1)
    for dtype in (torch.float64, torch.float32):
        idx, it = sinkhorn_plan_argmax(x, y, dtype=dtype)
        d = (x[idx] - y).norm(dim=1)
        if dtype == torch.float64:
            assert it == it_ref
        else:
            assert abs(it - it_ref) <= 2
        # identical rows tie exactly and may be broken differently; the rest must agree
        assert (idx != idx_ref).float().mean() < 0.01
        assert abs(float(d.mean() - d_ref.mean())) < 1e-3
        assert float((d - d_ref).abs().max()) < 1e-6 or dtype == torch.float32
    if hmm.name == "fully":
        # many identical sequences: the argmax matching re-uses rows (not a bijection, spec D.1.5)
        assert len(torch.unique(idx_ref)) < len(idx_ref)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    h = cyclic()
    x = flat_one_hot(h.sample(1000, 40, seed=1))
    y = flat_one_hot(h.sample(1000, 40, seed=2))
    d_cpu = matched_distances(x, y, dtype=torch.float64)
    d_gpu = matched_distances(x.cuda(), y.cuda(), dtype=torch.float64)
    assert d_gpu.device.type == "cuda"
    assert abs(float(d_gpu.mean().cpu() - d_cpu.mean())) < 1e-6


# HMM-vs-HMM noise floors of spec D.1 ([V] n=5000: 4.560 +- 1.21, 1.342 +- 1.264, 3.329 +- 0.847).
# Bands from measurement (this implementation, 6 independent pairs of samples each, n=5000):
#   lin2  L=100: per-pair means 4.527..4.578, sd across pairs 0.018, within-sample std 1.18..1.23
#   fully L=30 : per-pair means 1.326..1.377, sd 0.022,            within-sample std 1.26..1.28
#   cyclic L=40: per-pair means 3.315..3.357, sd 0.015,            within-sample std 0.83..0.85
# The mean band is ~4 sd of the pair-to-pair spread; the std band ~3x the observed range.
FLOORS = [
    pytest.param(linear_chain(2), 100, 4.56, 0.08, 1.21, 0.06, id="lin2-L100"),
    pytest.param(fully_connected(), 30, 1.342, 0.09, 1.264, 0.05, id="fully-L30"),
    pytest.param(cyclic(), 40, 3.329, 0.06, 0.847, 0.04, id="cyclic-L40"),
]


@pytest.mark.parametrize("hmm,L,mean,mean_tol,std,std_tol", FLOORS)
def test_hmm_noise_floor(hmm, L, mean, mean_tol, std, std_tol):
    n = 5000
    h2 = hmm.sample(n, L, seed=2)
    h3 = hmm.sample(n, L, seed=3)
    t0 = time.perf_counter()
    d = matched_distances(torch.from_numpy(one_hot(h2, 3)), torch.from_numpy(one_hot(h3, 3)))
    dt = time.perf_counter() - t0
    m, s = float(d.mean()), float(d.std(unbiased=False))
    print(f"{hmm.name} L={L} n={n}: floor {m:.3f} +- {s:.3f} ({dt:.1f} s)")
    assert abs(m - mean) < mean_tol
    assert abs(s - std) < std_tol
    # one-hot distances are sqrt(2 * #differing steps)
    k = d.double() ** 2 / 2
    assert torch.allclose(k, k.round(), atol=1e-6)


# ---------------------------------------------------------------------- emission statistics (D.2-D.4)
def test_statistics_small_hand_example():
    obs = np.array([[0, 0, 1, 1, 2], [2, 2, 2, 2, 2], [1, 0, 1, 0, 1]], dtype=np.int8)
    assert volatility(obs).tolist() == [2, 0, 4]
    f = output_frequencies(obs, 3)
    assert np.allclose(f, [[0.4, 0.4, 0.2], [0, 0, 1], [0.4, 0.6, 0]])
    T = output_transition_matrix(obs, 3)
    # pairs: 0->0, 0->1, 1->1, 1->2 | 2->2 x4 | 1->0, 0->1, 1->0, 0->1
    expected = np.array([[1, 3, 0], [2, 1, 1], [0, 0, 4]], dtype=float)
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(T, expected)


def test_transition_matrix_unseen_symbol_row_is_zero():
    # symbol 1 never occurs; symbol 3 only at the last step (never as o_{t-1})
    obs = np.array([[0, 0, 2, 2, 3], [2, 0, 2, 0, 0]])
    T = output_transition_matrix(obs, 4)
    assert np.all(np.isfinite(T))
    assert np.all(T[1] == 0) and np.all(T[3] == 0)
    assert np.allclose(T[[0, 2]].sum(axis=1), 1.0)
    stats = emission_statistics(obs, 4)
    json.dumps(stats, allow_nan=False)


def _ratio_se(num, den):
    """Delta-method standard error of sum(num)/sum(den) with sequences as independent units."""
    n = num.shape[0]
    r = num.sum(axis=0) / den.sum(axis=0)
    resid = num - r * den
    return np.sqrt(resid.var(axis=0, ddof=1) * n) / den.sum(axis=0)


@pytest.mark.parametrize("hmm", [linear_chain(3), cyclic(), fully_connected()], ids=lambda h: h.name)
def test_statistics_match_analytic(hmm):
    n, L, K = 20000, 50, 3
    assert np.allclose(hmm.start, hmm.stationary())  # uniform start is stationary for these HMMs
    obs = hmm.sample(n, L, seed=11)
    z = 5.0  # sigmas; a false failure has probability ~1e-6 per entry

    vol = volatility(obs)
    assert vol.shape == (n,)
    expected_vol = hmm.change_probability() * (L - 1)
    assert math.isclose(expected_vol, hmm.expected_changes(L), rel_tol=1e-9)
    assert abs(vol.mean() - expected_vol) < z * vol.std(ddof=1) / math.sqrt(n)

    f = output_frequencies(obs, K)
    assert f.shape == (n, K) and np.allclose(f.sum(axis=1), 1.0)
    se_f = f.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(f.mean(axis=0) - hmm.output_frequencies()) < z * se_f)

    T = output_transition_matrix(obs, K)
    # per-sequence pair counts c_ij and row counts c_i give a sequence-level error for each entry
    prev, nxt = obs[:, :-1].astype(np.int64), obs[:, 1:].astype(np.int64)
    c = np.zeros((n, K, K))
    np.add.at(c, (np.repeat(np.arange(n), L - 1), prev.ravel(), nxt.ravel()), 1)
    se_T = _ratio_se(c.reshape(n, -1), np.repeat(c.sum(axis=2), K, axis=1)).reshape(K, K)
    assert np.allclose(T, c.sum(axis=0) / c.sum(axis=(0, 2))[:, None])
    assert np.all(np.abs(T - hmm.output_transition_matrix()) < z * se_T + 1e-12)
    assert np.allclose(T.sum(axis=1), 1.0)

    stats = emission_statistics(obs, K)
    assert math.isclose(stats["volatility_mean"], vol.mean())
    assert np.allclose(stats["frequencies_mean"], f.mean(axis=0))
    assert np.allclose(stats["transition_matrix"], T)


def test_compare_is_json_and_consistent():
    h = cyclic()
    n, L, K = 300, 40, 3
    h1, h2, h3 = (h.sample(n, L, seed=s) for s in (1, 2, 3))
    # an "RNN" that is a copy of H1 with its sequences shuffled: distance 0, identical statistics
    r = h1[np.random.default_rng(0).permutation(n)]
    out = compare(h1, h2, h3, r, K)
    s = json.dumps(out, allow_nan=False)
    back = json.loads(s)
    assert back["rnn_distance_mean"] == 0.0 and back["rnn_distance_std"] == 0.0
    assert back["hmm_distance_mean"] > 1.0
    d23 = matched_distances(torch.from_numpy(one_hot(h2, K)), torch.from_numpy(one_hot(h3, K)))
    assert math.isclose(back["hmm_distance_mean"], float(d23.mean()), rel_tol=1e-9)
    assert np.allclose(back["transition_sq_diff"], 0.0)
    for key, val in back["hmm"].items():  # equal up to summation order
        assert np.allclose(val, back["rnn"][key], rtol=1e-12, atol=1e-15), key
    # a different "RNN" sample gives the elementwise squared difference of the two matrices
    out2 = compare(h1, h2, h3, h3, K)
    diff = (output_transition_matrix(h1, K) - output_transition_matrix(h3, K)) ** 2
    assert np.allclose(out2["transition_sq_diff"], diff)
    assert out2["rnn_distance_mean"] > 0


# ---------------------------------------------------------------------- performance-claim statistics
def test_change_rate_drops_the_uniform_first_symbol():
    from rnnhmm.evaluation.metrics import change_rate

    obs = np.array([[1, 0, 0, 0, 2], [2, 2, 2, 2, 2]])
    assert change_rate(obs, skip_first=False) == pytest.approx(2 / 8)
    assert change_rate(obs, skip_first=True) == pytest.approx(1 / 6)


def test_rare_symbol_is_the_lin_chain_middle_symbol_only():
    from rnnhmm.hmm import cyclic, linear_chain, rare_symbol

    assert rare_symbol(linear_chain(3).output_frequencies()) == 1
    assert rare_symbol(cyclic().output_frequencies()) is None


def test_performance_record_is_centred_on_the_hmm_and_flags_a_wrong_matrix():
    from rnnhmm.evaluation.metrics import performance_record
    from rnnhmm.hmm import linear_chain

    h = linear_chain(2)
    good = performance_record(h.sample(200, 50, seed=1), h, repeats=40, seed=2)
    assert abs(good["change_rate"]["null_mean"] - h.change_probability()) < 3 * good["change_rate"]["null_sd"]
    assert good["transition"]["null_q"] > 1 and good["rare"]["symbol"] == 1
    bad = performance_record(np.zeros((200, 50), dtype=np.int64), h, repeats=40, seed=2)
    assert bad["transition"]["max_z"] > 10 * bad["transition"]["null_q"] and bad["change_rate"]["rnn"] == 0
