"""Snakemake entry point: clean, convert and resize PetImages, writing a manifest of every file."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.data.petimages import clean_petimages

    clean_petimages(
        raw_dir=snakemake.input.raw,
        out_dir=snakemake.output.images,
        manifest_path=snakemake.output.manifest,
        image_size=snakemake.params.image_size,
        workers=snakemake.threads,
        min_side=snakemake.params.min_side,
        max_image_bytes=snakemake.params.max_image_bytes,
    )
