# Every paper figure, generated from the registry rnnhmm.figure_registry.FIGURES (adding a figure
# is one entry there): a "<fig>_data" rule that gathers cached results into one small file, and a
# target rule "<fig>" that only plots it (restyling never reruns an analysis). Both are cheap and
# run where Snakemake runs (localrule), never through a cluster queue.

for fig in FIGURES:

    rule:
        name:
            f"{fig.name}_data"
        input:
            **fig.inputs(config),
            **fig.flag_inputs(config),
        output:
            paths.figure_data_file(fig.name),
        log:
            paths.log_file("figure_data", fig.name),
        localrule: True
        conda:
            ENV_PLOTS
        params:
            **fig.params(config, CONFIG_LABEL),
            figure=fig.name,
            script=fig.script,
        # script: and shell: are evaluated when the job runs, after the loop has moved on, so they
        # must not use the loop variable: Snakemake fills {params.*} into the script path.
        script:
            "../scripts/{params.script}"

    rule:
        name:
            fig.name
        input:
            paths.figure_data_file(fig.name),
        output:
            pdf=paths.figure_file(fig.name, "pdf"),
            png=report(
                paths.figure_file(fig.name, "png"),
                caption=f"../report/{fig.name}.rst",
                category=fig.category,
                labels={"figure": fig.name},
            ),
        log:
            paths.log_file("figures", fig.name),
        localrule: True
        conda:
            ENV_PLOTS
        params:
            figure=fig.name,
        script:
            "../scripts/plot_figure.py"

    # shown by `snakemake --list-target-rules` (a rule's docstring must be a literal string)
    workflow.get_rule(fig.name).docstring = fig.doc
