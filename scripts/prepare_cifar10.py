"""Snakemake entry point: CIFAR-10 binary batches to train/val/test .npz arrays."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.data.cifar10 import prepare_cifar10

    prepare_cifar10(
        raw_dir=snakemake.input.raw,
        out_paths={split: snakemake.output[split] for split in ("train", "val", "test")},
        validation_size=snakemake.params.validation_size,
        seed=snakemake.params.seed,
    )
