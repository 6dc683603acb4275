"""Experiment configuration: validation against the JSON schema and expansion into models.

Kept free of torch so that Snakemake can import it cheaply in every job.

A *model id* is ``{hmm}/h{hidden}_d{input}/s{seed}``; it is also the sub-path of every per-model
artifact under ``results/``.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["ConfigError", "ModelSpec", "validate_config", "expand_models", "training_params",
           "in_evolution", "derive_seed", "load_config"]

def _schema_path() -> Path:
    """The config schema: workflow/schemas/ of the source tree (run from a clone or an editable
    install), else the copy installed with the package (``pip install .`` ships it as rnnhmm/schemas)."""
    in_tree = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    return in_tree if in_tree.is_file() else Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


SCHEMA_PATH = _schema_path()


class ConfigError(ValueError):
    """A configuration problem, described in one line."""


@dataclass(frozen=True, order=True)
class ModelSpec:
    hmm: str
    hidden: int
    input: int
    seed: int

    @property
    def id(self) -> str:
        return f"{self.hmm}/h{self.hidden}_d{self.input}/s{self.seed}"

    @classmethod
    def parse(cls, model_id: str) -> "ModelSpec":
        try:
            hmm, hd, s = model_id.strip("/").split("/")
            h, d = hd.split("_")
            return cls(hmm, int(h.lstrip("h")), int(d.lstrip("d")), int(s.lstrip("s")))
        except ValueError:
            raise ConfigError(f"bad model id {model_id!r}; expected '<hmm>/h<hidden>_d<input>/s<seed>'") from None


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
    _fill_defaults(cfg, schema, schema)
    _check_semantics(cfg)
    return cfg


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
        if m.hmm in group["hmms"] and m.hidden in group["hidden"] and m.input in group["input"] and m.seed in group["seeds"]:
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
    """Does this model keep per-epoch weight snapshots (for the training-evolution analyses)?"""
    return any(_matches(sel, m) for sel in cfg["evolution"]["match"])


def derive_seed(*parts) -> int:
    """A stable 31-bit seed from any labels (same labels -> same seed, on every machine)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def load_config(path: str | Path) -> dict:
    """Read and validate a YAML config file."""
    return validate_config(yaml.safe_load(Path(path).read_text()))
