"""Failure switches for tests, read from environment variables; unset, they do nothing.

They let the tests make a real Snakemake job fail the way a cluster job does (killed, or
crashing once) and check that the workflow recovers:

* `CNNLAB_TEST_KILL_AFTER_EPOCH=k`: the training process kills itself (SIGKILL, as a
  pre-empted or out-of-memory job dies: no cleanup, no Python exception) right after epoch k
  (1-based) is logged and backed up. Once per training: a marker in the job's scratch folder
  remembers the kill, so the rerun resumes and finishes.
* `CNNLAB_TEST_FAIL_ONCE=<marker path>`: if the marker file does not exist, create it and fail
  before training starts, so a job retried by Snakemake (`retries:`) succeeds the second time.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import keras

KILL_AFTER_EPOCH = "CNNLAB_TEST_KILL_AFTER_EPOCH"
FAIL_ONCE = "CNNLAB_TEST_FAIL_ONCE"
KILL_MARKER_NAME = "test-switch-killed"

log = logging.getLogger(__name__)


def fail_once_if_requested() -> None:
    """The `CNNLAB_TEST_FAIL_ONCE` switch: fail the first attempt, let the next one run."""
    marker = os.environ.get(FAIL_ONCE)
    if not marker or Path(marker).exists():
        return
    Path(marker).parent.mkdir(parents=True, exist_ok=True)
    Path(marker).touch()
    raise RuntimeError(
        f"{FAIL_ONCE} is set and {marker} did not exist: failing this attempt on purpose"
    )


class KillAfterEpoch(keras.callbacks.Callback):
    """Kill this process after epoch `kill_after` (1-based) unless `marker` says it already did.

    Put it after the callbacks that save state, so it dies the way a job killed between epochs
    does.
    """

    def __init__(self, kill_after: int, marker: Path):
        super().__init__()
        self.kill_after = kill_after
        self.marker = Path(marker)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 != self.kill_after or self.marker.exists():
            return
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.touch()
        log.warning(
            "%s=%d: killing this process after epoch %d",
            KILL_AFTER_EPOCH,
            self.kill_after,
            epoch + 1,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def kill_switch_callbacks(scratch_dir: str | os.PathLike) -> list[keras.callbacks.Callback]:
    """[KillAfterEpoch] when `CNNLAB_TEST_KILL_AFTER_EPOCH` is set, else []."""
    value = os.environ.get(KILL_AFTER_EPOCH)
    if not value:
        return []
    return [KillAfterEpoch(int(value), Path(scratch_dir) / KILL_MARKER_NAME)]
