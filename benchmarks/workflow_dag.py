"""The whole workflow, timed on each Keras backend: one full run of the DAG (wall time, per
rule, training speed), then a figure-only change (a new dpi in an overlay, and a touched
plotting module) and which jobs it reruns. The goal: no training or evaluation job reruns for a
figure.

Each backend (`--backends`, default both) runs the DAG from scratch in a folder of its own, one
after the other; an overlay `training: {backend: jax}` selects JAX, as a user would.

The run happens in a scratch folder on a copy of the workflow (Snakefile, rules, scripts,
cnnlab, config, ...), so touching a plotting module there disturbs nothing else; the copy's
`cnnlab` is the one its scripts import (PYTHONPATH).

    python -m benchmarks.workflow_dag                                  # demo.yaml, --cores 2, both backends
    python -m benchmarks.workflow_dag --backends jax --no-figure-change

With --timeout the run is stopped after that many seconds and the JSON still records every job
that finished, so a run cut short on a GPU lease still yields per-stage times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

from benchmarks.harness import (
    BACKENDS,
    REPO,
    Stopwatch,
    argument_parser,
    machine,
    print_table,
    scratch_folder,
    write_results,
)

NAME = "workflow_dag"
# What a run of the workflow needs; tests, benchmarks and results stay behind.
WORKFLOW_PARTS = [
    "Snakefile",
    "config.yaml",
    "rules",
    "scripts",
    "cnnlab",
    "schemas",
    "report",
    "envs",
    "profiles",
]
# A figure-only change touches this module, an input of every figure rule and of nothing else.
PLOTTING_MODULE = Path("cnnlab/plots.py")


def copy_workflow(target: Path, configfiles: list[Path]) -> list[Path]:
    """Copy the workflow and the configfiles into `target`; returns the copies' configfiles.

    Both runs then read the very same code and config, whatever changes in the repository
    meanwhile.
    """
    target.mkdir(parents=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / part)
    copies = []
    for index, configfile in enumerate(configfiles):
        copies.append(target / f"overlay{index}-{configfile.name}")
        shutil.copy2(configfile, copies[-1])
    return copies


def run_snakemake(
    workflow: Path,
    rundir: Path,
    configfiles: list[Path],
    cores: str,
    extra_args: list[str],
    log_path: Path,
    timeout: float | None,
) -> dict:
    """Run the copied workflow once; its output goes to `log_path`. Returns the return code,
    the wall time, whether the timeout stopped it, and the job counts Snakemake planned."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(workflow / "Snakefile"),
        "--directory",
        str(rundir),
        "--cores",
        cores,
        "--configfile",
        *map(str, configfiles),
        *extra_args,
    ]
    env = {**os.environ, "PYTHONPATH": str(workflow), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log, Stopwatch() as watch:
        # Its own process group, so a timeout stops Snakemake and every job it started.
        process = subprocess.Popen(
            command,
            cwd=rundir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = log_path.read_text(errors="replace")
    return {
        "command": " ".join(command),
        "returncode": process.returncode,
        "timed_out": timed_out,
        "seconds": watch.seconds,
        "planned_jobs": planned_jobs(output),
    }


def planned_jobs(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table (rule -> number of jobs), from a run's output."""
    match = re.search(r"Job stats:\njob\s+count\n[-\s]+\n(.*?)\n\s*total\s+\d+", output, re.S)
    if not match:
        return {}
    return {
        rule: int(count) for rule, count in re.findall(r"^(\S+)\s+(\d+)$", match.group(1), re.M)
    }


def finished_jobs(rundir: Path, since: float) -> list[dict]:
    """Every job that started after `since` (epoch seconds) and finished, from Snakemake's
    metadata: one record per output, holding the job's rule and hash, the time the output was
    marked incomplete (the job's start) and its time stamp (the job's end)."""
    spans = {}
    for path in (rundir / ".snakemake" / "metadata").rglob("*"):
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # a record being written when the run was stopped
        if record.get("incomplete") or not record.get("starttime") or record["starttime"] < since:
            continue
        key = (record["rule"], record["job_hash"])
        start, end = spans.get(key, (record["starttime"], record["endtime"]))
        spans[key] = (min(start, record["starttime"]), max(end, record["endtime"]))
    return sorted(
        (
            {"rule": rule, "start": start - since, "seconds": end - start}
            for (rule, _), (start, end) in spans.items()
        ),
        key=lambda job: job["start"],
    )


def per_rule(jobs: list[dict]) -> list[dict]:
    """Jobs, seconds summed and longest job, per rule, in order of first start."""
    rules = defaultdict(list)
    for job in jobs:
        rules[job["rule"]].append(job)
    return [
        {
            "rule": rule,
            "jobs": len(group),
            "first start (s)": group[0]["start"],
            "sum of job seconds": sum(job["seconds"] for job in group),
            "longest job (s)": max(job["seconds"] for job in group),
        }
        for rule, group in rules.items()
    ]


def training_speed(rundir: Path) -> list[dict]:
    """Per trained model, from its train.json: training images per second over the whole job
    (model building, data loading and validation passes included)."""
    rows = []
    for info_path in sorted((rundir / "results").rglob("train.json")):
        info = json.loads(info_path.read_text())
        processed = info["n_train"] * info["epochs_run"]
        rows.append(
            {
                "model": str(info_path.parent.relative_to(rundir / "results")),
                "device": info["device"],
                "training images": info["n_train"],
                "epochs": info["epochs_run"],
                "job seconds": info["wall_time_seconds"],
                "images/s": processed / info["wall_time_seconds"],
            }
        )
    return rows


def figure_dpi(workflow: Path, configfiles: list[Path]) -> int:
    """figures.dpi as the workflow's config.yaml and the configfiles set it (the last one wins)."""
    dpi = None
    for path in [workflow / "config.yaml", *configfiles]:
        with open(path) as handle:
            dpi = ((yaml.safe_load(handle) or {}).get("figures") or {}).get("dpi", dpi)
    return dpi


def time_backend(
    workdir: Path,
    workflow: Path,
    configfiles: list[Path],
    backend: str,
    args,
    extra_args: list[str],
) -> dict:
    """The full run, then the figure-only change, of the DAG on one backend, in workdir/<backend>."""
    folder = workdir / backend
    rundir = folder / "run"
    rundir.mkdir(parents=True)
    backend_overlay = folder / "backend.yaml"
    backend_overlay.write_text(f"training: {{backend: {backend}}}\n")
    configfiles = [*configfiles, backend_overlay]
    # Per backend: the backends run minutes apart, and a shared machine's load moves meanwhile.
    load_before = [round(load, 2) for load in os.getloadavg()]
    started = time.time()
    full = run_snakemake(
        workflow, rundir, configfiles, args.cores, extra_args, folder / "full_run.log", args.timeout
    )
    full_jobs = finished_jobs(rundir, started)
    results = {
        "full_run": {
            **full,
            "jobs": full_jobs,
            "load_average_before": load_before,
            "load_average_after": [round(load, 2) for load in os.getloadavg()],
        },
        "training": training_speed(rundir),
    }
    print_table(
        f"{backend}: full run {full['seconds']:.0f} s wall, return code {full['returncode']}"
        f"{' (stopped by the timeout)' if full['timed_out'] else ''}, "
        f"{len(full_jobs)} jobs finished, --cores {args.cores}",
        per_rule(full_jobs),
        ["rule", "jobs", "first start (s)", "sum of job seconds", "longest job (s)"],
    )
    if results["training"]:
        print_table(
            f"{backend}: training jobs (from train.json)",
            results["training"],
            list(results["training"][0]),
        )
    if full["returncode"] != 0:
        print(
            f"\nthe full run failed; its output: {folder / 'full_run.log'}"
            + ("" if args.workdir else " (rerun with --workdir to keep it)")
        )
        print(full_run_tail(folder / "full_run.log"))

    if args.figure_change and full["returncode"] == 0:
        dpi = figure_dpi(workflow, configfiles) + 1
        overlay = folder / "figure_change.yaml"
        overlay.write_text(f"figures: {{dpi: {dpi}}}\n")
        (workflow / PLOTTING_MODULE).touch()
        started = time.time()
        change = run_snakemake(
            workflow,
            rundir,
            [*configfiles, overlay],
            args.cores,
            extra_args,
            folder / "figure_change.log",
            args.timeout,
        )
        rerun = change["planned_jobs"]
        retrained = sorted(
            rule for rule in rerun if rule.startswith(("train_", "evaluate", "select_best"))
        )
        results["figure_change"] = {
            **change,
            "change": f"figures.dpi -> {dpi}; touched {PLOTTING_MODULE}",
            "jobs": finished_jobs(rundir, started),
            "training_or_evaluation_rules_rerun": retrained,
        }
        print_table(
            f"{backend}: after a figure-only change (dpi {dpi}, touched {PLOTTING_MODULE}): "
            f"{change['seconds']:.0f} s wall, return code {change['returncode']}",
            [{"rule": rule, "jobs": count} for rule, count in rerun.items()],
            ["rule", "jobs"],
        )
        print("training or evaluation jobs rerun:", ", ".join(retrained) or "none")
    return results


def main(argv=None):
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    parser.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[REPO / "demo.yaml"],
        help="overlays on config.yaml, as for snakemake --configfile",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="Keras backends to run the DAG on, one after the other",
    )
    parser.add_argument("--cores", default="2")
    parser.add_argument(
        "--timeout", type=float, default=None, help="stop each full run after this many seconds"
    )
    parser.add_argument(
        "--no-figure-change",
        dest="figure_change",
        action="store_false",
        help="time the full run only",
    )
    parser.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="after --: more arguments for snakemake, e.g. -- --resources gpu=4",
    )
    args = parser.parse_args(argv)
    before = machine()
    with scratch_folder(args.workdir) as workdir:
        workflow = workdir / "workflow"
        configfiles = copy_workflow(workflow, [path.resolve() for path in args.configfile])
        # argparse keeps the "--" that separates snakemake's arguments.
        extra_args = [arg for arg in args.snakemake_args if arg != "--"]
        results = {
            backend: time_backend(workdir, workflow, configfiles, backend, args, extra_args)
            for backend in args.backends
        }
    summary = [
        {
            "backend": backend,
            "full run (s)": result["full_run"]["seconds"],
            "1-min load before, after": f"{result['full_run']['load_average_before'][0]}, "
            f"{result['full_run']['load_average_after'][0]}",
            "jobs finished": len(result["full_run"]["jobs"]),
            "figure change (s)": result.get("figure_change", {}).get("seconds"),
            "training or evaluation rerun": ", ".join(
                result.get("figure_change", {}).get("training_or_evaluation_rules_rerun", [])
            )
            or "none",
        }
        for backend, result in results.items()
    ]
    print_table(f"The DAG per backend, --cores {args.cores}", summary, list(summary[0]))
    write_results(args.output, NAME, args, before, {"summary": summary, "backends": results})
    failed = any(
        (result["full_run"]["returncode"] != 0 and not result["full_run"]["timed_out"])
        or result.get("figure_change", {}).get("returncode", 0) != 0
        for result in results.values()
    )
    sys.exit(1 if failed else 0)


def full_run_tail(log_path: Path, characters: int = 4000) -> str:
    return log_path.read_text(errors="replace")[-characters:]


if __name__ == "__main__":
    main()
