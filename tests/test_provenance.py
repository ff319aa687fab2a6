"""The checkout's own record: its git state, and the copy of its files that the staleness tests
and the mutation check work in."""

from __future__ import annotations

import os
import subprocess

import pytest

from cnnlab.provenance import REPOSITORY, copy_checkout, git_state


def tracked_files() -> set[str]:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPOSITORY, check=True, stdout=subprocess.PIPE
        )
        .stdout.decode()
        .split("\0")
    )
    return {name for name in listed if name and (REPOSITORY / name).is_file()}


@pytest.mark.parametrize("keep_times", [True, False])
def test_a_copy_holds_every_file_git_checks_out_and_nothing_it_ignores(tmp_path, keep_times):
    if git_state()["git_commit"] is None:
        pytest.fail("the tests run from a git checkout (CI clones the repository)")
    copied = copy_checkout(tmp_path, keep_times=keep_times)
    names = {str(path.relative_to(copied)) for path in copied.rglob("*") if path.is_file()}
    assert tracked_files() <= names
    # Ignored files (the installed package's metadata, caches, results) stay behind.
    ignored = (
        subprocess.run(
            ["git", "check-ignore", "--stdin", "-z"],
            cwd=REPOSITORY,
            input="\0".join(names).encode(),
            stdout=subprocess.PIPE,
        )
        .stdout.decode()
        .split("\0")
    )
    assert not list(filter(None, ignored))
    snakefile = REPOSITORY / "Snakefile"
    assert (copied / "Snakefile").read_bytes() == snakefile.read_bytes()
    same_time = os.stat(copied / "Snakefile").st_mtime_ns == os.stat(snakefile).st_mtime_ns
    assert same_time == keep_times
