"""The paper's performance claims (docs/claims.md A.5, D): matched distance at the HMM-vs-HMM floor,
change rate, output frequencies and transition matrix, each against the spread of HMM samples.
"""

from __future__ import annotations

import math

import numpy as np

from .core import LOSS_PREFERS, NULL_QUANTILE, Z_SPREAD, claim, model_of, not_applicable

# appended to a failing row whose deviation is the one the training loss itself prefers

PERFORMANCE_CLAIMS = ("distance_at_floor", "reverse_distance_at_floor", "change_rate_matches",
                      "transition_matrix_matches", "rare_symbol_matches")
KL_CLAIM = "kl_rate_at_floor"
# claims about how well a model emulates its HMM: counted on every model, no null networks. The
# KL claim is one of them but not part of ``faithful`` (model_faithful: the paper's statistics)
FIDELITY_CLAIMS = PERFORMANCE_CLAIMS + (KL_CLAIM,)
KL_SOURCE = "docs/likelihood.md"  # a project claim: the paper reports no likelihood


def distance_bound(m: dict, floor: dict) -> tuple[float, float]:
    """Floor + Z_SPREAD x the standard error of (RNN mean distance - floor mean): each mean's SE is
    the larger of its within-sample SD / sqrt(n) and (floor only) the SD across floor repeats."""
    n = m["n_seq"]
    se_f = max(floor.get("floor_sd", 0.0) or 0.0, floor["floor_within_sd"] / math.sqrt(floor.get("n_seq", n)))
    se_r = m["distance_sd"] / math.sqrt(n)
    se = math.hypot(se_f, se_r)
    return floor["floor_mean"] + Z_SPREAD * se, se


def performance_claims(models: list[dict], floors: dict[str, dict]) -> list[dict]:
    """Paper G.2 / D on every model (``results/metrics/models/*.json`` records; ``floors`` maps an HMM
    name to its floor record: floor_mean, floor_sd (across repeats), floor_within_sd, n_seq).

    * distance_at_floor / reverse_distance_at_floor: the mean matched distance match(HMM, RNN) (each
      RNN sample to an HMM sample: the paper's, many-to-one) and match(RNN, HMM) (each HMM sample to
      an RNN sample: it grows when the RNN lacks the HMM's diversity) are at most the HMM-HMM floor
      plus Z_SPREAD standard errors. The paper claims the floor for d >= 10 only: n/a for d < 10.
    * change_rate_matches: output changes per step over steps 2..L (the first symbol is uniform
      under the evaluation protocol and is dropped for RNN and HMM alike), within Z_SPREAD SDs of
      the same statistic over HMM samples of the same size.
    * transition_matrix_matches: max over entries of |P_RNN - P_HMM| / SD_HMM (standardised by the
      spread of each entry over HMM samples) at most its HMM-vs-HMM NULL_QUANTILE; the rare
      symbol's column is left to the next claim (one defect, one failing claim).
    * rare_symbol_matches: the same over the rare symbol's column and row (transitions into and out
      of the symbol of frequency < 1/(2K)); n/a for HMMs without one.
    """
    rows = []
    for m in models:
        mid, P = m["model"], m.get("performance")
        fl = floors[m["hmm"]]
        if P is None:
            for cid in PERFORMANCE_CLAIMS:
                rows.append(claim(cid, "performance", mid, "-", "no performance statistics in the metrics file",
                                  False, "G.2"))
            continue
        bound, se = distance_bound(m, fl)
        for cid, key, what in (("distance_at_floor", "distance_mean", "match(HMM, RNN): each RNN sample to its "
                                "best HMM sample (the paper's metric, many-to-one)"),
                               ("reverse_distance_at_floor", "reverse_distance_mean", "match(RNN, HMM): each HMM "
                                "sample to its best RNN sample (sees missing output diversity)")):
            desc = f"mean matched distance at or below the HMM-HMM floor; {what}"
            if m["input"] < 10:
                rows.append(not_applicable(cid, desc, mid, f"input dimension d={m['input']} < 10: the paper "
                                           "claims the floor only for d >= 10 (d=1 is worse)", "G.2",
                                           statistic="mean matched distance"))
                continue
            d = m[key] if key in m else P[key]
            rows.append(claim(cid, desc, mid, f"<= floor {fl['floor_mean']:.4g} + {Z_SPREAD:g} SE ({se:.3g}) = "
                              f"{bound:.4g} (paper d>=10: at or below the floor)", f"{d:.4g}", d <= bound, "G.2",
                              statistic="mean matched distance", value=d))
        cr = P["change_rate"]
        L1 = m["seq_len"] - 1
        tol = Z_SPREAD * cr["null_sd"]
        dev = cr["rnn"] - cr["null_mean"]
        rows.append(claim(
            "change_rate_matches", "output changes per step (volatility, first symbol dropped) match the HMM's",
            mid, f"{cr['null_mean'] * L1:.3g} ± {tol * L1:.2g} changes per {L1} steps ({Z_SPREAD:g} SD of HMM "
            f"samples, n={m['n_seq']}); paper D.2: RNN volatility = HMM volatility",
            f"{cr['rnn'] * L1:.3g} changes per {L1} steps (uncorrected {m['rnn_stats']['volatility_mean']:.3g}; "
            f"deviation {dev / max(cr['null_sd'], 1e-12):+.1f} SD)" + (LOSS_PREFERS if dev < -tol else ""),
            abs(dev) <= tol, "D.2, G.2",
            statistic="changes per step x (L-1), steps 2..L", value=cr["rnn"] * L1))
        tm = P["transition"]
        ex = tm.get("excluded_symbol")
        rows.append(claim(
            "transition_matrix_matches", "output transition matrix matches the HMM's entry by entry"
            + ("" if ex is None else f" (transitions between symbols other than the rare symbol {ex})"),
            mid, f"max_ij |ΔP_ij| / SD_ij <= {tm['null_q']:.3g} (HMM-vs-HMM {NULL_QUANTILE:.0%} quantile); "
            "paper G.2: squared differences 0.00 for d >= 10",
            f"max {tm['max_z']:.3g} SD at {tm['argmax']} (max |ΔP| {tm['max_abs']:.3g})", tm["max_z"] <= tm["null_q"],
            "D.4, G.2", statistic="max standardised |ΔP_ij|", value=tm["max_z"]))
        rc = P.get("rare")
        desc = ("transitions into and out of the rare symbol (its column and row of the transition matrix) "
                "match the HMM's")
        stat = "max standardised |ΔP| over the rare symbol's column and row"
        if rc is None:
            rows.append(not_applicable("rare_symbol_matches", desc, mid, "the HMM has no rare symbol "
                                       "(every output frequency >= 1/(2K))", "D.4", statistic=stat))
        else:
            k = rc["symbol"]
            row = rc.get("rnn_row")
            rows.append(claim(
                "rare_symbol_matches", desc, mid,
                f"max |ΔP_i,{k}|, |ΔP_{k},j| / SD <= {rc['null_q']:.3g} (HMM-vs-HMM {NULL_QUANTILE:.0%} quantile); "
                f"HMM column {np.round(rc['hmm'], 4).tolist()}",
                f"RNN column {np.round(rc['rnn'], 4).tolist()}"
                + ("" if row is None else f", row {np.round(row, 3).tolist()}") + f"; max {rc['max_z']:.3g} SD"
                + (LOSS_PREFERS if rc["max_z"] > rc["null_q"] and _emitted_less(m, rc) else ""),
                rc["max_z"] <= rc["null_q"], "A.5, D.4", statistic=stat, value=rc["max_z"]))
    return rows


def _number(v) -> float | None:
    """A finite float, or None (NaN, None, missing: a table cell without a value)."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def kl_claim(rec: dict) -> dict:
    """The KL rate at the particle filter's own floor (project claim; the paper reports no
    likelihood): a model's KL-rate estimate from its HMM (rnnhmm.evaluation.likelihood.kl_rate at
    the converged particle count) minus the same estimate for the HMM against itself (the filter
    run on the HMM's own particles, same P, same sequences: the filter's measured bias, true value
    0) is at most Z_SPREAD standard errors of that paired difference over the sequences. A model
    that emits the HMM's distribution exactly passes up to sampling error; any lasting deviation,
    however small, fails once the sequences resolve it (docs/likelihood.md "The KL claim").

    ``rec``: a row of results/metrics/summary.tsv (``kl_rate``, ``kl_self``, ``kl_excess_se``,
    ``kl_dead_sequences``, ``kl_self_dead_sequences``, ``kl_particles``, ``n_seq``) or a likelihood
    record with the same fields unprefixed. n/a without a KL rate (no ``likelihood`` section) or
    where the HMM's own filter lost every particle on some sequence (no sampling-based floor at
    that particle count); a model on whose sequences the filter died (its state blows up) fails."""
    def get(*keys):
        for k in keys:
            if k in rec and rec[k] is not None:
                return rec[k]
        return None

    mid = rec["model"]
    desc = ("KL rate from the HMM at the particle filter's floor (the same filter on the HMM itself), "
            "nats per step")
    stat = "KL rate minus the HMM's own filter estimate, nats/step"
    dead = _number(get("kl_dead_sequences", "dead_sequences")) or 0
    self_dead = _number(get("kl_self_dead_sequences", "self_dead_sequences")) or 0
    kl, self_kl, se = (_number(get(k)) for k in ("kl_rate", "kl_self", "kl_excess_se"))
    P = get("kl_particles", "particles")
    if dead > 0:
        return claim(KL_CLAIM, desc, mid, "a finite KL rate", f"the filter lost every particle on {int(dead)} "
                     "sequences: the model's state blows up under its input noise (divergence, no KL rate)",
                     False, KL_SOURCE, statistic=stat)
    if kl is None:
        return not_applicable(KL_CLAIM, desc, mid, "no KL rate (config has no likelihood section)", KL_SOURCE,
                              statistic=stat)
    if self_dead > 0 or self_kl is None or se is None:
        return not_applicable(KL_CLAIM, desc, mid, f"the HMM's own filter lost every particle on {int(self_dead)} "
                              f"sequences at P = {P}: no sampling-based floor at that particle count", KL_SOURCE,
                              statistic=stat)
    excess = kl - self_kl
    return claim(KL_CLAIM, desc, mid, f"<= HMM's own {self_kl:.4g} + {Z_SPREAD:g} SE ({se:.2g}) of the paired "
                 f"difference at P = {P}", f"{kl:.4g} (excess {excess:+.4g}, {excess / max(se, 1e-300):+.1f} SE)",
                 excess <= Z_SPREAD * se, KL_SOURCE, statistic=stat, value=excess)


def _emitted_less(m: dict, rc: dict) -> bool:
    """Does the RNN emit the rare symbol less often than the HMM's samples? From the symbol frequencies
    of a metrics file; records without ``hmm_stats`` (claims calibration) compare the rare symbol's
    transition column instead."""
    k = rc["symbol"]
    try:
        return m["rnn_stats"]["frequencies_mean"][k] < m["hmm_stats"]["frequencies_mean"][k]
    except (KeyError, IndexError, TypeError):
        return float(np.mean(rc["rnn"])) < float(np.mean(rc["hmm"]))


def model_faithful(rows: list[dict], model: str) -> bool | None:
    """True when every applicable performance claim of ``model`` passes (None without any): the model
    is *faithful* (rnnhmm.claims.learned)."""
    mine = [r for r in rows if r["claim"] in PERFORMANCE_CLAIMS and model_of(r["model"]) == model
            and r["outcome"] != "n/a"]
    if not mine:
        return None
    return all(r["outcome"] == "pass" for r in mine)


def floor_for_claims(rec: dict) -> dict:
    """The floor fields :func:`performance_claims` reads, from a results/metrics/floor/{hmm}.json record
    (:func:`rnnhmm.evaluation.evaluate.hmm_floor`)."""
    return {"floor_mean": rec["floor_mean"], "floor_sd": rec["floor_sd_across_repeats"],
            "floor_within_sd": rec["floor_within_sd"], "n_seq": rec["n_seq"]}


def passes_performance(m: dict, fl: dict) -> bool:
    """Every applicable performance claim of the model record ``m`` passes against its floor record ``fl``
    (the model is faithful)."""
    return bool(model_faithful(performance_claims([m], {m["hmm"]: floor_for_claims(fl)}), m["model"]))
