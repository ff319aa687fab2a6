"""The training rules inside the real Snakemake workflow: one job per grid cell, and a training job
killed mid-run that resumes where it stopped."""

from __future__ import annotations

import json
import re

import yaml

from cnnlab.history import read_history
from cnnlab.training.test_switches import KILL_AFTER_EPOCH
from conftest import DEMO_CONFIG, run_snakemake

EPOCHS = 4
KILL_AFTER = 2


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
    assert counts["train_catsdogs_basic"] == 4
    assert counts["train_cifar10_basic"] == 3
    assert counts["select_best_catsdogs"] == counts["select_best_cifar10"] == 1
    for cell in ("lr0.001_f4", "lr0.001_f8", "lr0.01_f4", "lr0.01_f8"):
        assert f"results/catsdogs/basic/{cell}/model.keras" in result.stdout


def test_killed_training_resumes_at_the_next_epoch(tmp_path):
    """The job kills itself (SIGKILL) after epoch 2 of 4; the rerun restores the backup, trains
    epochs 3 and 4 only, and history.csv holds each epoch once."""
    overlay = write_overlay(
        tmp_path,
        {
            "data": {
                "petimages": {
                    "synthetic": {"images_per_class": 24},
                    "images_per_class": 20,
                    "image_size": [32, 32],
                }
            },
            "training": {"retries": 0},  # no automatic retry: the test reruns by hand
            "catsdogs": {
                "basic": {
                    "learning_rates": [0.001],
                    "filters": [4],
                    "hidden_units": 8,
                    "epochs": EPOCHS,
                    "batch_size": 8,
                }
            },
        },
    )
    cell = "results/catsdogs/basic/lr0.001_f4"
    target = f"{cell}/train.json"
    env = {KILL_AFTER_EPOCH: str(KILL_AFTER)}
    configs = (DEMO_CONFIG, overlay)

    killed = run_snakemake(tmp_path, target, configfiles=configs, env=env, check=False)
    assert killed.returncode != 0, killed.stdout[-3000:]
    assert not (tmp_path / cell / "model.keras").exists(), "a killed job leaves no model behind"
    scratch = tmp_path / "results/checkpoints/catsdogs/basic/lr0.001_f4"
    assert [row["epoch"] for row in read_history(scratch / "history.csv")] == [0, 1]

    run_snakemake(tmp_path, target, "--rerun-incomplete", configfiles=configs, env=env)
    info = json.loads((tmp_path / target).read_text())
    assert info["epochs_run"] == info["epochs"] == EPOCHS
    assert info["epochs_restored_from_backup"] == KILL_AFTER
    assert [row["epoch"] for row in read_history(tmp_path / cell / "history.csv")] == list(
        range(EPOCHS)
    )
    log = (tmp_path / "logs/catsdogs/basic/lr0.001_f4.log").read_text()
    assert f"resuming at epoch {KILL_AFTER + 1} of {EPOCHS}" in log
    assert f"Epoch {KILL_AFTER + 1}/{EPOCHS}" in log and "Epoch 1/" not in log.split("resuming")[-1]
    assert not scratch.exists(), "the finished job removes its backup"
