"""The import step: a model trained elsewhere (config ``external`` / ``external_tree``:
:mod:`rnnhmm.external_config`) written into the files a training job leaves (:mod:`.group`), so that
every analysis runs on it unchanged (``workflow/scripts/import_model.py``). Its weights are read by
:mod:`rnnhmm.external_weights` (``torch.load(weights_only=True)``), its loss curve by
:mod:`rnnhmm.external_layouts`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnhmm.external_layouts import NO_HISTORY, evolution_files, training_history
from rnnhmm.external_weights import OWN_KEYS, load_external
from rnnhmm.hmm import HMM
from rnnhmm.model import Weights, generate_outputs

from .convergence import batched_loss, plateau_verdict, reference_losses

__all__ = ["import_model"]


def import_model(entry: dict, model_id: str, data_file, params: dict, every: int, out_dir, provenance,
                 log=print) -> None:
    """Write ``out_dir/{model.pt, losses.tsv, evolution.pt}`` for an external model, in the format of
    :mod:`rnnhmm.training.group`: the weights (as both 'last' and 'best'), the loss curve of the
    entry's ``losses`` (training_results.json, as the reference measured it:
    :mod:`rnnhmm.external_layouts`) or none, a plateau verdict from one validation loss measured now
    on the HMM's validation data (this pipeline's convention, so that it compares with its reference
    levels), and the evolution snapshots (epoch 1 and every ``every``-th epoch) when the entry has an
    evolution folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = np.load(data_file)
    hmm = HMM(entry["hmms"][0], d["transition"], d["emission"], d["start"])
    H, D, K = entry["hidden"][0], entry["input"][0], hmm.n_outputs
    w = load_external(entry["external"], H, D, K, hmm.name)
    log(f"{model_id}: imported {entry['external']} (H {H}, d {D}, K {K}; weights_only=True)")
    hist = training_history(entry["losses"]) if entry.get("losses") else None
    train_loss, val_loss = (hist["train"], hist["val"]) if hist else ([], [])
    if hist:
        log(f"{model_id}: loss curve of {len(val_loss)} epochs from {entry['losses']} (final validation loss "
            f"{val_loss[-1]:.4f}, best {min(val_loss):.4f} at epoch {int(np.argmin(val_loss)) + 1})")
    # one validation-style loss of the final weights (h_0 = 0, all L symbols from h_1..h_L)
    val = np.asarray(d["val"], dtype=np.int64)
    bs, blur = min(int(params.get("batch_size", 4096)), len(val)), float(params.get("blur", 0.2))
    gen = torch.Generator().manual_seed(int(entry["seeds"][0]))
    sampled = generate_outputs(Weights(w["weight_ih"], w["weight_hh"], w["readout"]), len(val), val.shape[1],
                               uniform_first=False, generator=gen).numpy()
    loss = batched_loss(sampled, val, K, bs, blur)
    refs = reference_losses(hmm, val, batch_size=bs, blur=blur, seed=int(entry["seeds"][0]))
    verdict = plateau_verdict([loss], refs, last=1)
    what = (f"its loss curve ({len(val_loss)} epochs) from {Path(entry['losses']).name}" if hist else NO_HISTORY)
    verdict["message"] = (f"external model ({what}); validation loss of its final weights measured at "
                          f"import: {verdict['message']}")
    log(verdict["message"])
    info = {k: entry.get(k) for k in ("external", "evolution", "losses", "tree", "reference_config", "rng_seed",
                                      "name")}
    # trained elsewhere, without this pipeline's warm-up curriculum: its curve has no phase switch
    prov = provenance({**params, "warmup_epochs": 0, "warmup_seq_len": 0}, int(entry["seeds"][0]))
    prov.update(external=info, training="none: trained elsewhere")
    blob = {"plateau": verdict, "last": w, "best": w,
            "best_epoch": int(np.argmin(val_loss)) + 1 if hist else None, "best_val": min(val_loss) if hist else None,
            "train_loss": train_loss, "val_loss": val_loss, "external": info,
            "hmm": {"name": hmm.name, "transition": d["transition"], "emission": d["emission"], "start": d["start"]},
            "provenance": prov}
    torch.save(blob, out / "model.pt")
    pd.DataFrame({"epoch": list(range(1, len(val_loss) + 1)), "train": train_loss, "val": val_loss}).to_csv(
        out / "losses.tsv", sep="\t", index=False)
    evo = {"epochs": []}
    if entry.get("evolution"):
        files = [(k, p) for k, p in evolution_files(entry["evolution"]) if k == 1 or k % max(1, int(every)) == 0]
        snaps = [load_external(p, H, D, K, hmm.name) for _, p in files]
        evo = {"epochs": [k for k, _ in files], **{k: torch.stack([s[k] for s in snaps]) for k in OWN_KEYS}}
        log(f"{model_id}: {len(files)} evolution snapshots (epochs {files[0][0]}..{files[-1][0]}, every {every})")
    torch.save(evo, out / "evolution.pt")
