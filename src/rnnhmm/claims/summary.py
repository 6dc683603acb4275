"""All claim rows in one table (results/claims.csv) and their summary per (claim, HMM family)."""

from __future__ import annotations

import math

import pandas as pd

from .core import COLUMNS, OUTCOMES, SUMMARY_COLUMNS, model_of
from .performance import PERFORMANCE_CLAIMS, model_faithful

# ----------------------------------------------------------------------------- collection


def _flag(x) -> bool | None:
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
    """All claim rows; per model, ``faithful`` from its performance rows (every applicable one passes)
    and ``learned`` from the value its performance rows carry (set by the performance-claims job from
    results/metrics/summary.tsv, :mod:`rnnhmm.claims.learned`), copied onto every row of that model."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df = df[COLUMNS].copy()
    bad = set(df["outcome"]) - set(OUTCOMES)
    if bad:
        raise ValueError(f"unknown claim outcomes {sorted(bad)}; expected {OUTCOMES}")
    recs = df.to_dict("records")
    models = {model_of(m) for m in df["model"]}
    faithful = {mid: model_faithful(recs, mid) for mid in models}
    learned: dict[str, bool | None] = {}
    for r in recs:
        v = _flag(r["learned"])
        if v is not None and r["claim"] in PERFORMANCE_CLAIMS:
            mid = model_of(r["model"])
            learned[mid] = v if learned.get(mid, v) == v else None  # disagreeing rows: unknown
    df["learned"] = [_text(learned.get(model_of(m))) for m in df["model"]]
    df["faithful"] = [_text(faithful.get(model_of(m))) for m in df["model"]]
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (claim, HMM family): n models, k passing, n failing, n n/a, pass rate over applicable
    rows, mean and SD (ddof 0) of ``value`` over applicable rows. Performance claims count every
    model; dynamics and mechanism claims count only rows on learned models (``learned`` true: they
    are evidence about the paper only there), ``counted`` says which, and ``n_not_learned`` is the
    number of rows left out (not learned, unknown, or about several models)."""
    rows = []
    for (c, h), g0 in df.groupby(["claim", "hmm"], sort=True):
        perf = c in PERFORMANCE_CLAIMS
        if perf:
            g, left = g0, 0
        else:
            on = g0["learned"].map(_flag).map(lambda x: x is True)
            g, left = g0[on], int((~on).sum())
        app = g[g["outcome"] != "n/a"]
        vals = pd.to_numeric(app["value"], errors="coerce").dropna()
        k = int((app["outcome"] == "pass").sum())
        if len(app):
            rate = f"{k} of {len(app)}"
        else:
            rate = "n/a" if perf or len(g) else "n/a (no learned model)"
        rows.append({"claim": c, "hmm": h, "counted": "all models" if perf else "learned models only",
                     "n_models": len(g), "k_pass": k,
                     "n_fail": int((app["outcome"] == "fail").sum()),
                     "n_na": int((g["outcome"] == "n/a").sum()),
                     "pass_rate": rate,
                     "value_mean": float(vals.mean()) if len(vals) else math.nan,
                     "value_sd": float(vals.std(ddof=0)) if len(vals) else math.nan,
                     "n_not_learned": left,
                     "statistic": g0["statistic"].iloc[0], "source": g0["source"].iloc[0]})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
