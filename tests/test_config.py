"""Config validation and expansion into the model grid."""
import copy
from pathlib import Path

import pytest
import yaml

from rnnhmm.config import ConfigError, ModelSpec, expand_models, in_evolution, training_params, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.fixture(scope="module")
def paper():
    return validate_config(load("config.yaml"), SCHEMA)


def test_paper_config_plans_150_models_with_spec_c5_settings(paper):
    models = expand_models(paper)
    assert len(models) == 150
    assert sum(m.hmm.startswith("lin") for m in models) == 144
    p = lambda *a: training_params(paper, ModelSpec(*a))  # noqa: E731
    assert p("lin2", 50, 1, 0)["epochs"] == 500 and p("lin2", 50, 1, 0)["random_h0"] is True
    assert p("lin2", 50, 1, 0)["grad_clip"] == 0.9
    assert p("lin5", 200, 10, 0)["epochs"] == 1500
    assert p("lin5", 150, 1, 0)["epochs"] == 1000
    assert p("lin5", 150, 100, 0)["epochs"] == 500 and p("lin5", 150, 100, 2)["epochs"] == 1500
    assert p("lin5", 150, 200, 2)["epochs"] == 500
    assert p("fully", 150, 100, 1) | {} == p("fully", 150, 100, 1)
    assert p("fully", 150, 100, 1)["grad_clip"] == 0.3 and p("fully", 150, 100, 1)["random_h0"] is False
    assert p("cyclic", 150, 100, 0)["epochs"] == 1000
    assert paper["training"]["betas"] == [0.9, 0.9] and paper["training"]["blur"] == 0.2
    evo = [m for m in models if in_evolution(paper, m)]
    assert len(evo) == 18 and all(m.hidden == 150 and m.input == 100 for m in evo)


@pytest.mark.parametrize("name", ["config.yaml", "quick.yaml", "small.yaml", "own_hmm.yaml"])
def test_shipped_configs_validate(name):
    if not (ROOT / "config" / name).exists():
        pytest.skip(f"{name} not shipped yet")
    validate_config(load(name), SCHEMA)


def test_model_id_round_trip():
    m = ModelSpec("lin3", 150, 100, 2)
    assert m.id == "lin3/h150_d100/s2"
    assert ModelSpec.parse(m.id) == m
    with pytest.raises(ConfigError):
        ModelSpec.parse("lin3/h150/s2")


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c["training"].update(epoch=3),
     "config.training: Additional properties are not allowed ('epoch' was unexpected); allowed keys:"),
    (lambda c: c["training"].update(epochs="many"), "config.training.epochs: 'many' is not of type 'integer'"),
    (lambda c: c["training"].update(device="tpu"), "config.training.device: 'tpu' does not match"),
    (lambda c: c["models"][0].update(hidden=[50, -1]), "config.models[0].hidden[1]: -1 is less than the minimum of 1"),
    (lambda c: c["hmms"]["lin2"].update(kind="spiral"), "config.hmms.lin2.kind: 'spiral' is not one of"),
    (lambda c: c["models"][0].update(hmms=["lin9"]), "config.models[0].hmms: unknown HMM 'lin9'"),
    (lambda c: c["hmms"].update(bad={"kind": "custom", "seq_len": 10, "transition": [[0.5, 0.6], [0.5, 0.5]],
                                     "emission": [[1, 0], [0, 1]]}),
     "config.hmms.bad: HMM 'bad': transition row 0 sums to 1.1"),
    (lambda c: c["figures"]["fig1"].update(example_models=["lin2/h7_d1/s0"]), "'lin2/h7_d1/s0' is not a trained model"),
])
def test_bad_config_gives_one_clear_line(paper, mutate, expected):
    cfg = copy.deepcopy(load("config.yaml"))
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    msg = str(err.value)
    assert "\n" not in msg
    assert expected in msg, msg


def test_defaults_are_filled():
    cfg = {"hmms": {"a": {"kind": "cyclic", "seq_len": 10}},
           "models": [{"name": "g", "hmms": ["a"], "hidden": [4], "input": [2], "seeds": [0]}]}
    out = validate_config(cfg, SCHEMA)
    assert out["training"]["batch_size"] == 4096 and out["metrics"]["n_seq"] == 5000
    # no evolution section: the config's own representative model keeps per-epoch weights (figure 7)
    assert out["data"]["num_seq"] == 30000
    assert out["evolution"]["match"] == [{"hmm": "a", "hidden": 4, "input": 2, "seed": 0}]
    assert training_params(out, ModelSpec("a", 4, 2, 0))["evolution_every"] == 1
    # a config that says which models keep them is followed
    cfg["evolution"] = {"match": []}
    assert training_params(validate_config(cfg, SCHEMA), ModelSpec("a", 4, 2, 0))["evolution_every"] == 0
