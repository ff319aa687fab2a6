"""The data stage: fetch, extract, clean, split (PetImages) and parse (CIFAR-10).

Every writer here goes through `written_atomically`, so an interrupted job never leaves a
half-written output that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def written_atomically(target: str | os.PathLike, directory: bool = False):
    """Yield a temporary path beside `target` for the caller to write (an empty folder when
    `directory`); when the block succeeds it is renamed to `target`, replacing what was there.

    Beside, not in /tmp: a rename is atomic only within one file system.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Left over from a killed job: nothing else writes this target while this job runs.
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        _remove(stale)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    if directory:
        partial.mkdir()
    try:
        yield partial
        if directory and target.exists():
            _remove(target)
        os.replace(partial, target)
    finally:
        _remove(partial)
