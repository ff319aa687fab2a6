"""Training, best-cell selection and evaluation: one rule each, for every model of both data sets.

What a model is trained from (architecture, hyper-parameters, inputs) comes from its data
set's function in catsdogs.smk or cifar10.smk; the rules only differ there.
"""


# Reading a few small files: not worth a cluster job.
localrules:
    select_best,


# What `evaluate` reads for each dataset: its test and validation splits, and how to batch them.
TEST_DATA = {"catsdogs": PETIMAGES_ARRAYS["test"], "cifar10": rules.prepare_cifar10.output.test}
VAL_DATA = {"catsdogs": PETIMAGES_ARRAYS["val"], "cifar10": rules.prepare_cifar10.output.val}
EVALUATION_BATCH_SIZE = {
    "catsdogs": CATSDOGS_BASIC["batch_size"],
    "cifar10": CIFAR10_BASIC["batch_size"],
}


rule train:
    """Train one model (a grid cell, a VGG16 stage, a CIFAR-10 variant) resumably, and save it."""
    input:
        unpack(lambda wildcards: training(wildcards)["inputs"]),
    output:
        model="results/{dataset}/{model}/seed{seed}/model.keras",
        history="results/{dataset}/{model}/seed{seed}/history.csv",
        info="results/{dataset}/{model}/seed{seed}/train.json",
    log:
        "logs/{dataset}/{model}/seed{seed}/train.log",
    benchmark:
        "results/{dataset}/{model}/seed{seed}/benchmark.tsv"
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    threads: config["training"]["threads"]
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
        # How often to checkpoint within an epoch: how the job runs, not what it computes, so a
        # resource (a change reruns nothing) rather than a param; "" is at epochs' ends only.
        checkpoint_every=config["training"]["checkpoint_every"] or "",
    params:
        architecture=lambda wildcards: training(wildcards)["architecture"],
        settings=lambda wildcards: training(wildcards)["settings"],
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=lambda wildcards: int(wildcards.seed),
        scratch_dir="results/checkpoints/{dataset}/{model}/seed{seed}",
        code=code_version("train.py"),
    script:
        "../scripts/train.py"


rule select_best:
    """The grid cell with the best mean validation accuracy over the seeds, its margin over the
    runner-up and whether that exceeds the noise (over seeds, and image by image on the
    validation set); later stages read best.json."""
    input:
        histories=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/history.csv",
            dataset=wildcards.dataset,
            cell=GRID_CELLS[wildcards.dataset],
            seed=SEEDS,
        ),
        infos=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/train.json",
            dataset=wildcards.dataset,
            cell=GRID_CELLS[wildcards.dataset],
            seed=SEEDS,
        ),
        # Each run's final-epoch model on the validation images, from its evaluate job: the
        # best cell and its runner-up are compared image by image (McNemar).
        predictions=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/val_predictions.npz",
            dataset=wildcards.dataset,
            cell=GRID_CELLS[wildcards.dataset],
            seed=SEEDS,
        ),
    output:
        "results/{dataset}/basic/best.json",
    log:
        "logs/{dataset}/select_best.log",
    benchmark:
        "results/{dataset}/basic/select_best_benchmark.tsv"
    conda:
        "../envs/figures.yaml"
    threads: 1
    params:
        code=code_version("select_best.py"),
    script:
        "../scripts/select_best.py"


rule evaluate:
    """Test loss, accuracy and per-class accuracy of one trained model, beside its final
    train/val accuracy; and its probabilities for every test and validation image, which the
    confusion matrices, the galleries of failures and the paired comparisons read."""
    input:
        model="results/{dataset}/{model}/seed{seed}/model.keras",
        history="results/{dataset}/{model}/seed{seed}/history.csv",
        test=lambda wildcards: TEST_DATA[wildcards.dataset],
        val=lambda wildcards: VAL_DATA[wildcards.dataset],
    output:
        metrics="results/{dataset}/{model}/seed{seed}/metrics.json",
        test_predictions="results/{dataset}/{model}/seed{seed}/test_predictions.npz",
        val_predictions="results/{dataset}/{model}/seed{seed}/val_predictions.npz",
    log:
        "logs/{dataset}/{model}/seed{seed}/evaluate.log",
    benchmark:
        "results/{dataset}/{model}/seed{seed}/evaluate_benchmark.tsv"
    conda:
        KERAS_ENV
    # One pass over each of two small splits: mostly starting Python and the backend, which a second
    # thread does not speed up; one thread lets two evaluations (or a figure) run side by side.
    threads: 1
    params:
        backend=KERAS_BACKEND,
        batch_size=lambda wildcards: EVALUATION_BATCH_SIZE[wildcards.dataset],
        code=code_version("evaluate.py"),
    script:
        "../scripts/evaluate.py"
