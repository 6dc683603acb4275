"""All claim rows in one table (results/claims.csv) and their summary per (claim, HMM family)."""

from __future__ import annotations

import math

import pandas as pd

from .core import COLUMNS, OUTCOMES, SUMMARY_COLUMNS, model_of
from .performance import model_converged

# ----------------------------------------------------------------------------- collection

def collect(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """All claim rows; ``converged`` filled per model from its performance rows."""
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
    conv = {}
    for mid in {model_of(m) for m in df["model"]}:
        conv[mid] = model_converged(recs, mid)
    df["converged"] = [conv.get(model_of(m)) for m in df["model"]]
    df["converged"] = df["converged"].map(lambda x: "" if x is None else ("true" if x else "false"))
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (claim, HMM family): n models, k passing, n failing, n n/a, pass rate over applicable
    rows, mean and SD (ddof 0) of ``value`` over applicable rows."""
    rows = []
    for (c, h), g in df.groupby(["claim", "hmm"], sort=True):
        app = g[g["outcome"] != "n/a"]
        vals = pd.to_numeric(app["value"], errors="coerce").dropna()
        k = int((app["outcome"] == "pass").sum())
        rows.append({"claim": c, "hmm": h, "n_models": len(g), "k_pass": k,
                     "n_fail": int((app["outcome"] == "fail").sum()),
                     "n_na": int((g["outcome"] == "n/a").sum()),
                     "pass_rate": f"{k} of {len(app)}" if len(app) else "n/a",
                     "value_mean": float(vals.mean()) if len(vals) else math.nan,
                     "value_sd": float(vals.std(ddof=0)) if len(vals) else math.nan,
                     "statistic": g["statistic"].iloc[0], "source": g["source"].iloc[0]})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
