"""Markdown table of a recipe search (studies/recipe_search.py results), one row per trial.

    python studies/recipe_table.py RESULTS.tsv > table.md
    python studies/recipe_table.py RESULTS.tsv LEARNED.tsv > table.md   # with the pipeline's verdicts

Per trial: the recipe, training seconds for the three seeds together (on the shared 2-core
machine), and over the seeds: how many left the i.i.d. plateau, volatility RNN/HMM (mean, min-max),
max |dT| (mean) and, where the search scored them, how many seeds pass every performance claim of
the pipeline (last / best weights) and which claims fail most often (best weights). With LEARNED.tsv
(``studies/rescore_trials.py --learned``): the pipeline's ``learned`` and ``faithful`` per trial and
each seed's plateau-exit epoch, in place of the search's own plateau and converged columns.
"""
import sys

import pandas as pd


def _true(col: pd.Series) -> int:
    return int(col.astype(str).str.lower().eq("true").sum())


def _converged(g: pd.DataFrame) -> str:
    if "conv_last" not in g or g["conv_last"].isna().all():
        return "-"
    return f"{_true(g['conv_last'])} / {_true(g['conv_best'])} of {len(g)}"


def _failing(g: pd.DataFrame) -> str:
    """Claim -> number of seeds failing it (best weights), e.g. 'change_rate 3, rare_symbol 3'."""
    if "fails_best" not in g or g["fails_best"].isna().all():
        return "-"
    counts: dict[str, int] = {}
    for f in g["fails_best"].astype(str):
        for item in f.split():
            name = item.split("(")[0].removesuffix("_matches").removesuffix("_at_floor")
            if name != "-":
                counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def table(path: str, learned_path: str | None = None) -> str:
    df = pd.read_csv(path, sep="\t")
    lv = pd.read_csv(learned_path, sep="\t") if learned_path else None
    if lv is not None:
        lines = ["| trial | HMM | seqs (train) | warm-up (L x epochs) | L x epochs | batch | lr | extra | training s "
                 "(3 seeds) | learned | faithful | plateau exit (epoch per seed) | volatility RNN/HMM | failing "
                 "claims (best weights) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    else:
        lines = ["| trial | HMM | H | d | seqs (train) | warm-up (L x epochs) | L x epochs | batch | lr | extra | "
                 "training s (3 seeds) | off plateau | volatility RNN/HMM | max abs dT | converged (last / best) | "
                 "failing claims (best weights) |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, g in df.groupby("name", sort=False):
        r = g.iloc[0]
        off = int((~g["plateau"].astype(str).str.lower().eq("true")).sum())
        extra = "" if pd.isna(r["extra"]) else str(r["extra"])
        warm = "-" if pd.isna(r.get("warmup")) or not str(r.get("warmup")) else str(r["warmup"]).lstrip("L")
        vol = f"{g['vol_ratio'].mean():.2f} ({g['vol_ratio'].min():.2f}-{g['vol_ratio'].max():.2f})"
        if lv is not None:
            lg = lv[lv["name"] == name].sort_values("seed")
            exits = ", ".join("none" if pd.isna(x) else str(int(x)) for x in lg["plateau_exit"])
            verdict = ((f"{_true(lg['learned'])} of {len(lg)}", f"{_true(lg['faithful'])} of {len(lg)}", exits)
                       if len(lg) else ("-", "-", "-"))
            lines.append(f"| {name} | {r['hmm']} | {r['num_seq'] // 3} | {warm} | {r['seq_len']} x {r['epochs']} | "
                         f"{r['batch_size']} | {r['lr']:g} | {extra} | {r['train_s']:.0f} | {verdict[0]} | "
                         f"{verdict[1]} | {verdict[2]} | {vol} | {_failing(g)} |")
            continue
        lines.append(
            f"| {name} | {r['hmm']} | {r['hidden']} | {r['input']} | {r['num_seq'] // 3} | "
            f"{warm} | {r['seq_len']} x {r['epochs']} | {r['batch_size']} | {r['lr']:g} | {extra} | "
            f"{r['train_s']:.0f} | {off} of {len(g)} | {vol} | "
            f"{g['dT'].mean():.3f} | {_converged(g)} | {_failing(g)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
