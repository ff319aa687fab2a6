"""Config validation, the experiment grids, and the helpers every rule file shares."""

import sys
from pathlib import Path

from snakemake.utils import validate

from cnnlab import codemap
from cnnlab.configcheck import (
    ConfigError,
    check_config,
    check_config_files,
    check_schema,
    learning_rate_label,
    load_schema,
    normalise_whole_numbers,
)

SCHEMA_PATH = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
try:
    # Snakemake's loader keeps the last of a key given twice (a second `catsdogs:` block) and
    # drops the first with no word: the files it read (config.yaml, every --configfile) are read
    # again here, refusing that. `--config key=value` pairs are not files and are not covered.
    check_config_files(workflow.configfiles)
    # YAML's 2.0 passes the schema as an integer (JSON Schema's rule) but breaks Keras, range()
    # and folder names later: every whole-number float where an integer belongs becomes one first.
    normalise_whole_numbers(config, load_schema(SCHEMA_PATH))
    # Our own pass over the same schema first: it names every wrong key the way a user writes it
    # (data.petimages.split.train; "unknown key; did you mean 'epochs'?"), all of them at once.
    # Snakemake's validate then fills in the schema's defaults (and would stop anything we missed).
    check_schema(config, SCHEMA_PATH)
    validate(config, schema="../schemas/config.schema.yaml", set_default=True)
    check_config(config)
except ConfigError as error:
    # The message names every key and what to do; Snakemake would add traceback lines of this
    # file and of cnnlab.configcheck to it. Exit status 1, before any job.
    sys.exit(str(error))


# Snakemake tracks a script by its file time and not the modules it imports: every rule passes
# the version of its script and of the cnnlab code that script runs (computed from the imports,
# cnnlab/codemap.py) as a param, and the profiles leave `code` out of the rerun triggers; so
# editing a model retrains, editing a plot only replots, and a clone or a touch reruns nothing.
def code_version(script, leave_out=()):
    return codemap.code_version(script, leave_out)


GPUS_PER_TRAIN_JOB = config["training"]["gpus_per_job"]
# Every job that runs Keras (training, evaluation, the model visualisations) runs on this
# backend, in that backend's conda environment; no other job imports Keras.
KERAS_BACKEND = config["training"]["backend"]
KERAS_ENV = f"../envs/keras-{KERAS_BACKEND}.yaml"
TRAINING_RUNTIME = {
    key: config["training"][key] for key in ("mixed_precision", "xla", "deterministic_ops")
}
# The data seed: subsets, splits, the synthetic archives, the figures' random starts.
SEED = config["seed"]
# The training seeds: every model is trained once per seed (results/<dataset>/<model>/seed<n>/).
SEEDS = config["training"]["seeds"]


def download_code_version(wildcards):
    """The fetch code's version; a real (url or path) source does not depend on the synthetic
    archive generator, so editing it re-extracts nothing."""
    synthetic = config["data"][wildcards.archive]["source"] == "synthetic"
    return code_version("download.py", () if synthetic else codemap.SYNTHETIC_ONLY)


def training(wildcards):
    """What results/{dataset}/{model}/seed{seed} is trained from: {"architecture", "settings", "inputs"},
    from the data set's function (catsdogs.smk, cifar10.smk)."""
    of_dataset = {"catsdogs": catsdogs_training, "cifar10": cifar10_training}
    return of_dataset[wildcards.dataset](wildcards.model, int(wildcards.seed))


def data_source(dataset):
    """The source a dataset is fetched from: {"kind": ..., plus that kind's entry}. A local
    copy also gets the url entry's pinned size and hash: a copy of the same archive must
    match them (set them to null to accept a different file)."""
    data = config["data"][dataset]
    entry = data[data["source"]]
    source = {"kind": data["source"], **(entry if isinstance(entry, dict) else {"path": entry})}
    if source["kind"] == "path":
        pins = data.get("url") or {}
        source |= {key: pins[key] for key in ("size", "sha256", "md5") if pins.get(key)}
    return source


def grid_cells(grid):
    """The 'lr{lr}_f{filters}' folder name of every cell of a learning-rate x filters grid."""
    return [
        f"lr{learning_rate_label(lr)}_f{filters}"
        for lr in grid["learning_rates"]
        for filters in grid["filters"]
    ]


def grid_cell_values(model):
    """(learning rate, filters) of a grid cell's model path: 'basic/lr0.001_f32' -> (0.001, 32)."""
    learning_rate, filters = model.removeprefix("basic/lr").split("_f")
    return float(learning_rate), int(filters)


GRID_CELLS = {
    "catsdogs": grid_cells(config["catsdogs"]["basic"]),
    "cifar10": grid_cells(config["cifar10"]["basic"]),
}
CATSDOGS_CELLS, CIFAR10_CELLS = GRID_CELLS["catsdogs"], GRID_CELLS["cifar10"]
CATSDOGS_VGG16_STAGES = ["vgg16_frozen", "vgg16_finetune", "vgg16_augmented"]
CIFAR10_VARIANTS = ["inception", "residual"]
# Where ImageNet's weights are out of reach, the VGG16 stages can start from a VGG16 base that
# this workflow trains on CIFAR-10's training split: a CIFAR-10 model of its own, in the table.
VGG16_BASE_FROM_CIFAR10 = config["catsdogs"]["vgg16"]["weights"] == "cifar10"
CIFAR10_VGG16_BASE = "vgg16_base"
# The models of each data set, as paths under results/<dataset>/.
CATSDOGS_MODELS = [f"basic/{cell}" for cell in CATSDOGS_CELLS] + CATSDOGS_VGG16_STAGES
CIFAR10_MODELS = (
    [f"basic/{cell}" for cell in CIFAR10_CELLS]
    + CIFAR10_VARIANTS
    + ([CIFAR10_VGG16_BASE] if VGG16_BASE_FROM_CIFAR10 else [])
)

# Report categories, and the data sets' names in figure titles.
DATASET_NAMES = {"catsdogs": "Cats vs dogs", "cifar10": "CIFAR-10"}
MODEL_NAMES = {
    "vgg16_frozen": "VGG16, frozen base",
    "vgg16_finetune": "VGG16, fine-tuned base",
    "vgg16_augmented": "VGG16, frozen base + augmentation",
    "inception": "CNN + inception block",
    "residual": "CNN + residual blocks",
    "vgg16_base": "VGG16 base pretrained for the cats/dogs stages",
}
MODELS_OF_DATASET = {"catsdogs": CATSDOGS_MODELS, "cifar10": CIFAR10_MODELS}


def model_title(dataset, model):
    """A model's name in figure titles: "Cats vs dogs: VGG16, frozen base",
    "CIFAR-10: basic CNN, lr0.001_f32"."""
    name = MODEL_NAMES.get(model, model.replace("basic/", "basic CNN, "))
    return f"{DATASET_NAMES[dataset]}: {name}"


# Every trained model, as "<dataset>/<model path>" under results/.
MODELS = [f"catsdogs/{model}" for model in CATSDOGS_MODELS] + [
    f"cifar10/{model}" for model in CIFAR10_MODELS
]


def runs(model):
    """The run folders of a model, one per training seed: '<model>/seed<n>'."""
    return [f"{model}/seed{seed}" for seed in SEEDS]


# Every training run, as "<dataset>/<model path>/seed<n>" under results/.
RUNS = [run for model in MODELS for run in runs(model)]


wildcard_constraints:
    archive="petimages|cifar10",
    dataset="catsdogs|cifar10",
    split="train|val|test",
    model=r"basic/lr[^/]+|vgg16_\w+|inception|residual",
    seed=r"\d+",


def dataset_runs(wildcards):
    """Every run of a data set's models, in the results table's order."""
    return [run for model in MODELS_OF_DATASET[wildcards.dataset] for run in runs(model)]


def measured_job(rule, threads=1, history=None, **wildcards):
    """A job of this run as resources.csv lists it: its rule, wildcards, threads, and where
    its benchmark file (and for training, its history) lies."""
    return {
        "rule": rule,
        "wildcards": wildcards,
        "threads": threads,
        "benchmark": str(getattr(rules, rule).benchmark).format(**wildcards),
        "history": history,
    }


def measured_jobs():
    """Every job of this config's run that costs anything (every rule but `all`)."""
    training_threads = config["training"]["threads"]
    jobs = [measured_job("download", archive=archive) for archive in ("petimages", "cifar10")]
    jobs += [
        measured_job("clean_petimages", config["data"]["petimages"]["clean_threads"]),
        measured_job("split_petimages"),
        *[
            measured_job("decode_petimages_split", split=split)
            for split in ("train", "val", "test")
        ],
        measured_job("prepare_cifar10"),
    ]
    for model in MODELS:
        dataset, model_path = model.split("/", 1)
        for seed in SEEDS:
            wildcards = {"dataset": dataset, "model": model_path, "seed": str(seed)}
            history = f"results/{model}/seed{seed}/history.csv"
            jobs.append(measured_job("train", training_threads, history, **wildcards))
            jobs.append(measured_job("evaluate", **wildcards))
        jobs.append(measured_job("plot_training_curves", dataset=dataset, model=model_path))
    jobs += [measured_job("select_best", dataset=dataset) for dataset in GRID_CELLS]
    jobs += [
        measured_job(rule, dataset=dataset)
        for rule in ("plot_grid_comparison", "plot_overview")
        for dataset in DATASET_NAMES
    ]
    jobs += [
        measured_job(rule)
        for rule in (
            "plot_activations",
            "plot_filters",
            "plot_augmentation_samples",
            "plot_confusion_matrices",
            "plot_failure_galleries",
            "plot_gradcam",
            "summarize_results",
        )
    ]
    return jobs
