"""Assembly of the cheap "figure data" files from cached per-model results (no models loaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["metrics_table", "floor_summary", "fig1_data", "figS1_data"]

TABLE_COLUMNS = ["model", "hmm", "hidden", "input", "seed", "epochs", "seq_len", "n_seq", "distance_mean",
                 "distance_sd", "floor_mean", "floor_sd", "floor_within_sd", "volatility_hmm", "volatility_rnn",
                 "volatility_exact", "transition_sq_diff_max", "final_train_loss", "final_val_loss",
                 "best_val_loss", "best_epoch", "reverse_distance_mean", "change_rate_rnn", "change_rate_hmm",
                 "transition_max_z", "converged", "left_plateau", "plateau_progress"]


def metrics_table(models: list[dict], floors: dict[str, dict]) -> pd.DataFrame:
    """One tidy row per model (units: Euclidean distance in one-hot space; changes per sequence)."""
    rows = []
    for m in models:
        fl = floors[m["hmm"]]
        rows.append({
            "model": m["model"], "hmm": m["hmm"], "hidden": m["hidden"], "input": m["input"], "seed": m["seed"],
            "epochs": m["epochs"], "seq_len": m["seq_len"], "n_seq": m["n_seq"],
            "distance_mean": m["distance_mean"], "distance_sd": m["distance_sd"],
            "floor_mean": fl["floor_mean"], "floor_sd": fl["floor_sd_across_repeats"],
            "floor_within_sd": fl["floor_within_sd"],
            "volatility_hmm": m["hmm_stats"]["volatility_mean"], "volatility_rnn": m["rnn_stats"]["volatility_mean"],
            "volatility_exact": m["exact"]["expected_changes"],
            "transition_sq_diff_max": float(np.max(m["transition_sq_diff"])),
            "final_train_loss": m["final_train_loss"], "final_val_loss": m["final_val_loss"],
            "best_val_loss": m["best_val_loss"], "best_epoch": m["best_epoch"],
            "reverse_distance_mean": m.get("reverse_distance_mean", np.nan),
            "change_rate_rnn": m["performance"]["change_rate"]["rnn"] if "performance" in m else np.nan,
            "change_rate_hmm": m["performance"]["change_rate"]["null_mean"] if "performance" in m else np.nan,
            "transition_max_z": m["performance"]["transition"]["max_z"] if "performance" in m else np.nan,
            "converged": _converged(m, fl),
            "left_plateau": m["plateau"]["left_plateau"] if "plateau" in m else np.nan,
            "plateau_progress": m["plateau"]["progress"] if "plateau" in m else np.nan,
        })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values(["hmm", "hidden", "input", "seed"])


def floor_summary(fl: dict) -> dict:
    """The floor numbers the performance claims use, from a results/metrics/floor/{hmm}.json record."""
    return {"floor_mean": fl["floor_mean"], "floor_sd": fl["floor_sd_across_repeats"],
            "floor_within_sd": fl["floor_within_sd"], "n_seq": fl["n_seq"]}


def _converged(m: dict, fl: dict) -> bool:
    """Every applicable performance claim of the model passes (rnnhmm.claims.performance_claims)."""
    from .claims import model_converged, performance_claims

    return bool(model_converged(performance_claims([m], {m["hmm"]: floor_summary(fl)}), m["model"]))


def _with_floor(m: dict, floors: dict) -> dict:
    fl = floors[m["hmm"]]
    return {**m, "floor_mean": fl["floor_mean"], "floor_within_sd": fl["floor_within_sd"]}


def fig1_data(models: list[dict], floors: dict[str, dict], config_label: str) -> dict:
    """Per example model: matched distances (with the floor), volatility, frequencies, transition
    matrices, a few example sequences and ``converged`` (every applicable performance claim passes;
    a figure of a non-converged model says so)."""
    keep = ("model", "hmm", "seq_len", "n_seq", "distance_mean", "distance_sd", "hmm_stats", "rnn_stats",
            "transition_sq_diff", "examples")
    return {"config_label": config_label,
            "models": [{**_with_floor({k: m[k] for k in keep}, floors),
                        "converged": _converged(m, floors[m["hmm"]]) if "performance" in m else None}
                       for m in models]}


def figS1_data(table: pd.DataFrame, floors: dict[str, dict], hmms: list[str], sq_diffs: dict[str, list]) -> dict:
    """Grid summary: per (hmm, hidden, input), mean and sd over seeds of the per-model mean
    distance and of the squared transition-matrix differences (3x3)."""
    sub = table[table["hmm"].isin(hmms)]
    rows = []
    for (h, H, D), g in sub.groupby(["hmm", "hidden", "input"]):
        sq = np.stack([np.asarray(sq_diffs[mid]) for mid in g["model"]])
        rows.append({"hmm": h, "hidden": int(H), "input": int(D), "n_seeds": len(g),
                     "dist_mean": float(g["distance_mean"].mean()), "dist_sd": float(g["distance_mean"].std(ddof=0)),
                     "sq_mean": sq.mean(0).tolist(), "sq_sd": sq.std(0).tolist()})
    return {
        "hmms": list(hmms),
        "hidden": sorted(int(x) for x in sub["hidden"].unique()),
        "input": sorted(int(x) for x in sub["input"].unique()),
        "floors": {h: {"mean": floors[h]["floor_mean"],
                       "sd": max(floors[h]["floor_sd_across_repeats"], 1e-12)} for h in hmms},
        "rows": rows,
    }
