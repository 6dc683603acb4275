"""Null networks (rnnhmm.analyses.nulls): what each kind keeps and destroys, which models get which,
their ids, and the null_pass column of claims.csv. Seconds, no jobs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnhmm.analyses.nulls import make_null, plateau_epoch, row_permutations, shuffle_recurrent
from rnnhmm.claims.core import base_label, claim, null_kind
from rnnhmm.claims.summary import collect_with_nulls, summarise
from rnnhmm.config import ConfigError, ModelSpec, load_config
from rnnhmm.model_sets import dynamics_models, mechanism_models, null_ids

ROOT = Path(__file__).resolve().parents[1]


def test_null_ids_parse_and_name_their_model():
    s = ModelSpec.parse("lin2/h150_d100/s2-null-shuffle")
    assert (s.hmm, s.hidden, s.input, s.seed, s.null) == ("lin2", 150, 100, 2, "shuffle")
    assert s.id == "lin2/h150_d100/s2-null-shuffle" and s.base.id == "lin2/h150_d100/s2"
    assert ModelSpec.parse("lin2/h150_d100/s2").null == ""
    with pytest.raises(ConfigError, match="null network"):
        ModelSpec.parse("lin2/h150_d100/s2-null-")
    assert null_kind("lin2/h8_d1/s0-null-plateau [kick group 1]") == "plateau" and null_kind("lin2/h8_d1/s0") == ""
    assert base_label("lin2/h8_d1/s0-null-plateau [kick group 1]") == "lin2/h8_d1/s0 [kick group 1]"


def test_shuffle_keeps_each_rows_weights_and_the_diagonal_and_moves_the_rest():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(40, 40, generator=g)
    S = shuffle_recurrent(W, row_permutations(40, 3))
    assert torch.equal(S.diagonal(), W.diagonal())
    assert torch.equal(torch.sort(S, dim=1).values, torch.sort(W, dim=1).values)   # each row's multiset
    off = ~torch.eye(40, dtype=torch.bool)
    assert (S[off] != W[off]).float().mean() > 0.9
    # the same permutation on a stack of snapshots
    St = shuffle_recurrent(torch.stack([W, 2 * W]), row_permutations(40, 3))
    assert torch.equal(St[0], S) and torch.allclose(St[1], 2 * S)
    assert not torch.equal(shuffle_recurrent(W, row_permutations(40, 4)), S)


def test_plateau_epoch_is_the_last_epoch_on_the_plateau_before_the_exit():
    rng = np.random.default_rng(0)
    loss = np.r_[np.full(60, 5.0), np.linspace(5.0, 2.0, 12), np.full(48, 2.0)] + 0.01 * rng.normal(size=120)
    info = plateau_epoch(loss, 0, range(1, 121))
    assert info["exit"] is not None and 60 <= info["epoch"] < info["exit"]
    assert loss[info["epoch"] - 1] > 4.9                       # still on the plateau
    snaps = range(1, 121, 7)
    assert plateau_epoch(loss, 0, snaps)["epoch"] == max(e for e in snaps if e <= info["epoch"])  # at or before it
    # never left: the last snapshot; no curve: the first
    assert plateau_epoch(np.full(50, 5.0) + 0.01 * rng.normal(size=50), 0, [1, 10, 50])["epoch"] == 50
    assert plateau_epoch([], 0, [1, 10, 50])["epoch"] == 1
    with pytest.raises(ValueError, match="evolution.match"):
        plateau_epoch(loss, 0, [])


def _blob_evo(E=30, H=6):
    g = torch.Generator().manual_seed(1)
    evo = {"epochs": list(range(1, E + 1)), "weight_ih": torch.randn(E, H, 3, generator=g),
           "weight_hh": torch.randn(E, H, H, generator=g), "readout": torch.randn(E, 3, H, generator=g)}
    last = {k: evo[k][-1].clone() for k in ("weight_ih", "weight_hh", "readout")}
    loss = [5.0] * 15 + [2.0] * 15
    return {"last": last, "best": {k: v.clone() for k, v in last.items()}, "val_loss": loss, "train_loss": loss}, evo


def test_make_null_writes_the_plateau_snapshot_or_the_shuffled_weights_in_both_slots():
    blob, evo = _blob_evo()
    out, evo_out = make_null(blob, evo, "plateau", seed=0)
    e = out["null"]["epoch"]
    assert e < 16 and torch.equal(out["best"]["weight_hh"], evo["weight_hh"][e - 1])
    assert torch.equal(out["last"]["weight_hh"], out["best"]["weight_hh"]) and evo_out["epochs"] == []
    out, evo_out = make_null(blob, evo, "shuffle", seed=0)
    assert torch.equal(out["last"]["weight_ih"], blob["last"]["weight_ih"])
    assert not torch.equal(out["last"]["weight_hh"], blob["last"]["weight_hh"])
    assert torch.equal(evo_out["weight_hh"][-1], out["last"]["weight_hh"])      # same shuffle on the history
    assert torch.equal(blob["last"]["weight_hh"], evo["weight_hh"][-1])         # the model is untouched
    with pytest.raises(ValueError, match="unknown null kind"):
        make_null(blob, evo, "nope", seed=0)


def test_which_models_get_which_nulls():
    """plateau needs snapshots and is never a history null; nulls: {kinds: []} turns them off; the
    interventions' nulls follow nulls.interventions."""
    cfg = load_config(ROOT / "config" / "cpu.yaml")
    assert null_ids(cfg, ["lin2/h50_d10/s0"]) == ["lin2/h50_d10/s0-null-plateau", "lin2/h50_d10/s0-null-shuffle"]
    assert null_ids(cfg, ["lin2/h50_d10/s0"], history=True) == ["lin2/h50_d10/s0-null-shuffle"]
    mech, dyn = mechanism_models(cfg), dynamics_models(cfg)
    assert len(mech["null_kick"]) == 2 * len(mech["claims_kick"])
    assert len(mech["null_evolution"]) == len(mech["claims_evolution"])
    assert len(dyn["null_models"]) == 2 * len(dyn["claims_models"])
    assert mech["null_interventions"] and set(mech["null_interventions"]) <= set(mech["null_kick"])
    no_snap = {**cfg, "evolution": {"every": 1, "match": []}}
    assert null_ids(no_snap, ["lin2/h50_d10/s0"]) == ["lin2/h50_d10/s0-null-shuffle"]
    off = {**cfg, "nulls": {"kinds": [], "interventions": True, "seed": 7}}
    assert null_ids(off, ["lin2/h50_d10/s0"]) == [] and mechanism_models(off)["null_kick"] == []
    assert mechanism_models({**cfg, "nulls": {**cfg["nulls"], "interventions": False}})["null_interventions"] == []


def test_claims_csv_carries_each_rows_null_pass_and_the_null_rows_go_apart():
    m = "lin2/h8_d10/s0"
    rows = [claim("change_rate_matches", "d", m, "e", 1.0, True, "G.2", value=1.0),
            claim("two_kick_groups", "d", m + " [group 0]", "e", 1.0, True, "E.8", value=3),
            claim("orbit_single_rotation", "d", m, "e", 1.0, True, "E.3", value=0.9),
            claim("two_kick_groups", "d", m + "-null-plateau [group 0]", "e", 1.0, None, "E.8", reason="no group"),
            claim("two_kick_groups", "d", m + "-null-shuffle [group 0]", "e", 1.0, True, "E.8", value=1)]
    rows[0]["learned"] = True
    df, nulls = collect_with_nulls([pd.DataFrame(rows)])
    by = {(r["claim"], r["model"]): r["null_pass"] for r in df.to_dict("records")}
    assert by[("two_kick_groups", m + " [group 0]")] == "1/2"    # n/a on the plateau null: not a pass
    assert by[("orbit_single_rotation", m)] == "-" and by[("change_rate_matches", m)] == ""
    assert len(df) == 3 and len(nulls) == 2 and set(nulls["learned"]) == {"true"}
    s = summarise(df).set_index(["claim", "hmm"])
    assert s.loc[("two_kick_groups", "lin2"), "null_pass_rate"] == "1 of 2"
    assert s.loc[("orbit_single_rotation", "lin2"), "null_pass_rate"] == "-"
