"""A Snakemake job's plumbing, shared by every script: its log file and its atomic outputs."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path


@contextlib.contextmanager
def log_to(log_path: str | os.PathLike):
    """Send everything the job prints to its Snakemake log: Python logging, print, Keras'
    epoch lines, and TensorFlow's C++ messages (which write to file descriptor 2 directly).

    Exceptions are logged before they propagate, so the log says why the job failed.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
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


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, directory: bool = False):
    """Yield a temporary path beside `target` for the caller to write (an empty folder when
    `directory`); when the block succeeds it is renamed to `target`, replacing what was there.

    So a crash never leaves a half-written output that Snakemake would take as finished.
    Beside, not in /tmp: a rename is atomic only within one file system. The temporary name
    keeps the target's suffix, because writers such as matplotlib and Keras choose the file
    format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Left over from a killed job: nothing else writes this target while this job runs.
    for stale in target.parent.glob(f".{target.stem}.partial-*{target.suffix}"):
        _remove(stale)
    partial = target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")
    if directory:
        partial.mkdir()
    try:
        yield partial
        if directory and target.exists():
            _remove(target)
        os.replace(partial, target)
    finally:
        _remove(partial)
