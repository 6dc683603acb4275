"""Training groups: which models each training job trains, decided from a config (torch-free:
Snakemake imports it while parsing).

A *training group* is a set of models trained together by one job through
:func:`rnnhmm.training.engine.train_many`: the seeds of one grid cell (same HMM, hidden size and input
dimension) that share every training setting except the seed. Models of a cell whose settings
differ (e.g. the paper's five-state overrides give seed 0 other epochs than seeds 1 and 2) form
separate groups. A group id is ``{hmm}/h{hidden}_d{input}/s{seed}_{seed}...`` (seeds ascending;
:func:`rnnhmm.paths.group_id`). Models trained elsewhere (:mod:`rnnhmm.external_config`) are
imported (:mod:`.external`), never trained: they are in no group.

Cadence settings (``log_every``, ``checkpoint_every``) change neither the trained weights nor the
losses, so they are not part of a group's training parameters (editing them reruns nothing); the
job reads them from the config when it starts (:func:`cadence`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rnnhmm.config import ModelSpec, expand_models, training_params
from rnnhmm.external_config import external_ids
from rnnhmm.paths import group_id

__all__ = ["CADENCE_KEYS", "TrainGroup", "training_groups", "group_of", "cadence"]

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
        return group_id(self.hmm, self.hidden, self.input, self.seeds)

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
    Models trained elsewhere (``external``: rnnhmm.external_config) are imported, never trained: in no group."""
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
