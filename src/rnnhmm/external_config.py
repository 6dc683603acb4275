"""Models trained elsewhere, on the config's side (torch-free unless a folder's json gives no sizes;
below :mod:`rnnhmm.config`, which calls :func:`resolve_external_models` when it validates a config).
docs/pipeline.md, "Analysing models trained elsewhere".

Two ways to name them in a config:

* a ``models`` entry with ``external: path/to/weights.pth`` (one model: one HMM, hidden size,
  input dimension and seed; optional ``evolution: folder`` of ``model_epoch_{k}.pth`` and
  ``losses: training_results.json``); where the file lies in a run folder of the reference's code
  (``<run>/models/<file>.pth``) its ``config.json`` is checked against the entry and its
  ``training_results.json`` gives the loss curve;
* ``external_tree``: a folder in one of the reference's layouts (:mod:`rnnhmm.external_layouts`:
  the published ``TrainedModels/`` tree, or the ``Experiments/<ts>/<Config>_seed<S>_h<H>_i<D>/``
  run folders its training script writes), its folder names mapped to the config's HMMs.
  :func:`tree_entries` turns it into ``models`` entries of the first kind (marked with ``tree``).

Everything that can be refused is refused when the Snakefile is parsed, before any job, in one line
naming the file (and the tensor, key or epoch): here (:func:`check_entry`, :func:`tree_entries`:
paths, Git LFS pointers, config.json, training_results.json) and in
:func:`rnnhmm.external_weights.check_external_files` (torch: keys, biases, shapes, values, truncated
files). The import job (:func:`rnnhmm.training.external.import_model`,
``workflow/scripts/import_model.py``) writes the pipeline's own model files (``model.pt``,
``losses.tsv``, ``evolution.pt``) so that every analysis runs unchanged; a model imported without a
loss curve has no training history, and the claims that need one say n/a
(:func:`rnnhmm.claims.mechanism.no_history_claims`).
"""

from __future__ import annotations

from pathlib import Path

from . import external_layouts as layouts
from .errors import ConfigError
from .external_layouts import (
    check_reference_config,
    evolution_files,
    history_belongs,
    mapped_hmm,
    neighbour_files,
    read_json,
    training_history,
)
from .external_weights import weight_sizes
from .paths import model_id

__all__ = ["external_entries", "external_ids", "check_entry", "tree_entries", "resolve_external_models"]


def external_entries(cfg: dict) -> dict[str, dict]:
    """Model id -> its ``models`` entry, for the external models of a config."""
    out = {}
    for group in cfg.get("models", []):
        if group.get("external"):
            out[model_id(group["hmms"][0], group["hidden"][0], group["input"][0], group["seeds"][0])] = group
    return out


def external_ids(cfg: dict) -> set[str]:
    """Ids of the config's models trained elsewhere (imported, never trained)."""
    return set(external_entries(cfg))


def check_entry(i: int, group: dict, hmms: dict | None = None) -> None:
    """Torch-free checks of one external ``models`` entry: one model, files present (no LFS
    pointer), and where the file lies in a reference run folder (``<run>/models/<file>.pth``) its
    ``config.json`` against the entry's HMM and sizes; that folder's ``training_results.json`` (or
    the entry's ``losses``) becomes the entry's ``losses``."""
    where = f"config.models[{i}]"
    for key in ("hmms", "hidden", "input", "seeds"):
        if len(group[key]) != 1:
            raise ConfigError(f"invalid config at {where}.{key}: an external model names exactly one value "
                              f"(one file is one model), got {group[key]}")
    path = Path(group["external"])
    if not path.is_file():
        raise ConfigError(f"invalid config at {where}.external: no such file {path}")
    evo = group.get("evolution")
    if evo:
        if not Path(evo).is_dir():
            raise ConfigError(f"invalid config at {where}.evolution: no such folder {evo}")
        if not evolution_files(evo):
            raise ConfigError(f"invalid config at {where}.evolution: {evo} holds no model_epoch_<k>.pth files")
    rc_path, tr = neighbour_files(path)
    rc = read_json(rc_path) if rc_path is not None else {}
    if rc_path is not None and hmms is not None and group["hmms"][0] in hmms:
        hmm = mapped_hmm(f"{where}.hmms", group["hmms"][0], hmms)
        check_reference_config(rc_path, rc, group["hmms"][0], hmm, group["hidden"][0], group["input"][0],
                               where=f"{where} (the models entry)")
    if group.get("losses"):
        if not Path(group["losses"]).is_file():
            raise ConfigError(f"invalid config at {where}.losses: no such file {group['losses']}")
        training_history(group["losses"])
    elif tr is not None and history_belongs(path, rc):
        training_history(tr)  # the run's own curve (rnnhmm.external_layouts.history_belongs)
        group["losses"] = str(tr)


def tree_entries(tree: dict, hmms: dict) -> list[dict]:
    """The ``models`` entries (one per model) of an ``external_tree`` config section
    (:func:`rnnhmm.external_layouts.tree_entries`; the weights' shapes where a json gives no sizes)."""
    return layouts.tree_entries(tree, hmms, sizes_of=weight_sizes)


def resolve_external_models(cfg: dict) -> None:
    """The config's models trained elsewhere, in place (a step of :func:`rnnhmm.config.validate_config`):
    ``config.external_tree`` becomes one ``models`` entry per model found (marked ``tree``; made afresh
    on every validation), every external path is made absolute (relative to the working directory)
    and checked (:func:`check_entry`), and a model id that is both trained here and imported is
    refused."""
    cfg["models"] = [g for g in cfg.get("models", []) if not g.get("tree")]
    for i, g in enumerate(cfg["models"]):
        if g.get("external"):
            for key in ("external", "evolution", "losses"):
                if g.get(key):
                    g[key] = str(Path(g[key]).expanduser().resolve())
            check_entry(i, g, cfg.get("hmms"))
        elif g.get("evolution"):
            raise ConfigError(f"invalid config at config.models[{i}].evolution: only an external model "
                              "(with external:) reads an evolution folder")
    if cfg.get("external_tree"):
        for h in cfg["external_tree"]["hmms"].values():
            if h not in cfg["hmms"]:
                raise ConfigError(f"invalid config at config.external_tree.hmms: unknown HMM '{h}'; defined: "
                                  f"{', '.join(cfg['hmms'])}")
        cfg["models"] += tree_entries(cfg["external_tree"], cfg["hmms"])
    if not cfg["models"]:
        raise ConfigError("invalid config at config.models: no models (neither config.models nor "
                          "config.external_tree names any)")
    seen: dict[str, str] = {}
    for i, g in enumerate(cfg["models"]):
        what = (f"external ({g['external']})" if g.get("external") else f"trained by config.models[{i}]")
        for h in g["hmms"]:
            for hid in g["hidden"]:
                for d in g["input"]:
                    for s in g["seeds"]:
                        mid = model_id(h, int(hid), int(d), int(s))
                        if mid in seen and (g.get("external") or seen[mid].startswith("external")):
                            raise ConfigError(
                                f"invalid config at config.models: model {mid} is both {seen[mid]} and {what}; "
                                f"give one of them another HMM name (e.g. hmms: {{ref_{h}: *{h}}} with a YAML "
                                "anchor) so that both sit side by side")
                        seen.setdefault(mid, what)
