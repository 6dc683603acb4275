"""Training groups and device placement, decided from a config (torch-free: Snakemake imports it).

A *training group* is a set of models trained together by one job through
:func:`rnnhmm.training.engine.train_many`: the seeds of one grid cell (same HMM, hidden size and input
dimension) that share every training setting except the seed. Models of a cell whose settings
differ (e.g. the paper's five-state overrides give seed 0 other epochs than seeds 1 and 2) form
separate groups. A group id is ``{hmm}/h{hidden}_d{input}/s{seed}_{seed}...`` (seeds ascending).

Cadence settings (``log_every``, ``checkpoint_every``) change neither the trained weights nor the
losses, so they are not part of a group's training parameters (editing them reruns nothing); the
job reads them from the config when it starts (:func:`cadence`).

Placement: a job asks Snakemake for a GPU only when it will use one (:func:`wants_gpu`). On a local
run ``auto`` means CUDA only where a GPU is visible on the machine that plans the jobs
(:func:`cuda_present`); when the jobs run elsewhere (a cluster executor such as the SLURM profile)
the planning host (a login node) says nothing about the nodes, so ``auto`` asks for one GPU per
training job, and the job trains on CUDA where the node has it.
On a machine with several GPUs each job takes a free slot (:func:`claim_gpu_slot`: a lock file per
GPU and slot, held while the job runs and released by the kernel when the job dies).
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, ModelSpec, expand_models, external_ids, in_evolution, training_params

__all__ = ["CADENCE_KEYS", "TrainGroup", "training_groups", "group_of", "cadence", "cuda_present",
           "wants_gpu", "claim_gpu_slot", "check_dynamics_config", "dynamics_models", "every_seed",
           "check_mechanism_config", "mechanism_models", "null_ids", "hmms_of", "hmm_specs", "change_probabilities",
           "state_counts", "cell_models"]

CADENCE_KEYS = ("log_every", "checkpoint_every")


@dataclass(frozen=True)
class TrainGroup:
    """Models trained by one job. ``params``: their shared training settings without the cadence."""

    hmm: str
    hidden: int
    input: int
    seeds: tuple[int, ...]
    params_json: str  # the shared training settings, JSON with sorted keys (hashable)

    @property
    def id(self) -> str:
        return f"{self.hmm}/h{self.hidden}_d{self.input}/s{'_'.join(map(str, self.seeds))}"

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def models(self) -> list[ModelSpec]:
        return [ModelSpec(self.hmm, self.hidden, self.input, s) for s in self.seeds]


def _shared_params(cfg: dict, m: ModelSpec) -> dict:
    return {k: v for k, v in training_params(cfg, m).items() if k not in CADENCE_KEYS}


def training_groups(cfg: dict, models: list[ModelSpec] | None = None) -> list[TrainGroup]:
    """The training groups of a validated config (all its models, or those of ``models``' cells).
    Models trained elsewhere (``external``: rnnhmm.external) are imported, never trained: in no group."""
    cells: dict[tuple, list[int]] = {}
    imported = external_ids(cfg)
    for m in models if models is not None else expand_models(cfg):
        if m.id in imported:
            continue
        key = (m.hmm, m.hidden, m.input, json.dumps(_shared_params(cfg, m), sort_keys=True))
        cells.setdefault(key, []).append(m.seed)
    groups = [TrainGroup(h, hid, d, tuple(sorted(seeds)), p) for (h, hid, d, p), seeds in cells.items()]
    return sorted(groups, key=lambda g: (g.hmm, g.hidden, g.input, g.seeds))


def group_of(groups: list[TrainGroup]) -> dict[str, TrainGroup]:
    """Model id -> its group."""
    return {m.id: g for g in groups for m in g.models}


def cadence(cfg: dict, group: TrainGroup) -> dict:
    """Logging and checkpoint cadence of a group: the most frequent of its models' settings."""
    per_model = [training_params(cfg, m) for m in group.models]
    return {k: min(int(p[k]) for p in per_model) for k in CADENCE_KEYS}


def cuda_present() -> bool:
    """Is an NVIDIA GPU visible on this machine? (no torch: device nodes and the driver's list).

    ``RNNHMM_CUDA=0`` / ``=1`` overrides the answer (e.g. a login node planning GPU jobs).
    """
    env = os.environ.get("RNNHMM_CUDA")
    if env in ("0", "1"):
        return env == "1"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()


def wants_gpu(device: str, cuda: bool | None = None, cluster: bool = False) -> int:
    """GPUs a training job asks Snakemake for: 0 for ``cpu``; 1 for ``cuda[:N]``; for ``auto``, 1
    when the jobs run on a cluster (``cluster``: a non-local executor, whatever the planning host
    has), else 1 only on a machine with a GPU (``cuda``, default :func:`cuda_present`)."""
    if device == "cpu":
        return 0
    if device.startswith("cuda") or cluster:
        return 1
    return int(cuda_present() if cuda is None else cuda)


def claim_gpu_slot(n_gpus: int, lock_dir: str | os.PathLike, slots_per_gpu: int = 1,
                   visible: list[str] | None = None, wait_s: float = 0.0, poll_s: float = 1.0):
    """Take a free (GPU, slot) by locking ``{lock_dir}/gpu{id}.slot{k}.lock`` (fcntl, non-blocking).

    GPUs are tried in order, filling every GPU's first slot before any second slot, so concurrent
    jobs spread over the GPUs and then share them. ``visible``: the physical ids behind the
    process's device indices (``CUDA_VISIBLE_DEVICES``), used in the lock names so that jobs with
    different visible sets do not collide. Returns (device index, open lock file: keep it open
    for the job's lifetime); when every slot is taken after ``wait_s``, (None, None).
    """
    import fcntl

    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    ids = visible if visible else [str(i) for i in range(n_gpus)]
    deadline = time.monotonic() + wait_s
    while True:
        for k in range(slots_per_gpu):
            for i in range(n_gpus):
                fh = open(lock_dir / f"gpu{ids[i]}.slot{k}.lock", "a+")
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    fh.close()
                    if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    continue
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")
                fh.flush()
                return i, fh
        if time.monotonic() >= deadline:
            return None, None
        time.sleep(poll_s)


# ----------------------------------------------------------------------------- analyses
# which models the analyses and figures use (config.dynamics, config.mechanism), and the HMM facts
# their figures and claims are given as parameters

def _grid_models(cfg: dict, trained: list[ModelSpec]) -> list[str]:
    g = cfg["dynamics"]["grid"]
    return [m.id for m in trained if m.hmm in g["hmms"] and m.seed == g["seed"]]


def check_dynamics_config(cfg: dict) -> None:
    """Every model of config.dynamics is a trained model; figure S2's HMMs exist and have models at
    its seed. Raises ConfigError with one line."""
    dyn = cfg["dynamics"]
    trained = expand_models(cfg)
    ids = {m.id for m in trained}
    for key in ("models", "fig8_models"):
        for mid in dyn[key]:
            ModelSpec.parse(mid)
            if mid not in ids:
                raise ConfigError(f"invalid config at config.dynamics.{key}: '{mid}' is not a trained model "
                                  f"(not in the product of any group of config.models)")
    for h in dyn["grid"]["hmms"]:
        if h not in cfg["hmms"]:
            raise ConfigError(f"invalid config at config.dynamics.grid.hmms: unknown HMM '{h}'; defined: "
                              f"{', '.join(cfg['hmms'])}")
        if not any(m.hmm == h and m.seed == dyn["grid"]["seed"] for m in trained):
            raise ConfigError(f"invalid config at config.dynamics.grid: no trained model of HMM '{h}' "
                              f"with seed {dyn['grid']['seed']}")
    for key in ("pairs", "residency_pairs"):
        for p in dyn["subspaces"][key]:
            if p[0] == p[1]:
                raise ConfigError(f"invalid config at config.dynamics.subspaces.{key}: pair {p} repeats an output")


def every_seed(cfg: dict, model_ids: list[str], on: bool = True) -> list[str]:
    """``model_ids`` with, when ``on``, every trained seed of each one's cell (same HMM, hidden size
    and input dimension) after it, in the order first named; unchanged when not ``on``."""
    if not on:
        return list(model_ids)
    trained = expand_models(cfg)
    out = []
    for mid in model_ids:
        s = ModelSpec.parse(mid)
        out += [mid] + [m.id for m in trained if (m.hmm, m.hidden, m.input) == (s.hmm, s.hidden, s.input)]
    return list(dict.fromkeys(out))


def null_ids(cfg: dict, model_ids: list[str], history: bool = False) -> list[str]:
    """The null networks (config ``nulls``, :mod:`rnnhmm.analyses.nulls`) of ``model_ids``, in order:
    for each model every configured kind that applies to it. ``plateau`` needs per-epoch snapshots
    (:func:`rnnhmm.config.in_evolution`) and has no training history of its own, so a
    training-history analysis (``history``) gets only the ``shuffle`` null."""
    kinds = list(cfg.get("nulls", {}).get("kinds", []))
    out = []
    for mid in model_ids:
        spec = ModelSpec.parse(mid)
        for kind in kinds:
            if kind == "plateau" and (history or not in_evolution(cfg, spec)):
                continue
            out.append(ModelSpec(spec.hmm, spec.hidden, spec.input, spec.seed, kind).id)
    return out


def dynamics_models(cfg: dict) -> dict[str, list[str]]:
    """Model ids per use: 'models' (fig2-4), 'fig8_models', 'grid' (figS2) and 'state_space' (union);
    the claims' sets 'claims_models', 'claims_fig8' and 'claims_state_space': the same, with every
    seed of each listed model's cell when ``dynamics.every_seed`` is set (:func:`every_seed`); and
    'null_models', 'null_fig8', 'null_state_space': the null networks of those (:func:`null_ids`)."""
    dyn = cfg["dynamics"]
    grid = _grid_models(cfg, expand_models(cfg))
    on = bool(dyn.get("every_seed", False))
    cm, cf = every_seed(cfg, dyn["models"], on), every_seed(cfg, dyn["fig8_models"], on)
    css = sorted(set(cm) | set(cf) | set(grid))
    return {"models": list(dyn["models"]), "fig8_models": list(dyn["fig8_models"]), "grid": grid,
            "state_space": sorted(set(dyn["models"]) | set(dyn["fig8_models"]) | set(grid)),
            "claims_models": cm, "claims_fig8": cf, "claims_state_space": css,
            "null_models": null_ids(cfg, cm), "null_fig8": null_ids(cfg, cf), "null_state_space": null_ids(cfg, css)}


def check_mechanism_config(cfg: dict) -> None:
    """Every model of config.mechanism is a trained model, and every training-evolution model keeps
    per-epoch weights. Raises ConfigError with one line."""
    mech = cfg["mechanism"]
    ids = {m.id for m in expand_models(cfg)}
    named = [("single_model", mech["single_model"])]
    named += [(f"{k}.models", m) for k in ("kick", "evolution", "readout") for m in mech[k]["models"]]
    for where, mid in named:
        if mid not in ids:
            raise ConfigError(f"invalid config at config.mechanism.{where}: '{mid}' is not a trained model of "
                              "this config")
    for mid in every_seed(cfg, mech["evolution"]["models"], bool(mech.get("every_seed", False))):
        if not in_evolution(cfg, ModelSpec.parse(mid)):
            raise ConfigError(f"invalid config at config.mechanism.evolution.models: '{mid}' keeps no per-epoch "
                              "weights (add it to config.evolution.match)")


def mechanism_models(cfg: dict) -> dict:
    """Model ids per use: 'single' (one id: interventions, fig5, fig6), 'kick' (the single model
    first, then config.mechanism.kick.models), 'kick_others' (figS4), 'evolution' (fig7), 'readout'
    (figS3); the claims' sets 'claims_kick' and 'claims_evolution' (the same, with every seed of
    each listed model's cell when ``mechanism.every_seed`` is set: :func:`every_seed`),
    'claims_interventions' (the single model, and with ``every_seed`` every seed of its cell) and
    'claims' (their union with readout: the HMMs the claims describe); 'null_kick', 'null_evolution'
    and 'null_interventions': the null networks of the claims' models (:func:`null_ids`)."""
    mech = cfg["mechanism"]
    single, others = mech["single_model"], list(mech["kick"]["models"])
    evolution, readout = list(mech["evolution"]["models"]), list(mech["readout"]["models"])
    on = bool(mech.get("every_seed", False))
    kick = list(dict.fromkeys([single, *others]))
    ck, ce = every_seed(cfg, kick, on), every_seed(cfg, evolution, on)
    ci = every_seed(cfg, [single], on)
    nulls = cfg.get("nulls", {})
    return {"single": single, "kick": kick, "kick_others": others,
            "evolution": evolution, "readout": readout, "claims_kick": ck, "claims_evolution": ce,
            "claims_interventions": ci, "claims": list(dict.fromkeys(ce + readout + ck)),
            "null_kick": null_ids(cfg, ck), "null_evolution": null_ids(cfg, ce, history=True),
            "null_interventions": null_ids(cfg, ci) if nulls.get("interventions", True) else []}


def hmms_of(model_ids: list[str]) -> list[str]:
    """The HMMs of some models, in order of first appearance (``sorted()`` it for a sorted list)."""
    return list(dict.fromkeys(ModelSpec.parse(m).hmm for m in model_ids))


def hmm_specs(cfg: dict, model_ids: list[str]) -> dict[str, dict]:
    """HMM name -> its config spec, for the HMMs of ``model_ids`` (names sorted)."""
    return {h: cfg["hmms"][h] for h in sorted(hmms_of(model_ids))}


def change_probabilities(cfg: dict, hmms: list[str] | None = None) -> dict[str, float]:
    """HMM name -> stationary probability that the output changes from one step to the next, for
    ``hmms`` (default: every HMM of the config, in config order). numpy only."""
    from .hmm import build_hmm

    names = list(cfg["hmms"]) if hmms is None else hmms
    return {h: float(build_hmm(h, cfg["hmms"][h]).change_probability()) for h in names}


def state_counts(cfg: dict, hmms: list[str]) -> dict[str, int]:
    """HMM name -> number of hidden states. numpy only."""
    from .hmm import build_hmm

    return {h: int(build_hmm(h, cfg["hmms"][h]).n_states) for h in hmms}


def cell_models(cfg: dict, model_ids: list[str]) -> list[str]:
    """Every trained model (all seeds, config order) of the grid cells (HMM, hidden, input) of
    ``model_ids``: the seeds a figure's performance panel averages over."""
    cells = {(s.hmm, s.hidden, s.input) for s in map(ModelSpec.parse, model_ids)}
    return [m.id for m in expand_models(cfg) if (m.hmm, m.hidden, m.input) in cells]
