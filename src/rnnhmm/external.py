"""Models trained elsewhere (docs/pipeline.md, "Analysing models trained elsewhere").

Two ways to name them in a config:

* a ``models`` entry with ``external: path/to/weights.pth`` (one model: one HMM, hidden size,
  input dimension and seed; optional ``evolution: folder`` of ``model_epoch_{k}.pth`` and
  ``losses: training_results.json``); where the file lies in a run folder of the reference's code
  (``<run>/models/<file>.pth``) its ``config.json`` is checked against the entry and its
  ``training_results.json`` gives the loss curve;
* ``external_tree``: a folder in one of the reference's layouts (:mod:`rnnhmm.external_layouts`:
  the published ``TrainedModels/`` tree, or the ``Experiments/<ts>/<Config>_seed<S>_h<H>_i<D>/``
  run folders its training script writes), its folder names mapped to the config's HMMs.
  :func:`tree_entries` turns it into ``models`` entries of the first kind (marked with ``tree``).

A weights file is the ``state_dict`` of the reference's network (paper_spec B/C.3):
``nn.RNN(d, H, nonlinearity='relu', bias=False, batch_first=True)`` as ``rnn`` and
``nn.Linear(H, K, bias=False)`` as ``fc``: exactly the keys ``rnn.weight_ih_l0`` (H x d),
``rnn.weight_hh_l0`` (H x H), ``fc.weight`` (K x H); this package's own parameter names
(``weight_ih``, ``weight_hh``, ``readout``) are accepted too. Files not written by this pipeline are
read with ``torch.load(weights_only=True)`` only: a pickle that needs code to load is refused.

Everything that can be refused is refused when the Snakefile is parsed, before any job, in one line
naming the file (and the tensor, key or epoch): :func:`tree_entries` / :func:`check_entry`
(torch-free: paths, Git LFS pointers, config.json, training_results.json) and
:func:`check_external_files` (torch: keys, biases, shapes, values, truncated files). The import job
(:func:`import_model`, ``workflow/scripts/import_model.py``) writes the pipeline's own model files
(``model.pt``, ``losses.tsv``, ``evolution.pt``) so that every analysis runs unchanged; a model
imported without a loss curve has no training history, and the claims that need one say n/a
(:func:`no_history_claims`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import external_layouts as layouts
from .errors import ConfigError
from .external_layouts import (
    check_reference_config,
    evolution_files,
    history_belongs,
    lfs_problem,
    mapped_hmm,
    neighbour_files,
    read_json,
    refuse,
    training_history,
)

__all__ = ["REFERENCE_KEYS", "OWN_KEYS", "tree_entries", "check_entry", "external_entries",
           "read_state_dict", "check_state_dict", "load_external", "load_reference_weights", "evolution_files",
           "check_external_files", "import_model", "no_history_claims", "NO_HISTORY_CLAIMS"]

# reference key -> this package's parameter name (rnnhmm.model.NoiseRNN)
REFERENCE_KEYS = {"rnn.weight_ih_l0": "weight_ih", "rnn.weight_hh_l0": "weight_hh", "fc.weight": "readout"}
OWN_KEYS = ("weight_ih", "weight_hh", "readout")
# claims that read the training loss curve: n/a for a model imported without one
NO_HISTORY_CLAIMS = ("loss_drop_at_bifurcation", "emergence_order")
NO_HISTORY = "no training loss history (model trained elsewhere, imported without its loss curve)"


# ----------------------------------------------------------------------------- config side (no torch)

def external_entries(cfg: dict) -> dict[str, dict]:
    """Model id -> its ``models`` entry, for the external models of a config."""
    out = {}
    for group in cfg.get("models", []):
        if group.get("external"):
            out[f"{group['hmms'][0]}/h{group['hidden'][0]}_d{group['input'][0]}/s{group['seeds'][0]}"] = group
    return out


def check_entry(i: int, group: dict, hmms: dict | None = None) -> None:
    """Torch-free checks of one external ``models`` entry: one model, files present (no LFS
    pointer), and where the file lies in a reference run folder (``<run>/models/<file>.pth``) its
    ``config.json`` against the entry's HMM and sizes; that folder's ``training_results.json`` (or
    the entry's ``losses``) becomes the entry's ``losses``."""
    where = f"config.models[{i}]"
    for key in ("hmms", "hidden", "input", "seeds"):
        if len(group[key]) != 1:
            raise ConfigError(f"invalid config at {where}.{key}: an external model names exactly one value "
                              f"(one file is one model), got {group[key]}")
    path = Path(group["external"])
    if not path.is_file():
        raise ConfigError(f"invalid config at {where}.external: no such file {path}")
    evo = group.get("evolution")
    if evo:
        if not Path(evo).is_dir():
            raise ConfigError(f"invalid config at {where}.evolution: no such folder {evo}")
        if not evolution_files(evo):
            raise ConfigError(f"invalid config at {where}.evolution: {evo} holds no model_epoch_<k>.pth files")
    rc_path, tr = neighbour_files(path)
    rc = read_json(rc_path) if rc_path is not None else {}
    if rc_path is not None and hmms is not None and group["hmms"][0] in hmms:
        hmm = mapped_hmm(f"{where}.hmms", group["hmms"][0], hmms)
        check_reference_config(rc_path, rc, group["hmms"][0], hmm, group["hidden"][0], group["input"][0],
                               where=f"{where} (the models entry)")
    if group.get("losses"):
        if not Path(group["losses"]).is_file():
            raise ConfigError(f"invalid config at {where}.losses: no such file {group['losses']}")
        training_history(group["losses"])
    elif tr is not None and history_belongs(path, rc):
        training_history(tr)  # the run's own curve (rnnhmm.external_layouts.history_belongs)
        group["losses"] = str(tr)


def _sizes_of(pth) -> tuple[int, int]:
    """(hidden, input) read off a weights file's shapes (a folder whose json gives no sizes)."""
    w = _named(read_state_dict(pth), pth)
    return int(w["weight_hh"].shape[0]), int(w["weight_ih"].shape[1])


def tree_entries(tree: dict, hmms: dict) -> list[dict]:
    """The ``models`` entries (one per model) of an ``external_tree`` config section
    (:func:`rnnhmm.external_layouts.tree_entries`; the weights' shapes where a json gives no sizes)."""
    return layouts.tree_entries(tree, hmms, sizes_of=_sizes_of)


# ----------------------------------------------------------------------------- weights (torch)

def read_state_dict(path) -> dict:
    """``torch.load(path, weights_only=True)`` on the CPU; a Git LFS pointer, a truncated or empty
    file, a file that is no torch file or needs code to unpickle is refused in one line."""
    import pickle
    import zipfile

    import torch

    lfs = lfs_problem(path)
    if lfs:
        raise refuse(path, lfs)
    if not zipfile.is_zipfile(path):
        size = Path(path).stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
        if size == 0:
            raise refuse(path, "empty file (0 bytes); copy or download it again")
        if head == b"PK\x03\x04":
            raise refuse(path, f"truncated or damaged: it starts as the zip archive torch.save writes, but its end "
                               f"(the archive's directory) is missing ({size} bytes); copy or download it again")
        raise refuse(path, "not a torch file (torch.save writes a zip archive; this is none)")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        m = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        what = f"it needs {m.group(1)}" if m else str(err).strip().splitlines()[0][:120]
        raise refuse(path, f"its pickle needs code to load (torch.load weights_only=True refused it: {what}); "
                           "save model.state_dict() instead of the model object") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is one refusal line
        raise refuse(path, f"not a readable torch file ({type(err).__name__}: {str(err).splitlines()[0][:160]})") \
            from None
    if not isinstance(sd, dict):
        raise refuse(path, f"holds a {type(sd).__name__}, not a state_dict (a dict of tensors)")
    return sd


def _named(sd: dict, path) -> dict:
    """A state_dict in the reference's (or this package's) names -> {weight_ih, weight_hh, readout};
    biases, missing or extra keys refused."""
    import torch

    keys = set(sd)
    biases = sorted(k for k in keys if "bias" in str(k))
    if biases:
        raise refuse(path, f"has biases ({', '.join(map(str, biases))}); only bias-free networks (the paper's "
                           "nn.RNN(..., bias=False) and nn.Linear(..., bias=False)) can be analysed")
    for names in (REFERENCE_KEYS, {k: k for k in OWN_KEYS}):
        if keys & set(names):
            missing, extra = sorted(set(names) - keys), sorted(map(str, keys - set(names)))
            if missing or extra:
                txt = "; ".join(t for t in (f"missing {', '.join(missing)}" if missing else "",
                                            f"unexpected {', '.join(extra)}" if extra else "") if t)
                raise refuse(path, f"{txt}; expected exactly {', '.join(names)}")
            out = {names_to: sd[k] for k, names_to in names.items()}
            for k in names:
                v = sd[k]
                if not isinstance(v, torch.Tensor) or v.dim() != 2 or not v.is_floating_point():
                    raise refuse(path, f"{k} is not a 2-D floating-point tensor")
            break
    else:
        raise refuse(path, f"keys {', '.join(sorted(map(str, keys)))[:200]} are not the reference's "
                           f"({', '.join(REFERENCE_KEYS)})")
    return out


def check_state_dict(sd: dict, path, hidden: int, input_: int, n_outputs: int, hmm: str = "") -> dict:
    """Named float32 weights of a state_dict whose shapes fit (H, d, K); else one refusal line."""
    import torch

    w = _named(sd, path)
    key = {own: ref for ref, own in REFERENCE_KEYS.items()} if "rnn.weight_hh_l0" in sd else {k: k for k in OWN_KEYS}
    H, D, K = int(hidden), int(input_), int(n_outputs)
    ih, hh, ro = tuple(w["weight_ih"].shape), tuple(w["weight_hh"].shape), tuple(w["readout"].shape)
    if hh != (H, H):
        size = f"hidden size {hh[0]}" if hh[0] == hh[1] else "not square"
        raise refuse(path, f"{key['weight_hh']} has shape {hh}, expected ({H}, {H}) (H x H): {size}, but the config "
                           f"says H = {H}")
    if ih[0] != H:
        raise refuse(path, f"{key['weight_ih']} has shape {ih}, expected ({H}, {D}) (H x d): {ih[0]} rows, but "
                           f"{key['weight_hh']} and the config say H = {H}")
    if ih[1] != D:
        raise refuse(path, f"{key['weight_ih']} has shape {ih}, expected ({H}, {D}) (H x d): input dimension {ih[1]}, "
                           f"but the config says d = {D}")
    if ro[1] != H:
        raise refuse(path, f"{key['readout']} has shape {ro}, expected ({K}, {H}) (K x H): {ro[1]} columns, but "
                           f"{key['weight_hh']} and the config say H = {H}")
    if ro[0] != K:
        raise refuse(path, f"{key['readout']} has shape {ro}, expected ({K}, {H}) (K x H): {ro[0]} readout rows, but "
                           f"HMM '{hmm}' has {K} outputs")
    for k, v in w.items():
        if not bool(torch.isfinite(v).all()):
            raise refuse(path, f"{key[k]} holds non-finite values")
    return {k: v.detach().to(torch.float32).contiguous() for k, v in w.items()}


def load_external(path, hidden: int, input_: int, n_outputs: int, hmm: str = "") -> dict:
    """The checked weights {weight_ih, weight_hh, readout} of an external file (weights_only=True)."""
    return check_state_dict(read_state_dict(path), path, hidden, input_, n_outputs, hmm)


def load_reference_weights(path, hidden: int, input_dim: int, n_outputs: int = 3):
    """:class:`rnnhmm.model.Weights` of a model trained elsewhere: a state_dict with the reference's
    keys (``rnn.weight_ih_l0``, ``rnn.weight_hh_l0``, ``fc.weight``; no biases), read with
    ``torch.load(weights_only=True)`` and checked against the sizes (a bad file raises ConfigError
    with one line naming it)."""
    from .model import Weights

    w = load_external(path, hidden, input_dim, n_outputs)
    return Weights(w["weight_ih"], w["weight_hh"], w["readout"])


def check_external_files(cfg: dict) -> None:
    """Every external model's weights (and the first and last evolution snapshots) are readable with
    weights_only=True and fit the config: called when the Snakefile is parsed (before any job).
    The import job checks every snapshot again."""
    from .hmm import build_hmm

    for g in external_entries(cfg).values():
        h = g["hmms"][0]
        K = build_hmm(h, cfg["hmms"][h]).n_outputs
        load_external(g["external"], g["hidden"][0], g["input"][0], K, h)
        if g.get("evolution"):
            files = evolution_files(g["evolution"])
            for _, p in {files[0][1]: files[0], files[-1][1]: files[-1]}.values():
                load_external(p, g["hidden"][0], g["input"][0], K, h)


# ----------------------------------------------------------------------------- the import job

def import_model(entry: dict, model_id: str, data_file, params: dict, every: int, out_dir, provenance,
                 log=print) -> None:
    """Write ``out_dir/{model.pt, losses.tsv, evolution.pt}`` for an external model, in the format of
    :mod:`rnnhmm.training.group`: the weights (as both 'last' and 'best'), the loss curve of the
    entry's ``losses`` (training_results.json, as the reference measured it:
    :mod:`rnnhmm.external_layouts`) or none, a plateau verdict from one validation loss measured now
    on the HMM's validation data (this pipeline's convention, so that it compares with its reference
    levels), and the evolution snapshots (epoch 1 and every ``every``-th epoch) when the entry has an
    evolution folder."""
    import numpy as np
    import pandas as pd
    import torch

    from .hmm import HMM
    from .model import Weights, generate_outputs
    from .training.convergence import batched_loss, plateau_verdict, reference_losses

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


# ----------------------------------------------------------------------------- claims

def no_history_claims(rows: list[dict], evolution_paths) -> list[dict]:
    """Claim rows with those that read the training loss curve (:data:`NO_HISTORY_CLAIMS`) made n/a,
    with the reason, for models whose evolution record has no loss curve (imported models)."""
    no_curve = set()
    for p in evolution_paths:
        ev = json.loads(Path(p).read_text())
        if not ev.get("val_loss"):
            no_curve.add(ev["model"])
    out = []
    for r in rows:
        if r.get("claim") in NO_HISTORY_CLAIMS and r.get("model") in no_curve:
            r = {**r, "ours": "-", "outcome": "n/a", "value": float("nan"), "reason": NO_HISTORY}
        out.append(r)
    return out
