"""The weights of models trained elsewhere, read and checked (torch, imported inside the functions:
the module itself is light). docs/pipeline.md, "Analysing models trained elsewhere";
:mod:`rnnhmm.external_config` names the files, :mod:`rnnhmm.training.external` imports them.

A weights file is the ``state_dict`` of the reference's network (docs/paper.md B/C.3):
``nn.RNN(d, H, nonlinearity='relu', bias=False, batch_first=True)`` as ``rnn`` and
``nn.Linear(H, K, bias=False)`` as ``fc``: exactly the keys ``rnn.weight_ih_l0`` (H x d),
``rnn.weight_hh_l0`` (H x H), ``fc.weight`` (K x H); this package's own parameter names
(``weight_ih``, ``weight_hh``, ``readout``) are accepted too. Files not written by this pipeline are
read with ``torch.load(weights_only=True)`` only: a pickle that needs code to load is refused.
:func:`check_external_files` reads every external model's weights when the Snakefile is parsed
(keys, biases, shapes, values, truncated files), so that a bad file is refused in one line naming
it (and the tensor, key or epoch) before any job.
"""

from __future__ import annotations

import re
from pathlib import Path

from .external_layouts import evolution_files, lfs_problem, refuse

__all__ = ["REFERENCE_KEYS", "OWN_KEYS", "read_state_dict", "weight_sizes", "check_state_dict", "load_external",
           "load_reference_weights", "check_external_files"]

# reference key -> this package's parameter name (rnnhmm.model.NoiseRNN)
REFERENCE_KEYS = {"rnn.weight_ih_l0": "weight_ih", "rnn.weight_hh_l0": "weight_hh", "fc.weight": "readout"}
OWN_KEYS = ("weight_ih", "weight_hh", "readout")


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


def weight_sizes(pth) -> tuple[int, int]:
    """(hidden, input) read off a weights file's shapes (a folder whose json gives no sizes)."""
    w = _named(read_state_dict(pth), pth)
    return int(w["weight_hh"].shape[0]), int(w["weight_ih"].shape[1])


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
    weights_only=True and fit the config (validated: :func:`rnnhmm.config.validate_config`): called
    when the Snakefile is parsed (before any job). The import job checks every snapshot again."""
    from .hmm import build_hmm

    for g in cfg.get("models", []):
        if not g.get("external"):
            continue
        h = g["hmms"][0]
        K = build_hmm(h, cfg["hmms"][h]).n_outputs
        load_external(g["external"], g["hidden"][0], g["input"][0], K, h)
        if g.get("evolution"):
            files = evolution_files(g["evolution"])
            for _, p in {files[0][1]: files[0], files[-1][1]: files[-1]}.values():
                load_external(p, g["hidden"][0], g["input"][0], K, h)
