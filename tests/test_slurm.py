"""The workflow on a real one-node SLURM cluster, through profiles/slurm (docs/cluster.md: "Running on a
SLURM cluster").

The cluster (tests/slurm_cluster.py) needs root, and Debian's slurm-wlm and munge, which it
installs with apt when missing. Where that is impossible the cluster tests skip and say why,
except under CI=true: there they must run, so they fail instead.

One run of the demo DAG on the cluster, at conftest's tiny sizes (the demo's models and grids,
so the demo's jobs and files), feeds most cluster tests. Another
run trains two small models for many epochs: the test cancels one's SLURM job mid-training
(`scancel`, as a pre-empting scheduler does), and lets the other's run out of time (TIMEOUT).
Each must come back as a new SLURM job and resume from its checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
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
    RUNNING,
    background_run,
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
RUN_LIMIT_SECONDS = 1800  # a hang guard: beside the other background runs a run takes 7-10 min
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


# The cluster and its two runs go in the background as the session begins, after the JAX run in
# conftest's "tiny" lane, beside the demo; the tests wait for them.
@background_run("slurm_cluster", lane="tiny")
def start_slurm_cluster(runs):
    ensure_installed()
    cluster = start_cluster(runs.tmp_path_factory.mktemp("slurm-cluster"))
    runs.add_cleanup(cluster.stop)
    return cluster


@pytest.fixture(scope="session")
def slurm_cluster(background_runs):
    try:
        return background_runs.result("slurm_cluster")
    except SlurmUnavailable as problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true the SLURM tests must run, but: {problem}")
        pytest.skip(f"no SLURM test cluster here: {problem}")


@dataclass
class SlurmRun:
    workdir: Path
    output: str  # Snakemake's stdout and stderr
    jobs: list[SlurmJob]  # the controller's record of the run's jobs


@background_run("slurm_run", lane="tiny")
def start_slurm_run(runs) -> SlurmRun:
    cluster = runs.result("slurm_cluster")
    workdir = runs.tmp_path_factory.mktemp("slurm-run")
    result = run_snakemake(
        workdir,
        *SLURM_TEST_OPTIONS,
        configfiles=(DEMO_CONFIG, tiny_overlay(workdir)),
        env=cluster.environment(),
        wrapper=TIMEOUT,
        timeout=RUN_LIMIT_SECONDS + 60,
    )
    return SlurmRun(workdir, result.stdout, cluster.jobs(workdir))


@pytest.fixture(scope="session")
def slurm_run(slurm_cluster, background_runs) -> SlurmRun:
    return background_runs.result("slurm_run")


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


# Session-scoped: its two tests are not side by side (conftest runs each after the runs it uses).
@pytest.fixture(scope="session")
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


# Two of conftest's small cells of many quick epochs train side by side (the node has two GPUs),
# with a checkpoint every 2 batches as well (a string resource that must survive the executor),
# so the interruptions land mid-training. One automatic retry (training.retries) brings each
# back: one cell's SLURM job is cancelled (`scancel`, as a pre-empting scheduler does), the
# other's runs out of time (TIMEOUT).
INTERRUPTED_EPOCHS = ONE_CELL_EPOCHS
CANCELLED_CELL, CANCELLED_SCRATCH = ONE_CELL_RUN, ONE_CELL_SCRATCH  # lr0.001_f4
TIMED_OUT_CELL = ONE_CELL_RUN.replace("/lr0.001_f4/", "/lr0.01_f4/")
TIMED_OUT_SCRATCH = ONE_CELL_SCRATCH.replace("/lr0.001_f4/", "/lr0.01_f4/")


@dataclass
class InterruptedRun:
    workdir: Path
    command: list
    returncode: int
    output: str  # Snakemake's stdout and stderr
    cancelled: SlurmJob | None  # the SLURM job the test cancelled
    timed_out: SlurmJob | None  # the SLURM job whose time limit the test lowered
    # The newest checkpoint when the timed-out job had ended (before its retry began): its
    # folder name, and the history rows it holds.
    left: str | None = None
    left_history: list[dict] | None = None


@pytest.fixture(scope="session")
def interrupted_run(slurm_cluster, background_runs) -> InterruptedRun:
    return background_runs.result("interrupted_run")


@background_run("interrupted_run", lane="tiny")
def start_interrupted_run(runs) -> InterruptedRun:
    """Both cells trained in one run: the first cell's job is cancelled once its checkpoints hold
    two epochs; the second cell's job then gets its time limit lowered to one minute, the least
    SLURM takes, and the controller ends it at that limit (TIMEOUT).

    SLURM counts a time limit from the job's start, in minutes, and checks limits every 30 s:
    the job ends 60 to 90 s after it started. The second cell would finish its epochs before
    then, so once it has checkpointed two epochs the test stops (SIGSTOP) its job step's
    processes, as a node too slow to finish would. The job stays RUNNING to SLURM, whose clock
    goes on; at the limit slurmd sends SIGCONT, SIGTERM and, after KillWait, SIGKILL, as to any
    job that runs out of time.
    """
    slurm_cluster = runs.result("slurm_cluster")
    folder = runs.tmp_path_factory.mktemp("slurm-interrupted")
    overlay = one_cell_overlay(folder, retries=1)
    config = yaml.safe_load(overlay.read_text())
    config["catsdogs"]["basic"]["learning_rates"] = [0.001, 0.01]
    config["training"]["checkpoint_every"] = "2 batches"
    overlay.write_text(yaml.safe_dump(config))
    workdir = folder / "run"
    workdir.mkdir()
    command = [
        *TIMEOUT,
        *snakemake_command(
            workdir,
            f"{CANCELLED_CELL}/train.json",
            f"{TIMED_OUT_CELL}/train.json",
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
    RUNNING.add(snakemake)  # stopped if the session is cut short
    run = InterruptedRun(workdir, command, -1, "", None, None)
    deadline = time.monotonic() + RUN_LIMIT_SECONDS
    while run.left is None and snakemake.poll() is None and time.monotonic() < deadline:
        if run.cancelled is None and checkpointed_epochs(workdir / CANCELLED_SCRATCH) >= 2:
            run.cancelled = running_training_job(slurm_cluster, workdir, CANCELLED_CELL)
            if run.cancelled is not None:
                slurm_cluster.command("scancel", str(run.cancelled.job_id))
        if run.timed_out is None and checkpointed_epochs(workdir / TIMED_OUT_SCRATCH) >= 2:
            run.timed_out = running_training_job(slurm_cluster, workdir, TIMED_OUT_CELL)
            if run.timed_out is not None:
                job_id = str(run.timed_out.job_id)
                stop_job_steps(slurm_cluster, job_id)
                slurm_cluster.command("scontrol", "update", f"JobId={job_id}", "TimeLimit=1")
        if run.timed_out is not None and job_state(slurm_cluster, run.timed_out) not in (
            "RUNNING",
            "COMPLETING",
        ):
            # Its processes are gone. Snakemake's retry needs seconds to start, and a checkpoint
            # is removed only once two newer ones are committed: the newest one now is what the
            # retry will find.
            newest = max((workdir / TIMED_OUT_SCRATCH / "checkpoints").glob("epoch*-batch*"))
            run.left = newest.name
            run.left_history = history_rows(newest / "history.csv")
        time.sleep(0.1 if run.timed_out is None or run.cancelled is None else 1)
    run.output, _ = snakemake.communicate(timeout=RUN_LIMIT_SECONDS)
    RUNNING.discard(snakemake)
    run.returncode = snakemake.returncode
    return run


def running_training_job(cluster, workdir: Path, cell: str) -> SlurmJob | None:
    """The RUNNING SLURM job that trains `cell`, if any."""
    folder = f"_{Path(cell).parent.name}_"  # the wildcards read catsdogs_basic_lr0.01_f4_1337
    running = [
        job
        for job in cluster.jobs(workdir)
        if job.rule == "train" and folder in job.wildcards and job.state == "RUNNING"
    ]
    return running[0] if running else None


def stop_job_steps(cluster, job_id: str) -> None:
    """SIGSTOP every process of the job's steps (the training), not its batch script; SLURM
    still sees the job RUNNING. (`scancel --signal=STOP` would make it STOPPED instead.)"""
    listing = cluster.command("scontrol", "listpids", job_id).splitlines()[1:]
    for pid, _, step, *_ in (line.split() for line in listing):
        if step != "batch":
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGSTOP)


def job_state(cluster, job: SlurmJob) -> str:
    return cluster.command(
        "squeue", "--states=all", "--noheader", "--format=%T", f"--jobs={job.job_id}"
    ).strip()


def history_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def attempts_of(cluster, run: InterruptedRun, job: SlurmJob) -> list[SlurmJob]:
    return [
        attempt
        for attempt in cluster.jobs(run.workdir)
        if (attempt.rule, attempt.wildcards) == (job.rule, job.wildcards)
    ]


def assert_trained_every_epoch_once(workdir: Path, cell: str) -> dict:
    info = json.loads((workdir / cell / "train.json").read_text())
    assert 1 <= info["epochs_restored_from_backup"] < INTERRUPTED_EPOCHS, info
    assert info["epochs_run"] == INTERRUPTED_EPOCHS
    assert [row["epoch"] for row in read_history(workdir / cell / "history.csv")] == list(
        range(INTERRUPTED_EPOCHS)
    )
    return info


@pytest.mark.slurm
def test_a_cancelled_training_job_comes_back_and_resumes(slurm_cluster, interrupted_run):
    run = interrupted_run
    assert run.cancelled is not None, (
        "the training job ended before it was cancelled:\n" + run.output[-3000:]
    )
    assert run.returncode == 0, failure_report(run.workdir, run.command, run.returncode, run.output)

    attempts = attempts_of(slurm_cluster, run, run.cancelled)
    assert [job.state for job in attempts] == ["CANCELLED", "COMPLETED"], attempts
    assert attempts[1].job_id > run.cancelled.job_id == attempts[0].job_id
    assert_trained_every_epoch_once(run.workdir, CANCELLED_CELL)


@pytest.mark.slurm
def test_a_training_job_out_of_time_is_resubmitted_and_resumes(slurm_cluster, interrupted_run):
    """SLURM ends the job at its time limit (TIMEOUT); the executor reports that as a failure,
    Snakemake retries it as a new SLURM job, and that job resumes from the newest checkpoint
    the first one left, within an epoch if that is where it was."""
    run = interrupted_run
    assert run.timed_out is not None, (
        "the training job ended before its time limit was lowered:\n" + run.output[-3000:]
    )
    assert run.returncode == 0, failure_report(run.workdir, run.command, run.returncode, run.output)

    attempts = attempts_of(slurm_cluster, run, run.timed_out)
    assert [job.state for job in attempts] == ["TIMEOUT", "COMPLETED"], attempts
    assert attempts[1].job_id > run.timed_out.job_id == attempts[0].job_id
    assert f"SLURM-job '{run.timed_out.job_id}' failed, SLURM status is: 'TIMEOUT'" in run.output
    slurm_log = next(run.workdir.glob(f".snakemake/slurm_logs/**/{run.timed_out.job_id}.log"))
    assert "DUE TO TIME LIMIT" in slurm_log.read_text(), slurm_log

    info = assert_trained_every_epoch_once(run.workdir, TIMED_OUT_CELL)
    epoch = int(run.left[len("epoch") :].split("-")[0])
    assert info["epochs_restored_from_backup"] == epoch, (info, run.left)
    log = run.workdir / TIMED_OUT_CELL.replace("results/", "logs/", 1) / "train.log"
    log = log.read_text()
    assert f"resuming from checkpoint {run.left}" in log, log[-3000:]
    # The epochs before the checkpoint were not trained again: their rows are the checkpoint's.
    final = history_rows(run.workdir / TIMED_OUT_CELL / "history.csv")
    assert len(run.left_history) == epoch and final[:epoch] == run.left_history
    assert not (run.workdir / TIMED_OUT_SCRATCH).exists(), "the finished job removes its backup"
