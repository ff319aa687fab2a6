"""Snakemake entry point: the best basic CNN's filter patterns, by gradient ascent."""

from cnnlab.jobio import log_to
from cnnlab.runtime import configure, use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    configure(snakemake.threads)
    from cnnlab.plots import save_figure
    from cnnlab.visualize.filters import filters_figure

    save_figure(
        filters_figure(
            model_paths=snakemake.input.models,
            best_path=snakemake.input.best,
            settings=snakemake.params.settings,
            seed=snakemake.params.seed,
            title=snakemake.params.title,
        ),
        snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
