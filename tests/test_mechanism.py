"""Properties of rnnhmm.mechanism on constructed networks and activity (spec §E.8-E.11)."""

import math

import pytest
import torch

from rnnhmm.analyses.circuit import output_change_times, preactivations
from rnnhmm.analyses.evolution import bifurcation_epoch, evolution_metrics, second_loss_drop
from rnnhmm.analyses.interventions import (
    control_condition,
    critical_pairs,
    intervention_sweep,
    kick_condition,
    noise_projection_condition,
    simulate_intervention,
)
from rnnhmm.analyses.kick import integrating_populations, select_kick_neurons, sorted_weight_blocks
from rnnhmm.analyses.measures import GROUP_CLUSTER, GROUP_KICK, GROUP_TRANSITION
from rnnhmm.analyses.readout import readout_alignment
from rnnhmm.model import Weights, run_rnn


def _random_weights(H, D, K=3, scale=1.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return Weights(torch.randn(H, D, generator=g, dtype=dtype) / math.sqrt(D),
                   scale * torch.randn(H, H, generator=g, dtype=dtype) / math.sqrt(H),
                   torch.randn(K, H, generator=g, dtype=dtype) / math.sqrt(H))


# ------------------------------------------------------------------ kick neurons


def _planted_activity(H=40, n_cycles=8, seed=1):
    """Region labels, logit difference and pre-activations of an orbit 0 -> 2 -> 0 with planted
    kick neurons (group 0 fires at 0->2, group 1 at 2->0) and several kinds of decoys."""
    g = torch.Generator().manual_seed(seed)
    seg = [("c0", 30), ("k02", 5), ("t02", 2), ("c2", 30), ("k20", 5), ("t20", 2)]
    labels, phases, ld = [], [], []
    for _ in range(n_cycles):
        for name, n in seg:
            for i in range(n):
                phases.append(name)
                labels.append({"c": GROUP_CLUSTER, "k": GROUP_KICK, "t": GROUP_TRANSITION}[name[0]])
                ld.append({"c0": -2.0, "c2": 2.0, "k02": -2 + 0.2 * (i + 1), "t02": -0.3 + 0.6 * i,
                           "k20": 2 - 0.2 * (i + 1), "t20": 0.3 - 0.6 * i}[name])
    T = len(labels)
    groups = torch.tensor(labels)
    logit_diff = torch.tensor(ld, dtype=torch.float64)

    def pattern(values):
        return torch.tensor([values[p] for p in phases], dtype=torch.float64)

    kick0 = dict(c0=-3, c2=-3, k02=0.2, k20=-0.1, t02=2.0, t20=-0.5)
    kick1 = dict(c0=-3, c2=-3, k02=-0.1, k20=0.2, t02=-0.5, t20=2.0)
    decoys = [
        None,                                                     # pure noise
        dict(c0=-3, c2=-3, k02=-3, k20=-3, t02=-3, t20=-3),       # always silent
        dict(c0=-3, c2=-3, k02=1.5, k20=1.5, t02=2, t20=2),       # not at threshold in kick-zones
        dict(c0=-0.2, c2=-0.2, k02=0, k20=0, t02=2, t20=2),       # not strongly negative in clusters
        dict(c0=-3, c2=-3, k02=0, k20=0, t02=-1, t20=-1),         # not active in transitions
    ]
    perm = torch.randperm(H, generator=g)
    planted0, planted1 = perm[:3].tolist(), perm[3:6].tolist()
    pre = torch.zeros(T, H, dtype=torch.float64)
    for j in range(H):
        if j in planted0:
            base = pattern(kick0)
        elif j in planted1:
            base = pattern(kick1)
        else:
            d = decoys[j % len(decoys)]
            base = torch.zeros(T, dtype=torch.float64) if d is None else pattern(d)
            if d is None:
                base = torch.randn(T, generator=g, dtype=torch.float64)
        pre[:, j] = base + 0.1 * torch.randn(T, generator=g, dtype=torch.float64)
    return pre, groups, logit_diff, planted0, planted1


def test_kick_selection_recovers_planted_groups():
    pre, groups, ld, p0, p1 = _planted_activity()
    res = select_kick_neurons(pre, groups, ld, theta=1.0, eps=0.5)
    assert sorted(res["indices"][0]) == sorted(p0)
    assert sorted(res["indices"][1]) == sorted(p1)
    assert set(torch.nonzero(res["selected"]).reshape(-1).tolist()) == set(p0 + p1)
    assert torch.all(res["mean_pre"]["cluster"][p0 + p1] < -2)
    limited = select_kick_neurons(pre, groups, ld, theta=1.0, eps=0.5, max_per_group=2)
    assert [len(x) for x in limited["indices"]] == [2, 2]
    assert set(limited["indices"][0]) <= set(p0) and set(limited["indices"][1]) <= set(p1)


def test_kick_scores_rank_candidates_when_strict_selects_none():
    pre, groups, ld, p0, p1 = _planted_activity()
    res = select_kick_neurons(pre, groups, ld, theta=1.0, eps=0.01)  # kick-zone test too strict
    assert res["indices"] == [[], []]
    assert sorted(res["ranked"][0][:3].tolist()) == sorted(p0)
    assert sorted(res["ranked"][1][:3].tolist()) == sorted(p1)


def test_preactivations_match_simulation():
    w = _random_weights(6, 3)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(1, 20, 3, generator=g, dtype=torch.float64)
    h0 = torch.randn(1, 6, generator=g, dtype=torch.float64)
    hidden = run_rnn(w.W_ih, w.W_hh, noise, h0)
    pre = preactivations(w, hidden, noise, h0)
    torch.testing.assert_close(torch.relu(pre), hidden, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ integrating populations


def test_integrating_populations_recover_planted():
    H = 60
    g = torch.Generator().manual_seed(2)
    W = 0.05 * torch.randn(H, H, generator=g, dtype=torch.float64)
    perm = torch.randperm(H, generator=g)
    k1, k2 = perm[:3], perm[3:6]
    pop1, pop2 = perm[6:16], perm[16:26]
    for a in k1:
        W[a, k1] = 2.0
        W[a, k2] = -2.0
        W[a, pop1] = -1.0 - 0.2 * torch.rand(10, generator=g, dtype=torch.float64)
        W[a, pop2] = 1.0 + 0.2 * torch.rand(10, generator=g, dtype=torch.float64)
    for a in k2:
        W[a, k2] = 2.0
        W[a, k1] = -2.0
        W[a, pop1] = 1.0 + 0.2 * torch.rand(10, generator=g, dtype=torch.float64)
        W[a, pop2] = -1.0 - 0.2 * torch.rand(10, generator=g, dtype=torch.float64)
    got1, got2, order = integrating_populations(W, [k1.tolist(), k2.tolist()], topk=20)
    assert set(got1.tolist()) == set(pop1.tolist())
    assert set(got2.tolist()) == set(pop2.tolist())
    assert torch.equal(order, torch.cat([got1, got2]))
    # the kick neurons (g1*g2 = -4) would win without the exclusion
    _, _, order_all = integrating_populations(W, [k1.tolist(), k2.tolist()], topk=20, exclude_kick=False)
    assert set(perm[:6].tolist()) <= set(order_all.tolist())
    kk, kp, pp = sorted_weight_blocks(W, [k1.tolist(), k2.tolist()], (got1, got2))
    assert kk.shape == (6, 6) and kp.shape == (6, 20) and pp.shape == (20, 20)
    assert torch.all(kp[:3, :10] < 0) and torch.all(kp[:3, 10:] > 0)
    assert torch.all(kp[3:, :10] > 0) and torch.all(kp[3:, 10:] < 0)


# ------------------------------------------------------------------ interventions


def test_intervention_jacobian_matches_autograd():
    H, D, T = 7, 3, 8
    w = _random_weights(H, D, scale=1.2, seed=4)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(T, D, generator=g, dtype=torch.float64)
    h0 = torch.rand(H, generator=g, dtype=torch.float64)
    g_rec = 0.3 + 1.7 * torch.rand(H, generator=g, dtype=torch.float64)
    g_in = 0.3 + 1.7 * torch.rand(H, generator=g, dtype=torch.float64)
    sim = simulate_intervention(w, noise, h0, g_rec, g_in)
    assert sim["jacobians"].shape == (T, H, H)
    prev = torch.cat([h0[None], sim["states"][:-1]])
    for t in range(T):
        f = lambda h, t=t: torch.relu((w.W_hh @ h) * g_rec + (w.W_ih @ noise[t]) * g_in)  # noqa: E731
        torch.testing.assert_close(f(prev[t]), sim["states"][t], rtol=0, atol=1e-12)
        J_auto = torch.autograd.functional.jacobian(f, prev[t])
        torch.testing.assert_close(sim["jacobians"][t], J_auto, rtol=0, atol=1e-12)
    # the reference's column scaling is a different matrix
    mask = (sim["pre"][2] > 0).double()
    assert not torch.allclose(mask[:, None] * w.W_hh * g_rec[None, :], sim["jacobians"][2])


def test_mu_one_reproduces_unintervened_and_mu_zero_silences_recurrence():
    H, D, T = 12, 4, 60
    w = _random_weights(H, D, scale=1.1, seed=6)
    g = torch.Generator().manual_seed(7)
    noise = torch.randn(T, D, generator=g, dtype=torch.float64)
    h0 = torch.rand(H, generator=g, dtype=torch.float64)
    nominal = run_rnn(w.W_ih, w.W_hh, noise[None], h0[None])[0]
    ones = simulate_intervention(w, noise, h0, torch.ones(H, dtype=torch.float64),
                                 torch.ones(H, dtype=torch.float64), return_jacobians=False)
    assert torch.equal(ones["states"], nominal)

    kick = [1, 5, 8]
    sweep = intervention_sweep(w, kick_condition(H, kick), [0.0, 0.5, 1.0, 1.5], noise, h0)
    assert sweep["states"].shape == (4, T, H)
    torch.testing.assert_close(sweep["states"][2], nominal, rtol=0, atol=1e-12)
    # mu = 0: the kick neurons get only their noise drive
    sim0 = simulate_intervention(w, noise, h0, *[x[0] for x in kick_condition(H, kick)([0.0])])
    drive = noise @ w.W_ih.T
    assert torch.equal(sim0["pre"][:, kick], drive[:, kick])
    torch.testing.assert_close(sweep["states"][0][:, kick], torch.relu(drive[:, kick]), rtol=0, atol=1e-12)
    assert torch.all(sim0["jacobians"][:, kick, :] == 0)
    assert not torch.allclose(sweep["states"][0], nominal)
    # a gain of 1 on input conditions also leaves everything unchanged
    for cond in (noise_projection_condition(w.W_hh, kick[:2], kick, topk=4), control_condition(w.W_hh, kick, topk=3)):
        assert not set(cond.targets.tolist()) & set(kick)
        s = intervention_sweep(w, cond, [1.0], noise, h0)
        torch.testing.assert_close(s["states"][0], nominal, rtol=0, atol=1e-12)


def test_condition_targets():
    H = 10
    W = torch.zeros(H, H, dtype=torch.float64)
    W[0, [3, 4, 7]] = torch.tensor([5.0, 4.0, 3.0], dtype=torch.float64)
    W[1, [4, 6, 2]] = torch.tensor([5.0, 4.0, 3.0], dtype=torch.float64)
    cond = noise_projection_condition(W, [0], [0, 1], topk=2)
    assert cond.targets.tolist() == [3, 4] and cond.pathway == "input"
    ctrl = control_condition(W, [0, 1], topk=2)
    assert ctrl.targets.tolist() == [2, 5, 7, 8, 9]
    g_rec, g_in = ctrl([0.0, 2.0])
    assert torch.all(g_rec == 1) and g_in[1, 2] == 2 and g_in[1, 3] == 1 and g_in[0, 9] == 0


def _rotation(theta):
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def test_critical_pairs_counts_rotation_not_contraction():
    T, window = 40, 5
    rot = torch.block_diag(_rotation(0.3), 0.5 * torch.eye(4, dtype=torch.float64))
    contr = torch.block_diag(0.5 * _rotation(0.3), 0.5 * torch.eye(4, dtype=torch.float64))
    res = critical_pairs(rot.expand(T, 6, 6), [10, 25], window=window)
    assert res["mean"] == 2 * window and res["std"] == 0 and res["counts"].tolist() == [10.0, 10.0]
    assert critical_pairs(contr.expand(T, 6, 6), [10, 25], window=window)["mean"] == 0
    # only steps inside the windows count; windows are clipped at the ends
    mixed = contr.expand(T, 6, 6).clone()
    mixed[12] = rot
    assert critical_pairs(mixed, [10, 38], window=window)["counts"].tolist() == [1.0, 0.0]
    assert critical_pairs(rot.expand(T, 6, 6), [], window=window)["mean"] == 0.0


# ------------------------------------------------------------------ evolution


def _shift_register(k):
    """2k neurons in a ring (h_t = P h_{t-1}); a pulse gives output 0 for k steps, then 2."""
    H = 2 * k
    P = torch.roll(torch.eye(H, dtype=torch.float64), 1, dims=0)
    W_out = torch.zeros(3, H, dtype=torch.float64)
    W_out[0, :k], W_out[2, k:], W_out[1] = 1.0, 1.0, -1.0
    return Weights(torch.zeros(H, 2, dtype=torch.float64), P, W_out)


def test_evolution_transition_rate_of_deterministic_alternation():
    k = 4
    w = _shift_register(k)
    h0 = torch.zeros(2 * k, dtype=torch.float64)
    h0[0] = 1.0
    res = evolution_metrics([w], T=200, warmup=10, h0=h0, trials=3)
    outs = res["outputs"][0]
    assert set(outs.tolist()) == {0, 2}
    assert torch.all(torch.diff(output_change_times(outs)) == k)
    assert res["transition_rate"][0].item() == pytest.approx(1 / k)
    assert res["mean_dwell"][0].item() == pytest.approx(k)
    assert res["unstable_fraction"][0] == 0 and res["complex_fraction"][0] == 0


def test_evolution_same_noise_no_carry_over_and_batching():
    w1 = _random_weights(10, 4, scale=1.3, seed=8)
    w2 = _random_weights(10, 4, scale=0.6, seed=9)
    kw = dict(T=300, warmup=10, seed=11, trials=4)
    both = evolution_metrics([w1, w1, w2], **kw)
    alone = evolution_metrics([w2], **kw)
    for key in ("transition_rate", "mean_dwell", "unstable_fraction", "complex_fraction", "dh2"):
        torch.testing.assert_close(both[key][0], both[key][1], rtol=0, atol=0)  # identical epochs agree
        torch.testing.assert_close(both[key][2], alone[key][0], rtol=1e-9, atol=1e-12)
    assert both["dh2"].shape == (3, 10)
    assert 0 <= float(both["complex_fraction"][0]) <= 1


def test_bifurcation_epoch_finds_planted_jump():
    epochs = list(range(1, 101, 10))
    cf = [0.0, 0.0, 0.005, 0.0, 0.01, 0.3, 0.32, 0.35, 0.33, 0.34]
    assert bifurcation_epoch(epochs, cf) == 51
    assert bifurcation_epoch(epochs, [0.01] * 10) is None


def test_second_loss_drop():
    t = torch.arange(300, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    curve = 0.5 + 0.5 * torch.exp(-t / 10) - 0.4 * torch.sigmoid((t - 150) / 5)
    curve = curve + 0.001 * torch.randn(300, generator=g, dtype=torch.float64)
    ep = second_loss_drop(curve.tolist(), epochs=(t + 1).long().tolist())
    assert ep is not None and abs(ep - 151) <= 5
    assert second_loss_drop(torch.exp(-t / 20)) is None
    jitter = 0.001 * torch.randn(300, generator=g, dtype=torch.float64)
    assert second_loss_drop(0.2 + torch.exp(-t / 60) + jitter) is None


# ------------------------------------------------------------------ readout alignment


def test_readout_alignment_in_plane_and_orthogonal():
    H, D = 5, 3
    g = torch.Generator().manual_seed(12)
    W_ih = torch.zeros(H, D, dtype=torch.float64)
    W_ih[:2] = torch.randn(2, D, generator=g, dtype=torch.float64)
    W_hh = torch.zeros(H, H, dtype=torch.float64)
    W_hh[:2, :2] = 0.9 * _rotation(0.4)
    W_out = torch.zeros(3, H, dtype=torch.float64)
    W_out[0, 0] = 2.0                 # inside the orbit plane
    W_out[1, 1], W_out[1, 3] = 1.0, 1.0  # 45 degrees out of it
    W_out[2, 4] = -3.0                # orthogonal
    res = readout_alignment(Weights(W_ih, W_hh, W_out), n_steps=2000, seed=0)
    torch.testing.assert_close(res["projection"], torch.tensor([1.0, 2 ** -0.5, 0.0], dtype=torch.float64),
                               rtol=0, atol=1e-9)
    assert res["angle_deg"][2].item() == pytest.approx(90.0)
    assert res["mean_projection"] == pytest.approx(0.5, abs=1e-9)


def test_masked_spectrum_counts_equal_the_full_jacobians():
    """Counts from the active units' submatrix equal those of diag(m) W itself, for every mask size
    (none active, all active) and for a W with unstable and complex eigenvalues."""
    from rnnhmm.analyses.circuit import eigvals_chunked, masked_spectrum_counts, moebius

    g = torch.Generator().manual_seed(3)
    H = 24
    W = 1.4 * torch.randn(H, H, generator=g, dtype=torch.float64) / H ** 0.5
    masks = torch.rand(200, H, generator=g) < torch.rand(200, 1, generator=g)
    masks[0], masks[1] = False, True
    lam = eigvals_chunked(masks.double().unsqueeze(-1) * W, 64)
    w = moebius(lam)
    for re_tol, im_min in ((0.1, 0.05), (1.0, 0.0), (0.3, 0.2)):
        u, c = masked_spectrum_counts(masks, W, re_tol, im_min, chunk=16)
        assert torch.equal(u, (lam.abs() > 1).sum(-1))
        assert torch.equal(c, ((w.real.abs() < re_tol) & (w.imag > im_min)).sum(-1))
    assert (lam.abs() > 1).sum() > 0 and ((w.real.abs() < 0.1) & (w.imag > 0.05)).sum() > 0
