"""A Snakemake job's plumbing, shared by every script: its log file, its atomic outputs, and the
small JSON files jobs hand each other (train.json, best.json, metrics.json)."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sys
from pathlib import Path


class ExpectedError(Exception):
    """A failure the project foresees and explains: a download, a wrong archive, bad images, a
    full disk, bad config or weights. Its message names the key, file or member and what to do,
    so `log_to` shows the user only that message; the traceback goes to the job's log."""


@contextlib.contextmanager
def log_to(log_path: str | os.PathLike):
    """Send everything the job prints to its Snakemake log: Python logging, print, Keras'
    epoch lines, and TensorFlow's C++ messages (which write to file descriptor 2 directly).

    Exceptions are logged (with their traceback) before they propagate, so the log says why
    the job failed. An ExpectedError then ends the job with its message alone on the terminal
    (stderr, which Snakemake shows) and exit status 1: the user reads what to do, not a
    traceback; any other exception propagates as it is, traceback and all (a bug to report).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    expected = None
    with open(log_path, "a", buffering=1) as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        saved_streams = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log_file
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("cnnlab")
        except ExpectedError as error:
            logging.getLogger("cnnlab").exception("job failed")
            expected = error
        except BaseException:
            logging.getLogger("cnnlab").exception("job failed")
            raise
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
    if expected is not None:
        print(f"{expected}\n(the traceback is in {log_path})", file=sys.stderr, flush=True)
        raise SystemExit(1)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# What to do when the file system refuses a write. The bare OSError names a temporary file deep
# in results/ and says nothing of what to change.
_WRITE_REFUSALS = {
    errno.ENOSPC: "the disk holding {folder} is full: free space there (old runs under results/, "
    "archives in results/downloads), or run the workflow on a bigger disk "
    "(snakemake --directory /bigger/disk)",
    errno.EDQUOT: "your disk quota is used up where {folder} lives: free some of it (old runs under "
    "results/), or ask for a larger quota, or run on another disk (snakemake --directory)",
    errno.EROFS: "{folder} is on a read-only file system: run the workflow in a writable folder "
    "(snakemake --directory /writable/folder)",
    errno.EACCES: "you may not write in {folder}: make it writable (chmod -R u+w), or run the workflow "
    "in a folder you own (snakemake --directory /your/folder)",
}
_WRITE_REFUSALS[errno.EPERM] = _WRITE_REFUSALS[errno.EACCES]


class OutputWriteError(ExpectedError, OSError):
    """An output could not be written; the message names the folder and what to do."""


def explain_write_error(error: OSError, folder: str | os.PathLike) -> OSError:
    """`error`, raised while writing in `folder`, as an OutputWriteError that names the folder
    and what to free or change; other errors are returned as they are."""
    advice = _WRITE_REFUSALS.get(error.errno)
    if advice is None:
        return error
    folder = Path(folder).absolute()
    return OutputWriteError(
        error.errno, f"cannot write in {folder}: {advice.format(folder=folder)} ({error.strerror})"
    )


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, directory: bool = False):
    """Yield a temporary path beside `target` for the caller to write (an empty folder when
    `directory`); when the block succeeds it is renamed to `target`, replacing what was there.

    So a crash never leaves a half-written output that Snakemake would take as finished.
    Beside, not in /tmp: a rename is atomic only within one file system. The temporary name
    keeps the target's suffix, because writers such as matplotlib and Keras choose the file
    format from it. A full disk, a used-up quota, a read-only or unwritable folder (here or in
    the block) raise an OutputWriteError that names the folder and what to do.
    """
    target = Path(target)
    partial = target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Left over from a killed job: nothing else writes this target while this job runs.
        for stale in target.parent.glob(f".{target.stem}.partial-*{target.suffix}"):
            _remove(stale)
        if directory:
            partial.mkdir()
        yield partial
        if directory and target.exists():
            _remove(target)
        os.replace(partial, target)
    except OSError as error:
        explained = explain_write_error(error, target.parent)
        if explained is error:
            raise
        raise explained from error
    finally:
        _remove(partial)


def read_json(path: str | os.PathLike) -> dict:
    with open(path) as handle:
        return json.load(handle)


def write_json(path: str | os.PathLike, record: dict) -> None:
    """`record` as indented JSON, written atomically."""
    with atomic_output(path) as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
