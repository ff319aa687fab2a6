"""Training checkpoints that no kill can break.

A checkpoint is a folder of three files, written whole beside the others under a temporary
name and then renamed into place (as Orbax commits one), so a kill at any instant leaves
either the complete folder or none:

* `progress.json`: the position, `{"epoch": e, "batch": b}`: epochs 0..e-1 are done, and `b`
  batches of epoch e (0 at an epoch's end);
* `variables.npz`: every variable training changes: the model's (weights, and the states of
  its random layers' seed generators), the optimizer's, and within an epoch the metrics' running
  sums, so the resumed epoch's history row counts every batch of the epoch;
* `history.csv`: the job's history rows of epochs 0..e-1.

The two newest checkpoints are kept. Before training, the newest one that reads back whole and
fits the model is restored; one that does not (a disk fault, a file edited by hand, a folder of
an older version) is logged, removed, and the one before is tried, then a clean start. A
broken checkpoint never fails a job.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cnnlab.history import COLUMNS
from cnnlab.jobio import atomic_output

log = logging.getLogger(__name__)

CHECKPOINT_FILES = ("progress.json", "variables.npz", "history.csv")
KEEP = 2  # the newest checkpoint, and the one before in case the newest cannot be read
_NAME = re.compile(r"epoch(\d{5})-batch(\d{7})")
# What reading a damaged file raises: numpy and zipfile on a cut or overwritten .npz, json on an
# empty or cut file, csv and the decoders on garbage, a lookup in JSON that is not an object.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, csv.Error)


class UnusableCheckpoint(ValueError):
    """A checkpoint that reads back, but not as one of this model's."""


@dataclass(frozen=True)
class CheckpointInterval:
    """How often a checkpoint is written within an epoch (config training.checkpoint_every), on
    top of the one at each epoch's end: every `batches` batches, or every `minutes`."""

    batches: int | None = None
    minutes: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> CheckpointInterval | None:
        """`"500 batches"`, `"10 minutes"`, or None (at epochs' ends only)."""
        if text is None:
            return None
        match = re.fullmatch(r"\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s+(batches|minutes)\s*", str(text))
        value = float(match.group(1)) if match else 0
        if not match or value <= 0 or (match.group(2) == "batches" and not value.is_integer()):
            raise ValueError(
                f"training.checkpoint_every is '{text}': expected a number of batches or minutes, "
                "such as '500 batches' or '10 minutes' (or null: at the end of each epoch only)"
            )
        if match.group(2) == "batches":
            return cls(batches=int(value))
        return cls(minutes=value)

    def due(self, batches_since: int, seconds_since: float) -> bool:
        if self.batches is not None:
            return batches_since >= self.batches
        return seconds_since >= self.minutes * 60


@dataclass(frozen=True)
class Restored:
    """What a restored checkpoint gave back: its position and, within an epoch, the metrics'
    running state (assigned when that epoch starts again, after fit has reset them)."""

    name: str
    epoch: int
    batch: int
    metrics: list[np.ndarray]


def checkpoint_name(epoch: int, batch: int) -> str:
    """Names sort as their positions do."""
    return f"epoch{epoch:05d}-batch{batch:07d}"


class CheckpointStore:
    """The checkpoints of one training job, in `folder` (inside the job's scratch folder)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def committed(self) -> list[Path]:
        """The checkpoint folders, newest first (a `.partial-*` folder is not one)."""
        if not self.folder.is_dir():
            return []
        return sorted(
            (path for path in self.folder.iterdir() if _NAME.fullmatch(path.name)), reverse=True
        )

    def save(self, model: keras.Model, epoch: int, batch: int, history_path: Path) -> Path:
        """Commit the checkpoint of position (epoch, batch), then drop all but the newest KEEP.

        The files are written and flushed to disk in a temporary folder, which is then renamed
        into place: a kill or a crash before the rename leaves no checkpoint of this position,
        one after leaves the whole of it.
        """
        target = self.folder / checkpoint_name(epoch, batch)
        arrays = {
            f"{group}_{index:05d}": keras.ops.convert_to_numpy(variable)
            for group, variables in _variable_groups(model, within_epoch=batch > 0).items()
            for index, variable in enumerate(variables)
        }
        history = history_path.read_bytes() if epoch > 0 else b""
        with atomic_output(target, directory=True) as partial:
            _write_synced(
                partial / "progress.json", json.dumps({"epoch": epoch, "batch": batch}).encode()
            )
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            _write_synced(partial / "variables.npz", buffer.getvalue())
            _write_synced(partial / "history.csv", history)
        _sync_folder(self.folder)
        for old in self.committed()[KEEP:]:
            shutil.rmtree(old)
        return target

    def restore(self, model: keras.Model, history_path: Path) -> Restored | None:
        """Load the newest usable checkpoint into `model` and its history into `history_path`;
        None (and no history) for a clean start. Unusable checkpoints are logged and removed.

        `model` must be compiled; its optimizer is built here if it is not yet.
        """
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        rejected = []
        restored = None
        for folder in self.committed():
            try:
                restored = _load(folder, model, history_path)
                break
            except _UNREADABLE as error:
                reason = f"{type(error).__name__}: {error}"
                log.warning("checkpoint %s is unusable (%s); trying the one before", folder, reason)
                rejected.append(folder)
        for folder in rejected:
            shutil.rmtree(folder)
        if restored is not None:
            log.info(
                "resuming from checkpoint %s: %d epochs done, and %d batches of the next",
                restored.name,
                restored.epoch,
                restored.batch,
            )
            return restored
        history_path.unlink(missing_ok=True)  # rows of a run no checkpoint holds
        if rejected:
            log.warning(
                "no usable checkpoint in %s: training starts from the beginning", self.folder
            )
        return None


def _load(folder: Path, model: keras.Model, history_path: Path) -> Restored:
    """Check every file of the checkpoint in `folder`, then assign its variables and write its
    history: nothing is changed unless the whole checkpoint is usable."""
    progress = json.loads((folder / "progress.json").read_text())
    epoch, batch = progress["epoch"], progress["batch"]
    if not all(
        isinstance(value, int) and value >= 0 for value in (epoch, batch)
    ) or folder.name != checkpoint_name(epoch, batch):
        raise UnusableCheckpoint(f"progress.json holds {progress}, not the position {folder.name}")
    with np.load(folder / "variables.npz", allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}  # reading checks each member's CRC
    # The metrics are built only once fit runs: their running sums are assigned then.
    running = [arrays.pop(key) for key in sorted(arrays) if key.startswith("metrics_")]
    if bool(running) != (batch > 0):
        raise UnusableCheckpoint("variables.npz: metric sums belong to checkpoints within an epoch")
    groups = _variable_groups(model, within_epoch=False)
    expected = {
        f"{group}_{index:05d}": variable
        for group, variables in groups.items()
        for index, variable in enumerate(variables)
    }
    if sorted(arrays) != sorted(expected):
        raise UnusableCheckpoint("variables.npz does not hold this model's variables")
    for key, variable in expected.items():
        if tuple(arrays[key].shape) != tuple(variable.shape):
            raise UnusableCheckpoint(
                f"variables.npz: {variable.path} has shape {arrays[key].shape}"
            )
    history = (folder / "history.csv").read_bytes()
    _check_history(history, epoch)

    for key, variable in expected.items():
        variable.assign(arrays[key])
    if epoch > 0:
        with atomic_output(history_path) as partial:
            partial.write_bytes(history)
    else:
        history_path.unlink(missing_ok=True)
    return Restored(folder.name, epoch, batch, running)


def _check_history(history: bytes, epoch: int) -> None:
    """A checkpoint at `epoch` holds a history of epochs 0..epoch-1 with every column."""
    if epoch == 0:
        return
    rows = list(csv.DictReader(io.StringIO(history.decode())))
    missing = [column for column in COLUMNS if not rows or column not in rows[0]]
    epochs = [row.get("epoch") for row in rows]
    if missing or epochs != [str(number) for number in range(epoch)]:
        raise UnusableCheckpoint(f"history.csv holds epochs {epochs} of epochs 0..{epoch - 1}")
    for row in rows:
        for column in COLUMNS:
            float(row[column])


def _variable_groups(model: keras.Model, within_epoch: bool) -> dict[str, list]:
    """The variables a checkpoint holds, by group; the metrics' only within an epoch (at an
    epoch's end fit resets them anyway)."""
    groups = {"model": list(model.variables), "optimizer": list(model.optimizer.variables)}
    if within_epoch:
        groups["metrics"] = list(model.metrics_variables)
    return groups


def build_metrics(model: keras.Model, batch) -> None:
    """Build the compiled metrics' variables from one (inputs, labels) batch, as fit would only
    in its first step, too late to put a resumed epoch's running sums back. Fit resets what this
    counts; inference draws nothing from the random layers' seeds."""
    inputs, labels = batch
    model.compute_metrics(inputs, labels, model(inputs, training=False), sample_weight=None)


def assign_metrics(model: keras.Model, running: list[np.ndarray]) -> None:
    """Put a restored epoch's running metric sums back, once fit has built and reset them."""
    variables = model.metrics_variables
    if len(variables) != len(running):
        raise UnusableCheckpoint(
            f"the checkpoint holds {len(running)} metric variables, the model {len(variables)}"
        )
    for variable, value in zip(variables, running, strict=True):
        variable.assign(value)


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` and flush it to the disk: the rename that commits the folder must not reach
    the disk before its files do (a crash of the machine, not only a kill)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Checkpointing(keras.callbacks.Callback):
    """Commits a checkpoint at each epoch's end and, with an interval, within epochs.

    List it after the history logger: an epoch's row is then in history.csv before the
    checkpoint copies it. When `restored` stopped within an epoch, the fit that finishes that
    epoch starts at its batch `restored.batch`: the running metric sums are put back when the
    epoch begins, and batches are counted on from there.
    """

    def __init__(
        self,
        store: CheckpointStore,
        history_path: Path,
        batches_per_epoch: int,
        interval: CheckpointInterval | None = None,
        restored: Restored | None = None,
    ):
        super().__init__()
        self.store, self.history_path = store, history_path
        self.batches_per_epoch, self.interval = batches_per_epoch, interval
        self.resume_within = restored if restored is not None and restored.batch > 0 else None
        self.epoch, self.batches_done, self.batches_since = 0, 0, 0
        self.saved_at = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batches_done = epoch, 0
        if self.resume_within is not None and self.resume_within.epoch == epoch:
            assign_metrics(self.model, self.resume_within.metrics)
            self.batches_done = self.resume_within.batch
            self.resume_within = None

    def on_train_batch_end(self, batch, logs=None):
        self.batches_done += 1
        self.batches_since += 1
        if (
            self.interval is not None
            and self.batches_done < self.batches_per_epoch  # the epoch's end saves it anyway
            and self.interval.due(self.batches_since, time.monotonic() - self.saved_at)
        ):
            self._save(self.epoch, self.batches_done)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, 0)

    def _save(self, epoch: int, batch: int) -> None:
        self.store.save(self.model, epoch, batch, self.history_path)
        self.batches_since, self.saved_at = 0, time.monotonic()
