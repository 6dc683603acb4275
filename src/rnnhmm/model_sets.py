"""Which models each analysis and figure uses (config ``dynamics`` and ``mechanism``), and the HMM
facts their figures and claims are given as parameters (torch-free: Snakemake imports it while
parsing; ``workflow/rules/common.smk`` holds the sets as ``DYN_SETS`` and ``MECH_SETS``, and
:mod:`rnnhmm.figure_registry` gives them to the figure-data rules).

The model lists a config names are checked when it is validated (every model an analysis names is a
trained model of the config: :func:`rnnhmm.config.check_dynamics_config`,
:func:`rnnhmm.config.check_mechanism_config`); the sets here add, where asked, every seed of each
listed model's cell (:func:`rnnhmm.config.every_seed`) and the null networks of the claims' models
(:func:`null_ids`).
"""

from __future__ import annotations

from .config import ModelSpec, every_seed, expand_models, in_evolution

__all__ = ["dynamics_models", "mechanism_models", "null_ids", "cell_models", "hmms_of", "hmm_specs",
           "change_probabilities", "state_counts"]


def _grid_models(cfg: dict, trained: list[ModelSpec]) -> list[str]:
    g = cfg["dynamics"]["grid"]
    return [m.id for m in trained if m.hmm in g["hmms"] and m.seed == g["seed"]]


def null_ids(cfg: dict, model_ids: list[str], history: bool = False) -> list[str]:
    """The null networks (config ``nulls``, :mod:`rnnhmm.analyses.nulls`) of ``model_ids``, in order:
    for each model every configured kind that applies to it. ``plateau`` needs per-epoch snapshots
    (:func:`rnnhmm.config.in_evolution`) and has no training history of its own, so a
    training-history analysis (``history``) gets only the ``shuffle`` null."""
    kinds = list(cfg.get("nulls", {}).get("kinds", []))
    out = []
    for mid in model_ids:
        spec = ModelSpec.parse(mid)
        for kind in kinds:
            if kind == "plateau" and (history or not in_evolution(cfg, spec)):
                continue
            out.append(ModelSpec(spec.hmm, spec.hidden, spec.input, spec.seed, kind).id)
    return out


def dynamics_models(cfg: dict) -> dict[str, list[str]]:
    """Model ids per use: 'models' (fig2-4), 'fig8_models', 'grid' (figS2) and 'state_space' (union);
    the claims' sets 'claims_models', 'claims_fig8' and 'claims_state_space': the same, with every
    seed of each listed model's cell when ``dynamics.every_seed`` is set (:func:`rnnhmm.config.every_seed`); and
    'null_models', 'null_fig8', 'null_state_space': the null networks of those (:func:`null_ids`)."""
    dyn = cfg["dynamics"]
    grid = _grid_models(cfg, expand_models(cfg))
    on = bool(dyn.get("every_seed", False))
    cm, cf = every_seed(cfg, dyn["models"], on), every_seed(cfg, dyn["fig8_models"], on)
    css = sorted(set(cm) | set(cf) | set(grid))
    return {"models": list(dyn["models"]), "fig8_models": list(dyn["fig8_models"]), "grid": grid,
            "state_space": sorted(set(dyn["models"]) | set(dyn["fig8_models"]) | set(grid)),
            "claims_models": cm, "claims_fig8": cf, "claims_state_space": css,
            "null_models": null_ids(cfg, cm), "null_fig8": null_ids(cfg, cf), "null_state_space": null_ids(cfg, css)}


def mechanism_models(cfg: dict) -> dict:
    """Model ids per use: 'single' (one id: interventions, fig5, fig6), 'kick' (the single model
    first, then config.mechanism.kick.models), 'kick_others' (figS4), 'evolution' (fig7), 'readout'
    (figS3); the claims' sets 'claims_kick' and 'claims_evolution' (the same, with every seed of
    each listed model's cell when ``mechanism.every_seed`` is set: :func:`rnnhmm.config.every_seed`),
    'claims_interventions' (the single model, and with ``every_seed`` every seed of its cell) and
    'claims' (their union with readout: the HMMs the claims describe); 'null_kick', 'null_evolution'
    and 'null_interventions': the null networks of the claims' models (:func:`null_ids`)."""
    mech = cfg["mechanism"]
    single, others = mech["single_model"], list(mech["kick"]["models"])
    evolution, readout = list(mech["evolution"]["models"]), list(mech["readout"]["models"])
    on = bool(mech.get("every_seed", False))
    kick = list(dict.fromkeys([single, *others]))
    ck, ce = every_seed(cfg, kick, on), every_seed(cfg, evolution, on)
    ci = every_seed(cfg, [single], on)
    nulls = cfg.get("nulls", {})
    return {"single": single, "kick": kick, "kick_others": others,
            "evolution": evolution, "readout": readout, "claims_kick": ck, "claims_evolution": ce,
            "claims_interventions": ci, "claims": list(dict.fromkeys(ce + readout + ck)),
            "null_kick": null_ids(cfg, ck), "null_evolution": null_ids(cfg, ce, history=True),
            "null_interventions": null_ids(cfg, ci) if nulls.get("interventions", True) else []}


def hmms_of(model_ids: list[str]) -> list[str]:
    """The HMMs of some models, in order of first appearance (``sorted()`` it for a sorted list)."""
    return list(dict.fromkeys(ModelSpec.parse(m).hmm for m in model_ids))


def hmm_specs(cfg: dict, model_ids: list[str]) -> dict[str, dict]:
    """HMM name -> its config spec, for the HMMs of ``model_ids`` (names sorted)."""
    return {h: cfg["hmms"][h] for h in sorted(hmms_of(model_ids))}


def change_probabilities(cfg: dict, hmms: list[str] | None = None) -> dict[str, float]:
    """HMM name -> stationary probability that the output changes from one step to the next, for
    ``hmms`` (default: every HMM of the config, in config order). numpy only."""
    from .hmm import build_hmm

    names = list(cfg["hmms"]) if hmms is None else hmms
    return {h: float(build_hmm(h, cfg["hmms"][h]).change_probability()) for h in names}


def state_counts(cfg: dict, hmms: list[str]) -> dict[str, int]:
    """HMM name -> number of hidden states. numpy only."""
    from .hmm import build_hmm

    return {h: int(build_hmm(h, cfg["hmms"][h]).n_states) for h in hmms}


def cell_models(cfg: dict, model_ids: list[str]) -> list[str]:
    """Every trained model (all seeds, config order) of the grid cells (HMM, hidden, input) of
    ``model_ids``: the seeds a figure's performance panel averages over."""
    cells = {(s.hmm, s.hidden, s.input) for s in map(ModelSpec.parse, model_ids)}
    return [m.id for m in expand_models(cfg) if (m.hmm, m.hidden, m.input) in cells]
