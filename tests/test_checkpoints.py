"""Checkpoints no kill can break (issue 24): every file of a checkpoint broken every way, a kill
within an epoch, and the job resumed from the newest usable state with the numbers of a run
that was never interrupted. A tiny dense model on random arrays keeps each fit well under a
second; one test runs the whole training job."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnlab.history import read_history
from cnnlab.training.checkpoints import (
    CHECKPOINT_FILES,
    CheckpointInterval,
    CheckpointStore,
    checkpoint_name,
)
from cnnlab.training.datasets import ArrayBatches
from cnnlab.training.jobs import compile_model, fit

SEED = 5
BATCH = 4
EXAMPLES = 22  # 6 batches an epoch, the last one short
RUNTIME = {"mixed_precision": False, "xla": False, "deterministic_ops": False}


def arrays(count, seed):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(count, 6)).astype("float32")
    return inputs, (inputs.sum(axis=1) > 0).astype("int64")


def tiny_model():
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dropout(0.3),  # a seed generator's state, which a checkpoint must hold
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    compile_model(model, 0.01, RUNTIME)
    return model


def run_fit(scratch, epochs, checkpoint_every=None):
    """One "job": a new model, fit from whatever checkpoints `scratch` holds."""
    scratch.mkdir(parents=True, exist_ok=True)
    model = tiny_model()
    restored = fit(
        model,
        ArrayBatches(*arrays(EXAMPLES, 1), BATCH, shuffle=True, seed=SEED),
        ArrayBatches(*arrays(8, 2), BATCH),
        epochs,
        scratch,
        CheckpointInterval.parse(checkpoint_every),
    )
    return model, restored


def numbers(model, scratch):
    """What a run ends with: its weights, and its history without the epochs' wall times."""
    rows = [
        {k: v for k, v in row.items() if k != "epoch_seconds"}
        for row in read_history(scratch / "history.csv")
    ]
    return [keras.ops.convert_to_numpy(v) for v in model.variables], rows


def assert_same_numbers(model, scratch, reference):
    weights, rows = numbers(model, scratch)
    assert rows == reference[1]
    for value, wanted in zip(weights, reference[0], strict=True):
        np.testing.assert_array_equal(value, wanted)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("uninterrupted")
    model, restored = run_fit(scratch, 4)
    assert restored == 0
    return numbers(model, scratch)


class Killed(Exception):
    """Stands for SIGKILL in-process: raised right after the n-th checkpoint is committed."""


@pytest.fixture(scope="module")
def killed_after_two_epochs(tmp_path_factory):
    """The scratch folder of a job killed after its epoch-2 checkpoint (epochs 1 and 2 kept),
    made once: each test breaks a copy."""
    scratch = tmp_path_factory.mktemp("killed") / "scratch"
    with pytest.MonkeyPatch.context() as monkeypatch:
        kill_after_checkpoints(monkeypatch, 2)
        with pytest.raises(Killed):
            run_fit(scratch, 4)
    return scratch


def kill_after_checkpoints(monkeypatch, count):
    original = CheckpointStore.save
    saved = []

    def save_then_die(self, *args, **kwargs):
        path = original(self, *args, **kwargs)
        saved.append(path.name)
        if len(saved) == count:
            raise Killed(path.name)
        return path

    monkeypatch.setattr(CheckpointStore, "save", save_then_die)
    return saved


def break_file(path, fault):
    data = path.read_bytes()
    if fault == "missing":
        path.unlink()
    elif fault == "empty":
        path.write_bytes(b"")
    elif fault == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif fault == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(max(len(data), 64)))


@pytest.mark.parametrize("fault", ["truncated", "empty", "missing", "garbage"])
@pytest.mark.parametrize("broken_file", CHECKPOINT_FILES)
def test_a_broken_checkpoint_falls_back_to_the_one_before(
    tmp_path, caplog, uninterrupted, killed_after_two_epochs, broken_file, fault
):
    """Killed after epoch 2 (checkpoints of epochs 1 and 2 kept), the newest one broken: the
    rerun resumes after epoch 1, says so, and ends as the uninterrupted run did."""
    scratch = tmp_path / "scratch"
    shutil.copytree(killed_after_two_epochs, scratch)
    newest = scratch / "checkpoints" / checkpoint_name(2, 0)
    break_file(newest / broken_file, fault)

    with caplog.at_level(logging.INFO, logger="cnnlab"):
        model, restored = run_fit(scratch, 4)
    assert restored == 1
    assert f"checkpoint {newest} is unusable" in caplog.text
    assert f"resuming from checkpoint {checkpoint_name(1, 0)}" in caplog.text
    assert_same_numbers(model, scratch, uninterrupted)


def test_the_reported_case_an_empty_progress_record_beside_a_good_previous_one(
    tmp_path, monkeypatch, caplog, uninterrupted
):
    """Issue 24's failure, in this layout: a kill while the newest record was written left it
    empty, a good previous checkpoint beside it. Keras' BackupAndRestore raised
    JSONDecodeError here on every rerun; now the job resumes from the one before."""
    scratch = tmp_path / "scratch"
    kill_after_checkpoints(monkeypatch, 3)
    with pytest.raises(Killed):
        run_fit(scratch, 4)
    monkeypatch.undo()
    (scratch / "checkpoints" / checkpoint_name(3, 0) / "progress.json").write_text("")
    with caplog.at_level(logging.INFO, logger="cnnlab"):
        model, restored = run_fit(scratch, 4)
    assert restored == 2
    assert "JSONDecodeError" in caplog.text and "trying the one before" in caplog.text
    assert_same_numbers(model, scratch, uninterrupted)


def test_every_checkpoint_broken_starts_clean_and_says_so(
    tmp_path, caplog, uninterrupted, killed_after_two_epochs
):
    scratch = tmp_path / "scratch"
    shutil.copytree(killed_after_two_epochs, scratch)
    for folder in CheckpointStore(scratch / "checkpoints").committed():
        (folder / "variables.npz").write_bytes(b"not a zip")
    with caplog.at_level(logging.INFO, logger="cnnlab"):
        model, restored = run_fit(scratch, 4)
    assert restored == 0
    assert caplog.text.count("is unusable") == 2
    assert "no usable checkpoint" in caplog.text and "starts from the beginning" in caplog.text
    assert_same_numbers(model, scratch, uninterrupted)


def test_a_checkpoint_of_another_model_is_not_loaded(tmp_path, caplog, killed_after_two_epochs):
    scratch = tmp_path / "scratch"
    shutil.copytree(killed_after_two_epochs, scratch)
    other = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    compile_model(other, 0.01, RUNTIME)
    before = [keras.ops.convert_to_numpy(v) for v in other.variables]
    with caplog.at_level(logging.INFO, logger="cnnlab"):
        assert (
            CheckpointStore(scratch / "checkpoints").restore(other, scratch / "history.csv") is None
        )
    assert caplog.text.count("does not hold this model's variables") == 2
    for value, wanted in zip(other.variables, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), wanted)


def test_only_the_two_newest_checkpoints_are_kept_and_a_partial_one_is_ignored(
    tmp_path, monkeypatch
):
    scratch = tmp_path / "scratch"
    kill_after_checkpoints(monkeypatch, 3)
    with pytest.raises(Killed):
        run_fit(scratch, 4)
    monkeypatch.undo()
    store = CheckpointStore(scratch / "checkpoints")
    assert [path.name for path in store.committed()] == [
        checkpoint_name(3, 0),
        checkpoint_name(2, 0),
    ]
    # What a kill in a write leaves: a folder under its temporary name, never a checkpoint.
    partial = scratch / "checkpoints" / f".{checkpoint_name(4, 0)}.partial-123"
    shutil.copytree(store.committed()[0], partial)
    (partial / "variables.npz").write_bytes(b"")
    assert [path.name for path in store.committed()] == [
        checkpoint_name(3, 0),
        checkpoint_name(2, 0),
    ]


@pytest.mark.parametrize("kill_at, epoch", [(1, 0), (4, 1)])
def test_a_job_killed_within_an_epoch_resumes_there_in_the_same_order(
    tmp_path, monkeypatch, caplog, uninterrupted, kill_at, epoch
):
    """checkpoint_every "2 batches" (6 batches an epoch: checkpoints after batches 2 and 4, and
    at the epoch's end): killed after the checkpoint of 2 batches of epoch 0 (the 1st) or of
    epoch 1 (the 4th). The rerun trains the rest of that epoch in its order, and every number ends as
    the uninterrupted run's, the resumed epoch's history row too."""
    scratch = tmp_path / "scratch"
    saved = kill_after_checkpoints(monkeypatch, kill_at)
    with pytest.raises(Killed):
        run_fit(scratch, 4, checkpoint_every="2 batches")
    monkeypatch.undo()
    assert saved[-1] == checkpoint_name(epoch, 2), saved
    with caplog.at_level(logging.INFO, logger="cnnlab"):
        model, restored = run_fit(scratch, 4, checkpoint_every="2 batches")
    assert f"resuming from checkpoint {saved[-1]}" in caplog.text
    assert restored == epoch
    assert_same_numbers(model, scratch, uninterrupted)


@pytest.mark.parametrize(
    "text, interval",
    [
        (None, None),
        ("500 batches", CheckpointInterval(batches=500)),
        ("10 minutes", CheckpointInterval(minutes=10.0)),
        ("0.5 minutes", CheckpointInterval(minutes=0.5)),
    ],
)
def test_checkpoint_every_reads_batches_or_minutes(text, interval):
    assert CheckpointInterval.parse(text) == interval


@pytest.mark.parametrize(
    "text", ["0 batches", "1.5 batches", "10", "ten minutes", "0 minutes", "5 epochs"]
)
def test_checkpoint_every_refuses_what_it_cannot_read(text):
    with pytest.raises(ValueError, match=r"training\.checkpoint_every"):
        CheckpointInterval.parse(text)


def test_a_job_killed_within_an_epoch_resumes_there_on_jax_too(tmp_path):
    """The kills within an epoch above, on JAX (whose trainer holds the state outside the
    variables within an epoch): the same tests in a process of that backend, with
    tests/no_tensorflow on the path as every JAX run of the tests has."""
    tests = Path(__file__).parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(Path(__file__)),
            "-k",
            "within_an_epoch_resumes_there_in_the_same_order",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tests.parent,
        env={
            **os.environ,
            "KERAS_BACKEND": "jax",
            "PYTHONPATH": os.pathsep.join([str(tests / "no_tensorflow"), *sys.path]),
        },
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.strip().splitlines()[-1].startswith("2 passed"), result.stdout[-3000:]
