"""CIFAR-10: the basic-CNN grid, then the best cell's width with an inception or residual block."""

# Reading a few small files: not worth a cluster job.
localrules:
    select_best_cifar10,


CIFAR10_DATA = rules.prepare_cifar10.output
CIFAR10_BASIC = config["cifar10"]["basic"]


rule train_cifar10_basic:
    """One cell of the grid: three conv blocks of one width, at one learning rate."""
    input:
        train=CIFAR10_DATA.train,
        val=CIFAR10_DATA.val,
        code=CODE["models"] + CODE["training"],
    output:
        model="results/cifar10/basic/lr{lr}_f{filters}/model.keras",
        history="results/cifar10/basic/lr{lr}_f{filters}/history.csv",
        info="results/cifar10/basic/lr{lr}_f{filters}/train.json",
    params:
        architecture="cifar10_basic",
        settings=lambda wildcards: {
            "learning_rate": float(wildcards.lr),
            "filters": int(wildcards.filters),
            "epochs": CIFAR10_BASIC["epochs"],
            "batch_size": CIFAR10_BASIC["batch_size"],
            "batchnorm_momentum": CIFAR10_BASIC["batchnorm_momentum"],
        },
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=SEED,
        scratch_dir="results/checkpoints/cifar10/basic/lr{lr}_f{filters}",
    log:
        "logs/cifar10/basic/lr{lr}_f{filters}.log",
    benchmark:
        "results/cifar10/basic/lr{lr}_f{filters}/benchmark.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    script:
        "../scripts/train.py"


rule select_best_cifar10:
    """The grid cell with the best validation accuracy; the variants read best.json."""
    input:
        histories=expand("results/cifar10/basic/{cell}/history.csv", cell=CIFAR10_CELLS),
        infos=expand("results/cifar10/basic/{cell}/train.json", cell=CIFAR10_CELLS),
        code=CODE["training"],
    output:
        "results/cifar10/basic/best.json",
    log:
        "logs/cifar10/select_best.log",
    benchmark:
        "results/cifar10/basic/select_best_benchmark.tsv"
    threads: 1
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/select_best.py"


rule train_cifar10_variant:
    """The basic CNN with an inception block, or with residual connections, at the best width."""
    input:
        train=CIFAR10_DATA.train,
        val=CIFAR10_DATA.val,
        best=rules.select_best_cifar10.output[0],
        code=CODE["models"] + CODE["training"],
    output:
        model="results/cifar10/{variant}/model.keras",
        history="results/cifar10/{variant}/history.csv",
        info="results/cifar10/{variant}/train.json",
    params:
        architecture=lambda wildcards: f"cifar10_{wildcards.variant}",
        settings=lambda wildcards: {
            "epochs": config["cifar10"][wildcards.variant]["epochs"],
            "batch_size": config["cifar10"][wildcards.variant]["batch_size"],
            # The basic net's, as the variant is that net with one more block.
            "batchnorm_momentum": CIFAR10_BASIC["batchnorm_momentum"],
        },
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=SEED,
        scratch_dir="results/checkpoints/cifar10/{variant}",
    log:
        "logs/cifar10/{variant}.log",
    benchmark:
        "results/cifar10/{variant}/benchmark.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    script:
        "../scripts/train.py"
