"""The workflow on a real one-node SLURM cluster, through profiles/slurm (docs/cluster.md: "Running on a
SLURM cluster").

The cluster (tests/slurm_cluster.py) needs root, and Debian's slurm-wlm and munge, which it
installs with apt when missing. Where that is impossible the cluster tests skip and say why,
except under CI=true: there they must run, so they fail instead.

One run of the demo DAG on the cluster, at conftest's tiny sizes (the demo's models and grids,
so the demo's jobs and files), feeds most cluster tests. Another
run trains one small model for many epochs, and the test cancels its SLURM job mid-training
(`scancel`, as a pre-empting scheduler does): the job must come back as a new SLURM job and
resume from its checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import (
    DEMO_CONFIG,
    ONE_CELL_EPOCHS,
    ONE_CELL_RUN,
    ONE_CELL_SCRATCH,
    REPO,
    checkpointed_epochs,
    failure_report,
    one_cell_overlay,
    run_snakemake,
    snakemake_command,
    tiny_overlay,
)
from slurm_cluster import (
    NODE_GPUS,
    SlurmJob,
    SlurmUnavailable,
    ensure_installed,
    start_cluster,
)

from cnnlab.history import read_history

PROFILE = REPO / "profiles" / "slurm"
# Test overrides on top of the profile: a job limit this machine can take, small defaults for
# the jobs that are not training, quick status checks, and squeue to follow jobs with (the test
# cluster has no accounting database). SLURM job logs are kept.
SLURM_TEST_OPTIONS = (
    "--workflow-profile",
    str(PROFILE),
    "--jobs",
    "4",
    "--default-resources",
    "runtime=15",
    "mem_mb=1000",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
    "--slurm-keep-successful-logs",
)
# A run that hangs (a status query that never sees its jobs) gets SIGTERM, so Snakemake cancels
# its jobs and prints where it was, then SIGKILL.
RUN_LIMIT_SECONDS = 1200
TIMEOUT = ("timeout", "--kill-after=30", str(RUN_LIMIT_SECONDS))
DOWNLOAD_RULES = {"download"}  # one rule, a job per archive


def training_rules() -> set[str]:
    """The rules profiles/slurm gives a GPU."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    return {rule for rule, resources in profile["set-resources"].items() if resources.get("gpu")}


@pytest.mark.workflow
def test_slurm_profile_gives_every_training_job_a_gpu(tmp_path):
    """Without a cluster: the profile applies, and every job that trains a model (writes a
    train.json) asks for one GPU and CPUs per GPU, nothing else does."""
    result = run_snakemake(tmp_path, "--dry-run", "--workflow-profile", str(PROFILE), timeout=300)
    jobs = [block for block in result.stdout.split("\n\n") if job_line(block, "resources")]
    training = [job for job in jobs if "/train.json" in job_line(job, "output")]
    assert training, "the dry run planned no training job"
    for job in jobs:
        resources = job_line(job, "resources")
        if job in training:
            assert re.search(r"\bgpu=1\b", resources) and "cpus_per_gpu=" in resources, job
        else:
            assert not re.search(r"\bgpu=", resources), job


def job_line(job: str, key: str) -> str:
    match = re.search(rf"^\s*{key}: (.*)$", job, re.MULTILINE)
    return match.group(1) if match else ""


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    try:
        ensure_installed()
        cluster = start_cluster(tmp_path_factory.mktemp("slurm-cluster"))
    except SlurmUnavailable as problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true the SLURM tests must run, but: {problem}")
        pytest.skip(f"no SLURM test cluster here: {problem}")
    yield cluster
    cluster.stop()


@dataclass
class SlurmRun:
    workdir: Path
    output: str  # Snakemake's stdout and stderr
    jobs: list[SlurmJob]  # the controller's record of the run's jobs


@pytest.fixture(scope="session")
def slurm_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    workdir = tmp_path_factory.mktemp("slurm-run")
    result = run_snakemake(
        workdir,
        *SLURM_TEST_OPTIONS,
        configfiles=(DEMO_CONFIG, tiny_overlay(workdir)),
        env=slurm_cluster.environment(),
        wrapper=TIMEOUT,
        timeout=RUN_LIMIT_SECONDS + 60,
    )
    return SlurmRun(workdir, result.stdout, slurm_cluster.jobs(workdir))


@pytest.mark.slurm
def test_every_non_local_job_ran_as_one_slurm_job(slurm_run):
    planned = planned_jobs(slurm_run.output)
    local = set(re.findall(r"^localrule (\w+):", slurm_run.output, re.MULTILINE))
    assert DOWNLOAD_RULES <= local, "downloads must run where Snakemake runs, not on a node"

    completed = Counter(job.rule for job in slurm_run.jobs if job.state == "COMPLETED")
    expected = {rule: count for rule, count in planned.items() if rule not in local}
    assert completed == expected, (
        f"SLURM jobs that completed, by rule: {dict(completed)}\n"
        f"non-local jobs Snakemake planned: {expected}"
    )
    # One completed SLURM job per job, not one job twice and another never.
    done = [(job.rule, job.wildcards) for job in slurm_run.jobs if job.state == "COMPLETED"]
    assert len(done) == len(set(done)), sorted(done)
    # A SLURM job that failed (none is made to, here) was retried: its rule and wildcards
    # completed later.
    for failed in (job for job in slurm_run.jobs if job.state != "COMPLETED"):
        assert any(
            (job.rule, job.wildcards) == (failed.rule, failed.wildcards)
            and job.job_id > failed.job_id
            for job in slurm_run.jobs
            if job.state == "COMPLETED"
        ), f"{failed} was never retried to completion"


def planned_jobs(output: str) -> Counter:
    """Snakemake's "Job stats" table at the start of a run: {rule: jobs}, without the total."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = (line.split() for line in table.splitlines()[3:])
    return Counter({row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"})


@pytest.mark.slurm
def test_training_jobs_were_given_a_gpu(slurm_run):
    assert any(job.rule in training_rules() for job in slurm_run.jobs)
    for job in slurm_run.jobs:
        assert job.gpus == (1 if job.rule in training_rules() else 0), job

    infos = sorted((slurm_run.workdir / "results").rglob("train.json"))
    trainings = sum(
        1 for job in slurm_run.jobs if job.rule in training_rules() and job.state == "COMPLETED"
    )
    assert len(infos) == trainings, "every train.json comes from a SLURM job that had a GPU"
    node_gpus = {str(index) for index in range(NODE_GPUS)}
    for info in infos:
        # SLURM sets CUDA_VISIBLE_DEVICES to the index of the GPU a job was given.
        assert json.loads(info.read_text())["CUDA_VISIBLE_DEVICES"] in node_gpus, info


@pytest.mark.slurm
def test_slurm_run_writes_the_same_files_as_a_local_run(slurm_run, demo_run, local_data):
    """The models, figures and tables of the demo's DAG (the cluster run has the demo's models
    and grids), and the data stage's files of a local run of the cluster run's sizes (their
    names follow the number of images)."""
    assert result_files(slurm_run.workdir, data_stage=False) == result_files(
        demo_run, data_stage=False
    )
    assert result_files(slurm_run.workdir, data_stage=True) == result_files(
        local_data, data_stage=True
    )


# Every file of the data stage: the split folders, manifests and raw archives come with them.
DATA_TARGETS = (
    "results/data/petimages/train.npz",
    "results/data/petimages/val.npz",
    "results/data/petimages/test.npz",
    "results/data/cifar10/test.npz",
)


@pytest.fixture(scope="module")
def local_data(tmp_path_factory) -> Path:
    """The data stage of the cluster run's config, run locally."""
    workdir = tmp_path_factory.mktemp("local-data")
    run_snakemake(workdir, *DATA_TARGETS, configfiles=(DEMO_CONFIG, tiny_overlay(workdir)))
    return workdir


@pytest.mark.slurm
def test_slurm_run_prepares_the_same_data_as_a_local_run(slurm_run, local_data):
    """The data stage is deterministic wherever it runs: the same bytes in every file under
    results/data, and the same arrays in its .npz files (whose zip entries carry the time they
    were written)."""
    local, cluster = local_data / "results" / "data", slurm_run.workdir / "results" / "data"
    files = sorted(path.relative_to(local) for path in local.rglob("*") if path.is_file())
    assert any(path.name == "clean_manifest.csv" for path in files)
    assert any(path.name == "split_manifest.csv" for path in files)
    for path in files:
        if path.suffix == ".npz":
            with np.load(local / path) as ours, np.load(cluster / path) as theirs:
                assert ours.files == theirs.files, path
                for name in ours.files:
                    np.testing.assert_array_equal(ours[name], theirs[name], err_msg=str(path))
        else:
            assert (local / path).read_bytes() == (cluster / path).read_bytes(), path


# The data stage's folders under results/: what they hold follows the data's sizes.
DATA_STAGE_FOLDERS = {"data", "downloads"}


def result_files(workdir: Path, data_stage: bool) -> set[str]:
    """The files under results/, of the data stage's folders or of all the others."""
    results = workdir / "results"
    files = (path.relative_to(results) for path in results.rglob("*") if path.is_file())
    return {str(path) for path in files if (path.parts[0] in DATA_STAGE_FOLDERS) == data_stage}


# conftest's one small cell of many quick epochs, so the cancel lands mid-training; one
# automatic retry (training.retries) brings it back.
CANCELLED_EPOCHS, CANCELLED_CELL, CANCELLED_SCRATCH = (
    ONE_CELL_EPOCHS,
    ONE_CELL_RUN,
    ONE_CELL_SCRATCH,
)


@pytest.mark.slurm
def test_a_cancelled_training_job_comes_back_and_resumes(slurm_cluster, tmp_path):
    overlay = one_cell_overlay(tmp_path, retries=1)
    workdir = tmp_path / "run"
    workdir.mkdir()
    command = [
        *TIMEOUT,
        *snakemake_command(
            workdir,
            f"{CANCELLED_CELL}/train.json",
            *SLURM_TEST_OPTIONS,
            configfiles=(DEMO_CONFIG, overlay),
        ),
    ]
    snakemake = subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, **slurm_cluster.environment()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    scratch = workdir / CANCELLED_SCRATCH
    cancelled = None
    deadline = time.monotonic() + RUN_LIMIT_SECONDS
    while cancelled is None and snakemake.poll() is None and time.monotonic() < deadline:
        if checkpointed_epochs(scratch) >= 2:
            running = [
                job
                for job in slurm_cluster.jobs(workdir)
                if job.rule == "train" and job.state == "RUNNING"
            ]
            if running:
                cancelled = running[0]
                slurm_cluster.command("scancel", str(cancelled.job_id))
        time.sleep(0.1)
    output, _ = snakemake.communicate(timeout=RUN_LIMIT_SECONDS)
    assert cancelled is not None, (
        "the training job ended before it was cancelled:\n" + output[-3000:]
    )
    assert snakemake.returncode == 0, failure_report(workdir, command, snakemake.returncode, output)

    attempts = [
        job
        for job in slurm_cluster.jobs(workdir)
        if (job.rule, job.wildcards) == (cancelled.rule, cancelled.wildcards)
    ]
    assert [job.state for job in attempts] == ["CANCELLED", "COMPLETED"], attempts
    assert attempts[1].job_id > cancelled.job_id == attempts[0].job_id
    info = json.loads((workdir / CANCELLED_CELL / "train.json").read_text())
    assert 1 <= info["epochs_restored_from_backup"] < CANCELLED_EPOCHS, info
    assert info["epochs_run"] == CANCELLED_EPOCHS
    assert [row["epoch"] for row in read_history(workdir / CANCELLED_CELL / "history.csv")] == list(
        range(CANCELLED_EPOCHS)
    )
