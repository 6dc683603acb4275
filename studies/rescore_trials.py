"""Score saved recipe-search weights (``recipe_search.py --save-dir``) with the current claims code.

    python studies/rescore_trials.py WEIGHTS_DIR [TRIAL ...]

Prints, per trial, seed and weights (last / best): converged, and the failing performance claims
with their statistic, exactly as the search and the pipeline score them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe_search import claims_score  # noqa: E402

from rnnhmm.hmm import build_hmm  # noqa: E402
from rnnhmm.model import Weights  # noqa: E402


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
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
