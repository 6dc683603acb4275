"""Machine-readable checks of the paper's statements: one row per claim and model (docs/claims.md).

Columns of ``results/claims.csv``:

* ``claim`` (short id), ``description``, ``model`` (a model id, or several joined by '/'),
  ``hmm`` (the HMM family the row is about), ``source`` (paper section);
* ``outcome``: ``pass``, ``fail`` or ``n/a``. ``n/a`` only where the claim is structurally
  inapplicable (e.g. one number of states for a trend over numbers of states, a kick group that
  was not found for that group's interventions); ``reason`` says why. A claim whose analysis ran
  but could not find what the paper describes (no orbit, no kick group) is a ``fail``;
* ``statistic`` (what is measured), ``value`` (its number, used by ``claims_summary.csv``),
  ``expected`` (the paper's value and our tolerance rule), ``ours`` (the measurement in words);
* ``null_pass``: for a dynamics or mechanism row, ``k/n``: on how many of the model's ``n`` null
  networks (:mod:`rnnhmm.analyses.nulls`: networks without the mechanism, through the same analysis
  and claim code; their rows are in ``results/claims_null.csv``) the same row passes (a null row
  that is n/a, e.g. no kick group found on the null, does not pass); ``-`` where no null applies
  or the row is n/a itself,
  empty for the performance claims;
* ``learned``: whether the row's model learned its HMM (:mod:`rnnhmm.claims.learned`: left the
  i.i.d. plateau, validation loss at the HMM samples' level, matched distances at the floor for
  d >= 10, transitions between the frequent symbols within 0.00 at two decimals); a dynamics or
  mechanism row is evidence about the paper only on a learned model. ``faithful``: whether every
  applicable strict performance claim of that model passes. Both ``true`` / ``false``, empty
  where unknown or where the row is about several models.

``summarise`` gives ``results/claims_summary.csv``: per (claim, HMM family), k of n models passing,
the number failing / not applicable, and the mean and spread (SD) of ``value`` over models; for
dynamics and mechanism claims over learned models only (``counted``, ``n_not_learned``).
"""


from __future__ import annotations

import math
import re

import numpy as np

from rnnhmm.paths import NULL

COLUMNS = ["claim", "description", "model", "hmm", "outcome", "statistic", "value", "expected", "ours",
           "reason", "learned", "faithful", "null_pass", "source"]
SUMMARY_COLUMNS = ["claim", "hmm", "counted", "n_models", "k_pass", "n_fail", "n_na", "pass_rate", "null_pass_rate",
                   "value_mean", "value_sd", "n_not_learned", "statistic", "source"]
OUTCOMES = ("pass", "fail", "n/a")

# A statistic that is one number compared with a reference: its tolerance is Z_SPREAD standard
# deviations of the same statistic over independent HMM samples of the same size (the spread a
# perfect emulator would show; three SDs: ~0.3% false failures per check under normality).
Z_SPREAD = 3.0
# A statistic that is a maximum of several standardised deviations (a transition matrix): its
# tolerance is this quantile of the same maximum over HMM-vs-HMM repeats.
NULL_QUANTILE = 0.99
# "A exceeds B": the difference exceeds 1.645 bootstrap / sampling SEs (one-sided 5%)
ONE_SIDED_Z = 1.645


def model_of(label: str) -> str:
    """The model id of a row label ('lin2/h50_d10/s0 [subspace 01]' -> 'lin2/h50_d10/s0')."""
    return str(label).split(" ")[0]


_NULL = re.compile(re.escape(NULL) + r"([a-z]+)$")  # a null network's id (rnnhmm.paths)


def null_kind(label: str) -> str:
    """The null kind of a row label's model ('lin2/h50_d10/s0-null-shuffle [x]' -> 'shuffle'), or ''
    for a trained model (rnnhmm.analyses.nulls)."""
    m = _NULL.search(model_of(label))
    return m.group(1) if m else ""


def base_label(label: str) -> str:
    """A null row's label as its model's row label ('.../s0-null-shuffle [kick group 0]' ->
    '.../s0 [kick group 0]'); a trained model's label unchanged."""
    mid, sep, rest = str(label).partition(" ")
    return _NULL.sub("", mid) + sep + rest


def _hmm_of(model: str) -> str:
    return model_of(model).split("/")[0]


# appended to a failing claim's ``ours`` when it deviates the way the training loss prefers
LOSS_PREFERS = (" (too few: the direction in which the paper's Sinkhorn loss is lower than at the HMM, "
                "docs/loss_bias.md)")


def claim(claim_id: str, description: str, model: str, expected: str, ours, passed, source: str, *,
          statistic: str = "", value=None, reason: str = "", hmm: str | None = None) -> dict:
    """One claim row. ``passed``: True / False, or None for n/a (then ``reason`` is required)."""
    if isinstance(ours, (float, np.floating)):
        ours = f"{float(ours):.4g}"
    if passed is None:
        if not reason:
            raise ValueError(f"claim {claim_id}: an n/a row needs a reason")
        outcome = "n/a"
    else:
        outcome = "pass" if bool(passed) else "fail"
    v = float(value) if value is not None and np.isfinite(float(value)) else math.nan
    return {"claim": claim_id, "description": description, "model": model,
            "hmm": hmm if hmm is not None else _hmm_of(model), "outcome": outcome, "statistic": statistic,
            "value": v, "expected": expected, "ours": str(ours), "reason": reason, "learned": None,
            "faithful": None, "null_pass": None, "source": source}


def not_applicable(claim_id: str, description: str, model: str, reason: str, source: str, **kw) -> dict:
    return claim(claim_id, description, model, "-", "-", None, source, reason=reason, **kw)


# ----------------------------------------------------------------------------- performance (G.2, D)


def write_rows(rows: list[dict], path, log=print, reasons: bool = False):
    """Write claim rows to the CSV ``path`` (columns :data:`COLUMNS`), logging one line per row and a tally."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(path, index=False)
    for r in rows:
        log(f"{r['outcome'].upper()} {r['claim']} [{r['model']}]: expected {r['expected']}; ours {r['ours']}"
            + (f"; n/a: {r['reason']}" if reasons and r["reason"] else ""))
    log(f"{len(df)} claims: " + ", ".join(f"{k} {v}" for k, v in df["outcome"].value_counts().items()))
    return df
