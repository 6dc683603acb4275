"""What the two external-model test files share (tests/test_external.py: the published
``TrainedModels/`` tree; tests/test_external_layouts.py: the ``Experiments/`` layouts): the tiny
sizes and HMMs, config builders, the parse-time check and the refusal helper, and the quick
config's analysis sections for an end-to-end run of models trained elsewhere."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rnnhmm.config import ConfigError, validate_config
from rnnhmm.external_weights import check_external_files

ROOT = Path(__file__).resolve().parents[1]
H, D = 16, 8
HMMS = {"lin2": {"kind": "linear_chain", "states": 2, "seq_len": 20, "eval_seq_len": 20},
        "cyclic": {"kind": "cyclic", "seq_len": 15}}


def single_config(path, hmm="lin2", hidden=H, input_=D, **extra) -> dict:
    return {"hmms": copy.deepcopy(HMMS),
            "models": [{"name": "theirs", "hmms": [hmm], "hidden": [hidden], "input": [input_], "seeds": [0],
                        "external": str(path), **extra}]}


def full_check(cfg: dict) -> dict:
    """What the Snakefile does when it is parsed: validate, then read and check the files."""
    cfg = validate_config(cfg)
    check_external_files(cfg)
    return cfg


def refusal(cfg: dict) -> str:
    with pytest.raises(ConfigError) as e:
        full_check(cfg)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def with_quick_analyses(cfg: dict) -> dict:
    """``cfg`` (models trained elsewhere) at config/quick.yaml's data, metrics and analysis sizes,
    the analysed models left to their defaults."""
    quick = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg.update(data=quick["data"], metrics=quick["metrics"], training={"device": "cpu", "batch_size": 128})
    mech = copy.deepcopy(quick["mechanism"])
    del mech["single_model"]
    for k in ("kick", "evolution", "readout"):
        mech[k].pop("models", None)
    dyn = {k: v for k, v in quick["dynamics"].items() if k not in ("models", "fig8_models", "grid")}
    cfg.update(mechanism=mech, dynamics=dyn)
    return cfg
