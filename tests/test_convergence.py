"""The i.i.d.-plateau verdict: reference losses are ordered, and the verdict follows the
validation loss (a run at the i.i.d. level fails, one at the HMM's level passes)."""
import numpy as np

from rnnhmm.hmm import linear_chain
from rnnhmm.training.convergence import plateau_verdict, reference_losses


def test_references_and_verdict():
    hmm = linear_chain(2)
    val = hmm.sample(256, 20, seed=3)
    refs = reference_losses(hmm, val, batch_size=128, repeats=2, seed=1)
    assert refs["hmm_mean"] + 5 * refs["hmm_sd"] < refs["iid_mean"] - 5 * refs["iid_sd"]
    stuck = plateau_verdict([refs["iid_mean"]] * 40, refs)
    assert not stuck["left_plateau"] and stuck["message"].startswith("WARNING")
    learned = plateau_verdict([refs["iid_mean"]] * 20 + [refs["hmm_mean"]] * 20, refs)
    assert learned["left_plateau"] and abs(learned["progress"] - 1) < 1e-6
    diverged = plateau_verdict([np.nan] * 5, refs)
    assert not diverged["left_plateau"]
