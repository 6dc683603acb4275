"""Per-family summary of a finished run (e.g. config/cpu.yaml) as Markdown, for docs/cpu_results.md.

    python studies/cpu_results.py RESULTS_DIR > table.md

Per HMM family, over its seeds: matched distance / HMM floor, output changes per sequence RNN / HMM
(the metrics' volatility, reference protocol), the largest standardised transition-matrix
deviation, the KL rate from the HMM (nats per step) where the run has it, how many seeds left the
i.i.d. plateau, are ``learned`` and are ``faithful`` (docs/claims.md); then every claim's k of n
per family from results/claims_summary.csv.
"""
import sys
from pathlib import Path

import pandas as pd


def family_table(results: Path) -> str:
    m = pd.read_csv(results / "metrics" / "summary.tsv", sep="\t")
    lines = ["| HMM | seeds | distance / floor | volatility RNN / HMM | max abs dP (transition) | KL rate (nats/step) "
             "| left plateau | learned | faithful |",
             "|---|---|---|---|---|---|---|---|---|"]
    for hmm, g in m.groupby("hmm"):
        dist = " ".join(f"{d:.2f}" for d in g["distance_mean"])
        vol = " ".join(f"{r:.1f}" for r in g["volatility_rnn"])
        dT = " ".join(f"{x ** 0.5:.3f}" for x in g["transition_sq_diff_max"])
        left = g["left_plateau"].astype(str).str.lower().eq("true").sum() if "left_plateau" in g else "?"
        n_true = {c: int(g[c].astype(str).str.lower().eq("true").sum()) for c in ("learned", "faithful")}
        kl = " ".join("-" if pd.isna(k) else f"{k:.3f}" for k in g.get("kl_rate", pd.Series([float("nan")] * len(g))))
        if "kl_dead_sequences" in g and g["kl_dead_sequences"].fillna(0).gt(0).any():
            kl += " (-: filter diverged)"
        lines.append(f"| {hmm} | {len(g)} | {dist} / {g['floor_mean'].iloc[0]:.2f} | {vol} / "
                     f"{g['volatility_hmm'].mean():.1f} | {dT} | {kl} | {left} of {len(g)} | "
                     f"{n_true['learned']} of {len(g)} | {n_true['faithful']} of {len(g)} |")
    return "\n".join(lines)


def claims_table(results: Path) -> str:
    s = pd.read_csv(results / "claims_summary.csv", keep_default_na=False)
    fams = sorted(s["hmm"].unique())
    piv = {(r["claim"], r["hmm"]): r["pass_rate"] for _, r in s.iterrows()}
    lines = ["| claim | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    for c in sorted(s["claim"].unique()):
        lines.append(f"| `{c}` | " + " | ".join(str(piv.get((c, f), "")) for f in fams) + " |")
    c = pd.read_csv(results / "claims.csv", keep_default_na=False)
    counts = c["outcome"].value_counts().to_dict()
    lines.append("")
    lines.append(f"All rows of results/claims.csv: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
                 f"{counts.get('n/a', 0)} n/a.")
    return "\n".join(lines)


if __name__ == "__main__":
    root = Path(sys.argv[1]) / "results" if (Path(sys.argv[1]) / "results").is_dir() else Path(sys.argv[1])
    print(family_table(root))
    print()
    print(claims_table(root))
