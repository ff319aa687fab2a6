"""Config validation, the experiment grids, and the helpers every rule file shares."""

from pathlib import Path

from snakemake.utils import validate

from cnnlab import codemap
from cnnlab.configcheck import check_config, check_schema


# Our own pass over the same schema first: it names every wrong key the way a user writes it
# (data.petimages.split.train; "unknown key; did you mean 'epochs'?"), all of them at once.
# Snakemake's validate then fills in the schema's defaults (and would stop anything we missed).
check_schema(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
validate(config, schema="../schemas/config.schema.yaml", set_default=True)
check_config(config)


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
    key: config["training"][key]
    for key in ("mixed_precision", "xla", "deterministic_ops")
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


def learning_rate_label(learning_rate):
    """The wildcard text of a learning rate: 0.001 -> '0.001', 1e-05 -> '1e-05'."""
    return f"{learning_rate:g}"


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
# The models of each data set, as paths under results/<dataset>/.
CATSDOGS_MODELS = [f"basic/{cell}" for cell in CATSDOGS_CELLS] + CATSDOGS_VGG16_STAGES
CIFAR10_MODELS = [f"basic/{cell}" for cell in CIFAR10_CELLS] + CIFAR10_VARIANTS

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
