"""Shared fixtures: run the real Snakemake workflow in a scratch folder on generated data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "demo.yaml"


def default_config() -> dict:
    """config.yaml as written: the report's protocol (no overlay)."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


def snakemake_command(workdir: Path, *args: str, configfiles=(DEMO_CONFIG,), cores: int = 2) -> list:
    return [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--cores", str(cores),
        *args,
        # Last: --configfile takes every word after it, so targets must come before it.
        "--configfile", *[str(path) for path in configfiles],
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles: tuple[Path, ...] = (DEMO_CONFIG,),
    cores: int = 2,
    env: dict | None = None,
    check: bool = True,
    timeout: float = 1800,
    wrapper: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile with `workdir` as its working directory.

    The output is kept (stdout and stderr together) and printed when the run fails, so a
    failing test shows Snakemake's own explanation. `wrapper` goes in front of the command,
    e.g. ("timeout", "-k", "30", "900"): Snakemake gets SIGTERM first, so it can cancel its
    cluster jobs and say where it was.
    """
    command = [*wrapper, *snakemake_command(workdir, *args, configfiles=configfiles, cores=cores)]
    result = subprocess.run(
        command,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(failure_report(workdir, command, result.returncode, result.stdout))
    return result


def failure_report(workdir: Path, command: list, returncode: int, output: str) -> str:
    """Snakemake's output and the jobs' logs, for the message of a failed run."""
    logs = "\n".join(
        f"--- {log}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted((workdir / "logs").rglob("*.log"))
    ) if (workdir / "logs").exists() else ""
    return (
        f"snakemake failed ({returncode}): {' '.join(map(str, command))}\n"
        f"{output[-8000:]}\n{logs[-12000:]}"
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The whole demo DAG, run once per test session; tests read its results, never change them.

    A test that needs to change something copies it first (`copy_workdir`).
    """
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir)
    return workdir


def copy_workdir(source: Path, target: Path) -> Path:
    """A copy of a finished run, Snakemake's metadata and file times included."""
    shutil.copytree(source, target, symlinks=True)
    return target
