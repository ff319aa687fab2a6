"""The estimate checked against reality: measure a short run, estimate a longer one from it with
`python -m cnnlab.estimate`, run the longer one, and set each job's estimate beside what it took.

The short run is the longer one's config with every model's epochs cut to `--short-epochs`
(2 by default: the second epoch is what every further epoch costs; the first also traces and
compiles). Both run from scratch, one after the other, on a copy of the workflow
(`benchmarks.workflow_dag`'s), with the same `--cores`.

    python -m benchmarks.estimate_check                            # demo.yaml: ~10 min on 2 cores
    python -m benchmarks.estimate_check --configfile smoke.yaml    # hours: the full sizes
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from benchmarks.fullscale_compute import merged
from benchmarks.harness import (
    REPO,
    argument_parser,
    machine,
    print_table,
    scratch_folder,
    write_results,
)
from benchmarks.workflow_dag import copy_workflow, run_snakemake
from cnnlab import estimate

NAME = "estimate_check"


def merged_config(configfiles: list[Path]) -> dict:
    """config.yaml with the overlays laid over it, as Snakemake merges them."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in configfiles:
        config = merged(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def with_epochs(config: dict, epochs: int) -> dict:
    """An overlay that sets every model's epochs (grids, VGG16 stages and pretraining, CIFAR-10
    variants) to `epochs`, or to fewer where the config already has fewer."""
    overlay = {"catsdogs": {"basic": {}, "vgg16": {}}, "cifar10": {}}
    overlay["catsdogs"]["basic"]["epochs"] = min(epochs, config["catsdogs"]["basic"]["epochs"])
    for stage in ("pretraining", "frozen", "finetune", "augmented"):
        overlay["catsdogs"]["vgg16"][stage] = {
            "epochs": min(epochs, config["catsdogs"]["vgg16"][stage]["epochs"])
        }
    for model in ("basic", "inception", "residual"):
        overlay["cifar10"][model] = {"epochs": min(epochs, config["cifar10"][model]["epochs"])}
    return overlay


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    parser.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        default=[REPO / "demo.yaml"],
        help="the overlays of the longer run (over config.yaml)",
    )
    parser.add_argument(
        "--short-epochs", type=int, default=2, help="every model's epochs in the short run"
    )
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    before = machine()
    config = merged_config(args.configfile)

    with scratch_folder(args.workdir) as workdir:
        workflow = workdir / "workflow"
        long_configs = copy_workflow(workflow, [Path(path) for path in args.configfile])
        short_overlay = workflow / "short-epochs.yaml"
        short_overlay.write_text(yaml.safe_dump(with_epochs(config, args.short_epochs)))
        runs = {}
        for name, configfiles in (
            ("short", [*long_configs, short_overlay]),
            ("long", long_configs),
        ):
            rundir = workdir / name
            rundir.mkdir()
            runs[name] = run_snakemake(
                workflow,
                rundir,
                configfiles,
                str(args.cores),
                [],
                workdir / f"{name}.log",
                timeout=None,
            )
            if runs[name]["returncode"] != 0:
                raise SystemExit(f"the {name} run failed: see {workdir / f'{name}.log'}")

        jobs = estimate.plan(long_configs, args.cores, snakefile=workflow / "Snakefile")
        measured = estimate.Measurements(workdir / "short" / "results")
        estimates = [estimate.estimate_job(job, measured) for job in jobs]
        actual = {
            key: row["wall_s"]
            for key, row in estimate.Measurements(workdir / "long" / "results").by_key.items()
        }

    rows = []
    for job, guess in sorted(
        zip(jobs, estimates), key=lambda pair: (pair[0].rule, estimate.job_name(pair[0]))
    ):
        took = actual.get(job.key)
        if took is None or guess.seconds is None:
            continue  # the resources table's own job, which is written while it runs
        rows.append(
            {
                "rule": job.rule,
                "job": estimate.job_name(job),
                "epochs": job.epochs or "",
                "estimate_s": round(guess.seconds, 1),
                "actual_s": round(took, 1),
                "ratio": round(guess.seconds / took, 2),
            }
        )
    seconds = [guess.seconds or 0.0 for guess in estimates]
    totals = {
        "job_time_estimate_s": round(sum(row["estimate_s"] for row in rows), 1),
        "job_time_actual_s": round(sum(row["actual_s"] for row in rows), 1),
        "wall_estimate_s": round(estimate.simulate(jobs, seconds, args.cores), 1),
        "wall_actual_s": round(runs["long"]["seconds"], 1),
        "short_run_wall_s": round(runs["short"]["seconds"], 1),
        "worst_job_ratio": max((max(row["ratio"], 1 / row["ratio"]) for row in rows), default=None),
    }
    print_table(
        "Each job: estimated from the short run, and what it took",
        rows,
        ["rule", "job", "epochs", "estimate_s", "actual_s", "ratio"],
    )
    print(json.dumps(totals, indent=2))
    write_results(args.output, NAME, args, before, {"jobs": rows, "totals": totals, "runs": runs})


if __name__ == "__main__":
    main()
