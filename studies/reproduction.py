"""The verdict table of docs/reproduction.md: every paper finding (claim) x HMM family, from a run's
``results/claims.csv`` and ``results/metrics/summary.tsv``.

Per (claim, family) the seeds counted are all seeds for the performance claims (they are the test
of learning) and the ``learned`` seeds for every dynamics and mechanism claim (docs/claims.md,
"learned / faithful"). A seed supports a claim when every row it has for it passes (a claim with
rows per group or direction needs them all), fails it when any row fails, and is n/a when all its
rows are. Verdict per cell:

* **R** reproduced: >= 2 applicable counted seeds and at least 2/3 of them support it;
* **L** deviates as the loss predicts: not reproduced, and every failing seed deviates in the
  direction the Sinkhorn objective's bias predicts (docs/loss_bias.md: fewer output changes than
  the HMM, the rare symbol under-produced);
* **N** not reproduced: otherwise, with >= 2 applicable counted seeds;
* **1** one applicable counted seed (an anecdote): its outcome is shown (1/1 or 0/1), no verdict;
  a trend over the chains (one row: its statistic is already over seeds and families) gets R or N
  by its outcome;
* **-** not testable here: no applicable counted seed (no learned seed, or the claim is n/a at
  this scale, with the most common reason).

Usage: python studies/reproduction.py RESULTS_DIR > table.md
"""
from __future__ import annotations

import argparse
import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from rnnhmm.claims.core import LOSS_PREFERS

FAMILIES = ["lin2", "lin3", "lin4", "lin5", "fully", "cyclic", "chains"]
PERFORMANCE = ["distance_at_floor", "reverse_distance_at_floor", "change_rate_matches", "transition_matrix_matches",
               "rare_symbol_matches"]
LOSS_MARK = LOSS_PREFERS.strip()  # what the claims append to ``ours`` for a deviation the loss prefers


def _family(hmm: str) -> str:
    """The family of a claim row; a trend over the chains (hmm "lin2/lin3/...") is "chains"."""
    return "chains" if "/" in str(hmm) else str(hmm)


def _deviates_as_predicted(rows: pd.DataFrame) -> bool:
    """Every failing row of one seed deviates in the direction the loss prefers: the claims mark it
    in ``ours`` (rnnhmm.claims.core.LOSS_PREFERS: too few changes, the rare symbol emitted less
    than by the HMM)."""
    bad = rows[rows["outcome"] == "fail"]
    return bool(len(bad)) and bool(bad["ours"].astype(str).str.contains(LOSS_MARK, regex=False).all())


def cells(claims: pd.DataFrame, summary: pd.DataFrame) -> dict:
    """{(claim, family): {"k", "n", "n_na", "n_counted", "verdict", "reason"}}."""
    learned = {m: str(v).lower() == "true" for m, v in zip(summary["model"], summary["learned"])}
    claims = claims.copy()
    claims["family"] = claims["hmm"].map(_family)
    claims["base"] = claims["model"].astype(str).str.replace(r" \[.*\]$", "", regex=True)
    out = {}
    for (claim, fam), g in claims.groupby(["claim", "family"]):
        perf = claim in PERFORMANCE
        per_seed = {}
        for mid, r in g.groupby("base"):
            if "/s" not in mid:  # a cross-family trend row (e.g. readout_projection_decreases)
                per_seed[mid] = r
                continue
            if perf or learned.get(mid, False):
                per_seed[mid] = r
        k = n_fail = n_na = 0
        loss_ok = True
        reasons = Counter()
        for r in per_seed.values():
            oc = set(r["outcome"])
            if oc <= {"n/a"}:
                n_na += 1
                # the reason without its model-specific details (parentheses, after ';')
                reasons.update(re.sub(r"\s*\(.*", "", str(x).split(";")[0]).strip()[:90]
                               for x in r["reason"].dropna() if str(x))
            elif "fail" in oc:
                n_fail += 1
                loss_ok &= _deviates_as_predicted(r)
            else:
                k += 1
        n = k + n_fail
        n_models = g["base"].nunique()
        trend = all("/s" not in m for m in per_seed)
        if n == 0:
            why = reasons.most_common(1)[0][0] if reasons else (
                "no learned seed" if not perf and n_models else "no model")
            verdict = "-"
        elif trend:
            verdict, why = ("R" if k == n else "N"), ""
        elif n == 1:
            verdict, why = "1", ""
        elif k >= math.ceil(2 * n / 3):
            verdict, why = "R", ""
        elif loss_ok and n_fail:
            verdict, why = "L", ""
        else:
            verdict, why = "N", ""
        out[(claim, fam)] = {"k": k, "n": n, "n_na": n_na, "n_counted": len(per_seed), "n_models": n_models,
                             "verdict": verdict, "reason": why}
    return out


def table(claims: pd.DataFrame, summary: pd.DataFrame) -> str:
    c = cells(claims, summary)
    fams = [f for f in FAMILIES if any(k[1] == f for k in c)] + sorted({k[1] for k in c} - set(FAMILIES))
    order = list(dict.fromkeys(claims["claim"]))
    lines = ["| finding (claim) | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    notes = {}
    for cl in order:
        row = []
        for f in fams:
            x = c.get((cl, f))
            if x is None:
                row.append("")
                continue
            if x["verdict"] == "-":
                key = x["reason"]
                notes.setdefault(key, len(notes) + 1)
                row.append(f"- [{notes[key]}]")
            else:
                row.append(f"({x['k']}/1)" if x["verdict"] == "1" else f"**{x['verdict']}** {x['k']}/{x['n']}")
        lines.append(f"| `{cl}` | " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"[{i}] {why}" for why, i in notes.items()]
    return "\n".join(lines)


def learned_counts(summary: pd.DataFrame) -> str:
    lines = ["| family | learned | faithful | left plateau | output changes RNN / HMM (mean) |",
             "|---|---|---|---|---|"]
    for fam in [f for f in FAMILIES if f in set(summary["hmm"])]:
        g = summary[summary["hmm"] == fam]
        n = len(g)
        tr = {c: int(g[c].astype(str).str.lower().eq("true").sum()) for c in ("learned", "faithful", "left_plateau")}
        lines.append(f"| {fam} | {tr['learned']} of {n} | {tr['faithful']} of {n} | {tr['left_plateau']} of {n} | "
                     f"{g['volatility_rnn'].mean():.2f} / {g['volatility_hmm'].mean():.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    a = ap.parse_args()
    claims = pd.read_csv(a.results / "claims.csv", keep_default_na=False)
    summary = pd.read_csv(a.results / "metrics/summary.tsv", sep="\t")
    print(learned_counts(summary))
    print()
    print(table(claims, summary))


if __name__ == "__main__":
    main()
