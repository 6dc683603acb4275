"""Paper claims about the mechanism (docs/mechanism.md E.8-E.11, G.4).

Inputs are the analysis JSON dicts written by ``workflow/scripts/mech_*.py``:

* kick (``results/analysis/kick/{model}.json``): ``model``, ``groups`` [[...], [...]],
  ``group_status`` ['selected' | 'fallback' | 'empty'] x 2, ``n_selected`` [n1, n2], ``error``;
* interventions: ``model``, ``mus`` (M,), ``groups``: per kick group ``{group, neurons, status,
  conditions: {kick | noise_projection | control: {pairs_mean (M,), pairs_std (M,), n_targets}}}``
  (``skipped`` instead of ``conditions`` when the group is empty);
* evolution: ``model``, ``epochs``, ``transition_rate``, ``complex_fraction``,
  ``unstable_fraction`` (E,), ``bifurcation_epoch``, ``second_loss_drop``, ``converged_rate``;
* readout: ``models``: [{model, hmm, states, mean_projection}].

Every claim yields a row even when its analysis could not run (outcome ``fail``, ``ours`` says
why); ``n/a`` only where the claim cannot apply (a kick group that was not found, for that group's
interventions; one number of states for the readout trend). Tolerances come from sampling spread
(random-set baselines, HMM samples, bootstrap; docs/claims.md) and are stated in ``expected``.
"""


from __future__ import annotations

import numpy as np

from rnnhmm.analyses.measures import DIVERGE_NORM, persistent_onset, plateau_exit
from rnnhmm.external_layouts import NO_HISTORY
from rnnhmm.paper import PAPER_READOUT_PROJECTION, PAPER_READOUT_SD

from .core import LOSS_PREFERS, ONE_SIDED_Z, Z_SPREAD, claim, not_applicable
from .dynamics import PAPER_RATE_HMMS  # the paper states a rate match for M = 2 only (G.4)

# complex / unstable fractions count as "about zero" at or below this (the paper's bifurcation threshold)
FRACTION_TOL = 0.02
# claims that read the training loss curve: n/a for a model imported without one (no_history_claims)
NO_HISTORY_CLAIMS = ("loss_drop_at_bifurcation", "emergence_order")
# an effect counts against a random baseline when at most this fraction of random sets (same size,
# same noise seeds) is at least as extreme
RANK_ALPHA = 0.05


# ---------------------------------------------------------------------------------------------
# claims


def _status(k: dict, g: int) -> str:
    st = k.get("group_status", ["empty", "empty"])
    return st[g] if g < len(st) else "empty"


def kick_claims(kick_results: list[dict]) -> list[dict]:
    """E.8: kick neurons found for both transition directions (paper: two triplets), per model.
    Fails when a direction has none (no stand-in neurons are ever scored)."""
    rows = []
    for k in kick_results:
        n = list(k.get("n_selected", [0, 0])) + [0, 0]
        cls = k.get("direction_classes", [])
        ours = f"{n[0]} + {n[1]} neurons pass" + (f" (leaving classes {cls[0]} / {cls[1]})" if len(cls) >= 2 else "")
        if k.get("error"):
            ours += f"; {k['error']}"
        # reproducibility over independent runs: each group's best neuron scores above 0 by more than
        # ONE_SIDED_Z SEs of its score over the noise seeds (a hard threshold on one run is an anecdote)
        top = k.get("top_score") or [None, None]
        steady = []
        for d in range(2):
            t = top[d] if d < len(top) else None
            if t is None or t[1] is None or not np.isfinite(t[1]):
                steady.append(False)
            else:
                steady.append(t[0] > ONE_SIDED_Z * t[1])
        if any(t is not None for t in top):
            ours += "; best score per group " + " / ".join(
                "-" if t is None else f"{t[0]:.3g} ± {t[1]:.2g}" if t[1] is not None else f"{t[0]:.3g} (one run)"
                for t in top) + f" over {k.get('noise_seeds', 1)} runs of {k.get('T', '?')} steps"
        elif n[0] > 0 and n[1] > 0:
            ours += "; no run-to-run spread (one run)"
        rows.append(claim("two_kick_groups", "kick neurons (strongly negative in clusters, at threshold in kick-zones, "
                          "active in transitions; per-neuron SD units) exist for both transition directions",
                          k["model"], f"2 non-empty groups (paper: 2 triplets), each's best mean score over noise "
                          "seeds "
                          f"> {ONE_SIDED_Z} SE (>= 2 runs)", ours, n[0] > 0 and n[1] > 0 and all(steady), "E.8",
                          statistic="neurons in the smaller group", value=min(n[0], n[1])))
    return rows


def run_support(runs: list[dict], key: str, part: str) -> tuple[int, int] | None:
    """How many of the kick analysis's single noise runs (``run_contrasts``) pick groups whose
    ``key`` contrast ('kick_contrast' / 'population_contrast') shows the ``part`` ('within' /
    'between') effect (sign and decided rank, :func:`rank_passes`): (k, n runs); None without runs."""
    if not runs:
        return None
    k = 0
    for r in runs:
        c = r.get(key)
        if not c:
            continue
        v, rk = c.get(part), c.get(f"{part}_rank")
        if v is None or rk is None or not np.isfinite(v):
            continue
        k += bool((v > 0 if part == "within" else v < 0) and rank_passes(rk, int(c["n_random"])))
    return k, len(runs)


def _contrast_rows(cid_within: str, cid_between: str, what: str, model: str, c: dict | None, missing: str | None,
                   source: str, runs: list[dict] | None = None, key: str = "") -> list[dict]:
    d_w = f"{what}: within-group weights are excitatory beyond random neuron sets of the same sizes"
    d_b = f"{what}: weights between the two groups are inhibitory beyond random neuron sets of the same sizes"
    if c is None:
        return [not_applicable(cid_within, d_w, model, missing, source, statistic="within-group mean weight"),
                not_applicable(cid_between, d_b, model, missing, source, statistic="between-group mean weight")]
    n = int(c["n_random"])
    mc = rank_mc_se(n)
    exp_w = (f"mean W within > 0 and rank among {n} random set pairs <= {RANK_ALPHA}, decided (more than 2 Monte "
             f"Carlo SEs, {mc:.2g}, from it); and the same for the groups that >= 2/3 of the single noise runs "
             "pick on their own")
    exp_b = exp_w.replace("mean W within > 0", "mean W between < 0")

    def held(part: str) -> tuple[bool, str]:
        sup = run_support(runs or [], key, part)
        if sup is None:
            return True, ""
        k, n_runs = sup
        return k >= np.ceil(2 * n_runs / 3), f"; holds for the groups of {k} of {n_runs} single runs"
    within = c.get("within")
    if within is None or not np.isfinite(within):
        # both groups have a single neuron: without self-connections there is no within-group weight
        row_w = not_applicable(cid_within, d_w, model, "both groups have one neuron: no within-group weights "
                               f"(sizes {c.get('sizes', '?')}; self-connections are not counted)", source,
                               statistic="within-group mean weight")
    else:
        rk = c["within_rank"]
        ok_runs, txt = held("within")
        row_w = claim(cid_within, d_w, model, exp_w, f"{within:.3g} (random {c['random_within_mean']:.3g}; rank "
                      f"{rk:.3g}{_undecided(rk, mc)}){txt}", within > 0 and rank_passes(rk, n) and ok_runs, source,
                      statistic="within-group mean weight", value=within)
    rk = c["between_rank"]
    ok_runs, txt = held("between")
    return [
        row_w,
        claim(cid_between, d_b, model, exp_b, f"{c['between']:.3g} (random {c['random_between_mean']:.3g}; rank "
              f"{rk:.3g}{_undecided(rk, mc)}){txt}", c["between"] < 0 and rank_passes(rk, n) and ok_runs, source,
              statistic="between-group mean weight", value=c["between"]),
    ]


def rank_mc_se(n_random: int) -> float:
    """Monte Carlo SE of a rank among ``n_random`` random sets where it matters: at RANK_ALPHA."""
    return float(np.sqrt(RANK_ALPHA * (1 - RANK_ALPHA) / max(1, n_random)))


def rank_passes(rank: float, n_random: int) -> bool:
    """The rank is at most RANK_ALPHA, and decided: more than 2 Monte Carlo SEs below it."""
    return rank <= RANK_ALPHA - 2 * rank_mc_se(n_random)


def _undecided(rank: float, mc: float) -> str:
    return "; undecided: within 2 Monte Carlo SEs of alpha" if abs(rank - RANK_ALPHA) <= 2 * mc else ""


def kick_weight_claims(kick_results: list[dict]) -> list[dict]:
    """E.8: within a kick triplet the neurons excite each other; the two triplets inhibit each other.
    n/a for a model whose kick groups were not both found (two_kick_groups fails there)."""
    rows = []
    for k in kick_results:
        c = k.get("kick_contrast")
        rows += _contrast_rows("kick_groups_self_excite", "kick_groups_inhibit_each_other", "kick neurons",
                               k["model"], c, None if c else "a kick group was not found (two_kick_groups fails)",
                               "E.8", k.get("run_contrasts"), "kick_contrast")
    return rows


def population_claims(kick_results: list[dict]) -> list[dict]:
    """E.8: the two noise-integrating populations are self-excitatory and mutually inhibitory (they are
    chosen by their projections onto the kick groups, not by their mutual weights)."""
    rows = []
    for k in kick_results:
        c = k.get("population_contrast")
        rows += _contrast_rows("populations_self_excite", "populations_inhibit_each_other",
                               "noise-integrating populations", k["model"], c,
                               None if c else "no populations: a kick group was not found (two_kick_groups fails)",
                               "E.8", k.get("run_contrasts"), "population_contrast")
    return rows


def effect_rank(target: float, random_effects, lower: bool = True) -> float:
    """Fraction of random sets whose effect is at least as extreme as the target's (as low when
    ``lower``, as high otherwise)."""
    r = np.asarray(random_effects, dtype=float)
    return float(np.mean(r <= target) if lower else np.mean(r >= target))


def _seed_effects(b: dict, stat: str, mu: float) -> np.ndarray:
    """Per set (targets first, then random sets) and noise seed, (N, S): the effect vs the
    unintervened run: log ratio of (output changes + 1) or of the spread, difference of critical
    pairs. The spread is clipped at the divergence bound (a diverged run counts as DIVERGE_NORM:
    the statistic stays bounded, and diverged runs are counted by :func:`_diverged`)."""
    j = [float(m) for m in b["mus"]].index(mu)
    x = np.asarray(b[stat], dtype=float)[:, :, j]                    # (N, S)
    ref = np.asarray(b[f"ref_{stat}"], dtype=float)[None, :]         # (1, S)
    if stat == "changes":
        return np.log(x + 1) - np.log(ref + 1)
    if stat == "spread":
        clip = lambda v: np.clip(np.nan_to_num(v, nan=DIVERGE_NORM, posinf=DIVERGE_NORM), 1e-12, DIVERGE_NORM)  # noqa: E731
        return np.log(clip(x) / clip(ref))
    return x - ref


def _effects(b: dict, stat: str, mu: float) -> np.ndarray:
    """Per set: :func:`_seed_effects` averaged over noise seeds."""
    return _seed_effects(b, stat, mu).mean(1)


def _diverged(b: dict, mu: float) -> tuple[int, int, int]:
    """(target runs, random-set runs, runs per set) past the divergence bound at gain ``mu`` (from
    ``diverged``, or a spread at the bound in files without it)."""
    j = [float(m) for m in b["mus"]].index(mu)
    if "diverged" in b:
        d = np.asarray(b["diverged"], dtype=bool)[:, :, j]
    else:
        sp = np.asarray(b["spread"], dtype=float)[:, :, j]
        d = ~np.isfinite(sp) | (sp >= DIVERGE_NORM)
    return int(d[0].sum()), int(d[1:].sum()), int(d.shape[1])


INTERVENTION_CLAIMS = {
    "kick_mu0_traps": ("kick", "changes", 0.0, "lower", "silencing the recurrent input into the kick neurons (mu=0) "
                       "traps the network in a cluster: fewer output changes than silencing random neurons",
                       "paper: trapped in the cluster"),
    "kick_mu0_reduces_pairs": ("kick", "pairs", 0.0, "lower", "silencing the kick neurons (mu=0) removes critical "
                               "complex pairs more than silencing random neurons of the same number",
                               "paper G.4: 2.8-5.1 vs ~8 at mu=1"),
    "kick_mu2_overshoot": ("kick", "spread", 2.0, "higher", "doubling the recurrent input into the kick neurons "
                           "(mu=2) makes trajectories overshoot (larger spread) more than doubling random neurons'",
                           "paper E.9: overshoot at mu=2"),
    "noise_mu0_reduces_pairs": ("noise_projection", "pairs", 0.0, "lower", "cutting the noise into the kick "
                                "neurons' presynaptic populations (mu=0) removes critical pairs more than cutting it "
                                "into random neurons of the same number", "paper G.4: 2.0-3.2 vs ~8 at mu=1"),
    "control_no_effect": ("control", "pairs", 0.0, "control", "cutting the noise into neurons outside the "
                          "presynaptic populations (control) removes no critical pairs beyond the noise-seed spread, "
                          "and fewer than cutting it into the presynaptic populations (noise projection)",
                          "paper G.4: control 6.8-9.4, flat in mu; noise projection 2.0-3.2"),
}


def intervention_claims(iv: dict) -> list[dict]:
    """E.9 / G.4, one row per claim and kick group: each condition's effect (mean over noise seeds,
    vs the unintervened run) ranked against random target sets of the same size (same seeds).
    A reduction claim passes when the effect is a reduction and at most RANK_ALPHA of the random
    sets reduce as much; the overshoot claim likewise upwards (spreads clipped at the divergence
    bound, diverged runs counted); the control against the noise-seed spread and against the
    noise-projection condition (:func:`_control_row`).
    A kick group that was not found makes that group's claims n/a."""
    rows = []
    model = iv["model"]
    for g in iv["groups"]:
        gl = f"kick group {g['group']}"
        label = f"{model} [{gl}]"
        base = g.get("baseline")
        for cid, (cond, stat, mu, kind, desc, paper) in INTERVENTION_CLAIMS.items():
            if g.get("status") != "selected" or not g.get("neurons"):
                rows.append(not_applicable(cid, desc, label, f"{gl} was not found (two_kick_groups fails); it is "
                                           "never replaced by stand-in neurons", "E.9, G.4",
                                           statistic=f"effect on {stat}"))
                continue
            b = (base or {}).get(cond)
            if not b or "skipped" in b:
                why = (b or {}).get("skipped", "no random-set baseline in the interventions file")
                rows.append(claim(cid, desc, label, "-", f"not evaluated: {why}", False, "E.9, G.4",
                                  statistic=f"effect on {stat}"))
                continue
            e = _effects(b, stat, mu)
            tgt, rnd = float(e[0]), e[1:]
            z = (tgt - rnd.mean()) / rnd.std(ddof=1) if rnd.std(ddof=1) > 0 else float("nan")
            dt, dr, S = _diverged(b, mu)
            div_txt = (f"; diverged (|h| > {DIVERGE_NORM:g}): {dt} of {S} target runs, {dr} of {S * len(rnd)} "
                       "random-set runs" if dt or dr else "")
            size_txt = (f"; targets cut to the strongest {b['n_targets']} of {b['n_targets_condition']} (random "
                        "sets drawn from the rest)" if b.get("size_limited") else "")
            if kind == "control":
                rows.append(_control_row(cid, desc, label, paper, b, (base or {}).get("noise_projection"),
                                         div_txt))
                continue
            if kind == "lower":
                rank = effect_rank(tgt, rnd, lower=True)
                ok = tgt < 0 and rank <= RANK_ALPHA
                exp = f"effect < 0 and rank among {len(rnd)} random sets <= {RANK_ALPHA} ({paper})"
            elif kind == "higher":
                rank = effect_rank(tgt, rnd, lower=False)
                ok = tgt > 0 and rank <= RANK_ALPHA
                exp = f"effect > 0 and rank among {len(rnd)} random sets <= {RANK_ALPHA} ({paper})"
            else:
                raise ValueError(f"unknown claim kind {kind!r}")
            unit = {"changes": "log ratio of output changes", "pairs": "change in critical pairs",
                    "spread": "log ratio of spread (clipped at the divergence bound)"}[stat]
            rows.append(claim(cid, desc, label, exp,
                              f"{unit} {tgt:+.3g} (random {rnd.mean():+.3g} ± {rnd.std(ddof=1):.2g}; "
                              f"z {z:+.2f}; rank {rank:.3g}; {b['n_targets']} targets, {b['n_seeds']} noise seeds)"
                              + size_txt + div_txt, ok, "E.9, G.4", statistic=unit, value=tgt))
    return rows


def _control_row(cid: str, desc: str, label: str, paper: str, b: dict, b_np: dict | None, div_txt: str) -> dict:
    """control_no_effect: per noise seed s, e_c(s) = the control targets' change in critical pairs at
    mu = 0 and e_np(s) = the noise-projection targets' (the same seeds). Passes when
    (i) mean e_c >= -ONE_SIDED_Z SE(e_c) (no reduction beyond the noise-seed spread) and
    (ii) mean(e_c - e_np) > ONE_SIDED_Z SE(e_c - e_np) (the control removes fewer pairs than the noise
    projection, paired over seeds). SEs over seeds (ddof 1); fewer than two seeds cannot test it."""
    unit = "change in critical pairs"
    exp = (f"mean >= -{ONE_SIDED_Z} SE over noise seeds, and control - noise projection > {ONE_SIDED_Z} SE "
           f"(paired over seeds) ({paper})")
    e_c = _seed_effects(b, "pairs", 0.0)[0]
    if not b_np or "skipped" in b_np:
        why = (b_np or {}).get("skipped", "no noise-projection baseline")
        return claim(cid, desc, label, exp, f"not evaluated: {why}", False, "E.9, G.4", statistic=unit,
                     value=float(e_c.mean()))
    e_np = _seed_effects(b_np, "pairs", 0.0)[0]
    S = min(e_c.size, e_np.size)
    if S < 2:
        return claim(cid, desc, label, exp, f"not evaluated: {S} noise seed (the test needs >= 2)", False,
                     "E.9, G.4", statistic=unit, value=float(e_c.mean()))
    e_c, e_np = e_c[:S], e_np[:S]
    diff = e_c - e_np
    se_c, se_d = float(e_c.std(ddof=1) / np.sqrt(S)), float(diff.std(ddof=1) / np.sqrt(S))
    m_c, m_d = float(e_c.mean()), float(diff.mean())
    no_effect = m_c >= -ONE_SIDED_Z * se_c
    weaker = m_d > ONE_SIDED_Z * se_d
    return claim(cid, desc, label, exp,
                 f"control {m_c:+.3g} (SE {se_c:.2g}; {b['n_targets']} targets); noise projection "
                 f"{float(e_np.mean()):+.3g}; control - noise projection {m_d:+.3g} (SE {se_d:.2g}); {S} noise seeds"
                 + div_txt, no_effect and weaker, "E.9, G.4", statistic=unit, value=m_c)


def _fmt(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3g}"


def snapshot_stride(epochs) -> int:
    """The evaluated epochs' stride (median step; 1 for fewer than two epochs): an onset's resolution."""
    ep = [int(e) for e in epochs]
    return int(np.median(np.diff(ep))) if len(ep) >= 2 else 1


def onset_uncertainty(ev: dict, key: str) -> int | None:
    """How far ``key``'s persistent onset moved with an independent noise run
    (``rnnhmm.analyses.evolution.onset_repeat``): |repeat - first|; None where not measured (older
    files) and the whole run where the repeat found no onset."""
    rep = ev.get("onset_repeat")
    on = (ev.get("onsets") or {}).get(key)
    if not isinstance(rep, dict) or key not in rep or on is None:
        return None
    if rep[key] is None:
        ep = [int(e) for e in ev["epochs"]]
        return ep[-1] - ep[0]
    return abs(int(rep[key]) - int(on))


def lag_tolerance(ev: dict, key: str = "complex_fraction") -> tuple[int, str]:
    """(epochs, words): two events at snapshot resolution coincide when their lag is within one
    stride plus the onset's measured uncertainty (:func:`onset_uncertainty`; 0 where not measured,
    said so)."""
    stride = snapshot_stride(ev["epochs"])
    u = onset_uncertainty(ev, key)
    if u is None:
        return stride, f"one stride ({stride}); the onset's noise spread was not measured"
    return stride + u, f"one stride ({stride}) + the onset's shift with another noise run ({u})"


def evolution_claims(ev: dict, reference: dict) -> list[dict]:
    """E.10 / G.4 on one evolution analysis. ``reference``: the HMM's sampled change rate over runs of
    the analysis length ({mean, sd}; docs/claims.md). Non-finite snapshots are excluded and counted.

    * unstable_fraction_emerges / complex_pairs_emerge: ~0 (<= FRACTION_TOL) at the first finite
      evaluated epoch and a persistent onset later (``rnnhmm.analyses.evolution.persistent_onset``);
    * loss_drop_at_bifurcation: the exit from the i.i.d. loss plateau (``plateau_exit``) coincides
      with the complex-pair onset: |lag| within :func:`lag_tolerance` (one snapshot stride plus the
      onset's measured shift with another noise run); the lag is reported with its sign;
    * emergence_order: the paper's order (stability lost, then complex pairs, then the loss drop),
      each step within its onset's :func:`lag_tolerance`;
    * converged_transition_rate: the sampled output change rate over the last evaluated finite
      epochs within Z_SPREAD SDs of the same statistic on HMM runs of the same length.
    """
    model = ev["model"]
    rows = []
    ep = [int(e) for e in ev["epochs"]]
    finite = [bool(f) for f in ev.get("finite", [True] * len(ep))]
    n_bad = len(ep) - sum(finite)
    bound = ev.get("divergence_bound", DIVERGE_NORM)
    bad_txt = (f"; {n_bad} of {len(ep)} snapshot(s) diverged (|h| > {bound:g} or non-finite), excluded"
               if n_bad else "")
    thr = ev.get("fraction_threshold", FRACTION_TOL)
    min_frac = ev.get("onset_min_fraction", 0.9)
    onsets = {}
    for cid, key, what in (("unstable_fraction_emerges", "unstable_fraction", "unstable eigenvalues (|lambda| > 1)"),
                           ("complex_pairs_emerge", "complex_fraction", "complex pairs near the unit circle")):
        frac = [np.nan if v is None else float(v) for v in ev[key]]
        fin = [f and np.isfinite(v) for f, v in zip(finite, frac)]
        first = next((v for v, f in zip(frac, fin) if f), np.nan)
        on = persistent_onset(ep, frac, thr, finite=fin, min_frac=min_frac)
        onsets[key] = on
        ok = np.isfinite(first) and first <= thr and on is not None
        rows.append(claim(cid, f"fraction of steps with {what}: ~0 early in training, then an onset that persists",
                          model, f"<= {thr} at the first epoch; later > {thr} at >= {min_frac:.0%} of the remaining "
                          "epochs", f"first epoch {first:.3g}; persistent onset at epoch {on}{bad_txt}", ok,
                          "E.10, G.4",
                          statistic="onset epoch", value=on))
    val_loss = ev.get("val_loss", [])
    warm = int(ev.get("warmup_epochs", 0) or 0)
    pe = plateau_exit(val_loss, phase_starts=[warm] if 0 < warm < len(val_loss) else [])
    drop, bif, u = pe["epoch"], onsets["complex_fraction"], onsets["unstable_fraction"]
    tol_c, tol_c_txt = lag_tolerance(ev, "complex_fraction")
    tol_u, _ = lag_tolerance(ev, "unstable_fraction")
    desc = "the loss leaves its early (i.i.d.-output) plateau when complex pairs emerge (they coincide)"
    exp = (f"|plateau exit - complex-pair onset| <= {tol_c} epochs: {tol_c_txt}; a lag's sign says which "
           "came first (negative: the loss dropped first)")
    ptxt = (f"plateau {pe['plateau']:.3g} -> final {pe['final']:.3g}, epoch noise SD {pe['noise_sd']:.2g}"
            if pe["plateau"] is not None else "no loss curve")
    if warm:
        ptxt += (f"; curriculum: epochs 1-{warm} on short sequences are their own phase, exit "
                 + ("in the warm-up" if pe["phase"] == 0 else "at full length" if pe["phase"] else "in no phase"))
    stat = "plateau exit - complex onset (epochs; < 0: the loss dropped first)"
    if drop is None or bif is None:
        rows.append(claim("loss_drop_at_bifurcation", desc, model, exp, f"plateau exit {drop}, complex onset {bif} "
                          f"({ptxt}){bad_txt}", False, "E.10", statistic=stat))
    else:
        lag = drop - bif
        order = "the loss dropped first" if lag < 0 else "complex pairs came first" if lag > 0 else "same epoch"
        rows.append(claim("loss_drop_at_bifurcation", desc, model, exp,
                          f"plateau exit at {drop}, complex onset at {bif}: lag {lag:+d} epochs ({order}; "
                          f"tolerance {tol_c}) ({ptxt}){bad_txt}", abs(lag) <= tol_c, "E.10",
                          statistic=stat, value=lag))
    desc = "the paper's order: the fixed point loses stability, then complex pairs appear, then the loss drops"
    exp = (f"unstable onset <= complex onset + {tol_u} and complex onset <= loss drop + {tol_c} (epochs; each "
           "tolerance one stride plus that onset's shift with another noise run)")
    if None in (u, bif, drop):
        rows.append(claim("emergence_order", desc, model, exp, f"unstable {u}, complex {bif}, loss drop {drop}",
                          False, "E.10", statistic="complex onset - unstable onset (epochs)"))
    else:
        ok = u <= bif + tol_u and bif <= drop + tol_c
        seq = " < ".join(n for _, n in sorted([(u, "stability lost"), (bif, "complex pairs"), (drop, "loss drop")],
                                              key=lambda t: t[0]))
        rows.append(claim("emergence_order", desc, model, exp,
                          f"unstable {u}, complex {bif}, loss drop {drop} (observed order: {seq}; complex - unstable "
                          f"{bif - u:+d}, loss drop - complex {drop - bif:+d})", ok, "E.10",
                          statistic="complex onset - unstable onset (epochs)", value=bif - u))
    rates = ev.get("sampled_change_rate")
    n_last = int(ev.get("converged_last", 6))
    exp = (f"{reference['mean']:.4g} ± {Z_SPREAD * reference['sd']:.2g} (HMM runs of {reference['steps']} steps, "
           f"{Z_SPREAD:g} SD); paper G.4 M=2: 0.047 vs switch prob 0.05")
    desc = "converged output change rate (sampled outputs, last evaluated epochs) matches the HMM's"
    if ev.get("hmm", model.split("/")[0]) not in PAPER_RATE_HMMS:
        rows.append(not_applicable("converged_transition_rate", desc, model, "the paper states a converged rate "
                                   "match only for M = 2 (G.4: 0.047 vs switch prob 0.05); for this HMM it reports "
                                   "a rate, not a match", "E.10, G.4", statistic="sampled change rate"))
    elif rates is None:
        rows.append(claim("converged_transition_rate", desc, model, exp, "no sampled change rate in the analysis",
                          False, "E.10, G.4", statistic="sampled change rate"))
    else:
        vals = [float(r) for r, f in zip(rates, finite) if f and r is not None and np.isfinite(r)][-n_last:]
        if not vals:
            rows.append(claim("converged_transition_rate", desc, model, exp, f"no finite epoch{bad_txt}", False,
                              "E.10, G.4", statistic="sampled change rate"))
        else:
            r = float(np.mean(vals))
            ok = abs(r - reference["mean"]) <= Z_SPREAD * reference["sd"]
            too_few = r < reference["mean"] - Z_SPREAD * reference["sd"]
            rows.append(claim("converged_transition_rate", desc, model, exp, f"{r:.4g} over the last {len(vals)} "
                              f"finite evaluated epochs (argmax mean 1/dwell {_fmt(ev.get('converged_rate'))}, not "
                              f"comparable){bad_txt}" + (LOSS_PREFERS if too_few else ""),
                              ok, "E.10, G.4", statistic="sampled change rate", value=r))
    return rows


def readout_claims(readout: dict) -> list[dict]:
    """E.11 / G.4: the readout projection onto the orbit plane is smaller at the largest number of
    states than at the smallest, by more than ONE_SIDED_Z standard errors (spread over seeds; the
    paper's SD for a single-seed group). n/a with fewer than two numbers of states."""
    by_m: dict[int, list[float]] = {}
    for r in readout["models"]:
        if r.get("mean_projection") is not None and np.isfinite(r["mean_projection"]):
            by_m.setdefault(int(r["states"]), []).append(float(r["mean_projection"]))
    means = {m: float(np.mean(v)) for m, v in sorted(by_m.items())}
    expected = "decreasing: " + ", ".join(f"M={m} {v}" for m, v in PAPER_READOUT_PROJECTION.items())
    ours = ", ".join(f"M={m} {v:.3f}" for m, v in means.items()) or "no model"
    label = "/".join(sorted({r["hmm"] for r in readout["models"]}))
    desc = ("projection of the readout axes onto the PC1-PC2 plane decreases with the number of states "
            "(smallest M vs largest M)")
    ms = sorted(means)
    if len(ms) < 2:
        return [claim("readout_projection_decreases", desc, label, expected, ours, None, "E.11, G.4",
                      statistic="projection(M min) - projection(M max)", hmm=label,
                      reason="needs models of at least two numbers of states (this config trains "
                             f"{len(ms)})")]
    a, b = ms[0], ms[-1]

    def se(m):
        v = by_m[m]
        sd = float(np.std(v, ddof=1)) if len(v) > 1 else PAPER_READOUT_SD.get(m, 0.01)
        return sd / np.sqrt(len(v))

    gap = means[a] - means[b]
    s = float(np.hypot(se(a), se(b)))
    return [claim("readout_projection_decreases", desc, label, expected + f"; gap > {ONE_SIDED_Z} SE",
                  ours + f"; gap {gap:.3g}, SE {s:.2g}", gap > ONE_SIDED_Z * s, "E.11, G.4",
                  statistic="projection(M min) - projection(M max)", value=gap, hmm=label)]


def mechanism_claims(kick: list[dict], interventions: list[dict], evolution: list[dict], readout: dict,
                     references: dict) -> list[dict]:
    """All mechanism claim rows; ``interventions``: one record per intervened model; references maps
    HMM name -> its sampled change-rate reference."""
    rows = kick_claims(kick) + kick_weight_claims(kick) + population_claims(kick)
    for iv in interventions:
        rows += intervention_claims(iv)
    for ev in evolution:
        rows += evolution_claims(ev, references[ev["hmm"]])
    return rows + readout_claims(readout)


def from_files(kick_paths, interventions_paths, evolution_paths, readout_path, hmm_specs: dict, evolution_T: int,
               log=print) -> list[dict]:
    """The mechanism claim rows from the analysis JSON files (one interventions file per intervened
    model), with the HMM references built from ``hmm_specs`` (HMM name -> config entry)."""
    from rnnhmm.config import derive_seed
    from rnnhmm.hmm import build_hmm
    from rnnhmm.io import read_json

    from .dynamics import switch_reference

    evolution = [read_json(p) for p in evolution_paths]
    # the HMM's sampled output change rate over runs as long as the evolution runs (same statistic)
    refs = {}
    for ev in evolution:
        h = ev["hmm"]
        refs[h] = switch_reference(build_hmm(h, hmm_specs[h]), int(ev.get("T", evolution_T)),
                                   seed=derive_seed("change-reference", h))
        log(f"{h}: change rate over {refs[h]['steps']} steps {refs[h]['mean']:.4f} ± {refs[h]['sd']:.4f}")
    return mechanism_claims([read_json(p) for p in kick_paths], [read_json(p) for p in interventions_paths], evolution,
                            read_json(readout_path), refs)


def no_history_claims(rows: list[dict], evolution_paths) -> list[dict]:
    """Claim rows with those that read the training loss curve (:data:`NO_HISTORY_CLAIMS`) made n/a,
    with the reason, for models whose evolution record has no loss curve (models trained elsewhere and
    imported without one: :mod:`rnnhmm.training.external`)."""
    from rnnhmm.io import read_json

    no_curve = set()
    for p in evolution_paths:
        ev = read_json(p)
        if not ev.get("val_loss"):
            no_curve.add(ev["model"])
    out = []
    for r in rows:
        if r.get("claim") in NO_HISTORY_CLAIMS and r.get("model") in no_curve:
            r = {**r, "ours": "-", "outcome": "n/a", "value": float("nan"), "reason": NO_HISTORY}
        out.append(r)
    return out
