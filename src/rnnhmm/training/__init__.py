"""Training: the loop API and its configuration (:mod:`.loop`), the batched engine (:mod:`.engine`)
and its Sinkhorn loss (:mod:`.sinkhorn`), the plateau verdict (:mod:`.convergence`) and the training
of one group of seeds (:mod:`.group`)."""
