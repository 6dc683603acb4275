"""A model's files at their per-model paths: hard links into its training group's (or import's) folder."""
from rnnhmm.io import link_files

sm = snakemake  # noqa: F821
link_files(sm.params.folder, list(sm.output), sm.log[0])
