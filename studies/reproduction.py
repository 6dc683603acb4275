"""The verdict table of docs/reproduction.md: every paper finding (claim) x HMM family, from a run's
``results/claims.csv`` and ``results/metrics/summary.tsv``.

Per (claim, family) the seeds counted are all seeds for the performance claims (they are the test
of learning) and the ``learned`` seeds for every dynamics and mechanism claim (docs/claims.md,
"learned / faithful"). A seed supports a claim when every row it has for it passes (a claim with
rows per group or direction needs them all), fails it when any row fails, and is n/a when all its
rows are. Verdict per cell:

* **R** reproduced: >= 2 applicable counted seeds, at least 2/3 of them support it, **and** the same
  claim fails on their null networks (``results/claims_null.csv``, rnnhmm.analyses.nulls: a null
  network supports a claim when every row it has for it passes; at most 1/3 of them may);
* **C** consistent but not discriminating: supported as for R, but the nulls pass too (more than
  1/3 of them), or no null network ran for it; the reason says which;
* **L** deviates as the loss predicts: not reproduced, and every failing seed deviates in the
  direction the Sinkhorn objective's bias predicts (docs/loss_bias.md: fewer output changes than
  the HMM, the rare symbol under-produced);
* **N** not reproduced: otherwise, with >= 2 applicable counted seeds;
* **1** one applicable counted seed (an anecdote): its outcome is shown (1/1 or 0/1), no verdict;
  a trend over the chains (one row: its statistic is already over seeds and families) gets C (it
  has no null network) or N by its outcome;
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

from rnnhmm.claims.core import LOSS_PREFERS, base_label, model_of, null_kind
from rnnhmm.claims.performance import FIDELITY_CLAIMS

FAMILIES = ["lin2", "lin3", "lin4", "lin5", "fully", "cyclic", "chains"]
PERFORMANCE = list(FIDELITY_CLAIMS)  # claims counted on every model, without nulls
LOSS_MARK = LOSS_PREFERS.strip()  # what the claims append to ``ours`` for a deviation the loss prefers
NULL_MAX = 1 / 3  # the largest share of null networks that may support a claim called reproduced


def _family(hmm: str) -> str:
    """The family of a claim row; a trend over the chains (hmm "lin2/lin3/...") is "chains"."""
    return "chains" if "/" in str(hmm) else str(hmm)


def _deviates_as_predicted(rows: pd.DataFrame) -> bool:
    """Every failing row of one seed deviates in the direction the loss prefers: the claims mark it
    in ``ours`` (rnnhmm.claims.core.LOSS_PREFERS: too few changes, the rare symbol emitted less
    than by the HMM)."""
    bad = rows[rows["outcome"] == "fail"]
    return bool(len(bad)) and bool(bad["ours"].astype(str).str.contains(LOSS_MARK, regex=False).all())


def _supports(rows: pd.DataFrame) -> str:
    """One network's rows for one claim: 'na' when all are n/a, 'fail' when any fails, else 'pass'."""
    oc = set(rows["outcome"])
    return "na" if oc <= {"n/a"} else "fail" if "fail" in oc else "pass"


def null_support(nulls: pd.DataFrame | None) -> dict:
    """{(claim, model id): {null kind: supports?}}: per trained model, whether each of its null
    networks supports the claim (every row it has for it passes; an n/a null row does not pass: the
    selection found nothing to test on the null)."""
    out: dict = {}
    if nulls is None or not len(nulls):
        return out
    n = nulls.assign(base=nulls["model"].map(lambda m: model_of(base_label(m))),
                     kind=nulls["model"].map(null_kind))
    for (claim, mid, kind), r in n.groupby(["claim", "base", "kind"]):
        out.setdefault((claim, mid), {})[kind] = bool((r["outcome"] == "pass").all())
    return out


def cells(claims: pd.DataFrame, summary: pd.DataFrame, nulls: pd.DataFrame | None = None) -> dict:
    """{(claim, family): {"k", "n", "n_na", "n_counted", "null_k", "null_n", "verdict", "reason"}}."""
    learned = {m: str(v).lower() == "true" for m, v in zip(summary["model"], summary["learned"])}
    claims = claims.copy()
    claims["family"] = claims["hmm"].map(_family)
    claims["base"] = claims["model"].astype(str).str.replace(r" \[.*\]$", "", regex=True)
    ns = null_support(nulls)
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
        k = n_fail = n_na = null_k = null_n = 0
        loss_ok = True
        reasons = Counter()
        for mid, r in per_seed.items():
            st = _supports(r)
            if st == "na":
                n_na += 1
                # the reason without its model-specific details (parentheses, after ';')
                reasons.update(re.sub(r"\s*\(.*", "", str(x).split(";")[0]).strip()[:90]
                               for x in r["reason"].dropna() if str(x))
                continue
            if st == "fail":
                n_fail += 1
                loss_ok &= _deviates_as_predicted(r)
            else:
                k += 1
            sup = ns.get((claim, mid), {})
            null_k, null_n = null_k + sum(sup.values()), null_n + len(sup)
        n = k + n_fail
        n_models = g["base"].nunique()
        trend = all("/s" not in m for m in per_seed)
        supported = n > 0 and (k == n if trend else k >= math.ceil(2 * n / 3))
        if n == 0:
            why = reasons.most_common(1)[0][0] if reasons else (
                "no learned seed" if not perf and n_models else "no model")
            verdict = "-"
        elif perf:
            verdict, why = ("R" if supported and n >= 2 else "1" if n == 1 else "L" if loss_ok and n_fail else "N"), ""
        elif n == 1 and not trend:
            verdict, why = "1", ""
        elif supported and null_n and null_k <= NULL_MAX * null_n:
            verdict, why = "R", ""
        elif supported:
            verdict = "C"
            why = (f"its null networks pass it too ({null_k} of {null_n})" if null_n else
                   "a trend over families: no null network" if trend else "no null network ran for it")
        elif loss_ok and n_fail:
            verdict, why = "L", ""
        else:
            verdict, why = "N", ""
        out[(claim, fam)] = {"k": k, "n": n, "n_na": n_na, "n_counted": len(per_seed), "n_models": n_models,
                             "null_k": null_k, "null_n": null_n, "verdict": verdict, "reason": why}
    return out


def table(claims: pd.DataFrame, summary: pd.DataFrame, nulls: pd.DataFrame | None = None) -> str:
    c = cells(claims, summary, nulls)
    fams = [f for f in FAMILIES if any(k[1] == f for k in c)] + sorted({k[1] for k in c} - set(FAMILIES))
    order = list(dict.fromkeys(claims["claim"]))
    lines = ["| finding (claim) | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    notes = {}

    def note(why):
        notes.setdefault(why, len(notes) + 1)
        return f"[{notes[why]}]"

    for cl in order:
        row = []
        for f in fams:
            x = c.get((cl, f))
            if x is None:
                row.append("")
                continue
            null = f" · null {x['null_k']}/{x['null_n']}" if x["null_n"] else ""
            if x["verdict"] == "-":
                row.append(f"- {note(x['reason'])}")
            elif x["verdict"] == "1":
                row.append(f"({x['k']}/1){null}")
            else:
                row.append(f"**{x['verdict']}** {x['k']}/{x['n']}{null}"
                           + (f" {note(x['reason'])}" if x["verdict"] == "C" else ""))
        lines.append(f"| `{cl}` | " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"[{i}] {why}" for why, i in notes.items()]
    return "\n".join(lines)


def null_rates(claims: pd.DataFrame, summary: pd.DataFrame, nulls: pd.DataFrame | None) -> str:
    """Each claim's false-positive rate: on how many null networks of the counted (learned, claim
    applicable) models it passes, per null kind, beside its pass rate on those models."""
    learned = {m: str(v).lower() == "true" for m, v in zip(summary["model"], summary["learned"])}
    ns = null_support(nulls)
    kinds = sorted({k for v in ns.values() for k in v})
    lines = ["| claim | learned models passing | " + " | ".join(f"{k} nulls passing" for k in kinds) + " |",
             "|---|---|" + "---|" * len(kinds)]
    claims = claims.assign(base=claims["model"].map(model_of))
    for cl in dict.fromkeys(claims["claim"]):
        if cl in PERFORMANCE:
            continue
        k = n = 0
        per_kind = {kd: [0, 0] for kd in kinds}
        for mid, r in claims[claims["claim"] == cl].groupby("base"):
            st = _supports(r)
            if not learned.get(mid, False) or st == "na":
                continue
            k, n = k + (st == "pass"), n + 1
            for kd, ok in ns.get((cl, mid), {}).items():
                per_kind[kd][0] += ok
                per_kind[kd][1] += 1
        if n:
            lines.append(f"| `{cl}` | {k} of {n} | " + " | ".join(
                f"{a} of {b}" if b else "-" for a, b in per_kind.values()) + " |")
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
    npath = a.results / "claims_null.csv"
    nulls = pd.read_csv(npath, keep_default_na=False) if npath.exists() else None
    print(learned_counts(summary))
    print()
    print(table(claims, summary, nulls))
    print()
    print(null_rates(claims, summary, nulls))


if __name__ == "__main__":
    main()
