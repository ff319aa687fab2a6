"""Snakemake entry point: one data set's results at a glance, a forest plot beside the report."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.overview import plot_overview

    plot_overview(
        dataset=snakemake.wildcards.dataset,
        models=snakemake.params.models,
        runs=snakemake.params.runs,
        metrics_paths=snakemake.input.metrics,
        info_paths=snakemake.input.infos,
        best_paths={snakemake.params.grid: snakemake.input.best},
        report_numbers=snakemake.params.report_numbers,
        report_test_images=snakemake.params.report_test_images,
        title=snakemake.params.title,
        out_path=snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
