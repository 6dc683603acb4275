"""Properties of rnnhmm.dynamics on hand-built networks with known answers."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from rnnhmm.analyses.fixed_points import find_fixed_points, slow_points_along
from rnnhmm.analyses.local import classify_groups, local_dynamics, local_dynamics_subspace, residency_analysis
from rnnhmm.analyses.measures import GROUP_CLUSTER, GROUP_OTHER, GROUP_TRANSITION
from rnnhmm.analyses.noise import locate_areas, noise_sensitivity
from rnnhmm.analyses.numerics import (
    contiguous_runs,
    explained_variance_percent,
    fit_pca,
    jacobian_eigvals,
    jacobian_spectrum_stats,
    simulate,
    simulate_no_input,
)
from rnnhmm.analyses.state_space import orbit_spread
from rnnhmm.analyses.subspaces import output_pair_subspaces
from rnnhmm.model import Weights

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_weights(H=8, D=3, K=3, radius=0.9, seed=0, dtype=torch.float32):
    g = gen(seed)
    W_hh = torch.randn(H, H, generator=g, dtype=dtype) / H ** 0.5
    W_hh = W_hh * radius / torch.linalg.eigvals(W_hh).abs().max()
    return Weights(torch.randn(H, D, generator=g, dtype=dtype) / H ** 0.5, W_hh,
                   torch.randn(K, H, generator=g, dtype=dtype))


def ray_network(second_eig):
    """W = V diag(1, second_eig, [[.3, -.4], [.4, .3]]) V^-1 with V[:, 0] = h* > 0: h* is a fixed point
    with every unit active, so J(h*) = W: eigenvalues 1 (radial), second_eig, 0.3 +- 0.4i (|.| = 0.5)."""
    h_star = torch.tensor([1.0, 2.0, 1.5, 1.0], dtype=F64)
    V = torch.randn(4, 4, generator=gen(1), dtype=F64)
    V[:, 0] = h_star
    B = torch.zeros(4, 4, dtype=F64)
    B[0, 0], B[1, 1] = 1.0, second_eig
    B[2:, 2:] = torch.tensor([[0.3, -0.4], [0.4, 0.3]], dtype=F64)
    W = V @ B @ torch.linalg.inv(V)
    assert torch.allclose(torch.relu(W @ h_star), h_star)
    return W, h_star


# ----------------------------------------------------------------------------- simulation / PCA

def test_simulate_alignment_warmup_and_std():
    w = random_weights()
    h0 = torch.rand(2, 8)
    hidden, noise = simulate(w, 30, noise_std=2.0, n_traj=2, h0=h0, generator=gen(3), warmup=5)
    assert hidden.shape == (2, 30, 8) and noise.shape == (2, 30, 3)
    pred = torch.relu(noise[:, 1:] @ w.W_ih.T + hidden[:, :-1] @ w.W_hh.T)
    torch.testing.assert_close(hidden[:, 1:], pred)  # noise[t] produced hidden[t]
    full, full_noise = simulate(w, 35, noise_std=2.0, n_traj=2, h0=h0, generator=gen(3))
    torch.testing.assert_close(full[:, 5:], hidden)  # warm-up steps dropped, nothing else
    _, unit = simulate(w, 35, noise_std=1.0, n_traj=2, h0=h0, generator=gen(3))
    torch.testing.assert_close(full_noise, 2.0 * unit)  # noise_std is a standard deviation


def test_simulate_no_input_includes_start():
    h0 = torch.tensor([[4.0, -1.0, 2.0]])
    traj = simulate_no_input(0.5 * torch.eye(3), h0, 3)
    assert traj.shape == (1, 4, 3)
    torch.testing.assert_close(traj[0, 0], h0[0])
    torch.testing.assert_close(traj[0, 3], torch.tensor([0.5, 0.0, 0.25]))


def test_fit_pca_line():
    t = torch.linspace(-1, 1, 200)[:, None]
    X = t * torch.tensor([[1.0, 2.0, 2.0]]) + 1e-4 * torch.randn(200, 3, generator=gen())
    pct = explained_variance_percent(fit_pca(X, 2))
    assert pct[0] > 99.9 and pct.sum() <= 100.0 + 1e-9


# ----------------------------------------------------------------------------- Jacobian spectra

def test_jacobian_stats_uses_active_pattern():
    W = torch.diag(torch.tensor([1.5, 0.5, 2.0], dtype=F64))
    states = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64)
    st = jacobian_spectrum_stats(W, states)
    assert st["n_unstable"].tolist() == [2, 1, 0]
    assert st["n_active"].tolist() == [3, 2, 0]


def test_jacobian_stats_match_full_eigvals():
    w = random_weights(H=12, radius=1.6, seed=4, dtype=F64)
    X = torch.relu(torch.randn(300, 12, generator=gen(5), dtype=F64))
    st = jacobian_spectrum_stats(w.W_hh, X, n_workers=2)
    ev_pad = jacobian_eigvals(w.W_hh, X)
    for i in range(0, 300, 7):
        J = ((w.W_hh @ X[i]) > 0).to(F64)[:, None] * w.W_hh
        lam = np.linalg.eigvals(J.numpy())
        mob = (lam - 1) / (lam + 1 + 1e-8)  # the reference's Moebius criterion
        assert st["n_unstable"][i] == np.sum(mob.real > 0)
        assert st["n_complex_pairs"][i] == np.sum(lam.imag > 1e-12)
        np.testing.assert_allclose(np.sort(np.abs(lam))[::-1], ev_pad[i].abs().numpy(), atol=1e-9)
    assert st["n_unstable"].sum() > 0  # the comparison is not vacuous


# ----------------------------------------------------------------------------- fixed points

@pytest.mark.parametrize("W", [0.5 * torch.eye(6, dtype=F64), random_weights(H=20, radius=1.0, seed=2, dtype=F64).W_hh])
def test_contracting_network_has_only_the_origin(W):
    if torch.linalg.matrix_norm(W, ord=2) >= 1:  # make it strictly contracting
        W = 0.9 * W / torch.linalg.matrix_norm(W, ord=2)
    H = W.shape[0]
    init = torch.cat([torch.randn(40, H, generator=gen(), dtype=F64),
                      torch.relu(5 * torch.randn(40, H, generator=gen(1), dtype=F64))])
    fp = find_fixed_points(W, init)
    assert len(fp) == 1 and bool(fp.is_origin[0])
    assert fp.n_converged.tolist() == [80] and fp.n_unconverged == 0
    assert bool(fp.stable[0]) and fp.n_unstable[0] == 0
    assert 0 <= fp.origin_growth < 1 and fp.origin_norm_bound < 1
    assert float(fp.points[0].abs().max()) == 0.0 and float(fp.q[0]) == 0.0


def test_origin_of_expanding_network_is_unstable():
    # h = 0 is still the only fixed point, but the naive J = diag(1[W 0 > 0]) W = 0 would call it stable
    W = 1.2 * torch.eye(5, dtype=F64)
    fp = find_fixed_points(W, torch.randn(30, 5, generator=gen(), dtype=F64))
    assert len(fp) == 1 and bool(fp.is_origin[0])
    assert not bool(fp.stable[0])
    assert fp.origin_growth == pytest.approx(1.2, rel=1e-6)
    assert fp.n_unstable[0] >= 1


def _init_near(h_star, seed=0):
    g = gen(seed)
    return torch.cat([h_star * (1 + 0.1 * torch.randn(20, 4, generator=g, dtype=F64)),
                      torch.randn(10, 4, generator=g, dtype=F64)])


def test_known_stable_fixed_ray():
    W, h_star = ray_network(0.5)
    fp = find_fixed_points(W, _init_near(h_star))
    assert bool(fp.is_origin[0])
    rays = torch.nonzero(~fp.is_origin).flatten()
    assert len(rays) == 1  # all starts near h* merged into one ray
    i = int(rays[0])
    p = fp.points[i]
    cos = float(p @ h_star / (p.norm() * h_star.norm()))
    assert cos == pytest.approx(1.0, abs=1e-12)
    assert float(fp.q[i]) < 1e-20 and float(fp.speed[i]) < 1e-10
    assert bool(fp.stable[i]) and fp.n_unstable[i] == 0 and fp.n_complex_pairs[i] == 1
    assert float(fp.spectral_radius[i]) == pytest.approx(0.5, abs=1e-9)
    assert complex(fp.eigvals[i, -1]) == pytest.approx(1.0, abs=1e-9)  # the radial eigenvalue
    assert fp.n_converged[i] >= 20
    # the ray makes the origin marginal, not asymptotically stable
    assert fp.origin_growth == pytest.approx(1.0, abs=1e-6) and not bool(fp.stable[0])


def test_known_unstable_fixed_ray():
    W, h_star = ray_network(1.5)
    fp = find_fixed_points(W, _init_near(h_star))
    i = int(torch.nonzero(~fp.is_origin).flatten()[0])
    p = fp.points[i]
    assert float(p @ h_star / (p.norm() * h_star.norm())) == pytest.approx(1.0, abs=1e-12)
    assert float(fp.q[i]) < 1e-20
    assert not bool(fp.stable[i]) and fp.n_unstable[i] == 1 and fp.n_complex_pairs[i] == 1
    assert float(fp.spectral_radius[i]) == pytest.approx(1.5, abs=1e-9)


def test_slow_points_find_the_slow_direction():
    W = torch.diag(torch.tensor([0.99, 0.5, 0.4, 0.3, 0.2], dtype=F64))
    states = torch.relu(torch.randn(200, 5, generator=gen(), dtype=F64)) + 0.1
    sp = slow_points_along(states, W, n_samples=20, speed_threshold=0.05, n_iter=1500, generator=gen(1))
    assert len(sp.points) >= 15
    u = sp.points / sp.points.norm(dim=-1, keepdim=True)
    assert float(u[:, 0].min()) > 0.999  # aligned with e1, the eigenvalue-0.99 direction
    assert torch.allclose(sp.speed, torch.full_like(sp.speed, 0.01), atol=1e-3)
    assert bool((sp.speed < sp.init_speed).all())
    torch.testing.assert_close(sp.points.norm(dim=-1), states[sp.source_index].norm(dim=-1))  # on its sphere


# ----------------------------------------------------------------------------- orbits

def test_orbit_radius_grows_linearly_with_noise_std():
    w = random_weights(H=10, D=4, radius=0.8, seed=7)
    stds = (0.1, 1.0, 2.0, 4.0)
    res = orbit_spread(w, stds, n_steps=2000, generator=gen())
    r = res["radius"]
    assert res["projections"].shape == (4, 2000, 2)
    assert np.all(np.diff(r) > 0) and r[0] > 0
    # common random numbers + homogeneity: the orbit scales exactly with the std
    np.testing.assert_allclose(r / np.asarray(stds), r[1], rtol=1e-4)


def test_contiguous_runs():
    m = np.array([0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1], bool)
    np.testing.assert_array_equal(contiguous_runs(m, 2), [[5, 10], [1, 4]])
    np.testing.assert_array_equal(contiguous_runs(m, 3), [[5, 10]])
    assert contiguous_runs(np.zeros(5, bool)).shape == (0, 2)


def test_output_pair_subspaces_runs_stay_in_pair():
    w = random_weights(H=10, D=4, radius=0.95, seed=3)
    res = output_pair_subspaces(w, n_steps=3000, min_run=5, generator=gen())
    out = res["outputs"]
    assert res["global_coords"].shape == (3000, 4)
    n_runs = 0
    for pair, e in res["pairs"].items():
        assert e["mask"].sum() == np.isin(out, pair).sum()
        if e["pca"] is not None:
            assert e["coords"].shape == (e["mask"].sum(), 3)
        lengths = [b - a for a, b in e["runs"]]
        assert lengths == sorted(lengths, reverse=True)
        for (a, b), c in zip(e["runs"], e["run_coords"]):
            assert b - a > 5 and np.isin(out[a:b], pair).all() and c.shape == (b - a, 3)
            n_runs += 1
    assert n_runs > 0


# ----------------------------------------------------------------------------- local dynamics

def constant_class_network(H=6, D=3):
    """h >= 0 and W_out[0] = 1, W_out[1:] = 0: the class is always 0."""
    W_out = torch.zeros(3, H)
    W_out[0] = 1.0
    return Weights(0.3 * torch.randn(H, D, generator=gen()), 0.5 * torch.eye(H), W_out)


def test_local_dynamics_never_changing_class():
    w = constant_class_network()
    states = torch.cat([torch.full((3, 6), 2.0), torch.zeros(2, 6)])  # confident (p ~ 1), uniform (p = 1/3)
    r = local_dynamics(w, states, n_rollouts=5, max_steps=12, generator=gen())
    np.testing.assert_array_equal(r["residency"], 12.0)
    np.testing.assert_array_equal(r["fire_rate"], 0.0)
    np.testing.assert_array_equal(r["groups"], [GROUP_CLUSTER] * 3 + [GROUP_OTHER] * 2)
    np.testing.assert_array_equal(r["n_unstable"], 0)


def test_local_dynamics_class_flipping_every_step():
    # two units swapped every step; the readout compares them, so the class alternates
    W_hh = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    W_ih = torch.full((2, 1), 0.01)
    W_out = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]])
    states = torch.tensor([[10.0, 0.0], [0.0, 5.0], [3.0, 1.0]])
    r = local_dynamics(Weights(W_ih, W_hh, W_out), states, n_rollouts=7, max_steps=20, generator=gen())
    np.testing.assert_array_equal(r["residency"], 1.0)
    np.testing.assert_array_equal(r["groups"], GROUP_TRANSITION)
    np.testing.assert_array_equal(r["sign_changes"], 0.0)
    np.testing.assert_array_equal(r["n_unstable"], 0)  # one active unit, zero diagonal


def naive_local_dynamics(w, states, noise):
    """One state, one rollout, one step at a time, with given inputs noise (N, R, T, D)."""
    N, R, T, _ = noise.shape
    rts, signs = np.zeros((N, R)), np.zeros((N, R))
    for n in range(N):
        lg0 = w.W_out @ states[n]
        c = int(torch.argmax(lg0))
        for r in range(R):
            h, prev_l, prev_s, flips, rt = states[n], float(lg0[c]), 0, 0, T
            for t in range(1, T + 1):
                h = torch.relu(w.W_ih @ noise[n, r, t - 1] + w.W_hh @ h)
                lg = w.W_out @ h
                if int(torch.argmax(lg)) != c:
                    rt = t
                    break
                s = int(np.sign(float(lg[c]) - prev_l))
                if s != 0:
                    flips += prev_s != 0 and s != prev_s
                    prev_s = s
                prev_l = float(lg[c])
            rts[n, r], signs[n, r] = rt, flips
    return rts.mean(1), signs.mean(1)


def test_local_dynamics_matches_naive_loop():
    w = random_weights(H=10, D=4, K=3, radius=1.0, seed=11, dtype=F64)
    w = Weights(w.W_ih * 3, w.W_hh, w.W_out)
    states = simulate(w, 40, generator=gen(1))[0][0]
    N, R, T = 40, 6, 15
    noise = torch.randn(N, R, T, 4, generator=gen(2), dtype=F64)
    r = local_dynamics(w, states, n_rollouts=R, max_steps=T, noise=noise, chunk=7)
    rt, sc = naive_local_dynamics(w, states, noise)
    np.testing.assert_array_equal(r["residency"], rt)
    np.testing.assert_array_equal(r["sign_changes"], sc)
    assert rt.min() < T and rt.max() > 1 and sc.max() > 0  # non-trivial comparison
    probs = torch.softmax(states @ w.W_out.T, -1)
    np.testing.assert_allclose(r["max_prob"], probs.max(-1).values.numpy())


def test_local_dynamics_seeded_and_thread_invariant():
    w = random_weights(H=10, D=4, radius=1.0, seed=11)
    states = simulate(w, 50, generator=gen(1))[0][0]
    a = local_dynamics(w, states, n_rollouts=4, max_steps=10, generator=gen(5), chunk=8, n_workers=1)
    b = local_dynamics(w, states, n_rollouts=4, max_steps=10, generator=gen(5), chunk=8, n_workers=2)
    c = local_dynamics(w, states, n_rollouts=4, max_steps=10, generator=gen(6), chunk=8, n_workers=2)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["residency"], c["residency"])


def test_classify_groups_boundaries():
    rt = np.array([1.99, 2.0, 8.0, 8.01, 8.01, 60.0])
    p = np.array([0.9, 0.9, 0.9, 0.81, 0.8, 0.5])
    np.testing.assert_array_equal(classify_groups(rt, p), [0, 1, 1, 2, -1, -1])


# ----------------------------------------------------------------------------- noise sensitivity

def test_noise_sensitivity_gamma0_retraces_nominal_path():
    w = random_weights(H=10, D=4, radius=0.95, seed=9)
    hidden, noise = simulate(w, 100, generator=gen(1), warmup=10)
    h_track, nz = hidden[0], noise[0]
    idx, T = 40, 5
    res = noise_sensitivity(w, h_track, nz, idx, gammas=(0.0, 0.5, 1.0), n_traj=30, T=T, generator=gen(2))
    traj = res["trajectories"]
    assert traj.shape == (3, 30, T + 1, 10)
    nominal = h_track[idx: idx + T + 1].numpy()
    np.testing.assert_allclose(traj[0], np.broadcast_to(nominal, traj[0].shape), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res["trace"][0], 0.0, atol=1e-9)
    np.testing.assert_array_equal(res["trace"][:, 0], 0.0)  # common start
    assert np.all(res["trace"][2, 1:] > 0) and np.all(res["mean_dist"][2, 1:] > 0)
    assert np.all(res["trace"][1, 1:] < res["trace"][2, 1:])  # variance (1-g)^2... < fresh noise
    # metrics are what they claim: ddof=1 trace and mean distance to the mean trajectory
    x = traj[2, :, 3]
    assert res["trace"][2, 3] == pytest.approx(x.var(axis=0, ddof=1).sum(), rel=1e-4)
    assert res["mean_dist"][2, 3] == pytest.approx(np.linalg.norm(x - x.mean(0), axis=1).mean(), rel=1e-4)
    with pytest.raises(ValueError):
        noise_sensitivity(w, h_track, nz, 96, T=5)


def test_locate_areas_fails_fast_and_clearly_without_output_changes():
    w = constant_class_network()
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"in 3 attempts(.|\n)*attempt 3: 0 output changes"):
        locate_areas(w, gen(), T=500, max_attempts=3)
    assert time.perf_counter() - t0 < 10


def test_residency_and_subspace_wrappers_run_on_kept_states():
    w = random_weights(H=10, D=4, radius=0.95, seed=3)
    r = residency_analysis(w, T=300, generator=gen(), n_rollouts=3, max_steps=10)
    assert r["coords"].shape == (300, 2) and r["residency"].shape == (300,)
    assert np.all((r["residency"] >= 1) & (r["residency"] <= 10))
    s = local_dynamics_subspace(w, pair=(0, 1), n_steps=3000, min_run=2, max_states=100, generator=gen(),
                                   n_rollouts=3, max_steps=10)
    assert len(s["index"]) == 100 and np.all(np.diff(s["index"]) > 0)
    assert s["coords"].shape == (100, 3)
    assert np.isin(s["cls"], (0, 1)).all()  # kept states all have outputs in the pair
    with pytest.raises(ValueError, match="no run"):
        local_dynamics_subspace(w, pair=(0, 1), n_steps=100, min_run=500, generator=gen())
