rule train:
    """Train one RNN; resumes from results/checkpoints/... if a previous run was killed."""
    input:
        data="results/data/{hmm}/s{seed}.npz",
    output:
        model="results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt",
        losses="results/models/{hmm}/h{hidden}_d{input}/s{seed}/losses.tsv",
        evolution="results/models/{hmm}/h{hidden}_d{input}/s{seed}/evolution.pt",
    log:
        "logs/train/{hmm}/h{hidden}_d{input}/s{seed}.log",
    conda:
        ENV
    threads: 1
    resources:
        gpu=uses_gpu,
        runtime=720,
        mem_mb=8000,
    params:
        training=train_params,
        checkpoint=lambda w: f"results/checkpoints/{w.hmm}/h{w.hidden}_d{w.input}/s{w.seed}.pt",
    script:
        "../scripts/train_model.py"
