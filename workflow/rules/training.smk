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


localrules:
    model_files,


rule model_files:
    """A trained model's files at their per-model paths (hard links into its group's folder)."""
    input:
        lambda w: f"results/train_groups/{GROUP_OF[spec_of(w).id].id}",
    output:
        model="results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt",
        losses="results/models/{hmm}/h{hidden}_d{input}/s{seed}/losses.tsv",
        evolution="results/models/{hmm}/h{hidden}_d{input}/s{seed}/evolution.pt",
    log:
        "logs/model_files/{hmm}/h{hidden}_d{input}/s{seed}.log",
    run:
        link_model_files(Path(input[0]) / f"s{wildcards.seed}", output, log[0])
