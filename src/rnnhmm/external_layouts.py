"""Where the files of models trained elsewhere lie, and what the files beside the weights say
(torch-free; :mod:`rnnhmm.external_weights` reads the weights). docs/pipeline.md, "Analysing models
trained elsewhere".

Two folder layouts, both as the reference's code (github.com/EliaTorre/hmmrnn, ``scripts/``)
writes them, are read by ``config.external_tree`` (``layout``: ``auto`` tells them apart):

* ``TrainedModels``: the published tree, ``<Name>/hidden_<H>/input_<D>/seed_<S>/`` and
  ``<Name>/Seed <S>/`` (also what ``Manager.run_grid_search`` writes under
  ``Experiments/grid_search_<ts>/<Config>/``);
* ``Experiments``: what ``scripts/train.py`` (``Manager.run_experiment``) writes,
  ``Experiments/<YYYYmmdd_HHMMSS>/<Config>_seed<S>[_h<H>][_i<D>]/`` with ``config.json``,
  ``models/<states>HMM_<K>Outputs_<emission>_<n>kData_<lr>lr_<loss>Loss.pth``,
  ``training_results.json`` and ``summary.json`` (``_h``/``_i`` only where the sizes were given on
  its command line; the sizes are then read from ``config.json``). ``path`` may be one
  ``Experiments/<ts>`` folder or ``Experiments/`` itself (every timestamp folder).

In both, ``hmms`` maps the folder's name (``Two`` or ``HMMTwo``) to an HMM of the config, and the
filters (``hmms``, ``seeds``, ``hidden``, ``input``) are applied to the folder names before any file
is read, so that a partial ``git lfs pull --include`` of the analysed models is enough. Every file
of the published repository is a Git LFS pointer until it is pulled: a pointer is refused as one,
with the command that fetches it.

``training_results.json`` (``Manager.run_training``) holds ``best_loss``, ``best_lr``,
``training_losses`` and ``validation_losses``: the per-epoch mean over batches of 4096 sequences of
the Sinkhorn divergence (geomloss, blur 0.2) between the network's Gumbel-softmax (hard, tau) samples
and the HMM's one-hot sequences, flattened per sequence; the validation loss uses fresh input noise
each epoch and h_0 = 0 where its config says ``init: false`` (the paper's runs; ``init: true``
draws h_0 ~ N(0, 1)). With several ``learning_rates`` the same network is trained on with each in
turn, the lists hold the last one's epochs only, and a weights file is written whenever a learning
rate beats the best loss so far: the curve is the chosen file's history only when that file is the
last learning rate's (or there is one); otherwise the model is imported without a history.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from .errors import ConfigError

__all__ = ["LFS_MAGIC", "refuse", "lfs_problem", "read_json", "reference_matrices", "check_reference_config",
           "mapped_hmm", "training_history", "choose_weights", "history_belongs", "neighbour_files", "evolution_files",
           "layout_of", "tree_entries", "NO_HISTORY"]

# what a model imported without its loss curve lacks (the import's verdict and the n/a claims say it)
NO_HISTORY = "no training loss history (model trained elsewhere, imported without its loss curve)"
LFS_MAGIC = b"version https://git-lfs.github.com/spec/v1"
_TS = re.compile(r"^\d{8}_\d{6}$")
_RUN = re.compile(r"^(?P<config>[A-Za-z]\w*?)(?:_seed(?P<seed>\d+))?(?:_h(?P<hidden>\d+))?(?:_i(?P<input>\d+))?$")
_SEED_DIR = re.compile(r"^(?:seed_|Seed )(\d+)$")
_LR = re.compile(r"_([0-9.eE+-]+)lr_")
_LOSS = re.compile(r"_([0-9.eE+-]+)Loss\.pth$")


def refuse(path, problem: str) -> ConfigError:
    """The one-line refusal (a ConfigError, so the Snakefile reports it like any config error)."""
    return ConfigError(f"refused external model {path}: {problem}")


def _repo_relative(path: Path) -> str:
    """``path`` relative to the git repository that holds it (what ``git lfs pull --include``
    takes), or as given where no enclosing repository is found."""
    p = Path(path).resolve()
    for parent in p.parents:
        if (parent / ".git").exists():
            return str(p.relative_to(parent))
    return str(path)


def lfs_problem(path) -> str | None:
    """The refusal text for a Git LFS pointer file (the repository's placeholder of a file not yet
    fetched), or None for any other file."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(LFS_MAGIC))
    except OSError:
        return None
    if head != LFS_MAGIC:
        return None
    return (f"a Git LFS pointer, not the file itself (the repository stores it with Git LFS); fetch it with "
            f"git lfs pull --include \"{_repo_relative(path)}\" in the repository")


def read_json(path):
    """The content of a JSON file; an LFS pointer, a file that is not JSON refused in one line."""
    lfs = lfs_problem(path)
    if lfs:
        raise refuse(path, lfs)
    try:
        return json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise refuse(path, f"not JSON ({err})") from None


# ----------------------------------------------------------------------------- config.json

def reference_matrices(rc: dict):
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


def check_reference_config(path: Path, rc: dict, hmm_name: str, hmm, hidden=None, input_=None,
                           where: str = "its folder") -> None:
    """A reference config.json (or summary.json) against the network the paper describes, the
    config's HMM it is mapped to and the sizes its folder name (or models entry) gives."""
    import numpy as np

    if not isinstance(rc, dict):
        raise refuse(path, "not a JSON object")
    nl = rc.get("nonlinearity", rc.get("rnn", {}).get("nonlinearity") if isinstance(rc.get("rnn"), dict) else None)
    if nl is not None and str(nl).lower() != "relu":
        raise refuse(path, f"nonlinearity {nl!r}: only ReLU networks (the paper's) can be analysed")
    if rc.get("num_layers", 1) != 1:
        raise refuse(path, f"num_layers {rc['num_layers']}: only single-layer RNNs can be analysed")
    if any(bool(b) for b in (rc.get("biased") or [])):
        raise refuse(path, f"biased {rc['biased']}: only bias-free networks (biased [false, false]) can be analysed")
    rnn = rc.get("rnn") if isinstance(rc.get("rnn"), dict) else {}  # summary.json nests the sizes
    h_rc, d_rc = rc.get("hidden_size", rnn.get("hidden_size")), rc.get("input_size", rnn.get("input_size"))
    if hidden is not None and h_rc not in (None, hidden):
        raise refuse(path, f"hidden_size {h_rc} disagrees with {where} (hidden {hidden})")
    if input_ is not None and d_rc not in (None, input_):
        raise refuse(path, f"input_size {d_rc} disagrees with {where} (input {input_})")
    info = rc.get("hmm") if isinstance(rc.get("hmm"), dict) else rc  # summary.json nests the HMM
    if info.get("states") not in (None, hmm.n_states):
        raise refuse(path, f"{info['states']} HMM states, but it is mapped to HMM '{hmm_name}' with {hmm.n_states}")
    if info.get("outputs") not in (None, hmm.n_outputs):
        raise refuse(path, f"{info['outputs']} outputs, but it is mapped to HMM '{hmm_name}' with {hmm.n_outputs}")
    ref = reference_matrices(rc)
    if ref is not None:
        T, E = ref
        if T.shape != hmm.transition.shape or E.shape != hmm.emission.shape or not (
                np.allclose(T, hmm.transition, atol=1e-6) and np.allclose(E, hmm.emission, atol=1e-6)):
            raise refuse(path, f"its HMM (transition_method {rc.get('transition_method')!r}, emission_method "
                               f"{rc.get('emission_method')!r}) is not the config's HMM '{hmm_name}' it is mapped to")


def mapped_hmm(where: str, hmm_name: str, hmms: dict):
    """The config's HMM a folder (or models entry) is mapped to; an unknown name refused."""
    from .hmm import build_hmm

    if hmm_name not in hmms:
        raise ConfigError(f"invalid config at {where}: unknown HMM '{hmm_name}'; defined: {', '.join(hmms)}")
    return build_hmm(hmm_name, hmms[hmm_name])


# ----------------------------------------------------------------------------- training_results.json

_TRAIN_KEYS = ("training_losses", "train_losses", "train_loss", "train")
_VAL_KEYS = ("validation_losses", "val_losses", "val_loss", "val")


def _first(d: dict, keys):
    return next((d[k] for k in keys if k in d), None)


def training_history(path) -> dict:
    """The loss curve of ``training_results.json``: ``{train, val, best_lr, best_loss}`` (lists of
    one float per epoch, epoch 1 first). The reference writes a dict with ``training_losses`` and
    ``validation_losses``; ``train_losses``/``val_losses``, ``train_loss``/``val_loss`` and a list of
    per-epoch dicts (``train``/``val`` or ``train_loss``/``val_loss``) are read too. Anything else is
    refused in one line naming the file and the key."""
    d = read_json(path)
    if isinstance(d, list):
        if not d or not all(isinstance(r, dict) for r in d):
            raise refuse(path, "a list, but not of per-epoch records (dicts with train_loss and val_loss)")
        train, val = [_first(r, _TRAIN_KEYS) for r in d], [_first(r, _VAL_KEYS) for r in d]
        meta = {}
    elif isinstance(d, dict):
        train, val, meta = _first(d, _TRAIN_KEYS), _first(d, _VAL_KEYS), d
        if val is None:
            raise refuse(path, f"no validation loss curve (none of the keys {', '.join(_VAL_KEYS)}; "
                               f"it has {', '.join(map(str, d))})")
        if train is None:
            raise refuse(path, f"no training loss curve (none of the keys {', '.join(_TRAIN_KEYS)})")
        if not isinstance(train, list) or not isinstance(val, list):
            raise refuse(path, "its loss curves are not lists (one loss per epoch)")
    else:
        raise refuse(path, f"holds a {type(d).__name__}, not the training results (a JSON object)")
    if not val:
        raise refuse(path, "its validation loss curve is empty")
    if len(train) != len(val):
        raise refuse(path, f"{len(train)} training losses but {len(val)} validation losses (one each per epoch)")
    for name, curve in (("training", train), ("validation", val)):
        for k, v in enumerate(curve):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise refuse(path, f"{name} loss of epoch {k + 1} is {v!r}, not a finite number")
    return {"train": [float(v) for v in train], "val": [float(v) for v in val],
            "best_lr": meta.get("best_lr"), "best_loss": meta.get("best_loss")}


# ----------------------------------------------------------------------------- weights files

def _number(pattern, name: str):
    m = pattern.search(name)
    try:
        return float(m.group(1).rstrip(".")) if m else None
    except ValueError:
        return None


def choose_weights(folder: Path, rc: dict, history: dict | None) -> tuple[Path, bool]:
    """The weights file of a run folder (``models/*.pth``) and whether ``history`` (its
    training_results.json) is that file's loss curve. One file is the one; of several (a run with
    several ``learning_rates`` writes one each time a rate beats the best loss so far) the file of
    ``best_lr`` (training_results.json), else the one with the lowest ``<loss>Loss`` in its name; a
    choice no rule makes is refused (name the file in a models entry with external:)."""
    models = folder / "models"
    files = sorted(p for p in models.glob("*.pth") if p.is_file()) if models.is_dir() else []
    if not files:
        raise refuse(folder, "no models/*.pth weights file")
    chosen = files[0] if len(files) == 1 else None
    why = ""
    if chosen is None and history and history.get("best_lr") is not None:
        hits = [p for p in files if _number(_LR, p.name) == float(history["best_lr"])]
        chosen = hits[0] if len(hits) == 1 else None
        why = "" if chosen else f"best_lr {history['best_lr']} of training_results.json names {len(hits)} of them; "
    if chosen is None:
        losses = {p: _number(_LOSS, p.name) for p in files}
        unnamed = [p.name for p, v in losses.items() if v is None]
        low = min((v for v in losses.values() if v is not None), default=None)
        best = [p for p, v in losses.items() if v is not None and v == low]
        if unnamed:
            why += f"{', '.join(unnamed)} carries no <loss>Loss in its name"
        elif len(best) > 1:
            why += f"{len(best)} share the lowest loss {low} in their names"
        else:
            chosen = best[0]
    if chosen is None:
        raise refuse(folder, f"{len(files)} weights files in models/ ({', '.join(p.name for p in files)}) and no rule "
                             f"picks one ({why}); name the one to use in a models entry with external:")
    return chosen, history is not None and history_belongs(chosen, rc)


def history_belongs(weights: Path, rc: dict) -> bool:
    """Is a run's training_results.json the loss curve of this weights file? Its lists hold the
    last learning rate's epochs (config.json ``learning_rates``): yes where there is one rate, or the
    file's name carries the last one (``_<lr>lr_``)."""
    lrs = rc.get("learning_rates") if isinstance(rc, dict) and isinstance(rc.get("learning_rates"), list) else []
    lr = _number(_LR, Path(weights).name)
    return len(lrs) <= 1 or (lr is not None and lr == float(lrs[-1]))


def neighbour_files(weights: Path) -> tuple[Path | None, Path | None]:
    """(config.json or summary.json, training_results.json) of the run folder a weights file lies
    in (``<run>/models/<file>.pth``), each None where absent."""
    run = Path(weights).parent.parent if Path(weights).parent.name == "models" else None
    if run is None:
        return None, None
    rc = next((run / n for n in ("config.json", "summary.json") if (run / n).is_file()), None)
    tr = run / "training_results.json"
    return rc, (tr if tr.is_file() else None)


_EPOCH = re.compile(r"^model_epoch_(\d+)\.pth$")


def evolution_files(folder) -> list[tuple[int, Path]]:
    """(epoch, path) of the ``model_epoch_{k}.pth`` files of an evolution folder, by epoch."""
    found = []
    for p in Path(folder).iterdir():
        m = _EPOCH.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


# ----------------------------------------------------------------------------- the two layouts

def layout_of(root: Path, layout: str = "auto") -> str:
    """``TrainedModels`` or ``Experiments``: as named, or (``auto``) Experiments where ``root`` is a
    timestamp folder, holds one, or holds run folders (a ``models/`` folder one level down)."""
    if layout != "auto":
        return layout
    dirs = [c for c in root.iterdir() if c.is_dir()]
    if _TS.match(root.name) or any(_TS.match(c.name) for c in dirs) or any((c / "models").is_dir() for c in dirs):
        return "Experiments"
    return "TrainedModels"


def _trained_models(root: Path, name: str, want: dict) -> list[tuple]:
    """(hidden or None, input or None, seed, folder) of ``root/name``, filtered on the folder names."""
    base = root / name
    if not base.is_dir():
        raise ConfigError(f"invalid config at config.external_tree.hmms.{name}: no folder {base}")
    found, kept = [], []
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
        raise ConfigError(f"invalid config at config.external_tree.hmms.{name}: {base} holds no "
                          "hidden_<H>/input_<D>/seed_<S> or 'Seed <S>' model folders")
    for hidden, input_, seed, sdir in found:
        if _passes(want, seed=seed, hidden=hidden, input=input_):
            kept.append((hidden, input_, seed, sdir))
    return kept


def _experiments(root: Path, names, want: dict) -> dict[str, list[tuple]]:
    """Config name -> (hidden or None, input or None, seed or None, folder) of its run folders in
    ``Experiments/<ts>`` (or every ``<ts>`` of ``Experiments/``), filtered on the folder names."""
    stamps = [root] if _TS.match(root.name) or not any(_TS.match(c.name) for c in root.iterdir() if c.is_dir()) \
        else sorted(c for c in root.iterdir() if c.is_dir() and _TS.match(c.name))
    runs = [r for ts in stamps for r in sorted(ts.iterdir()) if r.is_dir() and _RUN.match(r.name)]
    out: dict[str, list[tuple]] = {n: [] for n in names}
    for r in runs:
        m = _RUN.match(r.name)
        if m.group("config") not in out:
            continue
        seed, hidden, input_ = (None if m.group(k) is None else int(m.group(k)) for k in ("seed", "hidden", "input"))
        if _passes(want, seed=seed, hidden=hidden, input=input_):
            out[m.group("config")].append((hidden, input_, seed, r))
    for n in names:
        if not out[n] and not any(_RUN.match(r.name).group("config") == n for r in runs):
            raise ConfigError(f"invalid config at config.external_tree.hmms.{n}: {root} holds no {n}_seed<S>_h<H>_i<D> "
                              f"run folder (it holds: {', '.join(sorted({r.name for r in runs})) or 'none'})")
    return out


def _passes(want: dict, **values) -> bool:
    """Does a model pass the filters on the values known so far (None: not known yet)?"""
    return all(want[k] is None or v is None or v in want[k] for k, v in values.items())


def tree_entries(tree: dict, hmms: dict, sizes_of=None) -> list[dict]:
    """The ``models`` entries (one per model) of an ``external_tree`` config section: every model of
    the mapped folders that passes the filters ``hidden``, ``input``, ``seeds``. The filters are
    applied to folder names first; then config.json / summary.json / training_results.json of the
    models kept are read (no torch, except for a folder whose json gives no input size:
    ``sizes_of(weights) -> (hidden, input)``)."""
    root = Path(tree["path"]).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"invalid config at config.external_tree.path: no such folder {tree['path']}")
    want = {k: set(tree[k]) if tree.get(k) is not None else None for k in ("hidden", "input", "seeds")}
    want["seed"] = want.pop("seeds")
    layout = layout_of(root, tree.get("layout", "auto"))
    mapped = {n: mapped_hmm(f"config.external_tree.hmms.{n}", h, hmms) for n, h in tree["hmms"].items()}
    if layout == "Experiments":
        candidates = _experiments(root, list(tree["hmms"]), want)
    else:
        candidates = {n: _trained_models(root, n, want) for n in tree["hmms"]}
    entries, seen = [], {}
    for name, found in candidates.items():
        hmm_name = tree["hmms"][name]
        for hidden, input_, seed, folder in found:
            e = _entry(root, layout, name, hmm_name, mapped[name], hidden, input_, seed, folder, tree, want, sizes_of)
            if e is None:
                continue
            key = (hmm_name, e["hidden"][0], e["input"][0], e["seeds"][0])
            if key in seen:
                raise ConfigError(f"invalid config at config.external_tree: {seen[key]} and {folder} are the same "
                                  f"model ({hmm_name}, hidden {key[1]}, input {key[2]}, seed {key[3]}); point path "
                                  "at one Experiments/<timestamp> folder, or filter with seeds")
            seen[key] = folder
            entries.append(e)
    if not entries:
        raise ConfigError(f"invalid config at config.external_tree: no model of {root} passes the filters "
                          f"(hidden {tree.get('hidden')}, input {tree.get('input')}, seeds {tree.get('seeds')})")
    return entries


def _entry(root, layout, name, hmm_name, hmm, hidden, input_, seed, folder, tree, want, sizes_of) -> dict | None:
    """The models entry of one run folder (its json files read and checked), or None where the
    sizes its json gives do not pass the filters."""
    rc_path = next((folder / n for n in ("config.json", "summary.json") if (folder / n).is_file()), None)
    rc = read_json(rc_path) if rc_path is not None else {}
    if rc_path is not None:
        check_reference_config(rc_path, rc, hmm_name, hmm, hidden, input_)
    rnn = rc.get("rnn") if isinstance(rc.get("rnn"), dict) else {}
    hidden = hidden if hidden is not None else rc.get("hidden_size") or rnn.get("hidden_size")
    input_ = input_ if input_ is not None else rc.get("input_size") or rnn.get("input_size")
    if seed is None:  # a run folder named by its config only (Manager(config_name=...))
        seed = rc.get("seed") if isinstance(rc.get("seed"), int) else None
    if not _passes(want, hidden=hidden, input=input_, seed=seed):
        return None
    if seed is None:
        raise refuse(folder, "its folder name gives no seed (<Config>_seed<S>, as scripts/train.py names it) and "
                             "its json none either; name its weights in a models entry with external: and seeds:")
    tr = folder / "training_results.json"
    history = training_history(tr) if tr.is_file() else None
    pth, own = choose_weights(folder, rc, history)
    if (hidden is None or input_ is None) and sizes_of is not None:  # summary.json only: the weights say
        hidden, input_ = sizes_of(pth)
        if not _passes(want, hidden=hidden, input=input_):
            return None
    if hidden is None or input_ is None:
        raise refuse(folder, "neither its folder names nor its json give the hidden size and input dimension")
    sub = folder.relative_to(root / name) if layout == "TrainedModels" else folder.relative_to(root)
    entry = {"name": f"{name}/{sub}", "hmms": [hmm_name], "hidden": [int(hidden)], "input": [int(input_)],
             "seeds": [int(seed)], "external": str(pth), "tree": str(root)}
    evo = folder / "models" / "evolution"
    if tree.get("evolution", True) and evo.is_dir() and evolution_files(evo):
        entry["evolution"] = str(evo)
    if rc_path is not None:
        entry["reference_config"] = str(rc_path)
    if own:
        entry["losses"] = str(tr)
    markers = sorted(int(p.stem[5:]) for p in folder.glob("seed_*.txt") if p.stem[5:].isdigit())
    if markers:
        entry["rng_seed"] = markers[0]  # seed_<N>.txt: the run's actual RNG seed (paper_spec C.4)
    return entry
