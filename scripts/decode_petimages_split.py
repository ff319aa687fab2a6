"""Snakemake entry point: decode one PetImages split folder into the .npz arrays training reads."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.data.petimages import split_to_arrays

    split_to_arrays(snakemake.input.images, snakemake.output[0])
