"""rnnhmm: RNNs trained to emulate hidden Markov models, and the analyses of Torre et al. (2025).

Core modules: ``hmm`` (data-generating HMMs), ``model`` (noise-driven ReLU RNN), ``config``
(experiment grid and its validation), ``paths`` (the results layout: model ids and every path),
``model_sets`` (which models each analysis uses), ``external_config`` / ``external_weights`` /
``external_layouts`` (models trained elsewhere), ``io`` (job preamble, atomic writes, provenance),
``threads`` (torch CPU threads), ``paper`` (numbers reported in the paper).

Subpackages: ``training`` (batched engine, losses, plateau verdict, training groups and device
placement, the training and import jobs), ``evaluation`` (metrics, floor, per-model records, metrics
table), ``analyses`` (one module per analysis of the paper, each with ``run``), ``claims``
(machine-readable checks of the paper's statements), ``figures`` (figure-data builders, plotters,
the one matplotlib style).
Importing the package does not import torch.
"""

__version__ = "0.1.0"


def export_source_path(src: str) -> None:
    """Make ``src`` importable in child processes too (Snakemake runs each script in its own
    Python), by prepending it to PYTHONPATH."""
    import os

    parts = [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
