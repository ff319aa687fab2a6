"""Process-level plumbing shared by every Snakemake script: logging into the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import os
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
