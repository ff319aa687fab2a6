"""Keras callbacks of a training job."""

from __future__ import annotations

import csv
import logging
import os
import time
from pathlib import Path

import keras

from cnnlab.history import keep_epochs_before

log = logging.getLogger(__name__)


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """A CSVLogger that appends to the rows of a run that was killed, keeping each epoch once.

    List it before `Checkpointing`: each epoch's row is then written before the checkpoint
    copies the file. When a fit starts (after a checkpoint has been restored, so Keras knows the
    first epoch to run) the rows of that epoch and later ones are dropped, and logging appends
    from there.

    Each row also holds `epoch_seconds`, the epoch's wall time with its validation pass: what
    `cnnlab.estimate` multiplies by a longer run's epochs. (A history begun without that column
    goes on without it, so its rows stay aligned with its header.)
    """

    def __init__(self, filename: str | os.PathLike):
        super().__init__(str(filename), append=True)
        self.first_epoch = None
        self.times_epochs = True
        self.epoch_started = None

    def on_train_begin(self, logs=None):
        # Opening waits for the first epoch: only then is the restored epoch known.
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()
        if self.first_epoch is not None:
            return
        self.first_epoch = epoch
        path = Path(self.filename)
        if path.exists():
            kept = keep_epochs_before(path, epoch)
            with open(path, newline="") as handle:
                header = next(csv.reader(handle), [])
            self.times_epochs = not header or "epoch_seconds" in header
            log.info("history.csv keeps its %d epochs before epoch %d", kept, epoch)
        super().on_train_begin()

    def on_epoch_end(self, epoch, logs=None):
        if self.times_epochs:
            logs = {
                **(logs or {}),
                "epoch_seconds": round(time.monotonic() - self.epoch_started, 3),
            }
        super().on_epoch_end(epoch, logs)


class ProgressLog(keras.callbacks.Callback):
    """A line in the job's log every `every_seconds` within an epoch: where the epoch is and
    when it will end. Keras' own epoch lines (verbose=2) come only at an epoch's end, and at
    full size on a CPU an epoch takes up to half an hour: a log silent that long reads as hung."""

    def __init__(self, every_seconds: float = 60.0):
        super().__init__()
        self.every_seconds = every_seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_started = self.last_logged = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self.last_logged < self.every_seconds:
            return
        self.last_logged = now
        steps = self.params.get("steps")
        done = batch + 1
        per_step = (now - self.epoch_started) / done
        left = f", about {per_step * (steps - done):.0f} s left in the epoch" if steps else ""
        log.info(
            "epoch %d/%d: step %d%s after %.0f s (%.2f s a step)%s",
            self.epoch + 1,
            self.params["epochs"],
            done,
            f" of {steps}" if steps else "",
            now - self.epoch_started,
            per_step,
            left,
        )
