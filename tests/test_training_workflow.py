"""The training rule inside the real Snakemake workflow: one job per grid cell, and a training
job killed from outside mid-run (as pre-emption or the out-of-memory killer does) that resumes
where it stopped, rerun by hand or by Snakemake's own retry."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import psutil
import yaml
from conftest import (
    DEMO_CONFIG,
    ONE_CELL_EPOCHS,
    ONE_CELL_RUN,
    ONE_CELL_SCRATCH,
    checkpointed_epochs,
    failure_report,
    one_cell_overlay,
    run_snakemake,
    snakemake_command,
)

from cnnlab.history import read_history

EPOCHS, CELL, SCRATCH = ONE_CELL_EPOCHS, ONE_CELL_RUN, ONE_CELL_SCRATCH


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = dry_run_output.split("Job stats:", 1)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def write_overlay(tmp_path, config: dict):
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_one_training_job_per_grid_cell(tmp_path):
    overlay = write_overlay(
        tmp_path,
        {
            "catsdogs": {"basic": {"learning_rates": [0.001, 0.01], "filters": [4, 8]}},
            "cifar10": {"basic": {"learning_rates": [0.001, 0.01, 0.1], "filters": [4]}},
        },
    )
    result = run_snakemake(tmp_path, "--dry-run", configfiles=(DEMO_CONFIG, overlay))
    counts = job_counts(result.stdout)
    # 4 + 3 grid cells, 3 VGG16 stages, 2 CIFAR-10 variants, demo.yaml's VGG16 base pretrained
    # on CIFAR-10; a best cell per grid.
    assert counts["train"] == 13 and counts["select_best"] == 2
    assert "results/cifar10/vgg16_base/seed1337/model.keras" in result.stdout
    for cell in ("lr0.001_f4", "lr0.001_f8", "lr0.01_f4", "lr0.01_f8"):
        assert f"results/catsdogs/basic/{cell}/seed1337/model.keras" in result.stdout
    for cell in ("lr0.001_f4", "lr0.01_f4", "lr0.1_f4"):
        assert f"results/cifar10/basic/{cell}/seed1337/model.keras" in result.stdout


def run_and_kill_training_once(workdir, configfiles) -> tuple[int, str, int]:
    """Run Snakemake for the cell; as soon as the training job has checkpointed two epochs,
    SIGKILL it from outside. Returns Snakemake's exit code and output, and the epochs its newest
    checkpoint held when the job died."""
    command = snakemake_command(workdir, f"{CELL}/train.json", configfiles=configfiles)
    scratch = workdir / SCRATCH
    snakemake = subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    backed_up = None
    deadline = time.monotonic() + 600
    while backed_up is None and snakemake.poll() is None and time.monotonic() < deadline:
        if checkpointed_epochs(scratch) >= 2:
            trainer = training_process(snakemake.pid)
            if trainer is not None:
                trainer.send_signal(signal.SIGKILL)
                trainer.wait(30)
                backed_up = checkpointed_epochs(scratch)
        time.sleep(0.02)
    output, _ = snakemake.communicate(timeout=600)
    assert backed_up is not None, "the job ended before it could be killed:\n" + output[-3000:]
    return snakemake.returncode, output, backed_up


def training_process(snakemake_pid: int):
    """The Python process running scripts/train.py among Snakemake's descendants, if any."""
    for process in psutil.Process(snakemake_pid).children(recursive=True):
        try:
            if any(part.endswith("train.py") for part in process.cmdline()):
                return process
        except psutil.NoSuchProcess:
            continue
    return None


def assert_resumed(workdir, backed_up: int):
    """The finished job restored its newest checkpoint and trained only the epochs after it,
    once each."""
    info = json.loads((workdir / CELL / "train.json").read_text())
    restored = info["epochs_restored_from_backup"]
    # Checkpoints are committed whole: the newest one the kill left is the one restored.
    assert restored == backed_up and 1 <= restored < EPOCHS, (restored, backed_up)
    assert info["epochs_run"] == info["epochs"] == EPOCHS
    assert [row["epoch"] for row in read_history(workdir / CELL / "history.csv")] == list(
        range(EPOCHS)
    )
    log = (workdir / "logs/catsdogs/basic/lr0.001_f4/seed1337/train.log").read_text()
    assert f"resuming from checkpoint epoch{restored:05d}-batch0000000" in log
    assert not (workdir / SCRATCH).exists(), "the finished job removes its backup"
    return log


def test_a_killed_training_job_resumes_when_rerun(tmp_path):
    configfiles = (DEMO_CONFIG, one_cell_overlay(tmp_path, retries=0))
    returncode, output, backed_up = run_and_kill_training_once(tmp_path, configfiles)

    assert returncode != 0, output[-3000:]
    assert not (tmp_path / CELL / "model.keras").exists(), "a killed job leaves no model behind"
    logged = [row["epoch"] for row in read_history(tmp_path / SCRATCH / "history.csv")]
    assert logged[: len(logged)] == list(range(len(logged))) and len(logged) >= backed_up

    run_snakemake(tmp_path, f"{CELL}/train.json", "--rerun-incomplete", configfiles=configfiles)
    log = assert_resumed(tmp_path, backed_up)
    assert "Epoch 1/" not in log.split("resuming")[-1]


def test_snakemake_retries_a_killed_training_job_and_it_resumes(tmp_path):
    """training.retries: Snakemake starts the killed job again by itself, and it resumes."""
    configfiles = (DEMO_CONFIG, one_cell_overlay(tmp_path, retries=1))
    returncode, output, backed_up = run_and_kill_training_once(tmp_path, configfiles)

    assert returncode == 0, failure_report(tmp_path, ["snakemake"], returncode, output)
    assert assert_resumed(tmp_path, backed_up)
