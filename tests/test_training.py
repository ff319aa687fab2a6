"""The training infrastructure in-process, on tiny generated data: input pipelines, resumable
history, a whole training and evaluation job, the frozen VGG16 fast path."""

from __future__ import annotations

import json
import os
import re
import time

import keras
import numpy as np
import pytest
from conftest import default_config
from PIL import Image

from cnnlab.data.petimages import split_to_arrays
from cnnlab.history import read_history
from cnnlab.models import catsdogs, load_model
from cnnlab.predictions import Predictions, read_predictions
from cnnlab.training.callbacks import ProgressLog, ResumableCSVLogger
from cnnlab.training.datasets import load_split
from cnnlab.training.evaluation import evaluate_job, per_class_accuracy
from cnnlab.training.jobs import compute_features, train_job

SIZE = (32, 32)
RUNTIME = {"mixed_precision": False, "xla": False, "deterministic_ops": False}


def write_split(root, counts, seed=0):
    """Split folders of PNGs (lossless, so pixel values can be checked), cats dark, dogs bright,
    and each split decoded to root/<split>.npz by the data stage's own function."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for label, name in enumerate(catsdogs.CLASS_NAMES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 100, (*SIZE, 3)) + 150 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index:03d}.png")
        split_to_arrays(root / split, root / f"{split}.npz")
    return root


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("split"), {"train": 8, "val": 4, "test": 4})


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory):
    rng = np.random.default_rng(1)
    labels = np.arange(30, dtype=np.int64) % 10
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("npz") / "train.npz"
    np.savez(path, images=images, labels=labels, class_names=np.array([f"c{i}" for i in range(10)]))
    return path


def as_arrays(batches):
    images, labels = zip(*[batches[index] for index in range(len(batches))], strict=True)
    return np.concatenate(images), np.concatenate(labels)


# ---------------------------------------------------------------------------------- pipelines


def test_split_folder_decodes_to_arrays_in_file_order(split_dir):
    batches = load_split(split_dir / "train.npz", batch_size=5)
    images, labels = as_arrays(batches)
    assert batches.count == 16 and len(batches) == 4 and images.shape == (16, *SIZE, 3)
    assert images.dtype == np.uint8  # scaled inside the model, not in the pipeline
    # Unshuffled: file order, cats (0) first; the pixels are the files' own.
    np.testing.assert_array_equal(labels, [0] * 8 + [1] * 8)
    first = np.asarray(Image.open(split_dir / "train" / "cat" / "000.png"))
    last = np.asarray(Image.open(split_dir / "train" / "dog" / "007.png"))
    np.testing.assert_array_equal(images[0], first)
    np.testing.assert_array_equal(images[-1], last)


def test_training_batches_follow_the_seed_and_the_epoch_alone(npz_path):
    def first_pixels(batches):
        return as_arrays(batches)[0].reshape(30, -1)[:, 0].tolist()

    def epoch_orders(seed, epochs):
        batches = load_split(npz_path, 8, shuffle=True, seed=seed)
        orders = []
        for epoch in epochs:
            batches.set_epoch(epoch)
            orders.append(first_pixels(batches))
        return orders

    first, second, third = epoch_orders(seed=3, epochs=[0, 1, 2])
    assert len({tuple(first), tuple(second), tuple(third)}) == 3
    # A job resumed at epoch 2 draws what an uninterrupted run draws there.
    assert epoch_orders(seed=3, epochs=[2]) == [third]
    assert epoch_orders(seed=4, epochs=[0]) != [first]
    # Every epoch holds every example once.
    unshuffled = first_pixels(load_split(npz_path, 8))
    assert sorted(first) == sorted(second) == sorted(unshuffled)


def test_the_rest_of_an_epoch_is_its_batches_from_the_checkpoints_one_on(npz_path):
    """What a job resumed within epoch 2, after 2 of its 4 batches, trains on to finish it."""
    batches = load_split(npz_path, 8, shuffle=True, seed=3)
    rest = batches.rest_of_epoch(2, 2)
    batches.set_epoch(2)
    assert len(rest) == 2
    for index in range(2):
        for got, wanted in zip(rest[index], batches[2 + index], strict=True):
            np.testing.assert_array_equal(got, wanted)
    with pytest.raises(ValueError, match="not within an epoch"):
        batches.rest_of_epoch(2, 4)


def test_fit_tells_the_batches_each_epoch(npz_path):
    batches = load_split(npz_path, 8, shuffle=True, seed=1)
    seen = []
    callback = batches.for_fit(epochs=3).callback
    for epoch in range(3):
        callback.on_epoch_begin(epoch)
        seen.append(batches.epoch)
    assert seen == [0, 1, 2]


def test_npz_pipeline(npz_path):
    batches = load_split(npz_path, batch_size=8)
    images, labels = as_arrays(batches)
    with np.load(npz_path) as arrays:
        np.testing.assert_array_equal(images, arrays["images"])
        np.testing.assert_array_equal(labels, arrays["labels"])
    assert batches.count == 30 and len(batches) == 4 and images.dtype == np.uint8


def test_unknown_data_path_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="data stage"):
        load_split(tmp_path / "train.csv", batch_size=4)


# ---------------------------------------------------------------------------------- history


def test_resumed_history_keeps_each_epoch_once(tmp_path):
    """A killed run left epochs 0-2 and half a line of epoch 3; the backup holds 2 epochs.
    Resuming at epoch index 2 keeps rows 0 and 1, then appends."""
    path = tmp_path / "history.csv"
    path.write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss\r\n"
        "0,0.5,0.9,0.5,0.9\r\n1,0.6,0.8,0.6,0.8\r\n2,0.7,0.7,0.7,0.7\r\n3,0.8,0.6"
    )
    logger = ResumableCSVLogger(path)
    logger.set_params({"epochs": 4})
    logger.on_train_begin()
    for epoch in (2, 3):
        logger.on_epoch_begin(epoch)
        logs = {"accuracy": 0.9, "loss": 0.1 * epoch, "val_accuracy": 0.8, "val_loss": 0.5}
        logger.on_epoch_end(epoch, logs)
    logger.on_train_end()
    rows = read_history(path)
    assert [row["epoch"] for row in rows] == [0, 1, 2, 3]
    assert [row["accuracy"] for row in rows] == [0.5, 0.6, 0.9, 0.9]
    assert rows[3]["loss"] == pytest.approx(0.3)
    # This history began without epoch times: it goes on without them, its rows aligned.
    assert "epoch_seconds" not in rows[3]


def test_a_long_epoch_says_how_far_it_is_in_the_log(caplog):
    progress = ProgressLog(every_seconds=0)
    progress.set_params({"epochs": 3, "steps": 5})
    with caplog.at_level("INFO", logger="cnnlab.training.callbacks"):
        progress.on_epoch_begin(1)
        progress.on_train_batch_end(1)
    assert "epoch 2/3: step 2 of 5 after" in caplog.text
    assert "s left in the epoch" in caplog.text
    quiet = ProgressLog(every_seconds=3600)
    quiet.set_params({"epochs": 3, "steps": 5})
    caplog.clear()
    quiet.on_epoch_begin(0)
    quiet.on_train_batch_end(0)
    assert caplog.text == ""


def test_a_new_history_times_every_epoch(tmp_path):
    """Each row holds the epoch's wall time (what cnnlab.estimate scales by epochs)."""
    path = tmp_path / "history.csv"
    logger = ResumableCSVLogger(path)
    logger.set_params({"epochs": 2})
    logger.on_train_begin()
    for epoch in (0, 1):
        logger.on_epoch_begin(epoch)
        time.sleep(0.05)
        logger.on_epoch_end(
            epoch, {"accuracy": 0.5, "loss": 0.7, "val_accuracy": 0.5, "val_loss": 0.7}
        )
    logger.on_train_end()
    rows = read_history(path)
    assert [row["epoch"] for row in rows] == [0, 1]
    assert all(0.05 <= row["epoch_seconds"] < 5 for row in rows)


# ------------------------------------------------------------------------------------ jobs


def run_train_job(architecture, settings, data, out, **overrides):
    arguments = dict(
        architecture=architecture,
        settings=settings,
        train_data=data / "train.npz",
        val_data=data / "val.npz",
        best_path=None,
        initial_model_path=None,
        model_path=out / "model.keras",
        history_path=out / "history.csv",
        info_path=out / "train.json",
        scratch_dir=out.parent / "checkpoints" / out.name,
        runtime=RUNTIME,
        seed=11,
        threads=2,
    )
    train_job(**{**arguments, **overrides})
    return json.loads((out / "train.json").read_text())


def test_train_and_evaluate_basic_cell(split_dir, tmp_path):
    settings = {
        "learning_rate": 0.003,
        "filters": 4,
        "hidden_units": 8,
        "epochs": 3,
        "batch_size": 8,
        "batchnorm_momentum": 0.9,
        "image_size": list(SIZE),
    }
    out = tmp_path / "lr0.003_f4"
    info = run_train_job("catsdogs_basic", settings, split_dir, out)

    assert info["epochs_run"] == info["epochs"] == 3
    assert info["epochs_restored_from_backup"] == 0
    assert (info["n_train"], info["n_val"]) == (16, 8)
    assert info["hyperparameters"]["filters"] == 4 and info["best_cell"] is None
    assert info["device"] == "CPU" and info["seed"] == 11
    assert (
        info["versions"]["backend"] == "tensorflow" and info["runtime"]["backend"] == "tensorflow"
    )
    assert {"tensorflow", "keras", "numpy", "python"} <= set(info["versions"])
    # Provenance: this checkout's commit (the tests run from a git checkout) and its state.
    assert re.fullmatch(r"[0-9a-f]{40}", info["code"]["git_commit"])
    assert isinstance(info["code"]["git_dirty"], bool)
    assert info["parameters"] == load_model(out / "model.keras").count_params()
    assert [row["epoch"] for row in read_history(out / "history.csv")] == [0, 1, 2]
    assert not (tmp_path / "checkpoints" / out.name).exists(), "the scratch folder is removed"
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "model.keras", "train.json"]

    metrics = evaluate_job(
        out / "model.keras",
        out / "history.csv",
        split_dir / "test.npz",
        split_dir / "val.npz",
        4,
        tmp_path / "metrics.json",
        tmp_path / "test_predictions.npz",
        tmp_path / "val_predictions.npz",
        threads=2,
    )
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert metrics["n_test"] == 8 and metrics["epochs"] == 3
    assert metrics["val_accuracy"] == read_history(out / "history.csv")[-1]["val_accuracy"]
    assert 0 <= metrics["test_accuracy"] <= 1 and np.isfinite(metrics["test_loss"])
    assert read_predictions(tmp_path / "test_predictions.npz").accuracy == metrics["test_accuracy"]


def test_a_backup_of_another_configuration_is_discarded(split_dir, tmp_path):
    out = tmp_path / "cell"
    stale = tmp_path / "checkpoints" / "cell"
    (stale / "checkpoints").mkdir(parents=True)
    (stale / "job.json").write_text('{"architecture": "something else"}')
    (stale / "history.csv").write_text("epoch,accuracy\r\n0,0.1\r\n1,0.2\r\n")
    settings = {
        "learning_rate": 0.003,
        "filters": 4,
        "hidden_units": 8,
        "epochs": 1,
        "batch_size": 8,
        "batchnorm_momentum": 0.9,
        "image_size": list(SIZE),
    }
    info = run_train_job("catsdogs_basic", settings, split_dir, out)
    assert info["epochs_restored_from_backup"] == 0
    assert [row["epoch"] for row in read_history(out / "history.csv")] == [0]


@pytest.mark.parametrize(
    "change", ["nothing", "hyperparameters", "seed", "an input rewritten", "the code"]
)
def test_a_backup_is_kept_only_for_the_very_same_job(tmp_path, change, caplog):
    """A backup left by a killed run is resumed only if the job is the same: its
    hyper-parameters, seed, inputs (a rewritten input file has a new modification time) and
    code (checkpoints of other code may hold other variables, or the old Keras layout)."""
    from cnnlab.training.jobs import _claim_scratch_dir, describe_job

    data = tmp_path / "train.npz"
    data.write_bytes(b"arrays")
    scratch = tmp_path / "scratch"
    hyperparameters = {"learning_rate": 0.001, "epochs": 3}
    _claim_scratch_dir(scratch, describe_job("catsdogs_basic", hyperparameters, 1, [data], "v1"))
    (scratch / "checkpoints").mkdir()

    seed = 2 if change == "seed" else 1
    if change == "hyperparameters":
        hyperparameters = {**hyperparameters, "learning_rate": 0.01}
    if change == "an input rewritten":
        stat = data.stat()
        os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    code = "v2" if change == "the code" else "v1"
    with caplog.at_level("INFO", logger="cnnlab.training.jobs"):
        _claim_scratch_dir(
            scratch, describe_job("catsdogs_basic", hyperparameters, seed, [data], code)
        )

    assert (scratch / "checkpoints").exists() == (change == "nothing")
    # The log names what differs.
    named = {
        "nothing": "continuing from",
        "hyperparameters": "hyperparameters (learning_rate) differ",
        "seed": "seed differ",
        "an input rewritten": f"inputs ({data}) differ",
        "the code": "code_version differ",
    }[change]
    assert named in caplog.text, caplog.text


def test_a_backup_without_its_job_record_says_so(tmp_path, caplog):
    """A folder without job.json (a finished job removes it first, then the folder) is
    discarded as such, not as "another configuration"."""
    from cnnlab.training.jobs import _claim_scratch_dir, describe_job

    scratch = tmp_path / "scratch"
    (scratch / "checkpoints").mkdir(parents=True)
    with caplog.at_level("INFO", logger="cnnlab.training.jobs"):
        _claim_scratch_dir(scratch, describe_job("catsdogs_basic", {"epochs": 3}, 1, [], "v1"))
    assert "it has no job record" in caplog.text
    assert not (scratch / "checkpoints").exists() and (scratch / "job.json").exists()


def test_stages_that_need_best_json_say_so(split_dir, tmp_path):
    with pytest.raises(ValueError, match=r"best\.json"):
        run_train_job("cifar10_residual", {"epochs": 1, "batch_size": 4}, split_dir, tmp_path / "x")
    with pytest.raises(ValueError, match="unknown architecture"):
        run_train_job("resnet50", {}, split_dir, tmp_path / "x")


# ------------------------------------------------------------------------ frozen VGG16 path


def brightness_classifier(weight: float, bias: float) -> keras.Model:
    """A model with a known output: sigmoid(weight * mean pixel / 255 + bias)."""
    image = keras.Input((*SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="prediction")(x)
    model = keras.Model(image, output)
    # The mean over the three channels' means, times `weight`.
    model.get_layer("prediction").set_weights([np.full((3, 1), weight / 3), np.array([bias])])
    return model


def test_evaluation_scores_the_test_split_exactly(split_dir, tmp_path):
    """Test accuracy, loss and per-class accuracy of a model whose predictions are known,
    computed independently from the test split's own images: proves the split and the
    preprocessing evaluate uses, and that every number comes from those predictions."""
    with np.load(split_dir / "test.npz") as arrays:
        images, labels = arrays["images"], arrays["labels"].astype(np.float64)
        ids = arrays["ids"]
    brightness = images.mean(axis=(1, 2, 3)) / 255
    # Cats (label 0) are dark, dogs (1) bright. The threshold sits between the second and the
    # third darkest of the four test cats, so two cats are called dogs: accuracy 6/8 = 0.75,
    # a number the fake history below never holds (nor does any simple fraction of it).
    cats = np.sort(brightness[labels == 0])
    assert len(cats) == 4 and cats[1] < cats[2]
    weight = 40.0
    bias = -weight * (cats[1] + cats[2]) / 2
    model_path = tmp_path / "model.keras"
    brightness_classifier(weight, bias).save(model_path)
    history = tmp_path / "history.csv"
    history.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.7,0.625,0.65\n")

    metrics = evaluate_job(
        model_path,
        history,
        split_dir / "test.npz",
        split_dir / "val.npz",
        3,
        tmp_path / "m.json",
        tmp_path / "test_predictions.npz",
        tmp_path / "val_predictions.npz",
        2,
    )

    probability = 1 / (1 + np.exp(-(weight * brightness + bias)))
    expected_accuracy = np.mean((probability > 0.5) == labels)
    expected_loss = -np.mean(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    assert expected_accuracy == 0.75
    assert expected_accuracy not in {0.5, 0.7, 0.625, 0.65}  # the history's numbers
    assert metrics["n_test"] == len(labels) == 8
    assert metrics["test_accuracy"] == pytest.approx(expected_accuracy, abs=1e-9)
    assert metrics["test_loss"] == pytest.approx(expected_loss, rel=1e-4)  # float32 against float64
    assert metrics["per_class_accuracy"] == {"cat": 0.5, "dog": 1.0}
    assert (metrics["train_accuracy"], metrics["val_accuracy"]) == (0.5, 0.625)
    # The per-image file holds the same predictions, each under its image's id.
    predictions = read_predictions(tmp_path / "test_predictions.npz")
    assert predictions.ids.tolist() == ids.tolist()
    assert predictions.labels.tolist() == labels.astype(int).tolist()
    assert predictions.class_names.tolist() == ["cat", "dog"]
    np.testing.assert_allclose(predictions.probabilities[:, 1], probability, atol=1e-4)
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1, rtol=1e-6)
    val = read_predictions(tmp_path / "val_predictions.npz")
    assert len(val.ids) == 8 and all(image_id.startswith("val/") for image_id in val.ids)


def test_per_class_accuracy_names_a_class_without_test_images_and_counts_the_others():
    # Three classes; no test image is a bird. Cats: 1 of 2 right; dogs: 2 of 3.
    labels = np.array([0, 0, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0])
    predictions = Predictions(
        ids=np.array([f"image{i}" for i in range(5)]),
        labels=labels,
        probabilities=np.eye(3)[predicted],
        class_names=np.array(["cat", "dog", "bird"]),
    )
    assert per_class_accuracy(predictions) == {
        "cat": 0.5,
        "dog": pytest.approx(2 / 3),
        "bird": None,
    }


def test_the_frozen_fast_path_trains_as_the_whole_model_would(split_dir, tmp_path):
    """train_job("vgg16_frozen") (features once, head on them) against the same network trained
    end to end on the images, from the same seed and in the same batch order: the same
    per-epoch history."""
    from cnnlab.training.jobs import compile_model, fit

    best = tmp_path / "best.json"
    best.write_text(json.dumps({"cell": "c", "learning_rate": 0.001, "hidden_units": 8}))
    settings = {
        "weights": None,
        "preprocessing": "vgg",
        "epochs": 3,
        "batch_size": 4,
        "image_size": list(SIZE),
    }
    run_train_job("vgg16_frozen", settings, split_dir, tmp_path / "fast", best_path=best, seed=3)
    fast = read_history(tmp_path / "fast" / "history.csv")

    keras.utils.set_random_seed(3)  # as the job's configure() did, before building
    base = catsdogs.vgg16_base(SIZE, weights=None)
    head = catsdogs.dense_head(base.output_shape[1:], hidden_units=8)
    whole = catsdogs.vgg16_classifier(base, head, "vgg")
    compile_model(whole, 0.001, RUNTIME)
    train = load_split(split_dir / "train.npz", 4, shuffle=True, seed=3)
    (tmp_path / "scratch").mkdir()
    fit(whole, train, load_split(split_dir / "val.npz", 4), 3, tmp_path / "scratch")
    end_to_end = read_history(tmp_path / "scratch" / "history.csv")

    assert len(fast) == len(end_to_end) == 3
    assert fast[-1]["loss"] < fast[0]["loss"], "the head should learn, or the comparison is empty"
    for fast_epoch, whole_epoch in zip(fast, end_to_end):
        for column in ("accuracy", "loss", "val_accuracy", "val_loss"):
            assert fast_epoch[column] == pytest.approx(whole_epoch[column], rel=1e-4, abs=1e-6)


def test_frozen_fast_path_equals_the_whole_model(split_dir, tmp_path):
    """Training the head on features computed once is training the whole frozen model: the
    assembled network predicts, from images, what the head predicts from the cached features,
    and still does after saving and loading."""
    keras.utils.set_random_seed(5)
    base = catsdogs.vgg16_base(SIZE, weights=None)
    pixels, labels = as_arrays(load_split(split_dir / "val.npz", batch_size=3))
    features = compute_features(catsdogs.vgg16_features(base, "vgg"), pixels, batch_size=3)
    assert features.shape == (8, 1, 1, 512)
    head = catsdogs.dense_head(features.shape[1:], hidden_units=8)
    head.compile(optimizer="adam", loss="binary_crossentropy")
    head.fit(features, labels, epochs=2, verbose=0)

    model = catsdogs.vgg16_classifier(base, head, "vgg")
    from_features = head.predict(features, verbose=0)
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0), from_features, rtol=1e-5, atol=1e-6
    )
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(pixels, verbose=0), from_features, rtol=1e-5, atol=1e-6
    )


def test_vgg16_stages_as_jobs(split_dir, tmp_path):
    """frozen (fast path) -> fine-tune (base unfrozen), and augmented, with random weights."""
    best = tmp_path / "best.json"
    best.write_text(
        json.dumps({"cell": "lr0.001_f4", "learning_rate": 0.001, "hidden_units": 8, "filters": 4})
    )
    vgg = {
        "weights": None,
        "preprocessing": "vgg",
        "epochs": 2,
        "batch_size": 8,
        "image_size": list(SIZE),
    }

    frozen = run_train_job(
        "vgg16_frozen", vgg, split_dir, tmp_path / "vgg16_frozen", best_path=best
    )
    assert frozen["best_cell"] == {"cell": "lr0.001_f4", "learning_rate": 0.001, "hidden_units": 8}
    frozen_model = load_model(tmp_path / "vgg16_frozen" / "model.keras")
    assert not frozen_model.get_layer("vgg16").trainable
    assert frozen["trainable_parameters"] == frozen_model.get_layer("head").count_params()
    assert len(read_history(tmp_path / "vgg16_frozen" / "history.csv")) == 2

    finetune = run_train_job(
        "vgg16_finetune",
        {"learning_rate": 1e-6, "epochs": 1, "batch_size": 8, "image_size": list(SIZE)},
        split_dir,
        tmp_path / "vgg16_finetune",
        initial_model_path=tmp_path / "vgg16_frozen" / "model.keras",
    )
    assert finetune["trainable_parameters"] == finetune["parameters"]

    augmented = run_train_job(
        "vgg16_augmented",
        {
            **vgg,
            "epochs": 1,
            "augmentation": default_config()["catsdogs"]["augmentation"],
        },
        split_dir,
        tmp_path / "vgg16_augmented",
        best_path=best,
    )
    model = load_model(tmp_path / "vgg16_augmented" / "model.keras")
    assert model.get_layer("augmentation") is not None
    assert augmented["trainable_parameters"] == model.get_layer("head").count_params()
