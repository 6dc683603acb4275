"""The training loss's minimum (docs/loss_bias.md): perturbed HMMs and the measured bias."""
import numpy as np
import pytest

from rnnhmm.hmm import cyclic, linear_chain
from rnnhmm.training.loss_bias import loss_landscape, perturbed, rare_symbol


def test_perturbed_scales_switching_and_sets_the_rare_symbol():
    h = linear_chain(2)
    assert rare_symbol(h) == 1 and rare_symbol(cyclic()) is None
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
