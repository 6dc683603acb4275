"""Models trained elsewhere (docs/pipeline.md, "Analysing models trained elsewhere").

Two ways to name them in a config:

* a ``models`` entry with ``external: path/to/weights.pth`` (one model: one HMM, hidden size,
  input dimension and seed; optional ``evolution: folder`` of ``model_epoch_{k}.pth``);
* ``external_tree``: the reference's ``TrainedModels/`` folder (``{Two..Five}/hidden_{H}/input_{D}/
  seed_{S}/{config.json, models/*.pth, models/evolution/}``, ``Fully_Connected/Seed 0``, ...), its
  folder names mapped to the config's HMMs. :func:`tree_entries` turns it into ``models`` entries of
  the first kind (marked with ``tree``).

A weights file is the ``state_dict`` of the reference's network (paper_spec B/C.3):
``nn.RNN(d, H, nonlinearity='relu', bias=False, batch_first=True)`` as ``rnn`` and
``nn.Linear(H, K, bias=False)`` as ``fc``: exactly the keys ``rnn.weight_ih_l0`` (H x d),
``rnn.weight_hh_l0`` (H x H), ``fc.weight`` (K x H); this package's own parameter names
(``weight_ih``, ``weight_hh``, ``readout``) are accepted too. Files not written by this pipeline are
read with ``torch.load(weights_only=True)`` only: a pickle that needs code to load is refused.

Everything that can be refused is refused when the Snakefile is parsed, before any job, in one line
naming the file: :func:`tree_entries` / :func:`check_entry` (torch-free: paths, config.json) and
:func:`check_external_files` (torch: keys, biases, shapes, values). The import job
(:func:`import_model`, ``workflow/scripts/import_model.py``) writes the pipeline's own model files
(``model.pt``, an empty ``losses.tsv``, ``evolution.pt``) so that every analysis runs unchanged;
it has no training history, and the claims that need one say n/a (:func:`no_history_claims`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import ConfigError

__all__ = ["REFERENCE_KEYS", "OWN_KEYS", "tree_entries", "check_entry", "external_entries",
           "read_state_dict", "check_state_dict", "load_external", "load_reference_weights", "evolution_files",
           "check_external_files",
           "import_model", "no_history_claims", "NO_HISTORY_CLAIMS"]

# reference key -> this package's parameter name (rnnhmm.model.NoiseRNN)
REFERENCE_KEYS = {"rnn.weight_ih_l0": "weight_ih", "rnn.weight_hh_l0": "weight_hh", "fc.weight": "readout"}
OWN_KEYS = ("weight_ih", "weight_hh", "readout")
# claims that read the training loss curve: n/a for a model imported without one
NO_HISTORY_CLAIMS = ("loss_drop_at_bifurcation", "emergence_order")
NO_HISTORY = "no training loss history (model trained elsewhere, imported without its loss curve)"


def _refuse(path, problem: str):
    """The one-line refusal (a ConfigError, so the Snakefile reports it like any config error)."""
    return ConfigError(f"refused external model {path}: {problem}")


# ----------------------------------------------------------------------------- config side (no torch)

def external_entries(cfg: dict) -> dict[str, dict]:
    """Model id -> its ``models`` entry, for the external models of a config."""
    out = {}
    for group in cfg.get("models", []):
        if group.get("external"):
            out[f"{group['hmms'][0]}/h{group['hidden'][0]}_d{group['input'][0]}/s{group['seeds'][0]}"] = group
    return out


_EPOCH = re.compile(r"^model_epoch_(\d+)\.pth$")


def evolution_files(folder) -> list[tuple[int, Path]]:
    """(epoch, path) of the ``model_epoch_{k}.pth`` files of an evolution folder, by epoch."""
    found = []
    for p in Path(folder).iterdir():
        m = _EPOCH.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def check_entry(i: int, group: dict) -> None:
    """Torch-free checks of one external ``models`` entry: one model, files present."""
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


def _reference_matrices(rc: dict):
    """(transition, emission) of the HMM a reference config.json describes (paper_spec A), or None
    when it does not say enough (summary.json)."""
    import numpy as np

    from .hmm import HMMError, fully_connected, linear_chain

    if rc.get("custom_transition_matrix") is not None and rc.get("custom_emission_matrix") is not None:
        return np.asarray(rc["custom_transition_matrix"], float), np.asarray(rc["custom_emission_matrix"], float)
    try:
        tm, em = rc.get("transition_method"), rc.get("emission_method")
        if tm == "target_prob" and em == "linear":
            h = linear_chain(rc["states"], rc.get("target_prob", 0.05))
        elif tm == "fully" and em == "triangular":
            h = fully_connected(rc["states"], rc.get("stay_prob", 0.95))
        else:
            return None
    except (HMMError, KeyError, TypeError):
        return None
    return h.transition, h.emission


def _check_reference_config(path: Path, rc: dict, hmm_name: str, hmm, hidden=None, input_=None) -> None:
    """A reference config.json (or summary.json) against the network the paper describes and the
    config's HMM it is mapped to."""
    import numpy as np

    if not isinstance(rc, dict):
        raise _refuse(path, "not a JSON object")
    nl = rc.get("nonlinearity", rc.get("rnn", {}).get("nonlinearity") if isinstance(rc.get("rnn"), dict) else None)
    if nl is not None and str(nl).lower() != "relu":
        raise _refuse(path, f"nonlinearity {nl!r}: only ReLU networks (the paper's) can be analysed")
    if rc.get("num_layers", 1) != 1:
        raise _refuse(path, f"num_layers {rc['num_layers']}: only single-layer RNNs can be analysed")
    if any(bool(b) for b in (rc.get("biased") or [])):
        raise _refuse(path, f"biased {rc['biased']}: only bias-free networks (biased [false, false]) can be analysed")
    if hidden is not None and rc.get("hidden_size") not in (None, hidden):
        raise _refuse(path, f"hidden_size {rc['hidden_size']} disagrees with its folder (hidden_{hidden})")
    if input_ is not None and rc.get("input_size") not in (None, input_):
        raise _refuse(path, f"input_size {rc['input_size']} disagrees with its folder (input_{input_})")
    info = rc.get("hmm") if isinstance(rc.get("hmm"), dict) else rc  # summary.json nests the HMM
    if info.get("states") not in (None, hmm.n_states):
        raise _refuse(path, f"{info['states']} HMM states, but it is mapped to HMM '{hmm_name}' with {hmm.n_states}")
    if info.get("outputs") not in (None, hmm.n_outputs):
        raise _refuse(path, f"{info['outputs']} outputs, but it is mapped to HMM '{hmm_name}' with {hmm.n_outputs}")
    ref = _reference_matrices(rc)
    if ref is not None:
        T, E = ref
        if T.shape != hmm.transition.shape or E.shape != hmm.emission.shape or not (
                np.allclose(T, hmm.transition, atol=1e-6) and np.allclose(E, hmm.emission, atol=1e-6)):
            raise _refuse(path, f"its HMM (transition_method {rc.get('transition_method')!r}, emission_method "
                                f"{rc.get('emission_method')!r}) is not the config's HMM '{hmm_name}' it is mapped to")


def _single_pth(path: Path, folder: Path) -> Path:
    models = folder / "models"
    files = sorted(p for p in models.glob("*.pth") if p.is_file()) if models.is_dir() else []
    if not files:
        raise _refuse(folder, "no models/*.pth weights file")
    if len(files) > 1:
        raise _refuse(folder, f"{len(files)} weights files in models/ ({', '.join(p.name for p in files)}); "
                              "name the one to use in a models entry with external:")
    return files[0]


_SEED_DIR = re.compile(r"^(?:seed_|Seed )(\d+)$")


def tree_entries(tree: dict, hmms: dict) -> list[dict]:
    """The ``models`` entries (one per model) of an ``external_tree`` config section: every model of
    the mapped folders that passes the filters ``hidden``, ``input``, ``seeds``. Reads config.json /
    summary.json (no torch, except for a folder whose json gives no input size: its weights' shape)."""
    from .hmm import build_hmm

    root = Path(tree["path"]).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"invalid config at config.external_tree.path: no such folder {tree['path']}")
    want = {k: set(tree[k]) if tree.get(k) is not None else None for k in ("hidden", "input", "seeds")}
    entries = []
    for folder_name, hmm_name in tree["hmms"].items():
        if hmm_name not in hmms:
            raise ConfigError(f"invalid config at config.external_tree.hmms.{folder_name}: unknown HMM '{hmm_name}'; "
                              f"defined: {', '.join(hmms)}")
        hmm = build_hmm(hmm_name, hmms[hmm_name])
        base = root / folder_name
        if not base.is_dir():
            raise ConfigError(f"invalid config at config.external_tree.hmms.{folder_name}: no folder {base}")
        found = []  # (hidden or None, input or None, seed, folder)
        for hdir in sorted(base.glob("hidden_*")):
            for ddir in sorted(hdir.glob("input_*")):
                for sdir in sorted(ddir.iterdir()):
                    m = _SEED_DIR.match(sdir.name)
                    if m and sdir.is_dir():
                        found.append((int(hdir.name[7:]), int(ddir.name[6:]), int(m.group(1)), sdir))
        for sdir in sorted(base.iterdir()):
            m = _SEED_DIR.match(sdir.name)
            if m and sdir.is_dir():
                found.append((None, None, int(m.group(1)), sdir))
        if not found:
            raise ConfigError(f"invalid config at config.external_tree.hmms.{folder_name}: {base} holds no "
                              "hidden_<H>/input_<D>/seed_<S> or 'Seed <S>' model folders")
        for hidden, input_, seed, sdir in found:
            if want["seeds"] is not None and seed not in want["seeds"]:
                continue
            rc_path = next((sdir / n for n in ("config.json", "summary.json") if (sdir / n).is_file()), None)
            rc = {}
            if rc_path is not None:
                try:
                    rc = json.loads(rc_path.read_text())
                except (ValueError, UnicodeDecodeError) as err:
                    raise _refuse(rc_path, f"not JSON ({err})") from None
                _check_reference_config(rc_path, rc, hmm_name, hmm, hidden, input_)
            pth = _single_pth(sdir, sdir)
            if hidden is None:
                hidden = rc.get("hidden_size") or (rc.get("rnn") or {}).get("hidden_size")
            if input_ is None:
                input_ = rc.get("input_size")
            if hidden is None or input_ is None:  # summary.json only: the weights say
                sd = read_state_dict(pth)
                w = _named(sd, pth)
                hidden, input_ = int(w["weight_hh"].shape[0]), int(w["weight_ih"].shape[1])
            if (want["hidden"] is not None and hidden not in want["hidden"]) or (
                    want["input"] is not None and input_ not in want["input"]):
                continue
            evo = sdir / "models" / "evolution"
            use_evo = tree.get("evolution", True) and evo.is_dir() and bool(evolution_files(evo))
            markers = sorted(int(p.stem[5:]) for p in sdir.glob("seed_*.txt") if p.stem[5:].isdigit())
            entry = {"name": f"{folder_name}/{sdir.relative_to(base)}", "hmms": [hmm_name], "hidden": [int(hidden)],
                     "input": [int(input_)], "seeds": [seed], "external": str(pth), "tree": str(root)}
            if use_evo:
                entry["evolution"] = str(evo)
            if rc_path is not None:
                entry["reference_config"] = str(rc_path)
            if markers:
                entry["rng_seed"] = markers[0]  # seed_<N>.txt: the run's actual RNG seed (paper_spec C.4)
            entries.append(entry)
    if not entries:
        raise ConfigError(f"invalid config at config.external_tree: no model of {root} passes the filters "
                          f"(hidden {tree.get('hidden')}, input {tree.get('input')}, seeds {tree.get('seeds')})")
    return entries


# ----------------------------------------------------------------------------- weights (torch)

def read_state_dict(path) -> dict:
    """``torch.load(path, weights_only=True)`` on the CPU; a file that needs code to unpickle, or is
    no torch file, is refused in one line."""
    import pickle
    import zipfile

    import torch

    if not zipfile.is_zipfile(path):
        raise _refuse(path, "not a torch file (torch.save writes a zip archive; this is none)")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        m = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        what = f"it needs {m.group(1)}" if m else str(err).strip().splitlines()[0][:120]
        raise _refuse(path, f"its pickle needs code to load (torch.load weights_only=True refused it: {what}); "
                            "save model.state_dict() instead of the model object") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is one refusal line
        raise _refuse(path, f"not a readable torch file ({type(err).__name__}: {str(err).splitlines()[0][:160]})") \
            from None
    if not isinstance(sd, dict):
        raise _refuse(path, f"holds a {type(sd).__name__}, not a state_dict (a dict of tensors)")
    return sd


def _named(sd: dict, path) -> dict:
    """A state_dict in the reference's (or this package's) names -> {weight_ih, weight_hh, readout};
    biases, missing or extra keys refused."""
    import torch

    keys = set(sd)
    biases = sorted(k for k in keys if "bias" in str(k))
    if biases:
        raise _refuse(path, f"has biases ({', '.join(map(str, biases))}); only bias-free networks (the paper's "
                            "nn.RNN(..., bias=False) and nn.Linear(..., bias=False)) can be analysed")
    for names in (REFERENCE_KEYS, {k: k for k in OWN_KEYS}):
        if keys & set(names):
            missing, extra = sorted(set(names) - keys), sorted(map(str, keys - set(names)))
            if missing or extra:
                txt = "; ".join(t for t in (f"missing {', '.join(missing)}" if missing else "",
                                            f"unexpected {', '.join(extra)}" if extra else "") if t)
                raise _refuse(path, f"{txt}; expected exactly {', '.join(names)}")
            out = {names_to: sd[k] for k, names_to in names.items()}
            break
    else:
        raise _refuse(path, f"keys {', '.join(sorted(map(str, keys)))[:200]} are not the reference's "
                            f"({', '.join(REFERENCE_KEYS)})")
    for k, v in out.items():
        if not isinstance(v, torch.Tensor) or v.dim() != 2 or not v.is_floating_point():
            raise _refuse(path, f"{k} is not a 2-D floating-point tensor")
    return out


def check_state_dict(sd: dict, path, hidden: int, input_: int, n_outputs: int, hmm: str = "") -> dict:
    """Named float32 weights of a state_dict whose shapes fit (H, d, K); else one refusal line."""
    import torch

    w = _named(sd, path)
    H, D, K = int(hidden), int(input_), int(n_outputs)
    ih, hh, ro = w["weight_ih"].shape, w["weight_hh"].shape, w["readout"].shape
    if tuple(hh) != (H, H) or ih[0] != H or ro[1] != H:
        raise _refuse(path, f"hidden size {hh[0]} (rnn.weight_hh_l0 {tuple(hh)}), but the config says H = {H}")
    if ih[1] != D:
        raise _refuse(path, f"input dimension {ih[1]} (rnn.weight_ih_l0 {tuple(ih)}), but the config says d = {D}")
    if ro[0] != K:
        raise _refuse(path, f"{ro[0]} readout rows (fc.weight {tuple(ro)}), but HMM '{hmm}' has {K} outputs")
    for k, v in w.items():
        if not bool(torch.isfinite(v).all()):
            raise _refuse(path, f"{k} holds non-finite values")
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
    :mod:`rnnhmm.training.group`: the weights (as both 'last' and 'best'), no loss history, a plateau
    verdict from one validation loss measured now on the HMM's validation data, and the evolution
    snapshots (epoch 1 and every ``every``-th epoch) when the entry has an evolution folder."""
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
    # one validation-style loss of the final weights (h_0 = 0, all L symbols from h_1..h_L)
    val = np.asarray(d["val"], dtype=np.int64)
    bs, blur = min(int(params.get("batch_size", 4096)), len(val)), float(params.get("blur", 0.2))
    gen = torch.Generator().manual_seed(int(entry["seeds"][0]))
    sampled = generate_outputs(Weights(w["weight_ih"], w["weight_hh"], w["readout"]), len(val), val.shape[1],
                               uniform_first=False, generator=gen).numpy()
    loss = batched_loss(sampled, val, K, bs, blur)
    refs = reference_losses(hmm, val, batch_size=bs, blur=blur, seed=int(entry["seeds"][0]))
    verdict = plateau_verdict([loss], refs, last=1)
    verdict["message"] = (f"external model ({NO_HISTORY}); validation loss of its final weights measured at "
                          f"import: {verdict['message']}")
    log(verdict["message"])
    info = {k: entry.get(k) for k in ("external", "evolution", "tree", "reference_config", "rng_seed", "name")}
    prov = provenance(params, int(entry["seeds"][0]))
    prov.update(external=info, training="none: trained elsewhere")
    blob = {"plateau": verdict, "last": w, "best": w, "best_epoch": None, "best_val": None,
            "train_loss": [], "val_loss": [], "external": info,
            "hmm": {"name": hmm.name, "transition": d["transition"], "emission": d["emission"], "start": d["start"]},
            "provenance": prov}
    torch.save(blob, out / "model.pt")
    pd.DataFrame({"epoch": [], "train": [], "val": []}).to_csv(out / "losses.tsv", sep="\t", index=False)
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
