"""The results layout, stated once: the model id and every path the workflow writes (torch-free and
free of the package's other modules: Snakemake imports it while parsing, every rule file and script
builds its paths here, and nothing else spells one out).

A *model id* is ``{hmm}/h{hidden}_d{input}/s{seed}`` (``lin2/h150_d100/s0``); a null network of a
model (:mod:`rnnhmm.analyses.nulls`) has its model's id with ``-null-{kind}`` after the seed
(``lin2/h150_d100/s0-null-shuffle``); a training group (the seeds of one grid cell that one job
trains, :mod:`rnnhmm.training.grouping`) has ``{hmm}/h{hidden}_d{input}/s{seed}_{seed}...`` (seeds
ascending). The id is the sub-path of every per-model file::

    results/data/{hmm}/s{seed}.npz                    sampled sequences of one HMM and seed
    results/train_groups/{group}/s{seed}/             a training job's files, one folder per model
    results/checkpoints/{group}.pt                    its resume checkpoint (deleted when it ends)
    results/external/{model}/                         an import job's files (a model trained elsewhere)
    results/models/{model}/model.pt, losses.tsv, evolution.pt
                                                      every model's files (links to one of the two
                                                      above; a null network's are made from its model's)
    results/metrics/models/{model}.json               its metrics record
    results/metrics/likelihood/{model}.json           its KL rate
    results/metrics/floor/{hmm}.json                  an HMM's noise floor
    results/metrics/summary.tsv                       one row per model
    results/diagnostics/{model}.png                   loss curves and statistics
    results/analysis/{analysis}/{model}.npz           dynamics: state_space, local, noise, subspaces
    results/analysis/{analysis}/{model}.json          mechanism: kick, interventions, evolution
    results/analysis/readout_alignment.json           the readout analysis (all its models)
    results/claims/{performance,dynamics,mechanism}.csv   each analysis's claim rows
    results/claims.csv, claims_summary.csv, claims_null.csv
    results/figure_data/{fig}.json, results/figures/{fig}.pdf, .png
    logs/<step>/<its output's id>.log                 one log per job

Every function returns a path relative to the working directory. Given no model, a per-model path
is the pattern with Snakemake's wildcards ``{hmm}``, ``{hidden}``, ``{input}``, ``{seed}`` (a
rule's input, output and log); given a model id, that model's path.
"""

from __future__ import annotations

from .errors import ConfigError

__all__ = ["model_id", "parse_model_id", "group_id", "wildcards_id", "MODEL", "NULL_MODEL", "NULL", "GROUP_REGEX",
           "data_id", "data_file", "group_dir", "member_folder", "group_model_dir", "checkpoint_file",
           "external_dir", "model_dir", "model_file", "metrics_file", "likelihood_file", "floor_file",
           "SUMMARY_TABLE", "diagnostics_file", "analysis_file", "READOUT_ALIGNMENT", "claims_file", "CLAIMS",
           "CLAIMS_SUMMARY", "CLAIMS_NULL", "figure_data_file", "FIGURE_DIR", "figure_file", "log_file"]

NULL = "-null-"  # between a model's id and the kind of one of its null networks


def model_id(hmm, hidden, input, seed, null: str = "") -> str:
    """The id of a model (``null``: the kind of one of its null networks, or '' for the model)."""
    return f"{hmm}/h{hidden}_d{input}/s{seed}" + (f"{NULL}{null}" if null else "")


def parse_model_id(mid: str) -> tuple[str, int, int, int, str]:
    """(hmm, hidden, input, seed, null kind or '') of a model id; a bad id raises ConfigError."""
    try:
        hmm, hd, s = mid.strip("/").split("/")
        h, d = hd.split("_")
        seed, sep, null = s.lstrip("s").partition(NULL)
        if sep and not null.isalpha():
            raise ValueError(null)
        return hmm, int(h.lstrip("h")), int(d.lstrip("d")), int(seed), null
    except ValueError:
        raise ConfigError(f"bad model id {mid!r}; expected '<hmm>/h<hidden>_d<input>/s<seed>' "
                          f"(or '.../s<seed>{NULL}<kind>' for a null network)") from None


def group_id(hmm, hidden, input, seeds) -> str:
    """The id of a training group: its cell's model id with the seeds joined by '_'."""
    return model_id(hmm, hidden, input, "_".join(map(str, seeds)))


def wildcards_id(wildcards) -> str:
    """The model id of a rule's wildcards (``hmm``, ``hidden``, ``input``, ``seed``, and ``kind`` where
    a rule names a null network's kind apart from the seed)."""
    get = wildcards.get
    return model_id(get("hmm"), get("hidden"), get("input"), get("seed"), get("kind", "") or "")


# the wildcard patterns of a model id and of a null network's id with its kind apart
MODEL = model_id("{hmm}", "{hidden}", "{input}", "{seed}")
NULL_MODEL = model_id("{hmm}", "{hidden}", "{input}", "{seed}", "{kind}")
# the values a group id takes (the train rule's wildcard constraint)
GROUP_REGEX = group_id("[A-Za-z][A-Za-z0-9_]*", "[0-9]+", "[0-9]+", ["[0-9]+(_[0-9]+)*"])


# ----------------------------------------------------------------------------- data and training

def data_id(hmm="{hmm}", seed="{seed}") -> str:
    """The sequences of one HMM and seed (shared by every model of that HMM and seed)."""
    return f"{hmm}/s{seed}"


def data_file(hmm="{hmm}", seed="{seed}") -> str:
    return f"results/data/{data_id(hmm, seed)}.npz"


def group_dir(group="{group}") -> str:
    """The folder a training job writes (one sub-folder per model: :func:`member_folder`)."""
    return f"results/train_groups/{group}"


def member_folder(seed) -> str:
    """A model's sub-folder inside its training group's folder."""
    return f"s{seed}"


def group_model_dir(group: str, seed) -> str:
    return f"{group_dir(group)}/{member_folder(seed)}"


def checkpoint_file(group="{group}") -> str:
    return f"results/checkpoints/{group}.pt"


def external_dir(model=MODEL) -> str:
    """The folder an import job writes (a model trained elsewhere)."""
    return f"results/external/{model}"


def model_dir(model=MODEL) -> str:
    """Every model's own files (``model.pt``, ``losses.tsv``, ``evolution.pt``), whoever made them."""
    return f"results/models/{model}"


def model_file(name: str, model=MODEL) -> str:
    return f"{model_dir(model)}/{name}"


# ----------------------------------------------------------------------------- metrics

def metrics_file(model=MODEL) -> str:
    return f"results/metrics/models/{model}.json"


def likelihood_file(model=MODEL) -> str:
    return f"results/metrics/likelihood/{model}.json"


def floor_file(hmm="{hmm}") -> str:
    return f"results/metrics/floor/{hmm}.json"


SUMMARY_TABLE = "results/metrics/summary.tsv"


def diagnostics_file(model=MODEL) -> str:
    return f"results/diagnostics/{model}.png"


# ----------------------------------------------------------------------------- analyses, claims, figures

def analysis_file(analysis: str, model=MODEL, ext: str = "npz") -> str:
    """One model's cached analysis (npz for the dynamics analyses, json for the mechanism's)."""
    return f"results/analysis/{analysis}/{model}.{ext}"


READOUT_ALIGNMENT = "results/analysis/readout_alignment.json"


def claims_file(part: str) -> str:
    """The claim rows of one part (``performance``, ``dynamics``, ``mechanism``)."""
    return f"results/claims/{part}.csv"


CLAIMS = "results/claims.csv"
CLAIMS_SUMMARY = "results/claims_summary.csv"
CLAIMS_NULL = "results/claims_null.csv"


def figure_data_file(fig: str) -> str:
    return f"results/figure_data/{fig}.json"


FIGURE_DIR = "results/figures"


def figure_file(fig: str, ext: str) -> str:
    return f"{FIGURE_DIR}/{fig}.{ext}"


def log_file(*parts) -> str:
    """A job's log: ``logs/<parts joined by '/'>.log`` (``log_file('analysis', 'local', MODEL)``)."""
    return "/".join(("logs", *map(str, parts))) + ".log"
