rule train:
    """Train one group of models (the seeds of a grid cell that share their training settings) in
    one process with the batched engine; resumes from results/checkpoints/{group}.pt if a
    previous run was killed. Writes each model's files under results/train_groups/{group}/.
    """
    input:
        data=lambda w: [
            f"results/data/{TRAIN_GROUPS[w.group].hmm}/s{s}.npz"
            for s in TRAIN_GROUPS[w.group].seeds
        ],
    output:
        directory("results/train_groups/{group}"),
    log:
        "logs/train/{group}.log",
    wildcard_constraints:
        group=r"[A-Za-z][A-Za-z0-9_]*/h[0-9]+_d[0-9]+/s[0-9]+(_[0-9]+)*",
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
        checkpoint=lambda w: f"results/checkpoints/{w.group}.pt",
    script:
        "../scripts/train_group.py"


rule import_external:
    """A model trained elsewhere (config ``external`` / ``external_tree``; rnnhmm.external): its
    weights (read with weights_only=True), evolution snapshots and loss curve (where it has one) in
    the files a training job leaves, with a plateau verdict from one validation loss measured now.
    """
    input:
        weights=lambda w: EXTERNAL[spec_of(w).id]["external"],
        losses=lambda w: EXTERNAL[spec_of(w).id].get("losses") or [],
        data="results/data/{hmm}/s{seed}.npz",
    output:
        directory("results/external/{hmm}/h{hidden}_d{input}/s{seed}"),
    log:
        "logs/import/{hmm}/h{hidden}_d{input}/s{seed}.log",
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
        model="results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt",
        losses="results/models/{hmm}/h{hidden}_d{input}/s{seed}/losses.tsv",
        evolution="results/models/{hmm}/h{hidden}_d{input}/s{seed}/evolution.pt",
    log:
        "logs/model_files/{hmm}/h{hidden}_d{input}/s{seed}.log",
    wildcard_constraints:
        seed="[0-9]+",
    localrule: True
    conda:
        ENV_PLOTS
    params:
        folder=model_folder,
    script:
        "../scripts/model_files.py"
