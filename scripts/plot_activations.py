"""Snakemake entry point: the best basic CNN's conv activations for one test image."""

from cnnlab.jobio import log_to
from cnnlab.runtime import configure, use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    configure(snakemake.threads)
    from cnnlab.plots import save_figure
    from cnnlab.visualize.activations import activations_figure

    save_figure(
        activations_figure(
            model_paths=snakemake.input.models,
            best_path=snakemake.input.best,
            test_dir=snakemake.input.test,
            image_index=snakemake.params.image_index,
            title=snakemake.params.title,
        ),
        snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
