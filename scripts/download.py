"""Snakemake entry point: fetch one data set (URL, local copy or synthetic) and extract it."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.data.sources import fetch_and_extract

    fetch_and_extract(
        dataset=snakemake.params.dataset,
        source=snakemake.params.source,
        downloads_dir=snakemake.params.downloads_dir,
        out_dir=snakemake.output[0],
        seed=snakemake.params.seed,
        retries=snakemake.params.retries,
        extract_limits=snakemake.params.extract_limits,
    )
