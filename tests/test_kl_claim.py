"""The KL claim (rnnhmm.claims.performance.kl_claim) and the HMM's own filter floor
(rnnhmm.evaluation.likelihood.hmm_filter_loglik): each condition of the claim false alone makes it
fail or n/a, and a perfect emulator passes."""
from __future__ import annotations

import numpy as np
import pytest

from rnnhmm.claims.performance import kl_claim
from rnnhmm.evaluation.likelihood import hmm_filter_loglik
from rnnhmm.hmm import fully_connected, hmm_loglik, linear_chain

BASE = {"model": "lin2/h50_d10/s0", "kl_rate": 0.0021, "kl_self": 0.0010, "kl_excess_se": 0.0005,
        "kl_dead_sequences": 0, "kl_self_dead_sequences": 0, "kl_particles": 1024, "n_seq": 300}


def test_passes_within_three_paired_ses_of_the_hmm_own_estimate():
    r = kl_claim(BASE)
    assert r["outcome"] == "pass" and r["value"] == pytest.approx(0.0011)


def test_fails_when_only_the_excess_is_too_large():
    r = kl_claim({**BASE, "kl_rate": 0.0010 + 3.2 * 0.0005})
    assert r["outcome"] == "fail"


def test_fails_when_the_model_filter_died():
    r = kl_claim({**BASE, "kl_rate": float("nan"), "kl_dead_sequences": 3})
    assert r["outcome"] == "fail" and "blows up" in r["ours"]


def test_na_without_a_kl_rate_or_without_a_floor():
    assert kl_claim({**BASE, "kl_rate": float("nan")})["outcome"] == "n/a"
    r = kl_claim({**BASE, "kl_self": float("nan"), "kl_excess_se": float("nan"), "kl_self_dead_sequences": 2})
    assert r["outcome"] == "n/a" and "no sampling-based floor" in r["reason"]


def test_reads_a_likelihood_record_too():
    rec = {"model": "m", "kl_rate": 0.01, "kl_self": 0.001, "kl_excess_se": 0.001, "dead_sequences": 0,
           "self_dead_sequences": 0, "particles": 256}
    assert kl_claim(rec)["outcome"] == "fail"


def test_the_hmm_filter_floor_shrinks_with_particles_and_is_positive():
    h = fully_connected()
    y = h.sample(200, 30, seed=0)
    exact = hmm_loglik(h, y)
    bias = [float(((exact - hmm_filter_loglik(h, y, P, seed=1)[0]) / 30).mean()) for P in (64, 1024)]
    # log of an unbiased estimate is biased low; at a switch into one of two states (probability
    # 0.025 each) the bias is about (1 - q) / (2 P q) nats: ~0.3 at P = 64, ~0.02 at P = 1024
    assert bias[0] > bias[1] > 0 and bias[1] < 3e-3


def test_a_perfect_emulator_passes():
    """A second, independent run of the HMM's own filter stands for a model that emits exactly the
    HMM's distribution (same filter family): its excess over the floor is within the claim's
    tolerance; a slower-switching copy of the HMM, scored the same way, fails."""
    from rnnhmm.training.loss_bias import perturbed

    h = linear_chain(3)
    y = h.sample(200, 50, seed=2)
    exact = hmm_loglik(h, y)

    def record(model, seed):
        d_self = (exact - hmm_filter_loglik(h, y, 256, seed=1)[0]) / 50
        d = (exact - hmm_filter_loglik(model, y, 256, seed=seed)[0]) / 50
        return {"model": "m", "kl_rate": d.mean(), "kl_self": d_self.mean(),
                "kl_excess_se": np.std(d - d_self, ddof=1) / np.sqrt(len(d)), "dead_sequences": 0,
                "self_dead_sequences": 0, "particles": 256}

    assert kl_claim(record(h, 7))["outcome"] == "pass"
    assert kl_claim(record(perturbed(h, 0.5), 7))["outcome"] == "fail"
