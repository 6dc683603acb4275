rule hmm_data:
    """Sample train/validation/test sequences of one HMM for one seed (matrices stored beside)."""
    output:
        "results/data/{hmm}/s{seed}.npz",
    log:
        "logs/data/{hmm}/s{seed}.log",
    conda:
        ENV_PLOTS
    params:
        spec=hmm_spec,
        num_seq=config["data"]["num_seq"],
    script:
        "../scripts/make_data.py"
