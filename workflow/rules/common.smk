# Helpers shared by all rules. Kept cheap: it runs in every job, so no torch here.
import sys
from pathlib import Path

# The package lives in src/: importable here and in every job's script, installed or not.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)

import rnnhmm  # noqa: E402

rnnhmm.export_source_path(SRC)

from snakemake.exceptions import WorkflowError  # noqa: E402
from rnnhmm import paths  # noqa: E402
from rnnhmm.config import (  # noqa: E402
    ConfigError,
    ModelSpec,
    analysis_settings,
    derive_seed,
    expand_models,
    training_params,
    validate_config,
)
from rnnhmm.external_config import external_entries  # noqa: E402
from rnnhmm.external_weights import check_external_files  # noqa: E402
from rnnhmm.figure_registry import FIGURES, targets  # noqa: E402
from rnnhmm.model_sets import (  # noqa: E402
    dynamics_models,
    hmm_specs,
    hmms_of,
    mechanism_models,
    state_counts,
)
from rnnhmm.training.grouping import group_of, training_groups  # noqa: E402
from rnnhmm.training.placement import wants_gpu  # noqa: E402

try:
    # one gate: the schema, the models trained elsewhere, and every model an analysis names
    config = validate_config(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    )
    # models trained elsewhere: their weights are read (weights_only=True) and checked now, before any job
    EXTERNAL = external_entries(config)
    if EXTERNAL:
        check_external_files(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

MODELS = expand_models(config)
MODEL_IDS = [m.id for m in MODELS]
# Models are trained in groups (the seeds of a grid cell sharing their training settings), one
# job per group; see rnnhmm.training.grouping.
TRAIN_GROUPS = {g.id: g for g in training_groups(config)}
GROUP_OF = group_of(list(TRAIN_GROUPS.values()))
# the KL rate of every model (config likelihood.enabled; docs/likelihood.md)
LIKELIHOOD_FILES = (
    [paths.likelihood_file(m) for m in MODEL_IDS]
    if config["likelihood"]["enabled"]
    else []
)
HMM_NAMES = sorted(config["hmms"])
# Which models each analysis uses (rnnhmm.model_sets): figures 2-4, 8, S2 and the dynamics claims
# (keys models, fig8_models, grid, state_space); figures 5-7, S3, S4 and the mechanism claims
# (keys single, kick, kick_others, evolution, readout, claims).
DYN, MECH = config["dynamics"], config["mechanism"]
DYN_SETS = dynamics_models(config)
MECH_SETS = mechanism_models(config)
# The config's name (config/quick.yaml -> quick): a label on figure 1.
CONFIG_LABEL = Path(workflow.configfiles[0]).stem if workflow.configfiles else "config"
DIAGNOSTICS = [paths.diagnostics_file(m) for m in MODEL_IDS]
# Conda envs (--sdm conda): torch for training and analyses, a light one for data, tables,
# claims, figure data and plots.
ENV = "../../envs/torch.yaml"
ENV_PLOTS = "../../envs/plots.yaml"


wildcard_constraints:
    hmm="[A-Za-z][A-Za-z0-9_]*",
    hidden="[0-9]+",
    input="[0-9]+",
    # a trained model's seed, or a null network's: "<seed>-null-<kind>" (rules/nulls.smk)
    seed="[0-9]+(-null-[a-z]+)?",


def spec_of(wildcards):
    """The ModelSpec of a rule's wildcards (a null network's when its seed carries "-null-<kind>",
    and that of ``kind`` when the rule names it separately)."""
    return ModelSpec.parse(paths.wildcards_id(wildcards))


def hmm_spec(wildcards):
    return config["hmms"][wildcards.hmm]


def train_params(wildcards):
    """Training settings of a group job (shared by its models; no seed, no log/checkpoint cadence)."""
    return TRAIN_GROUPS[wildcards.group].params


def model_seeds(hmm):
    return sorted({m.seed for m in MODELS if m.hmm == hmm})


def on_cluster():
    """Do the jobs run on other machines? A non-local executor (``--executor slurm``), or the
    config key ``cluster: true``, which the SLURM profile sets so that a dry run (where Snakemake
    swaps the executor for its dry-run one) plans what the real submission will ask for.
    """
    return bool(config.get("cluster")) or workflow.non_local_exec


def uses_gpu(wildcards):
    """1 when the group job will train on a GPU, else 0: ``cuda``; ``auto`` on a cluster (one GPU
    per training job, whatever the login node has) or, on a local run, on a machine with a GPU.
    """
    return wants_gpu(train_params(wildcards)["device"], cluster=on_cluster())


def train_threads(wildcards):
    """CPU threads of a group job: 1. The engine's matmuls are small (H = 50-200), so a second
    thread gains little while two one-thread jobs run side by side; and two OpenMP threads on a
    busy machine spin at barriers (measured: 5.7 s/epoch with 2 threads vs 0.3-0.8 with 1 on the
    shared 2-core box)."""
    return 1


def model_source(wildcards):
    """The folder a model's files come from: its training group's, or its import's."""
    mid = spec_of(wildcards).id
    if mid in EXTERNAL:
        return paths.external_dir(mid)
    return paths.group_dir(GROUP_OF[mid].id)


def model_folder(wildcards):
    """Inside :func:`model_source`, the folder that holds this model's own files."""
    mid = spec_of(wildcards).id
    if mid in EXTERNAL:
        return paths.external_dir(mid)
    return paths.group_model_dir(GROUP_OF[mid].id, wildcards.seed)


# Figures that cannot apply to this config (e.g. a trend over numbers of states with one HMM) are
# left out of the targets, with one line each in the log and in the report.
from snakemake.logging import logger  # noqa: E402
from rnnhmm.config import skipped_figures  # noqa: E402

config["skipped_figures"] = skipped_figures(config)
for _fig, _why in config["skipped_figures"].items():
    logger.info(f"rnnhmm: skipping {_fig} (does not apply to this config): {_why}")
