"""Snakemake entry point: the results table (CSV, Markdown, HTML) beside the report's numbers."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.summary import summarize_results

    summarize_results(
        models=snakemake.params.models,
        runs=snakemake.params.runs,
        metrics_paths=snakemake.input.metrics,
        info_paths=snakemake.input.infos,
        best_paths=dict(zip(snakemake.params.grids, snakemake.input.best)),
        report_numbers=snakemake.params.report_numbers,
        report_test_images=snakemake.params.report_test_images,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        html_path=snakemake.output.html,
        overview_paths=dict(zip(snakemake.params.datasets, snakemake.input.overviews)),
    )
