"""How long a run will take, before it starts, from a finished run's measurements.

    python -m cnnlab.estimate --measured results --configfile smoke.yaml     # redo the smoke run
    python -m cnnlab.estimate --measured results                              # config.yaml: the full run
    python -m cnnlab.estimate --measured results --cores 8 --slurm-margin 2   # more cores; SLURM asks

The planned run is the workflow's own DAG for the config given (Snakemake builds it, nothing
runs): every job with its rule, threads, priority, dependencies and, for training, its epochs
and batch size. Each job's time comes from the measured run's `resources.csv`
(`cnnlab.resources`): a training job costs what it took, plus a later epoch's time for each
epoch planned beyond those it ran (its start-up and first epoch are paid once); any other job
costs what it cost. The run's wall time for
`--cores N` is a simulation of the DAG on N cores, longest path first. For SLURM it prints each
rule's `runtime` and `mem_mb` with a margin, as a profile fragment to copy.

What it cannot know, and says: another machine (other CPU, any GPU), other data sizes or batch
sizes, other threads per job, and jobs the measured run did not have.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.resources import format_seconds, job_row, read_resources, wildcards_label

REPO = Path(__file__).resolve().parents[1]


@dataclass
class PlannedJob:
    """One job of the run to estimate, as Snakemake planned it."""

    rule: str
    wildcards: dict
    threads: int
    priority: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    dependencies: list[int] = field(default_factory=list)  # indices into the plan
    benchmark: str | None = None  # its benchmark file, relative to the run's folder
    history: str | None = None  # a training job's history.csv, likewise

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, wildcards_label(self.wildcards)


@dataclass
class JobEstimate:
    seconds: float | None  # None: nothing measured to go by
    basis: str  # what the number comes from, in words
    notes: list[str] = field(default_factory=list)


def plan(
    configfiles: list[Path], cores: int, snakefile: Path = REPO / "Snakefile"
) -> list[PlannedJob]:
    """Every job of the workflow's DAG for `configfiles` (over config.yaml) on `cores` cores, as
    a dry run of the whole DAG builds it (`--forceall`), in a scratch folder: what is already in
    results/ does not matter. Uses Snakemake's Python API; its DAG object is not a public
    interface, so tests/test_estimate.py plans the demo to catch a Snakemake upgrade that moves it."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        StorageSettings,
    )

    with (
        tempfile.TemporaryDirectory() as workdir,
        SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api,
    ):
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=cores),
            config_settings=ConfigSettings(
                configfiles=[Path(path).resolve() for path in configfiles]
            ),
            storage_settings=StorageSettings(),
            snakefile=Path(snakefile).resolve(),
            workdir=Path(workdir),
        )
        workflow = workflow_api.dag(dag_settings=DAGSettings(forceall=True)).workflow_api._workflow
        workflow._prepare_dag(
            forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True
        )
        workflow._build_dag()
        dag = workflow.dag
        jobs = [job for job in dag.jobs if job.rule.name != "all"]
        index = {job: position for position, job in enumerate(jobs)}
        planned = []
        for job in jobs:
            settings = job.params.get("settings") if job.rule.name == "train" else None
            planned.append(
                PlannedJob(
                    rule=job.rule.name,
                    wildcards=dict(job.wildcards_dict),
                    threads=min(int(job.threads), cores),
                    priority=int(job.rule.priority),
                    epochs=settings["epochs"] if settings else None,
                    batch_size=settings.get("batch_size") if settings else None,
                    dependencies=sorted(
                        index[dep] for dep in dag.dependencies[job] if dep in index
                    ),
                    benchmark=str(job.benchmark) if job.benchmark else None,
                    history=str(job.output.history) if job.rule.name == "train" else None,
                )
            )
        return planned


def _without_seed(wildcards: str) -> str:
    return " ".join(part for part in wildcards.split() if not part.startswith("seed="))


def _same_compute(wildcards: str) -> str:
    """A grid cell's key with its learning rate left out: cells of the same width cost the same."""
    parts = []
    for part in wildcards.split():
        if part.startswith("seed="):
            continue
        if part.startswith("model=basic/lr") and "_f" in part:
            part = "model=basic/f" + part.rsplit("_f", 1)[1]
        parts.append(part)
    return " ".join(parts)


class Measurements:
    """A run's measurements, looked up by job, and its training jobs' batch sizes: its
    resources.csv, or for a run stopped before its last job wrote that (a GPU lease ran out),
    the benchmark files and histories of `planned` jobs that finished there."""

    def __init__(self, results: Path, planned: list[PlannedJob] | None = None):
        self.results = Path(results)
        path = self.results / "resources.csv"
        if path.exists():
            rows = read_resources(path)
        elif planned and any(
            (self.results.parent / job.benchmark).exists() for job in planned if job.benchmark
        ):
            run_folder = self.results.parent
            rows = [
                job_row(
                    job.rule,
                    job.wildcards,
                    job.threads,
                    str(run_folder / job.benchmark),
                    job.history and str(run_folder / job.history),
                )
                for job in planned
                if job.benchmark
            ]
        else:
            raise FileNotFoundError(
                f"{path} does not exist: finish a run first (snakemake --cores all ..., whose "
                "last job writes it), or name its results folder with --measured"
            )
        self.rows = [row for row in rows if row["wall_s"] is not None]
        self.by_key = {(row["rule"], row["wildcards"]): row for row in self.rows}

    def batch_size(self, row: dict) -> int | None:
        """The batch size the measured training job ran with (its train.json)."""
        wildcards = dict(part.split("=", 1) for part in row["wildcards"].split())
        info = (
            self.results
            / wildcards["dataset"]
            / wildcards["model"]
            / f"seed{wildcards['seed']}"
            / "train.json"
        )
        if not info.exists():
            return None
        return json.loads(info.read_text()).get("hyperparameters", {}).get("batch_size")

    def match(self, job: PlannedJob) -> tuple[dict | None, str]:
        """The measured row that best stands for `job`, and how it was chosen."""
        rule, wildcards = job.key
        if (rule, wildcards) in self.by_key:
            return self.by_key[rule, wildcards], "measured"
        for describe, reduce in (
            ("the same model, another seed", _without_seed),
            ("a grid cell of the same width", _same_compute),
        ):
            for row in self.rows:
                if row["rule"] == rule and reduce(row["wildcards"]) == reduce(wildcards):
                    return row, describe
        return None, "not measured"

    def rule_median(self, rule: str) -> float | None:
        walls = [row["wall_s"] for row in self.rows if row["rule"] == rule]
        return statistics.median(walls) if walls else None


def estimate_job(
    job: PlannedJob, measurements: Measurements, gpu_epoch_seconds: dict | None = None
) -> JobEstimate:
    """A job's expected wall time: for training, the measured job's time with its epochs scaled
    to the planned ones; for any other job, what it took.

    `gpu_epoch_seconds` ("<dataset>/<model>" -> seconds an epoch takes on a GPU, from its FLOPs
    at an assumed rate: `gpu_epochs`) replaces a training job's measured epochs: the estimate is
    then the measured fixed part plus the planned epochs at that time."""
    row, basis = measurements.match(job)
    if row is None:
        if job.rule == "train":  # a model the measured run did not train: no guess
            return JobEstimate(None, "not measured: no such model in the measured run")
        median = measurements.rule_median(job.rule)
        if median is None:
            return JobEstimate(None, "not measured: the measured run has no job of this rule")
        return JobEstimate(median, "the median of the rule's measured jobs")
    notes = []
    if job.rule == "train" and row["seconds_per_epoch"] is not None and job.epochs is not None:
        measured_batch = measurements.batch_size(row)
        if (
            measured_batch is not None
            and job.batch_size is not None
            and measured_batch != job.batch_size
        ):
            notes.append(
                f"measured at batch size {measured_batch}, planned {job.batch_size}: the time "
                "per epoch does not carry over"
            )
        model = f"{job.wildcards.get('dataset')}/{job.wildcards.get('model')}"
        if gpu_epoch_seconds and model in gpu_epoch_seconds:
            seconds = (row["fixed_s"] or 0.0) + job.epochs * gpu_epoch_seconds[model]
            return JobEstimate(seconds, f"{basis} fixed part + FLOPs at the assumed rate", notes)
        # What the measured job took, plus (or less) the epochs planned beyond (or short of)
        # those it ran, each at a later epoch's time: start-up, compiling and the first epoch's
        # tracing are counted once, as they are paid once.
        seconds = row["wall_s"] + (job.epochs - row["epochs"]) * row["seconds_per_epoch"]
        return JobEstimate(seconds, basis, notes)
    return JobEstimate(row["wall_s"], basis, notes)


def gpu_epochs(flops_path: Path, tflops: float) -> dict[str, float]:
    """Seconds an epoch of each model takes at `tflops` sustained, from the FLOP counts of
    `python -m benchmarks.fullscale_compute` (benchmarks/gpu/fullscale_flops.json): an
    assumption about the GPU, not a measurement of it."""
    counts = json.loads(Path(flops_path).read_text())["jobs"]
    return {job["model"]: job["training_FLOP"] / job["epochs"] / (tflops * 1e12) for job in counts}


def critical_path(jobs: list[PlannedJob], seconds: list[float]) -> tuple[float, list[int]]:
    """The longest chain of dependent jobs (the least wall time any number of cores allows)."""
    finish, previous = {}, {}
    for position in _topological_order(jobs):
        before = max(jobs[position].dependencies, key=lambda dep: finish[dep], default=None)
        previous[position] = before
        finish[position] = (finish[before] if before is not None else 0.0) + seconds[position]
    end = max(finish, key=finish.get)
    chain = [end]
    while previous[chain[-1]] is not None:
        chain.append(previous[chain[-1]])
    return finish[end], chain[::-1]


def _topological_order(jobs: list[PlannedJob]) -> list[int]:
    order, done = [], set()

    def visit(position):
        if position in done:
            return
        done.add(position)
        for dep in jobs[position].dependencies:
            visit(dep)
        order.append(position)

    for position in range(len(jobs)):
        visit(position)
    return order


def simulate(jobs: list[PlannedJob], seconds: list[float], cores: int) -> float:
    """The wall time of the DAG on `cores` cores: whenever cores are free, start the ready job
    of highest priority, then of longest remaining path (as Snakemake's scheduler favours
    priority; the longest path first is what a good schedule does). A job takes its threads."""
    remaining_path = _remaining_path(jobs, seconds)
    waiting_on = {position: set(job.dependencies) for position, job in enumerate(jobs)}
    dependents = {position: [] for position in range(len(jobs))}
    for position, job in enumerate(jobs):
        for dep in job.dependencies:
            dependents[dep].append(position)
    ready = {position for position, deps in waiting_on.items() if not deps}
    running: list[tuple[float, int]] = []  # (finish time, job)
    now, free = 0.0, cores
    while ready or running:
        for position in sorted(ready, key=lambda p: (-jobs[p].priority, -remaining_path[p])):
            threads = min(jobs[position].threads, cores)
            if threads <= free:
                ready.discard(position)
                free -= threads
                running.append((now + seconds[position], position))
        running.sort()
        now, finished = running.pop(0)
        free += min(jobs[finished].threads, cores)
        for dependent in dependents[finished]:
            waiting_on[dependent].discard(finished)
            if not waiting_on[dependent]:
                ready.add(dependent)
    return now


def _remaining_path(jobs: list[PlannedJob], seconds: list[float]) -> dict[int, float]:
    """For each job, its time plus the longest chain of jobs that wait on it."""
    dependents = {position: [] for position in range(len(jobs))}
    for position, job in enumerate(jobs):
        for dep in job.dependencies:
            dependents[dep].append(position)
    remaining = {}
    for position in reversed(_topological_order(jobs)):
        remaining[position] = seconds[position] + max(
            (remaining[dependent] for dependent in dependents[position]), default=0.0
        )
    return remaining


def slurm_resources(
    jobs: list[PlannedJob], estimates: list[JobEstimate], measurements: Measurements, margin: float
) -> dict[str, dict[str, int]]:
    """Per rule, `runtime` (minutes) and `mem_mb` for profiles/slurm: the rule's largest
    estimated time and largest measured peak memory, times `margin`, rounded up (at least 10
    minutes and 1,000 MB: a scheduler's granularity, and room for a job's start-up)."""
    resources = {}
    for rule in sorted({job.rule for job in jobs}):
        times = [e.seconds for job, e in zip(jobs, estimates) if job.rule == rule and e.seconds]
        memories = [
            row["max_rss_mb"]
            for row in measurements.rows
            if row["rule"] == rule and row["max_rss_mb"]
        ]
        if not times:
            continue
        resources[rule] = {
            "runtime": max(10, math.ceil(max(times) * margin / 60)),
            "mem_mb": max(1000, math.ceil(max(memories, default=0) * margin / 500) * 500),
        }
    return resources


def slurm_fragment(resources: dict[str, dict[str, int]], margin: float, source: str) -> str:
    lines = [
        f"# From {source}, with a margin of {margin:g}x over each rule's largest job.",
        "# On a GPU node training runs far faster than these CPU figures: see docs/cluster.md.",
        "set-resources:",
    ]
    for rule, values in resources.items():
        lines += [
            f"  {rule}:",
            f"    runtime: {values['runtime']}",
            f"    mem_mb: {values['mem_mb']}",
        ]
    return "\n".join(lines) + "\n"


def job_name(job: PlannedJob) -> str:
    return " ".join(str(value) for _, value in sorted(job.wildcards.items())) or "-"


CANNOT_KNOW = (
    "What this estimate cannot know: it assumes the measured run's machine (another CPU, or any "
    "GPU, changes every number), its data and batch sizes (only epochs are scaled) and its "
    "threads per job; a job the measured run did not have is marked, not guessed. The CIFAR-10 "
    "variants and VGG16 stages take the width and rate of the grid's best cell, which a longer "
    "run may select differently (a 256-filter inception block costs about 4x a 128-filter one). "
    "On a busy machine jobs run slower than measured."
)


def report(
    jobs: list[PlannedJob],
    estimates: list[JobEstimate],
    cores: int,
    checked: dict | None = None,
) -> str:
    """The printed estimate: one line per job, then the totals and the wall time on `cores`."""
    lines = []
    header = f"{'rule':<26} {'job':<44} {'thr':>3} {'epochs':>6} {'estimate':>12}  basis"
    if checked is not None:
        header += "  | actual, ratio"
    lines.append(header)
    for job, estimate in sorted(
        zip(jobs, estimates), key=lambda pair: (pair[0].rule, job_name(pair[0]))
    ):
        line = (
            f"{job.rule:<26} {job_name(job):<44} {job.threads:>3} {job.epochs or '':>6} "
            f"{format_seconds(estimate.seconds):>12}  {estimate.basis}"
        )
        if checked is not None:
            actual = checked.get(job.key)
            if actual and estimate.seconds:
                line += f"  | {format_seconds(actual)}, {estimate.seconds / actual:.2f}x"
        lines.append(line)
        lines += [f"{'':<30}note: {note}" for note in estimate.notes]
    seconds = [estimate.seconds or 0.0 for estimate in estimates]
    unknown = sum(estimate.seconds is None for estimate in estimates)
    total_core_seconds = sum(s * job.threads for s, job in zip(seconds, jobs))
    path, _ = critical_path(jobs, seconds)
    wall = simulate(jobs, seconds, cores)
    lines += [
        "",
        f"{len(jobs)} jobs; {format_seconds(sum(seconds))} of job time "
        f"({format_seconds(total_core_seconds)} of cores x time)"
        + (f"; {unknown} job(s) not measured, counted as 0" if unknown else ""),
        f"critical path (the least wall time, on any number of cores): {format_seconds(path)}",
        f"expected wall time with --cores {cores}: {format_seconds(wall)}",
    ]
    if checked is not None:
        pairs = [
            (e.seconds, checked[job.key])
            for job, e in zip(jobs, estimates)
            if job.key in checked and e.seconds
        ]
        if pairs:
            estimated, actual = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
            ratios = [p[0] / p[1] for p in pairs if p[1] > 0]
            lines.append(
                f"check against the measured run: {len(pairs)} jobs, estimated {format_seconds(estimated)} "
                f"against {format_seconds(actual)} of job time ({estimated / actual - 1:+.0%}); "
                f"per job, estimate / actual from {min(ratios):.2f}x to {max(ratios):.2f}x"
            )
    lines += ["", CANNOT_KNOW]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.estimate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--measured",
        type=Path,
        default=Path("results"),
        help="the results folder of a finished run (its resources.csv)",
    )
    parser.add_argument(
        "--configfile",
        type=Path,
        nargs="*",
        default=[],
        help="the overlays of the run to estimate, over config.yaml (none: config.yaml)",
    )
    parser.add_argument("--cores", type=int, default=2, help="the --cores of the run to estimate")
    parser.add_argument(
        "--slurm-margin",
        type=float,
        default=1.5,
        help="SLURM asks for this many times each rule's largest job",
    )
    parser.add_argument(
        "--check",
        type=Path,
        default=None,
        help="a results folder of the estimated run, once it has run: each job's "
        "estimate beside what it took",
    )
    parser.add_argument(
        "--gpu-tflops",
        type=float,
        default=None,
        help="estimate a GPU run: training epochs take their FLOPs (--flops) at this sustained "
        "rate, the rest what was measured (an assumption, not a measurement)",
    )
    parser.add_argument(
        "--flops",
        type=Path,
        default=REPO / "benchmarks" / "gpu" / "fullscale_flops.json",
        help="each training job's FLOPs (python -m benchmarks.fullscale_compute)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args(argv)
    if args.cores < 1 or not args.slurm_margin >= 1:
        parser.error("--cores must be at least 1 and --slurm-margin at least 1")

    if not args.measured.is_dir():
        print(
            f"error: {args.measured} is not a folder: name the results folder of a finished run",
            file=sys.stderr,
        )
        return 2
    jobs = plan(args.configfile, args.cores)
    try:
        measurements = Measurements(args.measured, jobs)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    per_gpu_epoch = gpu_epochs(args.flops, args.gpu_tflops) if args.gpu_tflops else None
    estimates = [estimate_job(job, measurements, per_gpu_epoch) for job in jobs]
    checked = None
    if args.check is not None:
        checked = {key: row["wall_s"] for key, row in Measurements(args.check).by_key.items()}
    config_name = " + ".join(["config.yaml", *map(str, args.configfile)])
    where = f"the measurements in {args.measured}"
    if args.gpu_tflops:
        where += f", training epochs at {args.gpu_tflops:g} TFLOP/s (assumed) from {args.flops}"
    print(f"Estimate of the run of {config_name} on --cores {args.cores}, from {where}\n")
    print(report(jobs, estimates, args.cores, checked))
    resources = slurm_resources(jobs, estimates, measurements, args.slurm_margin)
    print("\nFor profiles/slurm (copy into its config.yaml):\n")
    print(slurm_fragment(resources, args.slurm_margin, where))
    if args.json:
        seconds = [e.seconds or 0.0 for e in estimates]
        args.json.write_text(
            json.dumps(
                {
                    "jobs": [
                        {
                            "rule": job.rule,
                            "wildcards": job.wildcards,
                            "threads": job.threads,
                            "epochs": job.epochs,
                            "estimate_s": e.seconds,
                            "basis": e.basis,
                            "notes": e.notes,
                            "actual_s": (checked or {}).get(job.key),
                        }
                        for job, e in zip(jobs, estimates)
                    ],
                    "cores": args.cores,
                    "critical_path_s": critical_path(jobs, seconds)[0],
                    "wall_s": simulate(jobs, seconds, args.cores),
                    "slurm": resources,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
