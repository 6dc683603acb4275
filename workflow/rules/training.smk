rule train:
    """Train one group of models (the seeds of a grid cell that share their training settings) in
    one process with the batched engine; resumes from results/checkpoints/{group}.pt if a
    previous run was killed. Writes each model's files under results/train_groups/{group}/.
    """
    input:
        data=lambda w: [
            paths.data_file(TRAIN_GROUPS[w.group].hmm, s)
            for s in TRAIN_GROUPS[w.group].seeds
        ],
    output:
        directory(paths.group_dir()),
    log:
        paths.log_file("train", "{group}"),
    wildcard_constraints:
        group=paths.GROUP_REGEX,
    conda:
        ENV
    threads: train_threads
    resources:
        gpu=uses_gpu,
        runtime=720,
        mem_mb=8000,
    params:
        training=train_params,
        seeds=lambda w: list(TRAIN_GROUPS[w.group].seeds),
        checkpoint=lambda w: paths.checkpoint_file(w.group),
    script:
        "../scripts/train_group.py"


rule import_external:
    """A model trained elsewhere (config ``external`` / ``external_tree``; rnnhmm.training.external): its
    weights (read with weights_only=True), evolution snapshots and loss curve (where it has one) in
    the files a training job leaves, with a plateau verdict from one validation loss measured now.
    """
    input:
        weights=lambda w: EXTERNAL[spec_of(w).id]["external"],
        losses=lambda w: EXTERNAL[spec_of(w).id].get("losses") or [],
        data=paths.data_file(),
    output:
        directory(paths.external_dir()),
    log:
        paths.log_file("import", paths.MODEL),
    wildcard_constraints:
        seed="[0-9]+",
    conda:
        ENV
    params:
        entry=lambda w: EXTERNAL[spec_of(w).id],
        training=lambda w: training_params(config, spec_of(w)),
        every=config["evolution"]["every"],
    script:
        "../scripts/import_model.py"


rule model_files:
    """A model's files at their per-model paths (hard links into its group's or import's folder)."""
    input:
        model_source,
    output:
        model=paths.model_file("model.pt"),
        losses=paths.model_file("losses.tsv"),
        evolution=paths.model_file("evolution.pt"),
    log:
        paths.log_file("model_files", paths.MODEL),
    wildcard_constraints:
        seed="[0-9]+",
    localrule: True
    conda:
        ENV_PLOTS
    params:
        folder=model_folder,
    script:
        "../scripts/model_files.py"
