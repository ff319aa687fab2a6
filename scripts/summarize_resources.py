"""Snakemake entry point: results/resources.csv, the time and memory of every job of the run."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.resources import summarize_resources

    summarize_resources(
        jobs=snakemake.params.jobs,
        csv_path=snakemake.output.csv,
        html_path=snakemake.output.html,
    )
