"""Score saved recipe-search weights (``recipe_search.py --save-dir``) with the current claims code.

    python studies/rescore_trials.py WEIGHTS_DIR [TRIAL ...]
    python studies/rescore_trials.py --learned OUT.tsv WEIGHTS_DIR [TRIAL ...]
    python studies/rescore_trials.py --kl OUT.tsv WEIGHTS_DIR [TRIAL ...]

Prints, per trial, seed and weights (last / best): converged, and the failing performance claims
with their statistic, exactly as the search and the pipeline score them. With ``--learned``: the
pipeline's ``learned`` and ``faithful`` verdicts of each seed's best weights
(:func:`rnnhmm.evaluation.evaluate.model_metrics`, :func:`rnnhmm.claims.learned.learned_verdict`,
the metrics settings of config/cpu150.yaml: n_seq 1000, floor_repeats 3), the plateau-exit epoch
of the validation loss and the failing conditions, one row per seed appended to OUT.tsv (trials
already there are skipped). With ``--kl``: each seed's KL rate from its HMM at the pipeline's
protocol (:func:`rnnhmm.evaluation.evaluate.model_likelihood` with config/cpu150.yaml's
``likelihood`` settings: 300 sequences of the evaluation length, particles doubled 64 -> 1024,
best weights) and the KL claim (:func:`rnnhmm.claims.performance.kl_claim`), one row per seed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_search import claims_score  # noqa: E402

from rnnhmm.hmm import build_hmm  # noqa: E402
from rnnhmm.model import Weights  # noqa: E402

LEARNED_COLUMNS = ["name", "hmm", "seed", "learned", "faithful", "plateau_exit", "val_last", "val_hmm", "why"]
KL_COLUMNS = ["name", "hmm", "seed", "kl_rate", "kl_se", "kl_self", "kl_excess_se", "particles", "converged",
              "dead_sequences", "kl_claim"]
LIKELIHOOD = {"n_seq": 300, "p0": 64, "p_max": 1024, "paired": True, "seed": 4049, "weights": "best"}
METRICS = {"n_seq": 1000, "weights": "best", "seed": 2025, "uniform_first_symbol": True, "sinkhorn_eps": 0.1,
           "max_iter": 1000, "null_repeats": 200}


def learned_rows(path: Path, floors: dict) -> list[dict]:
    """The learned / faithful verdict of one saved seed (best weights), as the pipeline's metrics
    job and summary compute it; the trial's validation curve stands in for the training record."""
    import tempfile

    import numpy as np

    from rnnhmm.analyses.evolution import phase_starts
    from rnnhmm.analyses.measures import plateau_exit
    from rnnhmm.claims.learned import faithful_verdict, learned_verdict
    from rnnhmm.evaluation.evaluate import hmm_floor, model_metrics

    blob = torch.load(path, weights_only=False)
    t, val = blob["trial"], [float(v) for v in blob["val_loss"]]
    seed = int(path.stem.rsplit("_s", 1)[1])
    name = t["hmm"]["name"]
    spec = {**t["hmm"], "seq_len": t["seq_len"], "eval_seq_len": t.get("eval_seq_len", 100)}
    L = spec["eval_seq_len"]
    if (name, L) not in floors:
        floors[(name, L)] = hmm_floor(build_hmm(name, spec), L, METRICS["n_seq"], 3, 99, METRICS["sinkhorn_eps"],
                                      METRICS["max_iter"])
    warm = int(t.get("warmup_epochs", 0) or 0)
    record = {"last": blob["last"], "best": blob["best"], "val_loss": val, "train_loss": val,
              "best_val": float(np.nanmin(val)), "best_epoch": int(np.nanargmin(val)) + 1,
              "provenance": {"params": {"batch_size": t.get("batch_size", 512), "blur": t.get("blur", 0.2),
                                        "seq_len": t["seq_len"], "warmup_epochs": warm,
                                        "warmup_seq_len": t.get("warmup_seq_len", 0)}}}
    with tempfile.TemporaryDirectory() as d:
        mp = Path(d) / "model.pt"
        torch.save(record, mp)
        m, _ = model_metrics(mp, name, spec, METRICS, t["hidden"], t["input"], seed, log=lambda *_: None)
    ok, why = learned_verdict(m, floors[(name, L)])
    pe = plateau_exit(val, phase_starts=phase_starts(warm, len(val)))
    return [{"name": t["name"], "hmm": name, "seed": seed, "learned": ok,
             "faithful": faithful_verdict(m, floors[(name, L)]), "plateau_exit": pe["epoch"],
             "val_last": m["validation"].get("last_mean"), "val_hmm": m["validation"].get("hmm_mean"),
             "why": "; ".join(why).replace("\t", " ") or "-"}]


def kl_rows(path: Path, floors: dict) -> list[dict]:
    """The KL rate of one saved seed (best weights) at the pipeline's protocol, and its KL claim."""
    import tempfile

    from rnnhmm.claims.performance import kl_claim
    from rnnhmm.evaluation.evaluate import model_likelihood

    blob = torch.load(path, weights_only=False)
    t = blob["trial"]
    seed = int(path.stem.rsplit("_s", 1)[1])
    name = t["hmm"]["name"]
    spec = {**t["hmm"], "seq_len": t["seq_len"], "eval_seq_len": t.get("eval_seq_len", 100)}
    with tempfile.TemporaryDirectory() as d:
        mp = Path(d) / "model.pt"
        torch.save({"last": blob["last"], "best": blob["best"]}, mp)
        rec, _ = model_likelihood(mp, name, spec, LIKELIHOOD, True, t["hidden"], t["input"], seed, log=lambda *_: None)
    c = kl_claim(rec)
    return [{"name": t["name"], "hmm": name, "seed": seed, "kl_rate": rec["kl_rate"], "kl_se": rec["kl_se"],
             "kl_self": rec.get("kl_self"), "kl_excess_se": rec.get("kl_excess_se"), "particles": rec["particles"],
             "converged": rec["converged"], "dead_sequences": rec["dead_sequences"], "kl_claim": c["outcome"]}]


def learned_table(out: Path, folder: Path, trials: set, rows_of=None, columns=None) -> None:
    """One row per saved seed of ``folder`` (trials already in ``out`` skipped): ``rows_of`` (default
    :func:`learned_rows`) with ``columns`` (default LEARNED_COLUMNS)."""
    rows_of, columns = rows_of or learned_rows, columns or LEARNED_COLUMNS
    done = set()
    if out.exists():
        done = {line.split("\t")[0] for line in out.read_text().splitlines()[1:]}
    else:
        out.write_text("\t".join(columns) + "\n")
    floors: dict = {}
    for path in sorted(folder.glob("*_s*.pt")):
        name = path.stem.rsplit("_s", 1)[0]
        if name in done or (trials and name not in trials):
            continue
        for r in rows_of(path, floors):
            line = "\t".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in columns)
            print(line, flush=True)
            with out.open("a") as fh:
                fh.write(line + "\n")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    if argv and argv[0] == "--learned":
        learned_table(Path(argv[1]), Path(argv[2]), set(argv[3:]))
        return
    if argv and argv[0] == "--kl":
        learned_table(Path(argv[1]), Path(argv[2]), set(argv[3:]), kl_rows, KL_COLUMNS)
        return
    folder, trials = Path(argv[0]), set(argv[1:])
    torch.set_num_threads(1)
    for path in sorted(folder.glob("*_s*.pt")):
        blob = torch.load(path, weights_only=False)
        t = blob["trial"]
        if trials and t["name"] not in trials:
            continue
        seed = int(path.stem.rsplit("_s", 1)[1])
        hmm = build_hmm(t["hmm"]["name"], t["hmm"])
        L = t.get("eval_seq_len", 100)
        for kind in ("last", "best"):
            sd = blob[kind]
            ok, fails = claims_score(Weights(sd["weight_ih"], sd["weight_hh"], sd["readout"]), hmm,
                                     t["hmm"]["name"], L, seed, t["input"])
            print(f"{t['name']} s{seed} {kind}: converged {ok}; failing: {fails}", flush=True)


if __name__ == "__main__":
    main()
