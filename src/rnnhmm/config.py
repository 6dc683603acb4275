"""Experiment configuration: validation against the JSON schema and expansion into models.

Kept free of torch so that Snakemake can import it cheaply in every job. :func:`validate_config` is
the one gate: the schema, the models trained elsewhere (:mod:`rnnhmm.external_config`), the defaults
taken from the config's own models, and the checks across sections (every model an analysis names
is a trained model of the config: :func:`check_dynamics_config`, :func:`check_mechanism_config`).

A *model id* is ``{hmm}/h{hidden}_d{input}/s{seed}`` (:mod:`rnnhmm.paths`, where the layout of
``results/`` is stated); it is also the sub-path of every per-model artifact under ``results/``.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError
from .external_config import external_entries, resolve_external_models
from .paths import model_id, parse_model_id

__all__ = ["ConfigError", "ModelSpec", "validate_config", "expand_models", "training_params", "in_evolution",
           "every_seed", "check_dynamics_config", "check_mechanism_config", "derive_seed", "load_config",
           "skipped_figures", "DISPLAY_KEYS", "analysis_settings"]

def _schema_path() -> Path:
    """The config schema: workflow/schemas/ of the source tree (run from a clone or an editable
    install), else the copy installed with the package (``pip install .`` ships it as rnnhmm/schemas)."""
    in_tree = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    return in_tree if in_tree.is_file() else Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


SCHEMA_PATH = _schema_path()


@dataclass(frozen=True, order=True)
class ModelSpec:
    """One model of the grid; ``null`` names a null network of it (``rnnhmm.analyses.nulls``: the
    same analyses and claims on a network without the mechanism), whose id is the model's with
    ``-null-<kind>`` after the seed."""

    hmm: str
    hidden: int
    input: int
    seed: int
    null: str = ""

    @property
    def id(self) -> str:
        return model_id(self.hmm, self.hidden, self.input, self.seed, self.null)

    @property
    def base(self) -> ModelSpec:
        """The trained model (itself, or the model a null network was made from)."""
        return ModelSpec(self.hmm, self.hidden, self.input, self.seed)

    @classmethod
    def parse(cls, mid: str) -> ModelSpec:
        """The model of an id (a bad id raises ConfigError)."""
        return cls(*parse_model_id(mid))


def _path(error) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    return "config" + "".join(parts)


def _fill_defaults(instance, schema, root, follow_refs=True):
    """Fill 'default' values of object properties, recursively (as snakemake.utils.validate does).

    ``$ref``s are followed only outside lists: the per-group and per-override ``training`` blocks
    hold *changes* to the top-level settings and must not be padded with defaults.
    """
    if "$ref" in schema:
        if not follow_refs:
            return
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    if isinstance(instance, dict) and schema.get("type") == "object":
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(instance[key], sub, root, follow_refs)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                if key not in schema.get("properties", {}):
                    _fill_defaults(value, extra, root, follow_refs)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"], root, follow_refs=False)


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` against the schema and the cross-references between its sections.

    Returns a copy with defaults filled in. Raises ConfigError with one line naming the offending
    key, what it holds and what is allowed.
    """
    import jsonschema

    schema_path = Path(schema_path)
    schema = yaml.safe_load(schema_path.read_text())
    # Each analysis owns a top-level section, described in <section>.section.schema.yaml beside it.
    for part in sorted(schema_path.parent.glob("*.section.schema.yaml")):
        schema["properties"][part.name.split(".")[0]] = yaml.safe_load(part.read_text())
    cfg = copy.deepcopy(config)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        allowed = ""
        if err.validator == "additionalProperties":
            allowed = f"; allowed keys: {', '.join(sorted(err.schema.get('properties', {})))}"
        elif err.validator == "enum":
            allowed = f"; allowed: {', '.join(map(str, err.validator_value))}"
        raise ConfigError(f"invalid config at {_path(err)}: {err.message}{allowed}")
    resolve_external_models(cfg)
    _own_model_defaults(cfg)
    _fill_defaults(cfg, schema, schema)
    _check_semantics(cfg)
    return cfg


# Display-only settings: how much of an analysis a figure shows. They are read by the figure-data
# rules, never by the analyses, so that changing them reruns no torch job (tests/test_rerun.py).
DISPLAY_KEYS = {
    ("dynamics", "state_space"): ("plot_points",),
    ("dynamics", "noise"): ("plot_trajectories",),
    ("dynamics", "subspaces"): ("runs_shown", "run_points"),
    ("mechanism", "kick"): ("mean_activity_show",),
    ("mechanism", "interventions"): ("show_steps",),
}


def analysis_settings(cfg: dict, section: str, analysis: str) -> dict:
    """``cfg[section][analysis]`` without its display-only keys (the params of an analysis rule),
    keys sorted: Snakemake compares params as text, so the order keys are written in must not count."""
    drop = DISPLAY_KEYS.get((section, analysis), ())
    return {k: v for k, v in sorted(cfg[section][analysis].items()) if k not in drop}


def _representatives(cfg: dict) -> dict[str, ModelSpec]:
    """One model per HMM (in config order): its lowest seed, then its largest hidden and input size."""
    by_hmm: dict[str, list[ModelSpec]] = {}
    for m in expand_models(cfg):
        by_hmm.setdefault(m.hmm, []).append(m)
    return {h: min(by_hmm[h], key=lambda m: (m.seed, -m.hidden, -m.input)) for h in cfg["hmms"] if h in by_hmm}


def _own_model_defaults(cfg: dict) -> None:
    """Fill the model lists that the config leaves out from the config's own models (not from the
    schema's defaults, which name the paper's models): a config with only ``hmms``, ``models`` and
    ``training`` then runs every figure that applies to it. Keys the config sets are kept as they are.

    - figures: fig1 shows one model per HMM; figS1 every HMM.
    - evolution.match (the section left out): per-epoch weights for that one model per HMM.
    - dynamics: figures 2-4 that model per HMM; figure 8 those of HMMs that are not linear chains;
      figure S2 every HMM with a model at the lowest seed.
    - mechanism: the single model is that of the first HMM; figure S4's kick models those of the
      other HMMs; training evolution every representative that keeps per-epoch weights; readout
      alignment every seed of the representatives' sizes, for HMMs with at least 3 outputs.
    """
    from .hmm import HMMError, build_hmm

    reps = _representatives(cfg)
    if not reps:
        return
    rep_ids = [m.id for m in reps.values()]
    models = expand_models(cfg)
    lowest_seed = min(m.seed for m in models)

    def section(*keys):
        node = cfg
        for k in keys:
            node = node.setdefault(k, {})
        return node

    section("figures", "fig1").setdefault("example_models", rep_ids)
    section("figures", "figS1").setdefault("hmms", list(reps))
    if "evolution" not in cfg:
        cfg["evolution"] = {"match": [{"hmm": m.hmm, "hidden": m.hidden, "input": m.input, "seed": m.seed}
                                      for m in reps.values()]}
    dyn = section("dynamics")
    dyn.setdefault("models", rep_ids)
    dyn.setdefault("fig8_models", [m.id for h, m in reps.items() if cfg["hmms"][h].get("kind") != "linear_chain"])
    grid = section("dynamics", "grid")
    grid.setdefault("seed", lowest_seed)
    grid.setdefault("hmms", [h for h in reps if any(m.hmm == h and m.seed == grid["seed"] for m in models)])
    mech = section("mechanism")
    first = next(iter(reps.values()))
    mech.setdefault("single_model", first.id)
    section("mechanism", "kick").setdefault("models", [m.id for m in reps.values() if m.hmm != first.hmm])
    evo = section("mechanism", "evolution")
    if "models" not in evo:
        evo["models"] = [m.id for m in reps.values() if in_evolution(cfg, m)]
    readout = section("mechanism", "readout")
    if "models" not in readout:
        outputs = {}
        for h in reps:
            try:
                outputs[h] = build_hmm(h, cfg["hmms"][h]).n_outputs
            except (HMMError, KeyError, TypeError, ValueError):
                outputs[h] = 0  # reported by _check_semantics
        readout["models"] = [m.id for m in models
                             if outputs.get(m.hmm, 0) >= 3
                             and (m.hidden, m.input) == (reps[m.hmm].hidden, reps[m.hmm].input)]


def skipped_figures(cfg: dict) -> dict[str, str]:
    """Figures of the workflow that cannot apply to this (validated) config -> why, in one line.
    The workflow leaves them out of its targets and says so in the log and the report."""
    from .hmm import build_hmm

    out = {}
    if not cfg["figures"]["fig1"]["example_models"]:
        out["fig1"] = "no models in figures.fig1.example_models"
    if not cfg["figures"]["figS1"]["hmms"]:
        out["figS1"] = "no HMMs in figures.figS1.hmms"
    dyn, mech = cfg.get("dynamics", {}), cfg.get("mechanism", {})
    if "dynamics" in cfg:
        for fig in ("fig2", "fig3", "fig4"):
            if not dyn["models"]:
                out[fig] = "no models in dynamics.models"
        if not dyn["fig8_models"]:
            out["fig8"] = ("no fully connected, cyclic or other non-linear-chain HMM model "
                           "(dynamics.fig8_models is empty)")
        if not dyn["grid"]["hmms"]:
            out["figS2"] = "no HMMs in dynamics.grid.hmms"
    if "mechanism" in cfg:
        if not mech["evolution"]["models"]:
            out["fig7"] = "no model keeps per-epoch weights (mechanism.evolution.models is empty)"
        if not mech["kick"]["models"]:
            out["figS4"] = "no other HMM's model for the kick-group comparison (mechanism.kick.models is empty)"
        states = {build_hmm(h, cfg["hmms"][h]).n_states
                  for h in {ModelSpec.parse(m).hmm for m in mech["readout"]["models"]}}
        if len(states) < 2:
            out["figS3"] = ("a trend over numbers of states needs readout models of HMMs with at least two "
                            "different numbers of states "
                            f"(mechanism.readout.models: {len(states)} number(s) of states)")
    return out


def _check_semantics(cfg: dict) -> None:
    from .hmm import HMMError, build_hmm

    for name, spec in cfg["hmms"].items():
        try:
            build_hmm(name, spec)
        except HMMError as err:
            raise ConfigError(f"invalid config at config.hmms.{name}: {err}") from None
    for i, group in enumerate(cfg["models"]):
        for h in group["hmms"]:
            if h not in cfg["hmms"]:
                raise ConfigError(
                    f"invalid config at config.models[{i}].hmms: unknown HMM '{h}'; defined: {', '.join(cfg['hmms'])}")
    ids = {m.id for m in expand_models(cfg)}
    fig1 = cfg["figures"]["fig1"]["example_models"]
    for mid in fig1:
        if mid not in ids:
            raise ConfigError(f"invalid config at config.figures.fig1.example_models: '{mid}' is not a trained model")
    for h in cfg["figures"]["figS1"]["hmms"]:
        if h not in cfg["hmms"]:
            raise ConfigError(f"invalid config at config.figures.figS1.hmms: unknown HMM '{h}'")
    check_dynamics_config(cfg)
    check_mechanism_config(cfg)


def check_dynamics_config(cfg: dict) -> None:
    """Every model of config.dynamics is a trained model; figure S2's HMMs exist and have models at
    its seed. Raises ConfigError with one line. A step of :func:`validate_config`."""
    dyn = cfg["dynamics"]
    trained = expand_models(cfg)
    ids = {m.id for m in trained}
    for key in ("models", "fig8_models"):
        for mid in dyn[key]:
            ModelSpec.parse(mid)
            if mid not in ids:
                raise ConfigError(f"invalid config at config.dynamics.{key}: '{mid}' is not a trained model "
                                  f"(not in the product of any group of config.models)")
    for h in dyn["grid"]["hmms"]:
        if h not in cfg["hmms"]:
            raise ConfigError(f"invalid config at config.dynamics.grid.hmms: unknown HMM '{h}'; defined: "
                              f"{', '.join(cfg['hmms'])}")
        if not any(m.hmm == h and m.seed == dyn["grid"]["seed"] for m in trained):
            raise ConfigError(f"invalid config at config.dynamics.grid: no trained model of HMM '{h}' "
                              f"with seed {dyn['grid']['seed']}")
    for key in ("pairs", "residency_pairs"):
        for p in dyn["subspaces"][key]:
            if p[0] == p[1]:
                raise ConfigError(f"invalid config at config.dynamics.subspaces.{key}: pair {p} repeats an output")


def check_mechanism_config(cfg: dict) -> None:
    """Every model of config.mechanism is a trained model, and every training-evolution model keeps
    per-epoch weights (with ``mechanism.every_seed``, every seed of its cell). Raises ConfigError with
    one line. A step of :func:`validate_config`."""
    mech = cfg["mechanism"]
    ids = {m.id for m in expand_models(cfg)}
    named = [("single_model", mech["single_model"])]
    named += [(f"{k}.models", m) for k in ("kick", "evolution", "readout") for m in mech[k]["models"]]
    for where, mid in named:
        if mid not in ids:
            raise ConfigError(f"invalid config at config.mechanism.{where}: '{mid}' is not a trained model of "
                              "this config")
    for mid in every_seed(cfg, mech["evolution"]["models"], bool(mech.get("every_seed", False))):
        if not in_evolution(cfg, ModelSpec.parse(mid)):
            raise ConfigError(f"invalid config at config.mechanism.evolution.models: '{mid}' keeps no per-epoch "
                              "weights (add it to config.evolution.match)")


def every_seed(cfg: dict, model_ids: list[str], on: bool = True) -> list[str]:
    """``model_ids`` with, when ``on``, every trained seed of each one's cell (same HMM, hidden size
    and input dimension) after it, in the order first named; unchanged when not ``on``."""
    if not on:
        return list(model_ids)
    trained = expand_models(cfg)
    out = []
    for mid in model_ids:
        s = ModelSpec.parse(mid)
        out += [mid] + [m.id for m in trained if (m.hmm, m.hidden, m.input) == (s.hmm, s.hidden, s.input)]
    return list(dict.fromkeys(out))


def _as_list(v):
    return v if isinstance(v, list) else [v]


def expand_models(cfg: dict) -> list[ModelSpec]:
    """All models of the config: the product of each group's hmms x hidden x input x seeds."""
    out = set()
    for group in cfg["models"]:
        for h in group["hmms"]:
            for hid in group["hidden"]:
                for d in group["input"]:
                    for s in group["seeds"]:
                        out.add(ModelSpec(h, int(hid), int(d), int(s)))
    return sorted(out)


def _matches(selector: dict, m: ModelSpec) -> bool:
    for key, val in selector.items():
        if getattr(m, key) not in _as_list(val):
            return False
    return True


def _group_of(cfg: dict, m: ModelSpec) -> dict:
    for group in cfg["models"]:
        if (m.hmm in group["hmms"] and m.hidden in group["hidden"] and m.input in group["input"]
                and m.seed in group["seeds"]):
            return group
    raise ConfigError(f"model {m.id} is not in any group of config.models")


def training_params(cfg: dict, m: ModelSpec) -> dict:
    """Training settings of one model: defaults < its group's ``training`` < matching overrides."""
    params = dict(cfg["training"])
    params.update(_group_of(cfg, m).get("training", {}))
    for ov in cfg.get("overrides", []):
        if _matches(ov["match"], m):
            params.update(ov["training"])
    params["evolution_every"] = cfg["evolution"]["every"] if in_evolution(cfg, m) else 0
    return params


def in_evolution(cfg: dict, m: ModelSpec) -> bool:
    """Does this model keep per-epoch weight snapshots (for the training-evolution analyses)? A model
    trained elsewhere has them when its entry names an evolution folder (config.evolution.match does
    not apply to it)."""
    ext = external_entries(cfg).get(m.id)
    if ext is not None:
        return bool(ext.get("evolution"))
    return any(_matches(sel, m) for sel in cfg.get("evolution", {}).get("match", []))


def derive_seed(*parts) -> int:
    """A stable 31-bit seed from any labels (same labels -> same seed, on every machine)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def load_config(path: str | Path) -> dict:
    """Read and validate a YAML config file."""
    return validate_config(yaml.safe_load(Path(path).read_text()))
