"""Training: the batched engine (:mod:`.engine`: ``train_many``, and ``train`` for one model) and its
settings (:mod:`.settings`: ``TrainConfig``), its objectives (:mod:`.sinkhorn`, the paper's; :mod:`.fivo`,
the particle-filter likelihood bound), the plateau verdict (:mod:`.convergence`), which models each
job trains (:mod:`.grouping`) and where (:mod:`.placement`; both torch-free, imported by Snakemake
while parsing), the training of one group of seeds (:mod:`.group`) and the import of a model trained
elsewhere (:mod:`.external`). Importing the package imports nothing."""
