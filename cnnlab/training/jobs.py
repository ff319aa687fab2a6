"""One training job: build the model an architecture names, train it resumably, save it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cnnlab.history import read_history
from cnnlab.jobio import atomic_output, read_json, write_json
from cnnlab.models import catsdogs, cifar10, load_model
from cnnlab.models.augmentation import augmentation_layers
from cnnlab.provenance import git_state
from cnnlab.runtime import configure, device_description, resolve_speed_switches, versions
from cnnlab.training.callbacks import ProgressLog, ResumableCSVLogger
from cnnlab.training.checkpoints import (
    Checkpointing,
    CheckpointInterval,
    CheckpointStore,
    build_metrics,
)
from cnnlab.training.datasets import ArrayBatches, read_arrays

log = logging.getLogger(__name__)


def loss_for(model: keras.Model) -> str:
    """Binary cross-entropy for one sigmoid output, else sparse categorical (integer labels)."""
    return (
        "binary_crossentropy" if model.output_shape[-1] == 1 else "sparse_categorical_crossentropy"
    )


def compile_model(model: keras.Model, learning_rate: float, runtime: dict) -> None:
    """Adam at `learning_rate`, accuracy, XLA-compiled steps if `runtime["xla"]` (always on
    JAX: see `resolve_speed_switches`)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss_for(model),
        metrics=["accuracy"],
        jit_compile=bool(runtime.get("xla")),
    )


def batch_size_notes(batch_size: int, n_train: int) -> list[str]:
    """What train.json and the log say about a batch size the training set cannot fill: the
    run is what was asked, but each epoch is one smaller step, not batches of that size."""
    if batch_size <= n_train:
        return []
    return [
        f"batch_size {batch_size} is larger than the {n_train} training examples: each epoch is one "
        f"step on all {n_train}; lower the batch size (or use more images) to train as configured"
    ]


def train_job(
    architecture: str,
    settings: dict,
    train_data: str | os.PathLike,
    val_data: str | os.PathLike,
    best_path: str | os.PathLike | None,
    initial_model_path: str | os.PathLike | None,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    info_path: str | os.PathLike,
    scratch_dir: str | os.PathLike,
    runtime: dict,
    seed: int,
    threads: int,
    code_version: str | None = None,
    checkpoint_every: str | None = None,
) -> None:
    """Train one model and write model.keras, history.csv and train.json (each atomically).

    `settings` are the rule's hyper-parameters (epochs, batch_size, image_size for images, ...);
    `train_data` and `val_data` are the splits' .npz arrays;
    the ones a stage takes from its grid's best cell are read from `best_path`. Training state
    lives in `scratch_dir`, outside the declared outputs: checkpoints at each epoch's end and,
    with `checkpoint_every` ("500 batches", "10 minutes"), within epochs (see
    cnnlab.training.checkpoints). A job killed at any instant resumes from its newest usable
    checkpoint when rerun, and the folder is removed once the outputs are in place.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture '{architecture}': expected one of {sorted(ARCHITECTURES)}"
        )
    started = time.monotonic()
    # train.json records what really ran
    runtime = {**resolve_speed_switches(runtime), "checkpoint_every": checkpoint_every}
    CheckpointInterval.parse(checkpoint_every)  # a bad value fails now, not after an epoch
    configure(threads, seed, runtime)
    best_cell, from_best = _best_cell_values(architecture, best_path)
    hp = {**settings, **from_best}
    scratch_dir = Path(scratch_dir)
    inputs = [path for path in (train_data, val_data, best_path, initial_model_path) if path]
    _claim_scratch_dir(scratch_dir, describe_job(architecture, hp, seed, inputs, code_version))

    train, val = read_arrays(train_data), read_arrays(val_data)
    n_train, n_val = len(train[1]), len(val[1])
    notes = batch_size_notes(hp["batch_size"], n_train)
    for note in notes:
        log.warning(note)
    log.info(
        "%s on %s: %d training and %d validation examples, hyper-parameters %s, runtime %s",
        architecture,
        device_description(),
        n_train,
        n_val,
        hp,
        runtime,
    )

    model, epochs_restored = ARCHITECTURES[architecture].train(
        hp, train, val, scratch_dir, runtime, seed, initial_model_path
    )
    model.summary(print_fn=lambda text, **_: log.info(text))

    history = read_history(scratch_dir / "history.csv")
    if [row["epoch"] for row in history] != list(range(hp["epochs"])):
        raise RuntimeError(
            f"{scratch_dir / 'history.csv'} does not hold epochs 0..{hp['epochs'] - 1} once each; "
            f"delete {scratch_dir} and rerun the job"
        )
    info = {
        "architecture": architecture,
        "settings": settings,
        "best_cell": {"cell": best_cell, **from_best} if best_cell else None,
        "hyperparameters": hp,
        "seed": seed,
        "epochs": hp["epochs"],
        "epochs_run": len(history),
        "epochs_restored_from_backup": epochs_restored,
        "wall_time_seconds": round(time.monotonic() - started, 3),
        "device": device_description(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "runtime": runtime,
        "threads": threads,
        "versions": versions(),
        # The version of the modules this job ran (cnnlab.codemap), and of the checkout.
        "code": {"code_version": code_version, **git_state()},
        "n_train": n_train,
        "n_val": n_val,
        "notes": notes,
        "parameters": model.count_params(),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }
    with atomic_output(model_path) as partial:
        model.save(partial)
    with atomic_output(history_path) as partial:
        shutil.copyfile(scratch_dir / "history.csv", partial)
    write_json(info_path, info)
    # The record first: a kill within the removal leaves a folder that no rerun will resume.
    (scratch_dir / "job.json").unlink()
    shutil.rmtree(scratch_dir)


def fit(
    model: keras.Model,
    train: ArrayBatches,
    val: ArrayBatches,
    epochs: int,
    scratch_dir: Path,
    checkpoint_every: CheckpointInterval | None = None,
) -> int:
    """model.fit with history.csv and checkpoints in `scratch_dir`, resumed from the newest
    usable checkpoint a killed run left there.

    Returns how many epochs came from the checkpoint (0 for a fresh start).
    """
    history_path = scratch_dir / "history.csv"
    store = CheckpointStore(scratch_dir / "checkpoints")
    restored = store.restore(model, history_path)
    epoch = restored.epoch if restored else 0
    history_logger = ResumableCSVLogger(history_path)
    checkpointing = Checkpointing(store, history_path, len(train), checkpoint_every, restored)
    progress = ProgressLog()  # a long epoch says how far it is
    options = dict(
        validation_data=val.for_reading(),
        shuffle=False,  # the training pipeline shuffles, with the job's seed
        verbose=2,
    )
    # The history logger before the checkpoints: each copies the rows written so far.
    if restored is not None and restored.batch > 0:
        # Killed within an epoch: finish it first, from the batch after the checkpoint, in the
        # epoch's own order (Keras' fit starts an epoch only at its first batch).
        rest = train.rest_of_epoch(epoch, restored.batch)
        build_metrics(model, rest[0])  # so Checkpointing can put the epoch's sums back
        model.fit(
            rest,
            initial_epoch=epoch,
            epochs=epoch + 1,
            callbacks=[history_logger, checkpointing, progress],
            **options,
        )
        epoch += 1
    if epoch < epochs:
        # On TensorFlow a tf.data pipeline for the whole fit, in the same order as the PyDataset.
        training_input = train.for_fit(epochs)
        model.fit(
            training_input.data,
            steps_per_epoch=training_input.steps_per_epoch,
            initial_epoch=epoch,
            epochs=epochs,
            # each epoch's order follows from the seed and the epoch
            callbacks=[training_input.callback, history_logger, checkpointing, progress],
            **options,
        )
    return restored.epoch if restored else 0


def train_frozen_vgg16(hp, train, val, scratch_dir, runtime, seed, initial_model_path=None):
    """The frozen-base stage, fast: the base's features of each split are computed once, the
    head trains on them, and the whole model (preprocessing, frozen base, head) is assembled
    from the same layers. With the base frozen this is the same model as training end to end
    on images, at a fraction of the compute.

    `train` and `val` are (images, labels) arrays; the training features are shuffled each
    epoch as the images would have been.
    """
    base = catsdogs.vgg16_base(hp["image_size"], hp["weights"])
    extractor = catsdogs.vgg16_features(base, hp["preprocessing"])
    features = {}
    for name, (images, labels) in (("train", train), ("val", val)):
        features[name] = (compute_features(extractor, images, hp["batch_size"]), labels)
        log.info("VGG16 features of the %s split: %s", name, features[name][0].shape)
    head = catsdogs.dense_head(base.output_shape[1:], hp["hidden_units"])
    compile_model(head, hp["learning_rate"], runtime)
    epochs_restored = fit(
        head,
        ArrayBatches(*features["train"], hp["batch_size"], shuffle=True, seed=seed),
        ArrayBatches(*features["val"], hp["batch_size"]),
        hp["epochs"],
        scratch_dir,
        CheckpointInterval.parse(runtime.get("checkpoint_every")),
    )
    model = catsdogs.vgg16_classifier(base, head, hp["preprocessing"], name="vgg16_frozen")
    compile_model(model, hp["learning_rate"], runtime)
    # Built, so the saved model holds a whole optimizer state and loads without warnings.
    model.optimizer.build(model.trainable_variables)
    return model, epochs_restored


def compute_features(extractor: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The extractor's output for every image, in order, as float32.

    `predict` runs a compiled forward pass on either backend (a tf.function, or jax.jit), as
    fit's steps are: this pass is nearly all the stage's compute.
    """
    return np.asarray(extractor.predict(images, batch_size=batch_size, verbose=0), dtype="float32")


def _best_cell_values(architecture: str, best_path) -> tuple[str | None, dict]:
    """The best cell's name and the hyper-parameters `architecture` takes from its best.json
    (None and {} for the grid's own cells)."""
    keys = ARCHITECTURES[architecture].from_best_cell
    if not keys:
        return None, {}
    if not best_path:
        raise ValueError(
            f"{architecture} takes {', '.join(keys)} from the grid's best.json: give its path"
        )
    best = read_json(best_path)
    missing = [key for key in keys if key not in best]
    if missing:
        raise ValueError(f"{best_path} lacks {', '.join(missing)}: rerun its select_best job")
    return best["cell"], {key: best[key] for key in keys}


def describe_job(
    architecture: str,
    hyperparameters: dict,
    seed: int,
    inputs: list,
    code_version: str | None = None,
) -> dict:
    """What makes a training job this job, for its checkpoints: resuming another's would restore
    the weights of another model, or of other code (whose checkpoints may differ too)."""
    return {
        "architecture": architecture,
        "hyperparameters": hyperparameters,
        "seed": seed,
        "code_version": code_version,
        # A rewritten input (new data, a retrained frozen model) gets a new modification time.
        "inputs": {str(path): os.stat(path).st_mtime_ns for path in inputs},
    }


def _claim_scratch_dir(scratch_dir: Path, job: dict) -> None:
    """Keep a killed job's backup only if it belongs to this very job; otherwise start clean.

    A backup made with other hyper-parameters or inputs (the config or the data changed since
    the kill) would restore the weights of another model.
    """
    record = scratch_dir / "job.json"
    description = json.dumps(job, sort_keys=True)
    if scratch_dir.exists():
        if record.exists() and record.read_text() == description:
            log.info("continuing from %s, left by an interrupted run of this job", scratch_dir)
            return
        log.info("discarding %s: %s", scratch_dir, not_this_job(record, job))
        shutil.rmtree(scratch_dir)
    scratch_dir.mkdir(parents=True)
    record.write_text(description)


def not_this_job(record: Path, job: dict) -> str:
    """Why a scratch folder is not this job's, for the log: what differs, so that a discarded
    backup nobody expected says where to look."""
    if not record.exists():
        return "it has no job record (a finished job removes it first, then the folder)"
    try:
        theirs = json.loads(record.read_text())
    except ValueError:
        return "its job record cannot be read"
    ours = json.loads(json.dumps(job))  # as a record holds it: tuples as lists, keys as text
    differences = []
    for key in sorted(ours.keys() | theirs.keys()):
        mine, other = ours.get(key), theirs.get(key)
        if mine != other and isinstance(mine, dict) and isinstance(other, dict):
            inner = sorted(
                name for name in mine.keys() | other.keys() if mine.get(name) != other.get(name)
            )
            differences.append(f"{key} ({', '.join(inner)})")
        elif mine != other:
            differences.append(key)
    return f"it belongs to another configuration: {', '.join(differences)} differ"


# ------------------------------------------------------------------------ the architectures

Arrays = tuple[np.ndarray, np.ndarray]
# (hyper-parameters, train arrays, val arrays, scratch folder, runtime, seed, initial model)
# -> (the trained model, the number of epochs restored from a backup)
Trainer = Callable[[dict, Arrays, Arrays, Path, dict, int, "str | None"], tuple[keras.Model, int]]


@dataclass(frozen=True)
class Architecture:
    """How one kind of model is trained, and what it takes from its grid's best cell (as the
    report did: the VGG16 head and the CIFAR-10 variants reuse the best basic CNN's settings)."""

    train: Trainer
    from_best_cell: tuple[str, ...] = ()


def end_to_end(build: Builder) -> Trainer:
    """A trainer that builds the model with `build(hp, seed, initial_model_path)` and fits it on
    the images, reshuffled every epoch."""

    def train(hp, train_arrays, val_arrays, scratch_dir, runtime, seed, initial_model_path):
        model = build(hp, seed, initial_model_path)
        compile_model(model, hp["learning_rate"], runtime)
        epochs_restored = fit(
            model,
            ArrayBatches(*train_arrays, hp["batch_size"], shuffle=True, seed=seed),
            ArrayBatches(*val_arrays, hp["batch_size"]),
            hp["epochs"],
            scratch_dir,
            CheckpointInterval.parse(runtime.get("checkpoint_every")),
        )
        return model, epochs_restored

    return train


def build_catsdogs_basic(hp, seed, initial_model_path):
    # "augmentation" holds catsdogs.augmentation's settings when catsdogs.basic.augmented is on.
    augmentation = hp.get("augmentation")
    return catsdogs.basic_cnn(
        hp["image_size"],
        hp["filters"],
        hp["hidden_units"],
        hp["batchnorm_momentum"],
        augmentation_layers(augmentation, seed=seed) if augmentation else None,
    )


def build_vgg16_finetune(hp, seed, initial_model_path):
    if not initial_model_path:
        raise ValueError("vgg16_finetune starts from the vgg16_frozen model: give its path")
    model = catsdogs.unfreeze_vgg16_base(load_model(initial_model_path, compile=False))
    # A new name for a new stage; the layers keep theirs.
    return keras.Model(model.inputs, model.outputs, name="vgg16_finetune")


def build_vgg16_augmented(hp, seed, initial_model_path):
    base = catsdogs.vgg16_base(hp["image_size"], hp["weights"])
    head = catsdogs.dense_head(base.output_shape[1:], hp["hidden_units"])
    augmentation = augmentation_layers(hp["augmentation"], seed=seed)
    return catsdogs.vgg16_classifier(
        base, head, hp["preprocessing"], augmentation, name="vgg16_augmented"
    )


def build_cifar10_vgg16(hp, seed, initial_model_path):
    return catsdogs.vgg16_pretraining_network(
        cifar10.IMAGE_SHAPE, cifar10.CLASSES, hp["preprocessing"]
    )


def build_cifar10(network: Callable[..., keras.Model]):
    def build(hp, seed, initial_model_path):
        return network(hp["filters"], hp["batchnorm_momentum"])

    return build


# The builders of the models trained end to end, by architecture (the benchmarks build with
# them too, so they measure what the workflow trains).
Builder = Callable[[dict, int, "str | None"], keras.Model]
BUILDERS: dict[str, Builder] = {
    "catsdogs_basic": build_catsdogs_basic,
    "vgg16_finetune": build_vgg16_finetune,
    "vgg16_augmented": build_vgg16_augmented,
    "cifar10_basic": build_cifar10(cifar10.basic_cnn),
    "cifar10_inception": build_cifar10(cifar10.inception_cnn),
    "cifar10_residual": build_cifar10(cifar10.residual_cnn),
    "cifar10_vgg16": build_cifar10_vgg16,
}

# The `architecture` a training rule names -> how it trains.
ARCHITECTURES: dict[str, Architecture] = {
    "catsdogs_basic": Architecture(end_to_end(BUILDERS["catsdogs_basic"])),
    # The base is frozen: its features are computed once and the head trains on them.
    "vgg16_frozen": Architecture(train_frozen_vgg16, ("learning_rate", "hidden_units")),
    "vgg16_finetune": Architecture(end_to_end(BUILDERS["vgg16_finetune"])),
    "vgg16_augmented": Architecture(
        end_to_end(BUILDERS["vgg16_augmented"]), ("learning_rate", "hidden_units")
    ),
    "cifar10_basic": Architecture(end_to_end(BUILDERS["cifar10_basic"])),
    "cifar10_inception": Architecture(
        end_to_end(BUILDERS["cifar10_inception"]), ("learning_rate", "filters")
    ),
    "cifar10_residual": Architecture(
        end_to_end(BUILDERS["cifar10_residual"]), ("learning_rate", "filters")
    ),
    # VGG16's base trained on CIFAR-10, for the cats/dogs stages (catsdogs.vgg16.weights: cifar10).
    "cifar10_vgg16": Architecture(end_to_end(BUILDERS["cifar10_vgg16"])),
}
