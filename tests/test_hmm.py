"""The data generator: paper matrices, validation, and sampling against exact statistics."""
import numpy as np
import pytest

from rnnhmm.hmm import HMM, HMMError, build_hmm, cyclic, fully_connected, linear_chain

# spec A.5: (output frequencies, first row of P(o'|o), p_change, E[#changes] at L=100)
SPEC_A5 = {
    "lin2": (linear_chain(2), [.495, .01, .495], [.9405, .01, .0495], .0688, 6.81),
    "lin3": (linear_chain(3), [.495, .01, .495], [.7512, .01, .2388], .2562, 25.36),
    "lin4": (linear_chain(4), [.495, .01, .495], [.7092, .01, .2808], .2978, 29.48),
    "lin5": (linear_chain(5), [.495, .01, .495], [.6957, .01, .2943], .3112, 30.81),
    "fully": (fully_connected(), [1 / 3] * 3, [.9136, .0432, .0432], .0864, 8.56),
    "cyclic": (cyclic(), [.25, .5, .25], [.7835, .212, .0045], .2143, 21.21),
}


def test_paper_matrices():
    h = linear_chain(5)
    assert np.allclose(h.transition[1], [0.4729, 0.0543, 0.4729, 0, 0], atol=1e-4)
    assert np.allclose(h.emission[1], [0.7425, 0.01, 0.2475])
    assert np.allclose(linear_chain(3).transition[0, 1] ** 2, 0.05)  # q^(M-1) = 0.05
    assert np.allclose(fully_connected().transition.diagonal(), 0.95)
    assert np.allclose(cyclic().emission[3], [0, 0.9, 0.1])


@pytest.mark.parametrize("name", list(SPEC_A5))
def test_exact_statistics_match_spec(name):
    hmm, f, p_row, p_chg, changes100 = SPEC_A5[name]
    assert np.allclose(hmm.output_frequencies(), f, atol=5e-4)
    assert np.allclose(hmm.output_transition_matrix()[0], p_row, atol=5e-4)
    assert hmm.change_probability() == pytest.approx(p_chg, abs=5e-4)
    assert hmm.expected_changes(100) == pytest.approx(changes100, abs=0.01)


@pytest.mark.parametrize("name", list(SPEC_A5))
def test_samples_match_exact_statistics(name):
    hmm = SPEC_A5[name][0]
    n, L = 20000, 30
    obs = hmm.sample(n, L, seed=1)
    assert obs.shape == (n, L) and obs.dtype == np.int8
    freq = np.bincount(obs.ravel(), minlength=3) / obs.size
    # standard error of a frequency, inflated for the autocorrelation along sequences
    assert np.allclose(freq, hmm.output_frequencies(), atol=6 * np.sqrt(0.25 / n))
    changes = np.count_nonzero(np.diff(obs, axis=1), axis=1)
    se = changes.std() / np.sqrt(n)
    assert abs(changes.mean() - hmm.expected_changes(L)) < 5 * se
    counts = np.zeros((3, 3))
    np.add.at(counts, (obs[:, :-1].ravel(), obs[:, 1:].ravel()), 1)
    emp = counts / counts.sum(1, keepdims=True)
    assert np.allclose(emp, hmm.output_transition_matrix(), atol=0.03)


def test_latent_chain_is_sampled_from_transition_matrix():
    hmm = linear_chain(3)
    _, z = hmm.sample(5000, 50, seed=3, return_states=True)
    counts = np.zeros((3, 3))
    np.add.at(counts, (z[:, :-1].ravel(), z[:, 1:].ravel()), 1)
    assert np.allclose(counts / counts.sum(1, keepdims=True), hmm.transition, atol=0.01)
    assert np.all(np.abs(np.diff(z.astype(int), axis=1)) <= 1)  # a chain never jumps two states


def test_sampling_is_seeded():
    h = cyclic()
    assert np.array_equal(h.sample(10, 20, seed=5), h.sample(10, 20, seed=5))
    assert not np.array_equal(h.sample(10, 20, seed=5), h.sample(10, 20, seed=6))


@pytest.mark.parametrize("spec, message", [
    ({"kind": "custom", "transition": [[0.5, 0.4], [0.5, 0.5]], "emission": [[1, 0], [0, 1]]},
     "transition row 0 sums to 0.9"),
    ({"kind": "custom", "transition": [[1.0]], "emission": [[1, 0], [0, 1]]}, "emission matrix must be M x K"),
    ({"kind": "custom", "transition": [[0.5, 0.5], [0.5, 0.5]], "emission": [[1.2, -0.2], [0, 1]]},
     "emission[0][1] = -0.2 is negative"),
    ({"kind": "custom", "transition": [[0.5, 0.5], [0.5, 0.5]], "emission": [[1, 0], [0, 1]], "start": [1, 0, 0]},
     "start vector must have length"),
    ({"kind": "custom", "transition": [[0.5, 0.5], [0.5]], "emission": [[1, 0], [0, 1]]}, "rectangular"),
    ({"kind": "linear_chain"}, "needs 'states'"),
    ({"kind": "spiral"}, "unknown kind"),
])
def test_bad_matrices_name_the_hmm_and_the_problem(spec, message):
    with pytest.raises(HMMError, match="HMM 'mine'") as err:
        build_hmm("mine", spec)
    assert message in str(err.value)


def test_custom_hmm_with_start_vector():
    h = build_hmm("two", {"kind": "custom", "transition": [[0.9, 0.1], [0.2, 0.8]],
                          "emission": [[1, 0], [0, 1]], "start": [1, 0]})
    obs = h.sample(2000, 5, seed=0)
    assert np.all(obs[:, 0] == 0)
    assert np.allclose(h.stationary(), [2 / 3, 1 / 3])
    assert isinstance(h, HMM)
