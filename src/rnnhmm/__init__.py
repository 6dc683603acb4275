"""rnnhmm: RNNs trained to emulate hidden Markov models, and the analyses of Torre et al. (2025).

Modules: ``hmm`` (data-generating HMMs), ``model`` (noise-driven ReLU RNN), ``training``,
``metrics`` (emission statistics, Sinkhorn-matched distance), ``dynamics`` (state space, fixed
points, local dynamics), ``mechanism`` (kick neurons, interventions, training evolution),
``plotting``, ``config`` (experiment grid), ``io``. Importing the package does not import torch.
"""

__version__ = "0.1.0"


def export_source_path(src: str) -> None:
    """Make ``src`` importable in child processes too (Snakemake runs each script in its own
    Python), by prepending it to PYTHONPATH."""
    import os

    parts = [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
