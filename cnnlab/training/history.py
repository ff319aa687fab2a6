"""history.csv: one row per epoch, written as training goes, exactly once per epoch even when a
killed job resumes."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import keras

log = logging.getLogger(__name__)


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a history.csv, numbers as floats (`epoch` as int, 0-based as Keras writes it)."""
    with open(path, newline="") as handle:
        rows = [
            {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]
    if not rows:
        raise ValueError(f"{path} has no epochs: rerun the training job that writes it")
    return rows


def _keep_epochs_before(path: Path, first_epoch: int) -> int:
    """Drop the rows of epochs >= `first_epoch` (and any line cut short); return the rows kept."""
    with open(path, newline="") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        return 0
    header, rows = lines[0], lines[1:]
    kept = [
        row for row in rows
        if len(row) == len(header) and row[0].isdigit() and int(row[0]) < first_epoch
    ]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)
    return len(kept)


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """A CSVLogger that appends to the rows of a run that was killed, keeping each epoch once.

    List it before `BackupAndRestore`: each epoch's row is then written before its backup, so
    after a kill the file holds every epoch the backup holds, and perhaps one more. When
    training starts (after the backup has been restored, so Keras knows the first epoch to
    run) the rows of that epoch and later ones are dropped, and logging appends from there.
    """

    def __init__(self, filename: str | os.PathLike):
        super().__init__(str(filename), append=True)
        self.first_epoch = None

    def on_train_begin(self, logs=None):
        # Opening waits for the first epoch: only then is the restored epoch known.
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is not None:
            return
        self.first_epoch = epoch
        path = Path(self.filename)
        if path.exists():
            kept = _keep_epochs_before(path, epoch)
            if epoch > 0:
                log.info(
                    "resuming at epoch %d of %d from the backup; history keeps its %d earlier "
                    "epochs", epoch + 1, self.params["epochs"], kept,
                )
        super().on_train_begin()
