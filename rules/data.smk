"""Data stage: fetch (URL, local copy or synthetic), extract safely, clean, resize, split."""


# Compute nodes of a cluster often have no internet: fetching runs where Snakemake runs.
localrules:
    download,


rule download:
    """Fetch an archive (from its URL, a local copy, or generated) and extract it safely."""
    output:
        directory("results/data/{archive}/raw"),
    log:
        "logs/data/download_{archive}.log",
    benchmark:
        "results/resources/data/download_{archive}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        dataset=lambda wildcards: wildcards.archive,
        source=lambda wildcards: data_source(wildcards.archive),
        downloads_dir=config["data"]["downloads_dir"],
        retries=config["data"]["download_retries"],
        extract_limits=config["data"]["extract"],
        seed=SEED,
        code=download_code_version,
    script:
        "../scripts/download.py"


rule clean_petimages:
    """Keep only images the training decoder reads, upright, in RGB; resize once; log every drop."""
    input:
        raw="results/data/petimages/raw",
    output:
        images=directory("results/data/petimages/clean"),
        manifest=report(
            "results/data/petimages/clean_manifest.csv",
            caption="../report/clean_manifest.rst",
            category="Data",
        ),
    log:
        "logs/data/clean_petimages.log",
    benchmark:
        "results/resources/data/clean_petimages.tsv"
    # Everything of cats vs dogs waits for it: start it before any other job that is ready.
    # With more threads than the cores left beside a long training job it would wait for that
    # job, and the whole cats/dogs branch with it: the demo asks for 1.
    priority: 10
    conda:
        "../envs/data.yaml"
    threads: config["data"]["petimages"]["clean_threads"]
    params:
        code=code_version("clean_petimages.py"),
        image_size=config["data"]["petimages"]["image_size"],
        min_side=config["data"]["petimages"]["min_side"],
        max_image_bytes=config["data"]["petimages"]["max_image_bytes"],
    script:
        "../scripts/clean_petimages.py"


rule split_petimages:
    """A seeded subset of N images per class, split into train/val/test."""
    input:
        images=rules.clean_petimages.output.images,
    output:
        train=directory("results/data/petimages/split/train"),
        val=directory("results/data/petimages/split/val"),
        test=directory("results/data/petimages/split/test"),
        manifest="results/data/petimages/split_manifest.csv",
    log:
        "logs/data/split_petimages.log",
    benchmark:
        "results/resources/data/split_petimages.tsv"
    conda:
        "../envs/data.yaml"
    params:
        code=code_version("split_petimages.py"),
        images_per_class=config["data"]["petimages"]["images_per_class"],
        ratios=config["data"]["petimages"]["split"],
        seed=SEED,
    script:
        "../scripts/split_petimages.py"


rule decode_petimages_split:
    """One split's images decoded once (Pillow) into an .npz of uint8 arrays, as training reads it."""
    input:
        images=lambda wildcards: rules.split_petimages.output[wildcards.split],
    output:
        "results/data/petimages/{split}.npz",
    log:
        "logs/data/decode_petimages_{split}.log",
    benchmark:
        "results/resources/data/decode_petimages_{split}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        code=code_version("decode_petimages_split.py"),
    script:
        "../scripts/decode_petimages_split.py"


rule prepare_cifar10:
    """Parse the binary batches with numpy (never pickle) into train/val/test .npz arrays."""
    input:
        raw="results/data/cifar10/raw",
    output:
        train="results/data/cifar10/train.npz",
        val="results/data/cifar10/val.npz",
        test="results/data/cifar10/test.npz",
    log:
        "logs/data/prepare_cifar10.log",
    benchmark:
        "results/resources/data/prepare_cifar10.tsv"
    conda:
        "../envs/data.yaml"
    params:
        code=code_version("prepare_cifar10.py"),
        validation_size=config["data"]["cifar10"]["validation_size"],
        seed=SEED,
    script:
        "../scripts/prepare_cifar10.py"
