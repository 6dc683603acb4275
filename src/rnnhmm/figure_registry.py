"""The paper's figures, as data: what each figure's data job reads and is given (torch-free:
Snakemake imports it while parsing; no torch, pandas or matplotlib).

Every figure ``<name>`` is made by two rules, both generated from :data:`FIGURES` by one loop in
``workflow/rules/figures.smk``:

- ``<name>_data``: ``workflow/scripts/<script>`` gathers cached results (the figure's named
  ``inputs``) into ``results/figure_data/<name>.json``, given ``params`` = ``figure=<name>``,
  ``script=<script>`` (the rule's script path is ``../scripts/{params.script}``: a rule made in a
  loop must not name the loop variable in ``script:``, which is evaluated when the job runs) and
  the entry's params (model lists, HMM facts and the display-only settings of
  :data:`rnnhmm.config.DISPLAY_KEYS`: editing one of those reruns this job and the plot, never an
  analysis);
- ``<name>``: ``workflow/scripts/plot_figure.py`` draws ``results/figures/<name>.pdf`` and ``.png``
  (the png goes into the Snakemake report, captioned by ``workflow/report/<name>.rst`` under
  ``category``).

Adding a figure is one :class:`Figure` entry (plus its caption file, its plotter in
:mod:`rnnhmm.figures` and its branch in the figure-data script). Figures that cannot apply to a
config (:func:`rnnhmm.config.skipped_figures`, stored by the Snakefile as
``config["skipped_figures"]``) keep their rules but leave the default target (:func:`targets`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .config import expand_models
from .model_sets import cell_models, change_probabilities, dynamics_models, hmms_of, mechanism_models
from .paths import READOUT_ALIGNMENT, SUMMARY_TABLE, analysis_file, floor_file, likelihood_file, metrics_file

__all__ = ["Figure", "FIGURES", "figure", "targets"]


@dataclass(frozen=True)
class Figure:
    """One paper figure.

    ``inputs(cfg)``: the named inputs of its figure-data job (name -> path or list of paths).
    ``params(cfg, label)``: the figure-data job's params besides ``figure`` (``label``: the config's
    name, e.g. ``quick``). ``doc``: one line, shown by ``snakemake --list-target-rules``.
    ``models(cfg)``: the trained models the figure shows; those that are not learned are named on the
    figure in red, those learned but not faithful in grey (:func:`rnnhmm.claims.learned.figure_flags`).
    """

    name: str
    script: str  # figure-data script in workflow/scripts/
    category: str  # report category of the plot
    doc: str
    inputs: Callable[[dict], dict]
    params: Callable[[dict, str], dict] = field(default=lambda cfg, label: {})
    models: Callable[[dict], list[str]] = field(default=lambda cfg: [])  # the trained models it shows

    def flag_inputs(self, cfg: dict) -> dict:
        """Metrics and floor files of the figure's models: the figure says which are not learned and
        which are learned but not faithful."""
        models = sorted(set(self.models(cfg)))
        return {"flag_metrics": [metrics_file(m) for m in models],
                "flag_floors": [floor_file(h) for h in sorted(hmms_of(models))]}

    def skipped(self, cfg: dict) -> bool:
        """Left out of this config's targets (the reason is in ``cfg['skipped_figures']``)."""
        return self.name in cfg.get("skipped_figures", {})


# ----------------------------------------------------------------------------- result paths (rnnhmm.paths)

def _analyses(analysis: str, models: list[str], ext: str = "npz") -> list[str]:
    return [analysis_file(analysis, m, ext) for m in models]


# ----------------------------------------------------------------------------- performance (figure_data.py)

def _fig1_inputs(cfg):
    models = cfg["figures"]["fig1"]["example_models"]
    out = {"models": [metrics_file(m) for m in models], "floors": [floor_file(h) for h in sorted(hmms_of(models))]}
    if cfg["likelihood"]["enabled"]:
        out["likelihood"] = [likelihood_file(m) for m in models]
    return out


def _figS1_inputs(cfg):
    hmms = cfg["figures"]["figS1"]["hmms"]
    return {"table": SUMMARY_TABLE,
            "models": [metrics_file(m.id) for m in expand_models(cfg) if m.hmm in hmms],
            "floors": [floor_file(h) for h in hmms]}


# ----------------------------------------------------------------------------- dynamics (dyn_figure_data.py)

def _dyn(cfg, key):
    return dynamics_models(cfg)[key]


def _fig8_inputs(cfg):
    models = _dyn(cfg, "fig8_models")
    return {"state_space": _analyses("state_space", models), "subspaces": _analyses("subspaces", models),
            "metrics": [metrics_file(m) for m in cell_models(cfg, models)],
            "floors": [floor_file(h) for h in sorted(hmms_of(models))]}


def _state_space_params(key):
    def params(cfg, label):
        return {"models": _dyn(cfg, key), "change_probability": change_probabilities(cfg),
                "plot_points": cfg["dynamics"]["state_space"]["plot_points"]}
    return params


def _fig8_params(cfg, label):
    dyn = cfg["dynamics"]
    return {"models": _dyn(cfg, "fig8_models"), "plot_points": dyn["state_space"]["plot_points"],
            "runs_shown": dyn["subspaces"]["runs_shown"], "run_points": dyn["subspaces"]["run_points"]}


# ----------------------------------------------------------------------------- mechanism (mech_figure_data.py)

def _mech(cfg, key):
    return mechanism_models(cfg)[key]


def _fig7_params(cfg, label):
    return {"change_probability": change_probabilities(cfg, hmms_of(_mech(cfg, "evolution")))}


FIGURES: tuple[Figure, ...] = (
    Figure("fig1", "figure_data.py", "1 Performance",
           "Figure 1: pipeline and emission statistics of HMM vs RNN for the example models.",
           inputs=_fig1_inputs, params=lambda cfg, label: {"label": label},
           models=lambda cfg: list(cfg["figures"]["fig1"]["example_models"])),
    Figure("figS1", "figure_data.py", "1 Performance",
           "Figure S1: performance over the model grid (distances and transition-matrix errors).",
           inputs=_figS1_inputs, params=lambda cfg, label: {"hmms": cfg["figures"]["figS1"]["hmms"]},
           models=lambda cfg: [m.id for m in expand_models(cfg) if m.hmm in cfg["figures"]["figS1"]["hmms"]]),
    Figure("fig2", "dyn_figure_data.py", "2 Global dynamics",
           "Figure 2: global dynamics (fixed point without input, orbits with input, contours vs noise std).",
           inputs=lambda cfg: {"state_space": _analyses("state_space", _dyn(cfg, "models"))},
           params=_state_space_params("models"),
           models=lambda cfg: _dyn(cfg, "models")),
    Figure("fig3", "dyn_figure_data.py", "3 Local dynamics",
           "Figure 3: local dynamics (residency time, sign changes, unstable eigenvalues per region).",
           inputs=lambda cfg: {"local": _analyses("local", _dyn(cfg, "models"))},
           params=lambda cfg, label: {"models": _dyn(cfg, "models")},
           models=lambda cfg: _dyn(cfg, "models")),
    Figure("fig4", "dyn_figure_data.py", "3 Local dynamics",
           "Figure 4: noise sensitivity of cluster vs transition starts.",
           inputs=lambda cfg: {"noise": _analyses("noise", _dyn(cfg, "models"))},
           params=lambda cfg, label: {"models": _dyn(cfg, "models"),
                                      "plot_trajectories": cfg["dynamics"]["noise"]["plot_trajectories"]},
           models=lambda cfg: _dyn(cfg, "models")),
    Figure("fig8", "dyn_figure_data.py", "5 Other architectures",
           "Figure 8: fully connected and cyclic HMMs (orbits, subspaces, residency, performance).",
           inputs=_fig8_inputs, params=_fig8_params,
           models=lambda cfg: _dyn(cfg, "fig8_models")),
    Figure("figS2", "dyn_figure_data.py", "2 Global dynamics",
           "Figure S2: trajectories and contours over all (M, hidden, input) configurations at one seed.",
           inputs=lambda cfg: {"state_space": _analyses("state_space", _dyn(cfg, "grid"))},
           params=_state_space_params("grid"),
           models=lambda cfg: _dyn(cfg, "grid")),
    Figure("fig5", "mech_figure_data.py", "4 Single-neuron mechanism",
           "Figure 5: kick neurons (pre-activation maps), sorted W_hh blocks, mean group activities.",
           inputs=lambda cfg: {"kick": analysis_file("kick", _mech(cfg, "single"), "json")},
           params=lambda cfg, label: {"mean_activity_show": cfg["mechanism"]["kick"]["mean_activity_show"]},
           models=lambda cfg: [_mech(cfg, "single")]),
    Figure("fig6", "mech_figure_data.py", "4 Single-neuron mechanism",
           "Figure 6: causal interventions (trajectories and critical complex pairs vs mu).",
           inputs=lambda cfg: {"interventions": analysis_file("interventions", _mech(cfg, "single"), "json")},
           params=lambda cfg, label: {"show_steps": cfg["mechanism"]["interventions"]["show_steps"]},
           models=lambda cfg: [_mech(cfg, "single")]),
    Figure("fig7", "mech_figure_data.py", "6 Emergence in training",
           "Figure 7: emergence of the orbit during training (bifurcation, transition rate, E[dh2]).",
           inputs=lambda cfg: {"evolution": _analyses("evolution", _mech(cfg, "evolution"), "json")},
           params=_fig7_params,
           models=lambda cfg: _mech(cfg, "evolution")),
    Figure("figS3", "mech_figure_data.py", "4 Single-neuron mechanism",
           "Figure S3: readout projection onto the orbit plane vs number of states.",
           inputs=lambda cfg: {"readout": READOUT_ALIGNMENT},
           models=lambda cfg: _mech(cfg, "readout")),
    Figure("figS4", "mech_figure_data.py", "4 Single-neuron mechanism",
           "Figure S4: sorted weight-matrix structure of kick groups and populations for other HMMs.",
           inputs=lambda cfg: {"kick": _analyses("kick", _mech(cfg, "kick_others"), "json")},
           models=lambda cfg: _mech(cfg, "kick_others")),
)


def figure(name: str) -> Figure:
    """The registry entry of a figure (KeyError if there is none)."""
    for f in FIGURES:
        if f.name == name:
            return f
    raise KeyError(f"no figure {name!r}; known: {', '.join(f.name for f in FIGURES)}")


def targets(cfg: dict) -> list[str]:
    """Names of the figures this config makes (every figure not in ``cfg['skipped_figures']``)."""
    return [f.name for f in FIGURES if not f.skipped(cfg)]
