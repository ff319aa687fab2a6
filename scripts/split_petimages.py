"""Snakemake entry point: a seeded subset per class, split into train/val/test."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.data.petimages import split_petimages

    split_petimages(
        clean_dir=snakemake.input.images,
        split_dirs={split: snakemake.output[split] for split in ("train", "val", "test")},
        manifest_path=snakemake.output.manifest,
        images_per_class=snakemake.params.images_per_class,
        ratios=snakemake.params.ratios,
        seed=snakemake.params.seed,
    )
