# rnnhmm: reproducibility pipeline for "Mechanistic Interpretability of RNNs emulating Hidden
# Markov Models" (Torre et al., NeurIPS 2025).
#
#   snakemake --cores 2 --configfile=config/quick.yaml     # every figure, tiny models, CPU
#   snakemake --cores 8 fig1                               # one figure of the paper config
#   snakemake --list-target-rules                          # all figure targets
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
        expand("results/figures/{fig}.{ext}", fig=targets(config), ext=["pdf", "png"]),
        DIAGNOSTICS,
        "results/metrics/summary.tsv",
        "results/claims.csv",


onsuccess:
    figs = sorted(Path("results/figures").glob("*.png"))
    if figs:
        print(
            "\nrnnhmm: done. Figures in results/figures/ ("
            + ", ".join(p.stem for p in figs)
            + "); claims in results/claims.csv; metrics in results/metrics/summary.tsv.\n"
            "HTML report: snakemake --report report.html (add the same --configfile)."
        )
