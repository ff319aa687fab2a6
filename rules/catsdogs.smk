"""Cats vs dogs: the basic-CNN grid, best-cell selection, and VGG16 transfer learning."""

# Reading a few small files: not worth a cluster job.
localrules:
    select_best_catsdogs,


# The splits as training reads them: decoded uint8 arrays.
PETIMAGES_ARRAYS = {
    split: f"results/data/petimages/{split}.npz" for split in ("train", "val", "test")
}
CATSDOGS_BASIC = config["catsdogs"]["basic"]
CATSDOGS_VGG16 = config["catsdogs"]["vgg16"]
CATSDOGS_IMAGE_SIZE = config["data"]["petimages"]["image_size"]


rule train_catsdogs_basic:
    """One cell of the grid: the report's basic CNN at one learning rate and width."""
    input:
        train=PETIMAGES_ARRAYS["train"],
        val=PETIMAGES_ARRAYS["val"],
        code=CODE["models"] + CODE["training"],
    output:
        model="results/catsdogs/basic/lr{lr}_f{filters}/model.keras",
        history="results/catsdogs/basic/lr{lr}_f{filters}/history.csv",
        info="results/catsdogs/basic/lr{lr}_f{filters}/train.json",
    params:
        architecture="catsdogs_basic",
        settings=lambda wildcards: {
            "learning_rate": float(wildcards.lr),
            "filters": int(wildcards.filters),
            "hidden_units": CATSDOGS_BASIC["hidden_units"],
            "epochs": CATSDOGS_BASIC["epochs"],
            "batch_size": CATSDOGS_BASIC["batch_size"],
            "batchnorm_momentum": CATSDOGS_BASIC["batchnorm_momentum"],
            "image_size": CATSDOGS_IMAGE_SIZE,
        },
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=SEED,
        scratch_dir="results/checkpoints/catsdogs/basic/lr{lr}_f{filters}",
    log:
        "logs/catsdogs/basic/lr{lr}_f{filters}.log",
    benchmark:
        "results/catsdogs/basic/lr{lr}_f{filters}/benchmark.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    script:
        "../scripts/train.py"


rule select_best_catsdogs:
    """The grid cell with the best validation accuracy; later stages read best.json."""
    input:
        histories=expand("results/catsdogs/basic/{cell}/history.csv", cell=CATSDOGS_CELLS),
        infos=expand("results/catsdogs/basic/{cell}/train.json", cell=CATSDOGS_CELLS),
        code=CODE["training"],
    output:
        "results/catsdogs/basic/best.json",
    log:
        "logs/catsdogs/select_best.log",
    benchmark:
        "results/catsdogs/basic/select_best_benchmark.tsv"
    threads: 1
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/select_best.py"


rule train_vgg16_frozen:
    """VGG16 base frozen, a dense head on top; the base's features are computed once."""
    input:
        train=PETIMAGES_ARRAYS["train"],
        val=PETIMAGES_ARRAYS["val"],
        best=rules.select_best_catsdogs.output[0],
        code=CODE["models"] + CODE["training"],
    output:
        model="results/catsdogs/vgg16_frozen/model.keras",
        history="results/catsdogs/vgg16_frozen/history.csv",
        info="results/catsdogs/vgg16_frozen/train.json",
    params:
        architecture="vgg16_frozen",
        settings={
            "weights": CATSDOGS_VGG16["weights"],
            "preprocessing": CATSDOGS_VGG16["preprocessing"],
            "epochs": CATSDOGS_VGG16["frozen"]["epochs"],
            "batch_size": CATSDOGS_VGG16["batch_size"],
            "image_size": CATSDOGS_IMAGE_SIZE,
        },
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=SEED,
        scratch_dir="results/checkpoints/catsdogs/vgg16_frozen",
    log:
        "logs/catsdogs/vgg16_frozen.log",
    benchmark:
        "results/catsdogs/vgg16_frozen/benchmark.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    script:
        "../scripts/train.py"


rule train_vgg16_finetune:
    """The frozen stage's model with its base unfrozen, at a small learning rate."""
    input:
        train=PETIMAGES_ARRAYS["train"],
        val=PETIMAGES_ARRAYS["val"],
        initial_model=rules.train_vgg16_frozen.output.model,
        code=CODE["models"] + CODE["training"],
    output:
        model="results/catsdogs/vgg16_finetune/model.keras",
        history="results/catsdogs/vgg16_finetune/history.csv",
        info="results/catsdogs/vgg16_finetune/train.json",
    params:
        architecture="vgg16_finetune",
        settings={
            "learning_rate": CATSDOGS_VGG16["finetune"]["learning_rate"],
            "epochs": CATSDOGS_VGG16["finetune"]["epochs"],
            "batch_size": CATSDOGS_VGG16["batch_size"],
            "image_size": CATSDOGS_IMAGE_SIZE,
        },
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=SEED,
        scratch_dir="results/checkpoints/catsdogs/vgg16_finetune",
    log:
        "logs/catsdogs/vgg16_finetune.log",
    benchmark:
        "results/catsdogs/vgg16_finetune/benchmark.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    script:
        "../scripts/train.py"


rule train_vgg16_augmented:
    """VGG16 base frozen, trained on augmented images (Keras preprocessing layers)."""
    input:
        train=PETIMAGES_ARRAYS["train"],
        val=PETIMAGES_ARRAYS["val"],
        best=rules.select_best_catsdogs.output[0],
        code=CODE["models"] + CODE["training"],
    output:
        model="results/catsdogs/vgg16_augmented/model.keras",
        history="results/catsdogs/vgg16_augmented/history.csv",
        info="results/catsdogs/vgg16_augmented/train.json",
    params:
        architecture="vgg16_augmented",
        settings={
            "weights": CATSDOGS_VGG16["weights"],
            "preprocessing": CATSDOGS_VGG16["preprocessing"],
            "epochs": CATSDOGS_VGG16["augmented"]["epochs"],
            "batch_size": CATSDOGS_VGG16["batch_size"],
            "image_size": CATSDOGS_IMAGE_SIZE,
            "augmentation": config["catsdogs"]["augmentation"],
        },
        backend=KERAS_BACKEND,
        runtime=TRAINING_RUNTIME,
        seed=SEED,
        scratch_dir="results/checkpoints/catsdogs/vgg16_augmented",
    log:
        "logs/catsdogs/vgg16_augmented.log",
    benchmark:
        "results/catsdogs/vgg16_augmented/benchmark.tsv"
    threads: 2
    resources:
        gpu=GPUS_PER_TRAIN_JOB,
    retries: config["training"]["retries"]
    conda:
        KERAS_ENV
    script:
        "../scripts/train.py"


# What `evaluate` reads for each dataset: its test split, and how to batch it.
TEST_DATA = {
    "catsdogs": PETIMAGES_ARRAYS["test"],
    "cifar10": rules.prepare_cifar10.output.test,
}
EVALUATION_SETTINGS = {
    "catsdogs": {"batch_size": CATSDOGS_BASIC["batch_size"]},
    "cifar10": {"batch_size": config["cifar10"]["basic"]["batch_size"]},
}


rule evaluate:
    """Test loss and accuracy of one trained model, beside its final train/val accuracy."""
    input:
        model="results/{dataset}/{model}/model.keras",
        history="results/{dataset}/{model}/history.csv",
        test=lambda wildcards: TEST_DATA[wildcards.dataset],
        code=CODE["models"] + CODE["training"],
    output:
        "results/{dataset}/{model}/metrics.json",
    params:
        backend=KERAS_BACKEND,
        settings=lambda wildcards: EVALUATION_SETTINGS[wildcards.dataset],
    log:
        "logs/{dataset}/{model}/evaluate.log",
    benchmark:
        "results/{dataset}/{model}/evaluate_benchmark.tsv"
    threads: 2
    conda:
        KERAS_ENV
    script:
        "../scripts/evaluate.py"
