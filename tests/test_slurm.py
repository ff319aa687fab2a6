"""The workflow on a real one-node SLURM cluster, through profiles/slurm (docs/cluster.md).

The cluster (tests/slurm_cluster.py) needs root, and Debian's slurm-wlm and munge, which it
installs with apt when missing. Where that is impossible the cluster tests skip and say why,
except under CI=true: there they must run, so they fail instead.

One run of the demo DAG (one epoch per model) on the cluster feeds every cluster test. In it the
first training job fails once on purpose (CNNLAB_TEST_FAIL_ONCE), and the run must still finish.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import DEMO_CONFIG, REPO, run_snakemake
from slurm_cluster import (
    NODE_GPUS,
    SlurmJob,
    SlurmUnavailable,
    ensure_installed,
    start_cluster,
)

from cnnlab.training.test_switches import FAIL_ONCE

PROFILE = REPO / "profiles" / "slurm"
ONE_EPOCH = Path(__file__).parent / "slurm" / "one_epoch.yaml"
# Test overrides on top of the profile: a job limit this machine can take, small defaults for
# the jobs that are not training, quick status checks, and squeue to follow jobs with (the test
# cluster has no accounting database). SLURM job logs are kept: the failed attempt shows there.
SLURM_TEST_OPTIONS = (
    "--workflow-profile", str(PROFILE),
    "--jobs", "4",
    "--default-resources", "runtime=15", "mem_mb=1000",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
    "--slurm-keep-successful-logs",
)
# A run that hangs (a status query that never sees its jobs) gets SIGTERM, so Snakemake cancels
# its jobs and prints where it was, then SIGKILL.
RUN_LIMIT_SECONDS = 1200
TIMEOUT = ("timeout", "--kill-after=30", str(RUN_LIMIT_SECONDS))
DOWNLOAD_RULES = {"download_petimages", "download_cifar10"}


def training_rules() -> set[str]:
    """The rules profiles/slurm gives a GPU."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    return {rule for rule, resources in profile["set-resources"].items() if resources.get("gpu")}


@pytest.mark.workflow
def test_slurm_profile_gives_every_training_job_a_gpu(tmp_path):
    """Without a cluster: the profile applies, and every job that trains a model (writes a
    train.json) asks for one GPU and CPUs per GPU, nothing else does."""
    result = run_snakemake(
        tmp_path, "--dry-run", "--workflow-profile", str(PROFILE), timeout=300
    )
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
    fail_once_marker: Path
    jobs: list[SlurmJob]  # the controller's record of the run's jobs


@pytest.fixture(scope="session")
def slurm_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    workdir = tmp_path_factory.mktemp("slurm-run")
    marker = tmp_path_factory.mktemp("fail-once") / "failed-once"
    result = run_snakemake(
        workdir,
        *SLURM_TEST_OPTIONS,
        configfiles=(DEMO_CONFIG, ONE_EPOCH),
        env={**slurm_cluster.environment(), FAIL_ONCE: str(marker)},
        wrapper=TIMEOUT,
        timeout=RUN_LIMIT_SECONDS + 60,
    )
    return SlurmRun(workdir, result.stdout, marker, slurm_cluster.jobs(workdir))


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
    # A SLURM job that failed was retried: its rule and wildcards completed later.
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
def test_slurm_run_writes_the_same_files_as_a_local_run(slurm_run, demo_run):
    assert result_files(slurm_run.workdir) == result_files(demo_run)


def result_files(workdir: Path) -> set[str]:
    results = workdir / "results"
    return {str(path.relative_to(results)) for path in results.rglob("*") if path.is_file()}


@pytest.mark.slurm
def test_training_job_that_fails_once_is_retried(slurm_run):
    assert slurm_run.fail_once_marker.exists(), "no training job saw the failure switch"
    # The failed attempt's traceback names the marker, in the SLURM log of the job it ran in
    # (.snakemake/slurm_logs/rule_<rule>/<wildcards>/<SLURM job id>.log). Snakemake 9 retries
    # a failed script inside the same SLURM job (the rule's `retries:` holds there too); a job
    # that SLURM itself ends comes back as a new SLURM job. Either way, that rule and those
    # wildcards must have completed in that SLURM job or a later one.
    jobs = {job.job_id: job for job in slurm_run.jobs}
    failed_in = [
        jobs[int(log.stem)]
        for log in (slurm_run.workdir / ".snakemake" / "slurm_logs").rglob("*.log")
        if str(slurm_run.fail_once_marker) in log.read_text(errors="replace")
    ]
    assert failed_in, "no SLURM job log shows the attempt that failed on purpose"
    for failed in failed_in:
        assert failed.rule in training_rules(), failed
        assert any(
            (job.rule, job.wildcards) == (failed.rule, failed.wildcards)
            and job.job_id >= failed.job_id
            and job.state == "COMPLETED"
            for job in slurm_run.jobs
        ), f"the training job that failed once never completed: {failed}"
