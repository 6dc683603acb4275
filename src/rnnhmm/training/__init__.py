"""Training: the batched engine (:mod:`.engine`: ``train_many``, and ``train`` for one model) and its
settings (:mod:`.settings`: ``TrainConfig``), its objectives (:mod:`.sinkhorn`, the paper's; :mod:`.fivo`,
the particle-filter likelihood bound), the plateau verdict (:mod:`.convergence`) and the training of
one group of seeds (:mod:`.group`)."""
