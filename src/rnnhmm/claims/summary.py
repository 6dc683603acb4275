"""All claim rows in one table (results/claims.csv) and their summary per (claim, HMM family)."""

from __future__ import annotations

import math

import pandas as pd

from .core import COLUMNS, OUTCOMES, SUMMARY_COLUMNS, base_label, model_of, null_kind
from .performance import FIDELITY_CLAIMS, PERFORMANCE_CLAIMS, model_faithful

# ----------------------------------------------------------------------------- collection


def read_flag(x) -> bool | None:
    """A learned / faithful cell as read back from a CSV (bool, 'true' / 'false', empty) -> bool | None."""
    if isinstance(x, bool):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    s = str(x).strip().lower()
    return {"true": True, "false": False}.get(s)


def _text(x: bool | None) -> str:
    return "" if x is None else ("true" if x else "false")


def collect(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The claim rows of the trained models (:func:`collect_with_nulls`, without the null rows)."""
    return collect_with_nulls(frames)[0]


def collect_with_nulls(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of trained models, rows of null networks). Per model, ``faithful`` from its performance
    rows (every applicable one passes) and ``learned`` from the value its performance rows carry (set
    by the performance-claims job from results/metrics/summary.tsv, :mod:`rnnhmm.claims.learned`),
    copied onto every row of that model; ``null_pass`` on each trained model's row from the null rows
    (:func:`null_pass`)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df = df[COLUMNS].copy()
    bad = set(df["outcome"]) - set(OUTCOMES)
    if bad:
        raise ValueError(f"unknown claim outcomes {sorted(bad)}; expected {OUTCOMES}")
    is_null = df["model"].map(lambda m: bool(null_kind(m)))
    nulls = df[is_null].reset_index(drop=True)
    df = df[~is_null].reset_index(drop=True)
    recs = df.to_dict("records")
    models = {model_of(m) for m in df["model"]}
    faithful = {mid: model_faithful(recs, mid) for mid in models}
    learned: dict[str, bool | None] = {}
    for r in recs:
        v = read_flag(r["learned"])
        if v is not None and r["claim"] in PERFORMANCE_CLAIMS:
            mid = model_of(r["model"])
            learned[mid] = v if learned.get(mid, v) == v else None  # disagreeing rows: unknown
    df["learned"] = [_text(learned.get(model_of(m))) for m in df["model"]]
    df["faithful"] = [_text(faithful.get(model_of(m))) for m in df["model"]]
    df["null_pass"] = null_pass(df, nulls)
    # a null row carries its model's flags (it is counted where its model is)
    nulls["learned"] = [_text(learned.get(model_of(base_label(m)))) for m in nulls["model"]]
    nulls["faithful"] = ""
    nulls["null_pass"] = ""
    return df, nulls


def null_pass(rows: pd.DataFrame, nulls: pd.DataFrame) -> list[str]:
    """Per row of ``rows``: ``k/n``, the same claim and label on the row's model's ``n`` null networks
    and how many of them pass (a null row that is n/a does not pass: the selection found nothing to
    test on the null); ``-`` for a dynamics or mechanism row that is n/a itself or whose model has
    no null row for the claim; empty for a performance claim (they test learning itself)."""
    by = {}
    for c, lab, oc in zip(nulls["claim"], nulls["model"], nulls["outcome"]):
        by.setdefault((c, base_label(lab)), []).append(oc)
    out = []
    for c, lab, oc_row in zip(rows["claim"], rows["model"], rows["outcome"]):
        if c in FIDELITY_CLAIMS:
            out.append("")
            continue
        if oc_row == "n/a":
            out.append("-")
            continue
        oc = by.get((c, lab))
        out.append(f"{sum(o == 'pass' for o in oc)}/{len(oc)}" if oc else "-")
    return out


def pass_fraction(cells) -> tuple[int, int]:
    """Sum of the ``k/n`` cells of a ``null_pass`` column (``-`` and empty ones skipped): (k, n)."""
    k = n = 0
    for x in cells:
        a, sep, b = str(x).partition("/")
        if sep and a.isdigit() and b.isdigit():
            k, n = k + int(a), n + int(b)
    return k, n


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (claim, HMM family): n models, k passing, n failing, n n/a, pass rate over applicable
    rows, mean and SD (ddof 0) of ``value`` over applicable rows. Performance claims count every
    model; dynamics and mechanism claims count only rows on learned models (``learned`` true: they
    are evidence about the paper only there), ``counted`` says which, and ``n_not_learned`` is the
    number of rows left out (not learned, unknown, or about several models)."""
    rows = []
    for (c, h), g0 in df.groupby(["claim", "hmm"], sort=True):
        perf = c in FIDELITY_CLAIMS
        if perf:
            g, left = g0, 0
        else:
            on = g0["learned"].map(read_flag).map(lambda x: x is True)
            g, left = g0[on], int((~on).sum())
        app = g[g["outcome"] != "n/a"]
        vals = pd.to_numeric(app["value"], errors="coerce").dropna()
        k = int((app["outcome"] == "pass").sum())
        nk, nn = pass_fraction(app["null_pass"]) if "null_pass" in app else (0, 0)
        if len(app):
            rate = f"{k} of {len(app)}"
        else:
            rate = "n/a" if perf or len(g) else "n/a (no learned model)"
        rows.append({"claim": c, "hmm": h, "counted": "all models" if perf else "learned models only",
                     "n_models": len(g), "k_pass": k,
                     "n_fail": int((app["outcome"] == "fail").sum()),
                     "n_na": int((g["outcome"] == "n/a").sum()),
                     "pass_rate": rate,
                     "null_pass_rate": f"{nk} of {nn}" if nn else ("" if perf else "-"),
                     "value_mean": float(vals.mean()) if len(vals) else math.nan,
                     "value_sd": float(vals.std(ddof=0)) if len(vals) else math.nan,
                     "n_not_learned": left,
                     "statistic": g0["statistic"].iloc[0], "source": g0["source"].iloc[0]})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
