"""Markdown table of a recipe search (benchmarks/recipe_search.py results), one row per trial.

    python benchmarks/recipe_table.py RESULTS.tsv > table.md

Per trial: the recipe, training seconds for the three seeds together (on the shared 2-core
machine), and over the seeds: how many left the i.i.d. plateau, volatility RNN/HMM (mean, min-max),
max |dT| (mean) and the best epoch.
"""
import sys

import pandas as pd


def table(path: str) -> str:
    df = pd.read_csv(path, sep="\t")
    lines = ["| trial | HMM | H | d | seqs (train) | warm-up (L x epochs) | L x epochs | batch | lr | extra | "
             "training s (3 seeds) | off plateau | volatility RNN/HMM | max abs dT |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, g in df.groupby("name", sort=False):
        r = g.iloc[0]
        off = int((~g["plateau"].astype(str).str.lower().eq("true")).sum())
        extra = "" if pd.isna(r["extra"]) else str(r["extra"])
        warm = "-" if pd.isna(r.get("warmup")) or not str(r.get("warmup")) else str(r["warmup"]).lstrip("L")
        lines.append(
            f"| {name} | {r['hmm']} | {r['hidden']} | {r['input']} | {r['num_seq'] // 3} | "
            f"{warm} | {r['seq_len']} x {r['epochs']} | {r['batch_size']} | {r['lr']:g} | {extra} | "
            f"{r['train_s']:.0f} | "
            f"{off} of {len(g)} | {g['vol_ratio'].mean():.2f} "
            f"({g['vol_ratio'].min():.2f}-{g['vol_ratio'].max():.2f}) | "
            f"{g['dT'].mean():.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1]))
