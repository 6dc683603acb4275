"""The verdict table of docs/reproduction.md (studies/reproduction.py): each verdict has a case where
only its condition holds. Seconds, no jobs."""
import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reproduction", ROOT / "studies/reproduction.py")
rep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rep)
MARK = " (too few: " + rep.LOSS_MARK + " than at the HMM)"


def _row(claim, model, outcome, ours="x", reason=""):
    hmm = model.split("/")[0]
    return {"claim": claim, "model": model, "hmm": hmm, "outcome": outcome, "value": 1.0, "expected": "1",
            "ours": ours, "reason": reason or None}


def _summary(learned):
    return pd.DataFrame({"model": list(learned), "learned": [str(v) for v in learned.values()]})


M = [f"lin2/h50_d10/s{s}" for s in range(3)]


def test_reproduced_needs_two_thirds_of_at_least_two_counted_seeds():
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([_row("orbit_single_rotation", M[0], "pass"), _row("orbit_single_rotation", M[1], "pass"),
                      _row("orbit_single_rotation", M[2], "fail")])
    assert rep.cells(c, s)[("orbit_single_rotation", "lin2")]["verdict"] == "R"
    c.loc[1, "outcome"] = "fail"  # 1 of 3
    assert rep.cells(c, s)[("orbit_single_rotation", "lin2")]["verdict"] == "N"
    one = c.iloc[:1]  # 1 of 1: one seed is an anecdote, no verdict
    assert rep.cells(one, s)[("orbit_single_rotation", "lin2")]["verdict"] == "1"
    assert "(1/1)" in rep.table(one, s)


def test_dynamics_count_only_learned_seeds_and_performance_counts_all():
    s = _summary({M[0]: True, M[1]: False, M[2]: False})
    c = pd.DataFrame([_row("orbit_single_rotation", m, "pass") for m in M]
                     + [_row("change_rate_matches", m, "pass") for m in M])
    cells = rep.cells(c, s)
    assert cells[("orbit_single_rotation", "lin2")]["n"] == 1
    assert cells[("change_rate_matches", "lin2")]["n"] == 3 and cells[("change_rate_matches", "lin2")]["verdict"] == "R"
    none = rep.cells(c, _summary(dict.fromkeys(M, False)))[("orbit_single_rotation", "lin2")]
    assert none["verdict"] == "-" and none["reason"] == "no learned seed"


def test_deviates_as_the_loss_predicts_only_when_every_failure_is_marked():
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([_row("change_rate_matches", m, "fail", ours="3 changes" + MARK) for m in M])
    assert rep.cells(c, s)[("change_rate_matches", "lin2")]["verdict"] == "L"
    c.loc[2, "ours"] = "9 changes (too many)"
    assert rep.cells(c, s)[("change_rate_matches", "lin2")]["verdict"] == "N"


def test_rows_per_group_all_must_pass_and_na_is_not_testable_with_its_reason():
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([_row("two_kick_groups", m + g, "pass") for m in M for g in (" [group 0]", " [group 1]")])
    assert rep.cells(c, s)[("two_kick_groups", "lin2")]["k"] == 3
    c.loc[[1, 3], "outcome"] = "fail"  # seeds 0 and 1 fail one group each
    x = rep.cells(c, s)[("two_kick_groups", "lin2")]
    assert (x["k"], x["n"], x["verdict"]) == (1, 3, "N")
    na = pd.DataFrame([_row("pca_explained_variance", m, "n/a", reason="off h150/d100") for m in M])
    x = rep.cells(na, s)[("pca_explained_variance", "lin2")]
    assert x["verdict"] == "-" and x["reason"] == "off h150/d100"
    assert "- [1]" in rep.table(na, s) and "[1] off h150/d100" in rep.table(na, s)


def test_a_trend_over_the_chains_is_judged_by_its_one_row():
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([{**_row("readout_projection_decreases", "lin2/lin3/lin4/lin5", "pass"), "hmm": "lin2/lin3"}])
    assert rep.cells(c, s)[("readout_projection_decreases", "chains")]["verdict"] == "R"
    c.loc[0, "outcome"] = "fail"
    assert rep.cells(c, s)[("readout_projection_decreases", "chains")]["verdict"] == "N"
