rule hmm_data:
    """Sample train/validation/test sequences of one HMM for one seed (matrices stored beside)."""
    output:
        paths.data_file(),
    log:
        paths.log_file("data", paths.data_id()),
    conda:
        ENV_PLOTS
    params:
        spec=hmm_spec,
        num_seq=config["data"]["num_seq"],
    script:
        "../scripts/make_data.py"
