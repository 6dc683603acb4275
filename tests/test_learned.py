"""``learned`` and ``faithful`` (rnnhmm.claims.learned, docs/claims.md "learned / faithful").

Records are built from sequences, not training: the HMM's own samples (must pass), an untrained
ReLU RNN, i.i.d. symbols at the HMM's frequencies (the plateau) and HMM samples with 2% i.i.d.
flips (must fail, each on the condition meant to see it); then, on the HMM-sample record, each
condition made false alone (the claim must report fail, naming that condition only). Each
record carries what the pipeline's metrics file carries: matched distances both ways, the
performance statistics, the plateau verdict and the final-length validation loss beside the HMM
samples' reference loss, all computed by the pipeline's own functions. Seconds.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from rnnhmm.claims.core import claim
from rnnhmm.claims.learned import (
    LEARNED_CONDITIONS,
    SQ_DIFF_MAX,
    figure_flags,
    frequent_sq_diff,
    learned_conditions,
    learned_verdict,
    model_flags,
    validation_bound,
)
from rnnhmm.claims.summary import collect, summarise
from rnnhmm.evaluation.metrics import emission_statistics, matched_distances, performance_record
from rnnhmm.hmm import linear_chain, one_hot
from rnnhmm.model import Weights, generate_outputs
from rnnhmm.training.convergence import batched_loss, final_validation, plateau_verdict, reference_losses

MODEL = "lin2/h50_d10/s0"
N, L = 300, 50  # evaluation sample (matched distances, performance statistics)
# validation set and "epochs" of the validation loss: the window is the last EPOCHS epochs (a
# pipeline run of 250-600 epochs averages its last 12-30, rnnhmm.training.convergence)
N_VAL, BATCH, BLUR, EPOCHS, REPEATS = 1024, 128, 0.2, 12, 8


@pytest.fixture(scope="module")
def world():
    """lin2, its floor, its validation set with the reference losses (REPEATS draws) and a builder of
    metrics records from a sampler ``draw(n, seed) -> int symbols (n, L)``."""
    hmm = linear_chain(2)
    ref = hmm.sample(N, L, seed=11)
    a, b = (torch.from_numpy(one_hot(hmm.sample(N, L, seed=s), 3)) for s in (12, 13))
    d = matched_distances(a, b).numpy()
    floor = {"hmm": "lin2", "floor_mean": float(d.mean()), "floor_sd_across_repeats": 0.0,
             "floor_within_sd": float(d.std()), "n_seq": N, "seq_len": L}
    val = hmm.sample(N_VAL, L, seed=14)
    refs = reference_losses(hmm, val, BATCH, blur=BLUR, repeats=REPEATS, seed=15)

    def record(draw, d_in=10, model=MODEL):
        obs = draw(N, 100)
        oh_h, oh_r = torch.from_numpy(one_hot(ref, 3)), torch.from_numpy(one_hot(obs, 3))
        fwd, rev = matched_distances(oh_h, oh_r).numpy(), matched_distances(oh_r, oh_h).numpy()
        val_loss = [batched_loss(draw(N_VAL, 200 + e), val, 3, BATCH, BLUR) for e in range(EPOCHS)]
        pl = plateau_verdict(val_loss, refs)
        return {"model": model, "hmm": "lin2", "input": d_in, "n_seq": N, "seq_len": L,
                "distance_mean": float(fwd.mean()), "distance_sd": float(fwd.std()),
                "reverse_distance_mean": float(rev.mean()), "rnn_stats": emission_statistics(obs, 3),
                "hmm_stats": emission_statistics(ref, 3),
                "performance": performance_record(obs, hmm, repeats=80, seed=5),
                "plateau": {k: pl[k] for k in ("progress", "left_plateau", "final_val", "iid_mean", "hmm_mean")},
                "validation": final_validation(val_loss, refs, last=EPOCHS)}

    freq = np.bincount(val.ravel(), minlength=3) / val.size
    samplers = {
        "hmm": lambda n, s: hmm.sample(n, L, seed=1000 + s),
        "iid": lambda n, s: np.random.default_rng(2000 + s).choice(3, size=(n, L), p=freq),
        "flips": lambda n, s: _flipped(hmm.sample(n, L, seed=3000 + s), freq, 0.02, 4000 + s),
        "untrained": lambda n, s: _untrained(n, s),
        "rare_never": lambda n, s: _rare_never(hmm.sample(n, L, seed=5000 + s)),
    }
    records = {k: record(f) for k, f in samplers.items()}
    return {"hmm": hmm, "floor": floor, "refs": refs, "record": record, "samplers": samplers, "records": records}


def _flipped(x, freq, p, seed):
    """Each symbol replaced, with probability p, by an i.i.d. draw from the output frequencies."""
    rng = np.random.default_rng(seed)
    x = x.copy()
    m = rng.random(x.shape) < p
    x[m] = rng.choice(3, size=int(m.sum()), p=freq)
    return x


def _untrained(n, s, H=50, D=10):
    """A ReLU RNN at PyTorch's default initialisation (uniform +-1/sqrt(H)), sampled like the pipeline."""
    g = torch.Generator().manual_seed(7)
    u = lambda *shape: (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) / H ** 0.5  # noqa: E731
    w = Weights(u(H, D).float(), u(H, H).float(), u(3, H).float())
    return generate_outputs(w, n, L, uniform_first=False, generator=torch.Generator().manual_seed(100 + s)).numpy()


def _rare_never(o):
    """The HMM's samples with the rare symbol replaced by the last frequent symbol before it."""
    prev = np.maximum.accumulate(np.where(o != 1, np.arange(o.shape[1]), 0), axis=1)
    filled = np.take_along_axis(o, prev, axis=1)
    return np.where(filled == 1, 0, filled)


def _outcomes(rec, floor):
    return {c: ok for c, (ok, _) in learned_conditions(rec, floor).items()}


# ----------------------------------------------------------------------------- records from sequences

def test_hmm_samples_are_learned_and_faithful(world):
    rec, fl = world["records"]["hmm"], world["floor"]
    assert _outcomes(rec, fl) == dict.fromkeys(LEARNED_CONDITIONS, True), learned_conditions(rec, fl)
    assert learned_verdict(rec, fl) == (True, [])
    assert model_flags(rec, fl) == {"learned": True, "learned_why": "", "faithful": True}


@pytest.mark.parametrize("kind, intended", [("untrained", "plateau"), ("iid", "plateau"),
                                            ("flips", "validation_loss")])
def test_must_fail(world, kind, intended):
    """An untrained RNN and a plateau model (i.i.d. outputs at the right frequencies) never left the
    plateau; 2% i.i.d. flips on the HMM's samples are seen by the loss (docs/loss_bias.md: +0.35
    at lin2, L = 50) while their transition probabilities stay within 0.00 at two decimals."""
    rec, fl = world["records"][kind], world["floor"]
    out = _outcomes(rec, fl)
    ok, reasons = learned_verdict(rec, fl)
    assert ok is False and out[intended] is False, learned_conditions(rec, fl)
    assert any(r.startswith(intended + ":") for r in reasons)
    if kind == "iid":
        assert out["transitions"] is False  # i.i.d. outputs switch at 0.5, the HMM at ~0.05
    if kind == "flips":
        assert out["plateau"] is True and out["transitions"] is True


def test_the_rare_symbols_row_belongs_to_faithful(world):
    """Never emitting the rare symbol (what the loss prefers) leaves the frequent-symbol transitions
    intact: the rare symbol's row and column are not a condition of learned; faithful fails."""
    rec, fl = world["records"]["rare_never"], world["floor"]
    out = _outcomes(rec, fl)
    assert out["transitions"] is True and out["validation_loss"] is True, learned_conditions(rec, fl)
    assert model_flags(rec, fl)["faithful"] is False


# ----------------------------------------------------------------------------- one condition false at a time

def _break_plateau(r):
    r["plateau"].update(left_plateau=False, progress=0.3)


def _break_validation(r):
    bound, se = validation_bound(r["validation"])
    r["validation"]["last_mean"] = bound + se


def _break_forward_distance(r, fl):
    r["distance_mean"] = fl["floor_mean"] + 2 * fl["floor_within_sd"]


def _break_reverse_distance(r, fl):
    r["reverse_distance_mean"] = fl["floor_mean"] + 2 * fl["floor_within_sd"]


def _break_transitions(r):
    """Move 0.08 of the 0 -> 0 probability to 0 -> 2: squared difference 0.0064 >= 0.005."""
    T = np.asarray(r["performance"]["transition"]["rnn"])
    T[0, 0] -= 0.08
    T[0, 2] += 0.08
    r["performance"]["transition"]["rnn"] = T.tolist()


BREAKERS = {"plateau": lambda r, fl: _break_plateau(r),
            "validation_loss": lambda r, fl: _break_validation(r),
            "distance (forward)": _break_forward_distance,
            "distance (reverse)": _break_reverse_distance,
            "transitions": lambda r, fl: _break_transitions(r)}


@pytest.mark.parametrize("what", list(BREAKERS))
def test_each_condition_alone_fails_learned(world, what):
    fl = world["floor"]
    rec = copy.deepcopy(world["records"]["hmm"])
    BREAKERS[what](rec, fl)
    cond = what.split(" ")[0]
    out = _outcomes(rec, fl)
    assert out == {**dict.fromkeys(LEARNED_CONDITIONS, True), cond: False}, learned_conditions(rec, fl)
    ok, reasons = learned_verdict(rec, fl)
    assert ok is False and len(reasons) == 1 and reasons[0].startswith(cond + ":")


def test_transitions_just_below_the_paper_threshold_pass(world):
    rec = copy.deepcopy(world["records"]["hmm"])
    T = np.asarray(rec["performance"]["transition"]["null_mean"])
    T[0, 0] -= 0.06   # squared difference 0.0036 < 0.005 from the HMM's mean matrix itself
    T[0, 2] += 0.06
    rec["performance"]["transition"]["rnn"] = T.tolist()
    D, cols = frequent_sq_diff(rec)
    assert cols == [0, 2] and 0.003 < D.max() < SQ_DIFF_MAX
    assert _outcomes(rec, world["floor"])["transitions"] is True


def test_missing_records_give_unknown_not_learned(world):
    """An old metrics file without the validation record: learned is None (unknown), not True;
    a failing condition still makes it False."""
    fl = world["floor"]
    rec = copy.deepcopy(world["records"]["hmm"])
    del rec["validation"]
    ok, reasons = learned_verdict(rec, fl)
    assert ok is None and reasons[0].startswith("validation_loss:")
    _break_plateau(rec)
    assert learned_verdict(rec, fl)[0] is False
    diverged = copy.deepcopy(world["records"]["hmm"])
    diverged["validation"] = final_validation([np.nan] * 5, world["refs"])
    assert learned_verdict(diverged, fl)[0] is None
    assert _outcomes({**world["records"]["hmm"], "validation": {**diverged["validation"], "last_mean": np.nan}},
                     fl)["validation_loss"] is False


def test_distance_is_not_a_condition_below_d10(world):
    rec = copy.deepcopy(world["records"]["hmm"])
    rec["input"] = 1
    _break_forward_distance(rec, world["floor"])
    assert "distance" not in _outcomes(rec, world["floor"])
    assert learned_verdict(rec, world["floor"])[0] is True


def test_final_validation_skips_the_warm_up():
    """Warm-up epochs are validated on short sequences (another scale): left out of the window."""
    refs = {"hmm_mean": 5.0, "hmm_sd": 0.1, "repeats": 3}
    v = final_validation([1.0] * 10 + [5.0] * 6, refs, warmup_epochs=10)
    assert v["last_mean"] == 5.0 and v["last_n"] == 5 and v["first_epoch"] == 12
    v = final_validation([1.0] * 10, refs, warmup_epochs=10)
    assert v["last_mean"] is None and "warm-up" in v["message"]
    bound, se = validation_bound({"last_mean": 5.0, "last_sd": 0.0, "last_n": 5, **{
        "hmm_mean": 5.0, "hmm_sd": 0.1, "hmm_repeats": 3}})
    assert se == pytest.approx(0.1 * np.sqrt(1.5) * np.sqrt(1 / 5 + 1 / 3)) and bound == pytest.approx(5 + 3 * se)


# ----------------------------------------------------------------------------- tables and figures

def test_figures_name_not_learned_in_red_and_not_faithful_in_grey(world, tmp_path):
    """figure_flags reads metrics and floor files as the figure-data jobs get them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnhmm.figures.common import note_learned
    from rnnhmm.io import write_json

    recs = {"lin2/h50_d10/s0": world["records"]["hmm"], "lin2/h50_d10/s1": world["records"]["iid"],
            "lin2/h50_d10/s2": world["records"]["rare_never"]}
    paths = []
    for mid, r in recs.items():
        paths.append(tmp_path / f"{mid.split('/')[-1]}.json")
        write_json({**r, "model": mid}, paths[-1])
    write_json(world["floor"], tmp_path / "floor.json")
    flags = figure_flags(paths, [tmp_path / "floor.json"])
    assert list(flags["not_learned"]) == ["lin2/h50_d10/s1"] and "plateau" in flags["not_learned"]["lin2/h50_d10/s1"]
    rare_learned = learned_verdict(world["records"]["rare_never"], world["floor"])[0]
    assert flags["not_faithful"] == (["lin2/h50_d10/s2"] if rare_learned else [])
    fig = plt.figure()
    note_learned(fig, flags["not_learned"], ["lin2/h50_d10/s2"])
    texts = {t.get_text(): t.get_color() for t in fig.texts}
    red = [t for t in texts if "NOT LEARNED" in t]
    grey = [t for t in texts if "not faithful (as the loss predicts" in t]
    assert len(red) == 1 and "s1 (plateau" in red[0] and texts[red[0]] == "firebrick"
    assert len(grey) == 1 and "s2" in grey[0] and "s2" not in red[0]
    plt.close(fig)


def test_metrics_table_has_learned_and_faithful(world):
    from rnnhmm.evaluation.table import metrics_table

    def full(r, mid):
        return {**r, "model": mid, "hidden": 50, "seed": int(mid[-1]), "epochs": EPOCHS,
                "exact": {"expected_changes": 2.45},
                "transition_sq_diff": (np.asarray(r["rnn_stats"]["transition_matrix"])
                                       - np.asarray(r["hmm_stats"]["transition_matrix"])) ** 2,
                "final_train_loss": 1.0, "final_val_loss": 1.0, "best_val_loss": 1.0, "best_epoch": 1}

    t = metrics_table([full(world["records"]["hmm"], "lin2/h50_d10/s0"),
                       full(world["records"]["iid"], "lin2/h50_d10/s1")], {"lin2": world["floor"]})
    assert t["learned"].tolist() == [True, False] and t["faithful"].tolist() == [True, False]
    assert t["learned_why"].iloc[0] == "" and "plateau:" in t["learned_why"].iloc[1]
    assert "converged" not in t.columns
    # the KL rate (config likelihood): its record's numbers where given, empty where not
    assert t["kl_rate"].isna().all()
    kl = {"model": "lin2/h50_d10/s1", "kl_rate": 0.31, "kl_se": 0.01, "particles": 256, "converged": True,
          "rare_share": 0.4, "entropy_rate": 0.27}
    t = metrics_table([full(world["records"]["hmm"], "lin2/h50_d10/s0"),
                       full(world["records"]["iid"], "lin2/h50_d10/s1")], {"lin2": world["floor"]}, [kl])
    assert t["kl_rate"].isna().tolist() == [True, False]
    row = t.iloc[1]
    assert (row["kl_rate"], row["kl_se"], row["kl_particles"], row["kl_rare_share"]) == (0.31, 0.01, 256, 0.4)


def test_fig1_has_a_kl_panel_only_with_likelihood_records(world):
    """fig1_data carries each example's KL record (None without one); plot_fig1 adds the KL-rate row
    only when some example has one, and says "not converged" where the doubling hit p_max."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnhmm.figures.performance import fig1_data, plot_fig1

    r = {**world["records"]["hmm"], "model": "lin2/h50_d10/s0",
         "transition_sq_diff": np.zeros((3, 3)).tolist(), "examples": {"hmm": [[0, 1]], "rnn": [[0, 0]]}}
    plain = fig1_data([r], {"lin2": world["floor"]}, "test")
    assert plain["models"][0]["kl"] is None
    n_plain = len(plot_fig1(plain).axes)
    kl = {"model": "lin2/h50_d10/s0", "kl_rate": 0.1, "kl_se": 0.01, "particles": 1024, "converged": False,
          "entropy_rate": 0.27, "rare_share": 0.6, "n_seq": 300}
    data = fig1_data([r], {"lin2": world["floor"]}, "test", [kl])
    assert data["models"][0]["kl"]["kl_rate"] == 0.1
    fig = plot_fig1(data)
    assert len(fig.axes) == n_plain + 1
    texts = [ax.get_xlabel() for ax in fig.axes]
    assert any("P = 1024 (p_max, not converged)" in t for t in texts)
    plt.close("all")


def test_claims_flags_and_summary_count_dynamics_over_learned_models_only():
    m0, m1, m2 = "lin2/h8_d10/s0", "lin2/h8_d10/s1", "lin2/h8_d10/s2"
    perf = [claim("change_rate_matches", "d", m0, "e", 1.0, True, "G.2", value=1.0),
            claim("distance_at_floor", "d", m0, "e", 1.0, False, "G.2", value=5.0),
            claim("change_rate_matches", "d", m1, "e", 1.0, True, "G.2", value=3.0),
            claim("distance_at_floor", "d", m1, "e", 1.0, None, "G.2", reason="x"),
            claim("change_rate_matches", "d", m2, "e", 1.0, False, "G.2", value=2.0)]
    for r, learned in zip(perf, (True, True, True, True, False)):
        r["learned"] = learned
    dyn = [claim("two_kick_groups", "d", m, "e", 1.0, ok, "E.8", value=v)
           for m, ok, v in ((m0, True, 3), (m1 + " [group 0]", False, 1), (m2, True, 9))]
    trend = [claim("readout_projection_decreases", "d", "lin2/lin3", "e", 1.0, True, "E.11", hmm="lin2/lin3")]
    # as the job reads them back from CSV: flags become text
    frames = [pd.read_csv(pd.io.common.StringIO(pd.DataFrame(x).to_csv(index=False)), keep_default_na=False,
                          na_values=[""]) for x in (perf, dyn, trend)]
    df = collect(frames)
    assert "converged" not in df.columns
    by = {(r["model"], r["claim"]): r for r in df.to_dict("records")}
    assert by[(m0, "change_rate_matches")]["faithful"] == "false"       # distance fails
    assert by[(m1 + " [group 0]", "two_kick_groups")]["faithful"] == "true"   # n/a rows do not count
    assert by[(m0, "two_kick_groups")]["learned"] == "true" and by[(m2, "two_kick_groups")]["learned"] == "false"
    assert by[("lin2/lin3", "readout_projection_decreases")]["learned"] == ""
    s = summarise(df).set_index(["claim", "hmm"])
    perf_row = s.loc[("change_rate_matches", "lin2")]
    assert perf_row["counted"] == "all models" and perf_row["pass_rate"] == "2 of 3" and perf_row["n_not_learned"] == 0
    assert perf_row["value_mean"] == 2.0 and perf_row["value_sd"] == pytest.approx(np.sqrt(2 / 3))
    kick = s.loc[("two_kick_groups", "lin2")]
    assert kick["counted"] == "learned models only" and kick["pass_rate"] == "1 of 2" and kick["n_not_learned"] == 1
    assert kick["value_mean"] == 2.0                                    # m2's 9 is left out
    trend_row = s.loc[("readout_projection_decreases", "lin2/lin3")]
    assert trend_row["pass_rate"] == "n/a (no learned model)" and trend_row["n_not_learned"] == 1
    assert s.loc[("distance_at_floor", "lin2"), "pass_rate"] == "0 of 1"
