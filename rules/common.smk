"""Config validation, the experiment grids, and the helpers every rule file shares."""

from pathlib import Path

from snakemake.utils import min_version, validate

from cnnlab.configcheck import check_config, check_schema

min_version("9.0")


# Our own pass over the same schema first: it names every wrong key the way a user writes it
# (data.petimages.split.train; "unknown key; did you mean 'epochs'?"), all of them at once.
# Snakemake's validate then fills in the schema's defaults (and would stop anything we missed).
check_schema(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
validate(config, schema="../schemas/config.schema.yaml", set_default=True)
check_config(config)


# Snakemake tracks a script's own changes, not the modules it imports, so every rule lists the
# cnnlab modules its results depend on as input: editing a model retrains, editing a plot
# only replots.
PACKAGE = Path(workflow.basedir) / "cnnlab"


def package_files(*parts):
    files = []
    for part in parts:
        path = PACKAGE / part
        files += sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return [str(f) for f in files]


CODE = {
    # The fetch jobs check the extracted layout with the parsers' own layout_problem.
    "fetch_petimages": package_files(
        "data/__init__", "data/sources", "data/extract", "data/synthetic", "data/petimages", "jobio"
    ),
    # The synthetic CIFAR-10 archive is written with the parser's own record layout.
    "fetch_cifar10": package_files(
        "data/__init__", "data/sources", "data/extract", "data/synthetic", "data/cifar10", "jobio"
    ),
    "petimages": package_files("data/__init__", "data/petimages", "jobio"),
    "cifar10": package_files("data/__init__", "data/cifar10", "jobio"),
    "models": package_files("models"),
    "training": package_files("training", "history", "runtime", "jobio"),
    "plots": package_files("plots", "history", "jobio"),
    "visualize": package_files("visualize", "runtime", "jobio"),
    "summary": package_files("summary", "jobio"),
}

GPUS_PER_TRAIN_JOB = config["training"]["gpus_per_job"]
# Every job that runs Keras (training, evaluation, the model visualisations) runs on this
# backend, in that backend's conda environment; no other job imports Keras.
KERAS_BACKEND = config["training"]["backend"]
KERAS_ENV = f"../envs/keras-{KERAS_BACKEND}.yaml"
TRAINING_RUNTIME = {
    key: config["training"][key]
    for key in ("mixed_precision", "xla", "deterministic_ops")
}
SEED = config["seed"]


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


CATSDOGS_CELLS = grid_cells(config["catsdogs"]["basic"])
CIFAR10_CELLS = grid_cells(config["cifar10"]["basic"])
CATSDOGS_VGG16_STAGES = ["vgg16_frozen", "vgg16_finetune", "vgg16_augmented"]
CIFAR10_VARIANTS = ["inception", "residual"]

# Every trained model, as "<dataset>/<model path>" under results/.
MODELS = (
    [f"catsdogs/basic/{cell}" for cell in CATSDOGS_CELLS]
    + [f"catsdogs/{stage}" for stage in CATSDOGS_VGG16_STAGES]
    + [f"cifar10/basic/{cell}" for cell in CIFAR10_CELLS]
    + [f"cifar10/{variant}" for variant in CIFAR10_VARIANTS]
)


wildcard_constraints:
    lr=r"[0-9.e+-]+",
    filters=r"\d+",
    dataset="catsdogs|cifar10",
    split="train|val|test",
    stage="|".join(CATSDOGS_VGG16_STAGES),
    variant="|".join(CIFAR10_VARIANTS),
    model=r"basic/lr[^/]+|vgg16_\w+|inception|residual",
