"""The training loss's minimum (docs/loss_bias.md): perturbed HMMs and the measured bias."""
import numpy as np
import pytest

from rnnhmm.hmm import cyclic, linear_chain
from rnnhmm.training.loss_bias import loss_landscape, perturbed


def test_perturbed_scales_switching_and_sets_the_rare_symbol():
    h = linear_chain(2)
    assert h.rare_symbol() == 1 and cyclic().rare_symbol() is None
    same = perturbed(h)
    assert np.allclose(same.transition, h.transition) and np.allclose(same.emission, h.emission)
    slow = perturbed(h, 0.5, rare=0.0)
    assert slow.transition[0, 1] == pytest.approx(0.025) and np.allclose(slow.transition.sum(1), 1)
    assert np.allclose(slow.emission[:, 1], 0) and np.allclose(slow.emission.sum(1), 1)
    assert slow.change_probability() == pytest.approx(0.025)  # one symbol per state: changes = switches
    with pytest.raises(ValueError, match="rare symbol"):
        perturbed(cyclic(), rare=0.0)
    with pytest.raises(ValueError, match="exceed 1"):
        perturbed(h, 25.0)


def test_the_paper_loss_prefers_a_slower_chain_without_the_rare_symbol():
    """The finding of docs/loss_bias.md at a small scale: at the paper's blur 0.2 a copy of lin2 that
    switches 0.7x as often and never emits the rare symbol has a lower expected loss than lin2."""
    rows = loss_landscape(linear_chain(2), seq_len=50, batch_size=128, blur=0.2, reps=4,
                          switch_scales=(0.7, 1.0), rares=(None, 0.0), flips=(0.1,), seed=0)
    by = {(r["rare"], r["switch_scale"]): r for r in rows if not r["flip"]}
    assert by[("hmm", 1.0)]["excess"] == 0.0
    low = by[(0.0, 0.7)]
    assert low["excess"] < -3 * low["excess_se"], low
    assert low["change_rate"] < 0.6 * by[("hmm", 1.0)]["change_rate"]
    noisy = [r for r in rows if r["flip"]][0]  # i.i.d. flips: more changes and a higher loss
    assert noisy["change_rate"] > by[("hmm", 1.0)]["change_rate"] and noisy["excess"] > 3 * noisy["excess_se"]


def test_exact_ot_loss_is_the_optimal_matching_and_the_limit_of_slower_eps_scaling():
    """exact_ot_loss: 0 for a batch against a permutation of itself; on a tiny case it equals the
    brute-force best matching (must-fail side: a fixed matching scores worse); the debiased
    Sinkhorn divergence at eps-scaling 0.97 lies closer to it than at 0.5, and batch_loss at 0.5 is
    exactly the training loss."""
    from itertools import permutations

    from rnnhmm.training.convergence import batched_loss
    from rnnhmm.training.loss_bias import batch_loss, exact_ot_loss

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=(6, 5))
    assert exact_ot_loss(y[rng.permutation(6)], y, 3, 6) == 0.0
    x = rng.integers(0, 3, size=(6, 5))
    cost = (x[:, None, :] != y[None, :, :]).sum(-1)
    brute = min(cost[np.arange(6), list(p)].mean() for p in permutations(range(6)))
    assert exact_ot_loss(x, y, 3, 6) == pytest.approx(brute)
    assert cost[np.arange(6), np.arange(6)].mean() > brute  # the identity matching is not optimal here
    h = linear_chain(2)
    a, b = h.sample(128, 20, seed=1).astype(np.int64), h.sample(128, 20, seed=2).astype(np.int64)
    exact = exact_ot_loss(a, b, 3, 128)
    assert batch_loss(a, b, 3, 128, 0.2, 0.5) == batched_loss(a, b, 3, 128, 0.2)
    assert abs(batch_loss(a, b, 3, 128, 0.2, 0.97) - exact) < abs(batch_loss(a, b, 3, 128, 0.2, 0.5) - exact)


def test_the_likelihood_objective_has_its_minimum_at_the_hmm():
    """The opposite of the Sinkhorn loss: every variant costs likelihood, switching less and
    dropping the rare symbol included (infinitely: the HMM emits it)."""
    from rnnhmm.training.loss_bias import likelihood_landscape

    rows = likelihood_landscape(linear_chain(2), 50, 2000, 4, (0.7, 1.0, 1.15), rares=(None, 0.0), seed=1)
    by = {(r["rare"], r["switch_scale"]): r for r in rows}
    assert by[("hmm", 1.0)]["excess"] == 0 and by[("hmm", 1.0)]["impossible"] == 0
    for s in (0.7, 1.15):
        r = by[("hmm", s)]
        assert r["excess"] > 3 * r["excess_se"] > 0 and r["loss"] > by[("hmm", 1.0)]["loss"]
    assert by[(0.0, 1.0)]["excess"] == np.inf and 0 < by[(0.0, 1.0)]["impossible"] < 1
