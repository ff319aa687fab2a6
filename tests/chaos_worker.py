"""The chaos test's worker (tests/test_chaos.py): one tiny grid cell trained and evaluated in
forked children, SIGKILLed at seeded random instants, rerun until it finishes.

    python tests/chaos_worker.py FOLDER SEED KILLS

Importing TensorFlow takes seconds, a fork milliseconds: this process imports the job code once
(and runs no TensorFlow op, so no thread pool exists to be broken by fork), then forks a child
per attempt. Each child runs what a Snakemake rerun would: the training job unless its
train.json exists, then the evaluation job. Checkpoint files are written slowly (a pause after
each, patched in here: the product has no test hooks), and every other kill waits for a write
to begin, so many land inside one. The evaluation announces each step and pauses, and its kills
wait for a step: no kill depends on this machine being as fast as during the reference run. The children log each phase and write to
FOLDER/<run>/events; the parent reads them to time its kills, and reports the last event
before each.

Runs an uninterrupted reference first (FOLDER/reference), then the killed one
(FOLDER/killed), and prints one JSON line: the kills, where each landed, and the attempts.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from cnnlab.runtime import use_backend

use_backend("tensorflow")

import cnnlab.training.checkpoints as checkpoints  # noqa: E402
import cnnlab.training.evaluation as evaluation  # noqa: E402
from cnnlab.training.evaluation import evaluate_job  # noqa: E402
from cnnlab.training.jobs import train_job  # noqa: E402

FOLDER, SEED, KILLS = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
SETTINGS = {
    "learning_rate": 0.003,
    "filters": 4,
    "hidden_units": 8,
    "epochs": 4,
    "batch_size": 8,
    "batchnorm_momentum": 0.9,
    "image_size": [32, 32],
}
# The pause after each checkpoint file and at each evaluation step's start: long enough for the
# parent, polling every 2 ms, to land its kill there on a loaded machine.
PAUSE_SECONDS = 0.1
# The evaluation's steps, each announced as it begins: its two predictions, its two predictions
# files. A kill "at step n" lands as the n-th begins, whatever the machine's speed.
EVALUATION_STEPS = 4


def write_split(path: Path, count: int, seed: int) -> None:
    """A split as the data stage writes it: cats dark, dogs bright."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.integers(0, 100, (count, 32, 32, 3)) + 150 * labels[:, None, None, None]
    np.savez(
        path,
        images=images.astype(np.uint8),
        labels=labels,
        ids=np.array([f"{index:03d}.png" for index in range(count)]),
        class_names=np.array(["Cat", "Dog"]),
    )


def event(run: Path, text: str) -> None:
    with open(run / "events", "a") as handle:
        handle.write(f"{time.monotonic():.4f} {text}\n")


def job(run: Path) -> None:
    """A child: the cell's training job unless done, then its evaluation job."""
    original_write = checkpoints._write_synced

    def slow_write(path, data):
        event(run, "write begins")
        original_write(path, data)
        time.sleep(PAUSE_SECONDS)
        event(run, "write ends")

    checkpoints._write_synced = slow_write
    for step in ("predict_split", "write_predictions"):
        setattr(evaluation, step, announced(run, getattr(evaluation, step)))
    out = run / "cell"
    if not (out / "train.json").exists():
        event(run, "training")
        train_job(
            "catsdogs_basic",
            SETTINGS,
            FOLDER / "train.npz",
            FOLDER / "val.npz",
            None,
            None,
            out / "model.keras",
            out / "history.csv",
            out / "train.json",
            run / "scratch",
            {"mixed_precision": False, "xla": False},
            seed=3,
            threads=1,
            checkpoint_every="3 batches",
        )
    event(run, "evaluation")
    evaluate_job(
        out / "model.keras",
        out / "history.csv",
        FOLDER / "test.npz",
        FOLDER / "val.npz",
        8,
        out / "metrics.json",
        out / "test_predictions.npz",
        out / "val_predictions.npz",
        threads=1,
    )
    event(run, "done")


def announced(run: Path, step):
    def step_announced(*args, **kwargs):
        event(run, "evaluation step")
        time.sleep(PAUSE_SECONDS)
        return step(*args, **kwargs)

    return step_announced


def attempt(run: Path, kill: tuple[str, float] | None) -> tuple[bool, str | None]:
    """Fork a child that runs the job and SIGKILL it as `kill` says: ("instant", t) t seconds
    in; ("write", n) inside its n-th checkpoint file write; either as its evaluation begins if
    that comes first; ("evaluation", n) as the n-th step of its evaluation begins. Returns
    whether it finished, and its last event before the kill."""
    events = run / "events"
    writes_before = _writes(events)
    steps_before = _count(events, "evaluation step")
    # Before the fork: the child may log its first event before the parent runs again.
    started = time.monotonic()
    child = os.fork()
    if child == 0:
        try:
            job(run)
            os._exit(0)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(1)

    def due() -> bool:
        if kill is None:
            return False
        kind, value = kill
        if kind == "evaluation":
            return _count(events, "evaluation step") - steps_before >= value
        # A kill meant for the training lands as the evaluation begins if the training ends
        # first, so no attempt with a kill planned finishes the job.
        if _event_times(events).get("evaluation", -1.0) >= started:
            return True
        if kind == "instant":
            return time.monotonic() - started >= value
        return _writes(events) - writes_before >= value

    pid, status = os.waitpid(child, os.WNOHANG)
    while pid == 0 and not due():
        time.sleep(0.002)
        pid, status = os.waitpid(child, os.WNOHANG)
    if pid == 0:  # still running: the kill
        os.kill(child, signal.SIGKILL)
        _, status = os.waitpid(child, 0)
    killed = os.WIFSIGNALED(status)
    if not killed and os.WEXITSTATUS(status) != 0:
        raise SystemExit(f"an attempt failed (exit status {os.WEXITSTATUS(status)}): see above")
    return not killed, events.read_text().splitlines()[-1].split(" ", 1)[1] if killed else None


def _writes(events: Path) -> int:
    return _count(events, "write begins")


def _count(events: Path, text: str) -> int:
    return events.read_text().count(text) if events.exists() else 0


def _event_times(events: Path) -> dict[str, float]:
    """The time of each event's latest occurrence."""
    lines = events.read_text().splitlines() if events.exists() else []
    return {text: float(moment) for moment, text in (line.split(" ", 1) for line in lines)}


def main() -> None:
    for split, count, seed in (("train", 40, 0), ("val", 8, 1), ("test", 12, 2)):
        write_split(FOLDER / f"{split}.npz", count, seed)
    reference = FOLDER / "reference"
    reference.mkdir()
    started = time.monotonic()
    assert attempt(reference, None)[0]
    duration = time.monotonic() - started

    killed_run = FOLDER / "killed"
    killed_run.mkdir()
    rng = np.random.default_rng(SEED)
    # Seeded kills: inside one of the next few checkpoint file writes (each attempt then gets
    # at most two checkpoints further, so these land in the training), then at instants of an
    # uninterrupted run's length, then the last quarter at a step of the evaluation. None
    # depends on this machine being as fast as during the reference run.
    in_training = KILLS - KILLS // 4
    writes = in_training // 2
    plan = (
        [("write", int(rng.integers(1, 7))) for _ in range(writes)]
        + [
            ("instant", float(rng.uniform(0.1, 1.0) * duration))
            for _ in range(in_training - writes)
        ]
        + [
            ("evaluation", int(rng.integers(1, EVALUATION_STEPS + 1)))
            for _ in range(KILLS - in_training)
        ]
    )
    landed, attempts = [], 0
    for kill in plan:
        attempts += 1
        finished, last_event = attempt(killed_run, kill)
        if finished:
            break
        landed.append(last_event)
    while not (killed_run / "cell" / "metrics.json").exists():
        attempts += 1
        assert attempts < KILLS + 3, "the killed run never finishes"
        attempt(killed_run, None)
    print(
        json.dumps(
            {
                "reference_seconds": round(duration, 2),
                "landed": landed,
                "attempts": attempts,
            }
        )
    )


main()
