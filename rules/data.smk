"""Data stage: fetch (URL, local copy or synthetic), extract safely, clean, resize, split."""


# Compute nodes of a cluster often have no internet: fetching runs where Snakemake runs.
localrules:
    download_petimages,
    download_cifar10,


rule download_petimages:
    """Fetch the PetImages archive (or a local copy, or a synthetic one) and extract it safely."""
    input:
        code=CODE["fetch_petimages"],
    output:
        directory("results/data/petimages/raw"),
    params:
        dataset="petimages",
        source=data_source("petimages"),
        downloads_dir=config["data"]["downloads_dir"],
        extract_limits=config["data"]["extract"],
        seed=SEED,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/download_petimages.log",
    script:
        "../scripts/download.py"


rule download_cifar10:
    """Fetch the CIFAR-10 binary archive (or a local copy, or a synthetic one) and extract it."""
    input:
        code=CODE["fetch_cifar10"],
    output:
        directory("results/data/cifar10/raw"),
    params:
        dataset="cifar10",
        source=data_source("cifar10"),
        downloads_dir=config["data"]["downloads_dir"],
        extract_limits=config["data"]["extract"],
        seed=SEED,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/download_cifar10.log",
    script:
        "../scripts/download.py"


rule clean_petimages:
    """Keep only images the training decoder reads, upright, in RGB; resize once; log every drop."""
    input:
        raw=rules.download_petimages.output[0],
        code=CODE["petimages"],
    output:
        images=directory("results/data/petimages/clean"),
        manifest=report(
            "results/data/petimages/clean_manifest.csv",
            caption="../report/clean_manifest.rst",
            category="Data",
        ),
    params:
        image_size=config["data"]["petimages"]["image_size"],
        min_side=config["data"]["petimages"]["min_side"],
        max_image_bytes=config["data"]["petimages"]["max_image_bytes"],
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/clean_petimages.log",
    threads: 2
    script:
        "../scripts/clean_petimages.py"


rule split_petimages:
    """A seeded subset of N images per class, split into train/val/test."""
    input:
        images=rules.clean_petimages.output.images,
        code=CODE["petimages"],
    output:
        train=directory("results/data/petimages/split/train"),
        val=directory("results/data/petimages/split/val"),
        test=directory("results/data/petimages/split/test"),
        manifest="results/data/petimages/split_manifest.csv",
    params:
        images_per_class=config["data"]["petimages"]["images_per_class"],
        ratios=config["data"]["petimages"]["split"],
        seed=SEED,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/split_petimages.log",
    script:
        "../scripts/split_petimages.py"


rule decode_petimages_split:
    """One split's images decoded once (Pillow) into an .npz of uint8 arrays, as training reads it."""
    input:
        images=lambda wildcards: rules.split_petimages.output[wildcards.split],
        code=CODE["petimages"],
    output:
        "results/data/petimages/{split}.npz",
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/decode_petimages_{split}.log",
    script:
        "../scripts/decode_petimages_split.py"


rule prepare_cifar10:
    """Parse the binary batches with numpy (never pickle) into train/val/test .npz arrays."""
    input:
        raw=rules.download_cifar10.output[0],
        code=CODE["cifar10"],
    output:
        train="results/data/cifar10/train.npz",
        val="results/data/cifar10/val.npz",
        test="results/data/cifar10/test.npz",
    params:
        validation_size=config["data"]["cifar10"]["validation_size"],
        seed=SEED,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/prepare_cifar10.log",
    script:
        "../scripts/prepare_cifar10.py"
