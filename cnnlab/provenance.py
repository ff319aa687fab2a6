"""Which code a job ran, for the record it writes (train.json)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def git_state() -> dict:
    """The git commit of the checkout cnnlab was imported from, and whether its tracked files
    had uncommitted changes; both None outside a git checkout (an installed wheel, say)."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", "-C", str(REPOSITORY), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if changes is None else bool(changes)}


def copy_checkout(target: Path, keep_times: bool) -> Path:
    """Copy into `target` every file git would check out from this checkout: the working tree's
    content, uncommitted edits and files git does not ignore included. With `keep_times` the
    copies keep their modification times; without, they are new, as a fresh clone's are."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPOSITORY,
            check=True,
            stdout=subprocess.PIPE,
        )
        .stdout.decode()
        .split("\0")
    )
    copy = shutil.copy2 if keep_times else shutil.copyfile
    for name in filter(None, listed):
        if (REPOSITORY / name).is_file():  # a listed file deleted in the working tree is not
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            copy(REPOSITORY / name, target / name)
    return target
