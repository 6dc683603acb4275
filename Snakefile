# rnnhmm: reproducibility pipeline for "Mechanistic Interpretability of RNNs emulating Hidden
# Markov Models" (Torre et al., NeurIPS 2025).
#
#   snakemake --cores 2 --configfile=config/quick.yaml     # every figure, tiny models, CPU
#   snakemake --cores 8 fig1                               # one figure of the paper config
#   snakemake --list-target-rules                          # all figure targets
#
# Results layout (stated in code once, in src/rnnhmm/paths.py; every rule builds its paths there).
# A model id is {hmm}/h{hidden}_d{input}/s{seed}, a null network's {model}-null-{kind}, a training
# group's {hmm}/h{hidden}_d{input}/s{seed}_{seed}...
#
#   results/data/{hmm}/s{seed}.npz                   sampled sequences        (rules/data.smk)
#   results/train_groups/{group}/s{seed}/            a training job's files   (rules/training.smk)
#   results/external/{model}/                        an imported model's      (rules/training.smk)
#   results/models/{model}/model.pt, losses.tsv, evolution.pt   every model's (rules/training.smk, nulls.smk)
#   results/metrics/models|likelihood/{model}.json, floor/{hmm}.json, summary.tsv   (rules/metrics.smk)
#   results/diagnostics/{model}.png                                          (rules/metrics.smk)
#   results/analysis/{analysis}/{model}.npz|json, readout_alignment.json     (rules/dynamics.smk, mechanism.smk)
#   results/claims/{performance,dynamics,mechanism}.csv -> results/claims.csv, claims_summary.csv,
#     claims_null.csv                                                        (rules/claims.smk)
#   results/figure_data/{fig}.json -> results/figures/{fig}.pdf, .png      (rules/figures.smk)
#   logs/<step>/<the output's id>.log
from snakemake.utils import min_version

# Profiles named profile.yaml and the rule/resource features used here need Snakemake 9.19.
min_version("9.19")


# The paper config unless another is given (--configfile replaces it; it is not merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/dynamics.smk"
include: "workflow/rules/mechanism.smk"
include: "workflow/rules/nulls.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


rule all:
    default_target: True
    input:
        expand(
            paths.figure_file("{fig}", "{ext}"),
            fig=targets(config),
            ext=["pdf", "png"],
        ),
        DIAGNOSTICS,
        paths.SUMMARY_TABLE,
        paths.CLAIMS,


onsuccess:
    figs = sorted(Path(paths.FIGURE_DIR).glob("*.png"))
    if figs:
        print(
            f"\nrnnhmm: done. Figures in {paths.FIGURE_DIR}/ ("
            + ", ".join(p.stem for p in figs)
            + f"); claims in {paths.CLAIMS}; metrics in {paths.SUMMARY_TABLE}.\n"
            "HTML report: snakemake --report report.html (add the same --configfile)."
        )
