"""Snakemake entry point: one model's training and validation curves."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.plots import save_figure, training_curves_figure

    save_figure(
        training_curves_figure(snakemake.input.histories, title=snakemake.params.title),
        snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
