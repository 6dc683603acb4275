"""The per-model metrics table (results/metrics/summary.tsv)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnhmm.claims.learned import model_flags

__all__ = ["metrics_table", "TABLE_COLUMNS"]

TABLE_COLUMNS = ["model", "hmm", "hidden", "input", "seed", "epochs", "seq_len", "n_seq", "distance_mean",
                 "distance_sd", "floor_mean", "floor_sd", "floor_within_sd", "volatility_hmm", "volatility_rnn",
                 "volatility_exact", "transition_sq_diff_max", "final_train_loss", "final_val_loss",
                 "best_val_loss", "best_epoch", "reverse_distance_mean", "change_rate_rnn", "change_rate_hmm",
                 "transition_max_z", "learned", "faithful", "left_plateau", "plateau_progress", "val_last_mean",
                 "val_hmm_mean", "learned_why", "kl_rate", "kl_se", "kl_particles", "kl_converged",
                 "kl_rare_share", "entropy_rate", "kl_dead_sequences", "kl_self", "kl_excess_se",
                 "kl_self_dead_sequences"]


def metrics_table(models: list[dict], floors: dict[str, dict], likelihood: list[dict] | None = None) -> pd.DataFrame:
    """One tidy row per model (units: Euclidean distance in one-hot space; changes per sequence;
    KL rate in nats per step). ``learned`` / ``faithful``: :mod:`rnnhmm.claims.learned` (empty where
    not evaluable); ``kl_*``: the likelihood records (config ``likelihood``; empty when off)."""
    kl = {r["model"]: r for r in likelihood or []}
    rows = []
    for m in models:
        k = kl.get(m["model"], {})
        fl = floors[m["hmm"]]
        flags = model_flags(m, fl)
        v = m.get("validation") or {}
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
            # learned / faithful (rnnhmm.claims.learned); learned_why: its failing or unevaluable conditions
            "learned": flags["learned"], "faithful": flags["faithful"],
            "left_plateau": m["plateau"]["left_plateau"] if "plateau" in m else np.nan,
            "plateau_progress": m["plateau"]["progress"] if "plateau" in m else np.nan,
            "val_last_mean": v.get("last_mean", np.nan), "val_hmm_mean": v.get("hmm_mean", np.nan),
            "learned_why": flags["learned_why"],
            "kl_rate": k.get("kl_rate", np.nan), "kl_se": k.get("kl_se", np.nan),
            "kl_particles": k.get("particles", np.nan), "kl_converged": k.get("converged", np.nan),
            "kl_rare_share": k.get("rare_share", np.nan), "entropy_rate": k.get("entropy_rate", np.nan),
            "kl_dead_sequences": k.get("dead_sequences", np.nan),
            # the same filter on the HMM itself (its measured bias) and the paired SE (the KL claim's)
            "kl_self": np.nan if k.get("kl_self") is None else k["kl_self"],
            "kl_excess_se": np.nan if k.get("kl_excess_se") is None else k["kl_excess_se"],
            "kl_self_dead_sequences": k.get("self_dead_sequences", np.nan),
        })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values(["hmm", "hidden", "input", "seed"])
