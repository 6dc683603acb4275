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


def _nulls(claim, outcomes, kinds=("plateau", "shuffle"), group=""):
    """Null rows: outcomes[i][j] for seed i's null of kind j."""
    return pd.DataFrame([_row(claim, f"{M[i]}-null-{k}{group}", oc) for i, ocs in enumerate(outcomes)
                         for k, oc in zip(kinds, ocs)])


FAILING_NULLS = _nulls("orbit_single_rotation", [("fail", "fail")] * 3)


def test_reproduced_needs_two_thirds_of_at_least_two_counted_seeds():
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([_row("orbit_single_rotation", M[0], "pass"), _row("orbit_single_rotation", M[1], "pass"),
                      _row("orbit_single_rotation", M[2], "fail")])
    assert rep.cells(c, s, FAILING_NULLS)[("orbit_single_rotation", "lin2")]["verdict"] == "R"
    c.loc[1, "outcome"] = "fail"  # 1 of 3
    assert rep.cells(c, s, FAILING_NULLS)[("orbit_single_rotation", "lin2")]["verdict"] == "N"
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
    """It has no null network: passing makes it C (consistent, not shown to discriminate), failing N."""
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([{**_row("readout_projection_decreases", "lin2/lin3/lin4/lin5", "pass"), "hmm": "lin2/lin3"}])
    x = rep.cells(c, s)[("readout_projection_decreases", "chains")]
    assert x["verdict"] == "C" and "no null" in x["reason"]
    c.loc[0, "outcome"] = "fail"
    assert rep.cells(c, s)[("readout_projection_decreases", "chains")]["verdict"] == "N"


def test_reproduced_only_where_the_nulls_fail():
    """Three learned seeds pass; only the nulls change: all fail -> R; more than 1/3 pass -> C with
    the count in its reason; exactly 1/3 pass -> still R; no null ran -> C."""
    s = _summary(dict.fromkeys(M, True))
    c = pd.DataFrame([_row("orbit_single_rotation", m, "pass") for m in M])
    cell = lambda n: rep.cells(c, s, n)[("orbit_single_rotation", "lin2")]  # noqa: E731
    x = cell(FAILING_NULLS)
    assert (x["verdict"], x["null_k"], x["null_n"]) == ("R", 0, 6)
    x = cell(_nulls("orbit_single_rotation", [("pass", "pass"), ("pass", "fail"), ("fail", "fail")]))
    assert x["verdict"] == "C" and "3 of 6" in x["reason"]
    third = _nulls("orbit_single_rotation", [("pass", "pass"), ("fail", "fail"), ("fail", "fail")])
    assert cell(third)["verdict"] == "R"
    x = cell(None)
    assert x["verdict"] == "C" and "no null network ran" in x["reason"]
    table = rep.table(c, s, _nulls("orbit_single_rotation", [("pass", "pass")] * 3))
    assert "**C** 3/3 · null 6/6 [1]" in table and "[1] its null networks pass it too (6 of 6)" in table


def test_a_null_network_supports_a_claim_only_when_all_its_rows_pass():
    """Per kick group rows: a null whose second group fails, or whose rows are n/a (no kick group on
    the null), does not support it; the null rows of unlearned seeds are not counted."""
    s = _summary({M[0]: True, M[1]: True, M[2]: False})
    c = pd.DataFrame([_row("two_kick_groups", m + g, "pass") for m in M for g in (" [group 0]", " [group 1]")])
    n = pd.concat([_nulls("two_kick_groups", [("pass", "n/a")] * 3, group=" [group 0]"),
                   _nulls("two_kick_groups", [("fail", "n/a"), ("pass", "n/a"), ("pass", "pass")], group=" [group 1]")])
    x = rep.cells(c, s, n)[("two_kick_groups", "lin2")]
    assert (x["null_k"], x["null_n"]) == (1, 4), x   # seed 1's plateau null passes both groups
    rates = rep.null_rates(c, s, n)
    assert "| `two_kick_groups` | 2 of 2 | 1 of 2 | 0 of 2 |" in rates
