"""Did a model learn its HMM? ``learned`` and ``faithful`` (issue #22 item 3, docs/claims.md).

The loss-bias finding (docs/loss_bias.md) is a result of this reproduction: the paper's Sinkhorn
objective is not minimised by the HMM, it prefers emulators that switch less and drop the rare
symbol. So the strict performance claims stay strict, and "did the model converge" splits in two:

* **faithful**: every applicable strict performance claim passes
  (:func:`rnnhmm.claims.performance.passes_performance`: distances at the floor both ways, change
  rate, transition matrix and rare symbol, each within the spread of HMM samples);
* **learned**: the paper's own standard of evidence plus the objective's. All of

  1. ``plateau``: the run left the i.i.d. plateau (:mod:`rnnhmm.training.convergence`: progress
     ``(iid - val) / (iid - hmm) >= 0.5``);
  2. ``validation_loss``: its final-length validation loss is at or below the level of the HMM's
     own samples, within the spread of both (:func:`validation_bound`);
  3. ``distance``: the mean matched distance both ways, match(HMM, RNN) and match(RNN, HMM), is at
     the HMM-HMM floor with the statistic and tolerance of ``distance_at_floor`` /
     ``reverse_distance_at_floor`` (floor + Z_SPREAD standard errors); only for input dimension
     d >= 10, where the paper claims the floor (n/a, not counted, for d < 10);
  4. ``transitions``: every squared difference between the model's and the HMM's transition
     probabilities between the *frequent* symbols is below :data:`SQ_DIFF_MAX` = 0.005, i.e. 0.00
     at two decimals, the paper's G.2 statement ("squared differences 0.00 for d >= 10"). The rare
     symbol (frequency < 1/(2K), :func:`rnnhmm.hmm.rare_symbol`) is left out and
     rows are renormalised over the others, exactly as ``transition_matrix_matches`` does: its
     own row rests on a handful of events (0.01 x L x n) and belongs to ``faithful``
     (``rare_symbol_matches``).

  A condition that cannot be evaluated (a metrics file without the record it reads) makes the
  verdict None unless another condition fails; n/a conditions (distance for d < 10) do not count.

Dynamics and mechanism rows count as evidence about the paper only on learned models
(``results/claims_summary.csv``); figures name in red the shown models that are not learned, and
in grey those learned but not faithful ("not faithful (as the loss predicts)").
"""

from __future__ import annotations

import math

import numpy as np

from ..analyses.measures import frequent_block as _frequent_block
from .core import Z_SPREAD

__all__ = ["LEARNED_CONDITIONS", "SQ_DIFF_MAX", "learned_conditions", "learned_verdict", "validation_bound",
           "frequent_sq_diff", "faithful_verdict", "model_flags", "figure_flags"]

LEARNED_CONDITIONS = ("plateau", "validation_loss", "distance", "transitions")
# the paper's G.2 "squared differences 0.00" at two decimals: every entry below 0.005
SQ_DIFF_MAX = 0.005


def validation_bound(v: dict) -> tuple[float, float]:
    """(bound, se) of the ``validation_loss`` condition for a metrics record's ``validation`` entry
    (:func:`rnnhmm.training.convergence.final_validation`): ``last_mean``, ``last_sd``, ``last_n`` (the
    mean, SD (ddof 0) and number of the last full-length validation epochs) and ``hmm_mean``,
    ``hmm_sd`` (ddof 0), ``hmm_repeats`` (the HMM reference loss: fresh HMM samples scored against
    the same validation data exactly like a validation epoch, over that many draws).

    A perfect emulator's validation loss per epoch is one draw of the HMM reference loss (fresh
    generated sequences against the same fixed targets), so both SDs estimate the same per-draw
    SD; we take the larger of the two (the HMM's with the ddof-1 correction of its few draws), which
    errs towards a wider tolerance. The compared numbers are two means, of ``last_n`` epochs and of
    ``hmm_repeats`` draws: se = sigma * sqrt(1 / last_n + 1 / hmm_repeats), and the bound is
    hmm_mean + Z_SPREAD * se (Z_SPREAD = 3: ~0.1% one-sided false failures under normality, the
    tolerance of every one-number claim, rnnhmm.claims.core). Only an excess counts: a loss *below*
    the HMM's level is what the objective prefers (docs/loss_bias.md) and belongs to ``faithful``.
    """
    R = max(int(v.get("hmm_repeats") or 1), 1)
    n = max(int(v.get("last_n") or 1), 1)
    hmm_sd = float(v.get("hmm_sd") or 0.0) * (math.sqrt(R / (R - 1)) if R > 1 else 1.0)
    val_sd = float(v.get("last_sd") or 0.0) * (math.sqrt(n / (n - 1)) if n > 1 else 1.0)
    sigma = max(hmm_sd, val_sd)
    se = sigma * math.sqrt(1.0 / n + 1.0 / R)
    return float(v["hmm_mean"]) + Z_SPREAD * se, se


def frequent_sq_diff(m: dict) -> tuple[np.ndarray, list[int]] | None:
    """Squared differences between the model's and the HMM's output transition probabilities between
    the frequent symbols, rows renormalised over them (``transition_matrix_matches``' block), and
    those symbols; from the record's ``performance.transition`` (``rnn``: the model's matrix,
    ``null_mean``: the mean over HMM samples of the same size, both with the first symbol dropped;
    ``excluded_symbol``: the rare symbol or None). None without that record."""
    tm = (m.get("performance") or {}).get("transition")
    if not tm or "rnn" not in tm or "null_mean" not in tm:
        return None
    T_rnn, T_hmm = np.asarray(tm["rnn"], dtype=float), np.asarray(tm["null_mean"], dtype=float)
    ex = tm.get("excluded_symbol")
    cols = [c for c in range(T_rnn.shape[0]) if c != ex]
    return (_frequent_block(T_rnn, cols) - _frequent_block(T_hmm, cols)) ** 2, cols


def _claims_floor(floor: dict) -> dict:
    """The floor fields the performance claims read, from a floor file record or already in that form."""
    from .performance import floor_for_claims

    return floor if "floor_sd" in floor else floor_for_claims(floor)


def faithful_verdict(m: dict, floor: dict) -> bool | None:
    """Every applicable strict performance claim of the record ``m`` passes (None without
    performance statistics): ``faithful``."""
    from .performance import model_faithful, performance_claims

    if "performance" not in m:
        return None
    return bool(model_faithful(performance_claims([m], {m["hmm"]: _claims_floor(floor)}), m["model"]))


def learned_conditions(m: dict, floor: dict) -> dict[str, tuple[bool | None, str]]:
    """Each condition of ``learned`` for the metrics record ``m`` (results/metrics/models/*.json)
    against its HMM's floor record ``floor`` (results/metrics/floor/{hmm}.json, or the
    :func:`rnnhmm.claims.performance.floor_for_claims` fields): {condition: (passed, why)}, passed
    None where the record lacks what the condition reads, "n/a" conditions left out (distance for
    d < 10)."""
    from .performance import distance_bound

    out: dict[str, tuple[bool | None, str]] = {}
    pl = m.get("plateau")
    if not pl or "left_plateau" not in pl:
        out["plateau"] = (None, "no plateau verdict in the metrics file")
    else:
        prog = pl.get("progress", float("nan"))
        out["plateau"] = (bool(pl["left_plateau"]),
                          f"{'left' if pl['left_plateau'] else 'did not leave'} the i.i.d. plateau "
                          f"(progress {prog:.2f}, needs >= 0.5)")
    v = m.get("validation")
    if not v or v.get("last_mean") is None or v.get("hmm_mean") is None:
        why = (v or {}).get("message") or "no final-length validation record in the metrics file"
        out["validation_loss"] = (None, why)
    elif not np.isfinite(v["last_mean"]):
        out["validation_loss"] = (False, "validation loss not finite (diverged)")
    else:
        bound, se = validation_bound(v)
        ok = v["last_mean"] <= bound
        out["validation_loss"] = (bool(ok), f"final-length validation loss {v['last_mean']:.4g} (last "
                                  f"{v['last_n']} epochs) {'<=' if ok else '>'} HMM samples' "
                                  f"{v['hmm_mean']:.4g} + {Z_SPREAD:g} SE ({se:.2g}) = {bound:.4g}")
    if int(m.get("input", 0)) >= 10:
        if "distance_mean" not in m or "reverse_distance_mean" not in m or "distance_sd" not in m:
            out["distance"] = (None, "no matched distances in the metrics file")
        else:
            fl = _claims_floor(floor)
            bound, se = distance_bound(m, fl)
            d, r = float(m["distance_mean"]), float(m["reverse_distance_mean"])
            ok = d <= bound and r <= bound
            out["distance"] = (bool(ok), f"matched distance {d:.4g} / reverse {r:.4g} "
                               f"{'<=' if ok else 'not both <='} floor {fl['floor_mean']:.4g} + "
                               f"{Z_SPREAD:g} SE ({se:.2g}) = {bound:.4g}")
    sq = frequent_sq_diff(m)
    if sq is None:
        out["transitions"] = (None, "no transition statistics in the metrics file")
    else:
        D, cols = sq
        i, j = np.unravel_index(int(np.argmax(D)), D.shape)
        ok = float(D.max()) < SQ_DIFF_MAX
        out["transitions"] = (bool(ok), f"max squared transition difference between the frequent symbols "
                              f"{cols} {float(D.max()):.2g} at {cols[i]}->{cols[j]} "
                              f"{'<' if ok else '>='} {SQ_DIFF_MAX:g}")
    return out


def learned_verdict(m: dict, floor: dict) -> tuple[bool | None, list[str]]:
    """(learned, reasons): learned True when every applicable condition of
    :func:`learned_conditions` holds, False when one fails, None when none fails but one cannot be
    evaluated. ``reasons``: '<condition>: <why>' for each failing or unevaluable condition (empty
    when learned)."""
    conds = learned_conditions(m, floor)
    reasons = [f"{c}: {why}" for c, (ok, why) in conds.items() if ok is not True]
    if any(ok is False for ok, _ in conds.values()):
        return False, reasons
    if any(ok is None for ok, _ in conds.values()):
        return None, reasons
    return True, []


def model_flags(m: dict, floor: dict) -> dict:
    """{learned, learned_why, faithful} of one metrics record against its floor record: what
    summary.tsv, claims.csv and the figures carry. ``learned_why`` names the failing or unevaluable
    conditions ('' when learned); ``faithful``: every applicable performance claim passes (None
    without performance statistics)."""
    learned, why = learned_verdict(m, floor)
    faithful = faithful_verdict(m, floor)
    return {"learned": learned, "learned_why": "; ".join(why), "faithful": faithful}


def figure_flags(metrics_paths, floor_paths) -> dict:
    """What a figure showing the models of ``metrics_paths`` (results/metrics/models/*.json) must say,
    with their HMMs' floor files: ``not_learned`` {model: failing condition names} (in red: their
    dynamics and mechanism are not evidence about the paper) and ``not_faithful`` [models] (learned
    but failing a strict performance claim, in grey: 'not faithful (as the loss predicts)')."""
    from rnnhmm.io import read_json

    floors = {f["hmm"]: f for f in (read_json(p) for p in floor_paths)}
    not_learned, not_faithful = {}, []
    for p in metrics_paths:
        m = read_json(p)
        fl = floors[m["hmm"]]
        conds = learned_conditions(m, fl)
        if not all(ok is True for ok, _ in conds.values()):
            not_learned[m["model"]] = [c if ok is False else f"{c}?" for c, (ok, _) in conds.items() if ok is not True]
        elif not faithful_verdict(m, fl):
            not_faithful.append(m["model"])
    return {"not_learned": dict(sorted(not_learned.items())), "not_faithful": sorted(not_faithful)}
