"""Snakemake entry point: augmented versions of one training image, from the training layers."""

from cnnlab.jobio import log_to
from cnnlab.runtime import configure, use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    configure(snakemake.threads)
    from cnnlab.plots import save_figure
    from cnnlab.visualize.augmentation import augmentation_figure

    save_figure(
        augmentation_figure(
            train_dir=snakemake.input.train,
            settings=snakemake.params.augmentation,
            count=snakemake.params.samples,
            seed=snakemake.params.seed,
            title=snakemake.params.title,
        ),
        snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
