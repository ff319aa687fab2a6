"""Snakemake entry point: the test images each selected model gets most confidently wrong."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.prediction_plots import draw_failure_galleries

    draw_failure_galleries(
        selections=snakemake.params.galleries,
        test_data=snakemake.params.test_data,
        count=snakemake.params.images,
        dpi=snakemake.params.dpi,
    )
