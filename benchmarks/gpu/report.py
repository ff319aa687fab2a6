"""The GPU run's report, from its Snakemake working folder: wall time per job, and per trained
model images per second and achieved TFLOP/s.

* jobs: every finished job's start and wall time, from Snakemake's metadata (as
  `benchmarks.workflow_dag` reads it), so a run stopped by its timeout still reports what it did;
* training: each model's train.json (examples, epochs run, the training job's own wall time,
  device, runtime) and the job's benchmark.tsv (the whole job: Python, imports, data, saving);
* FLOPs: the training FLOPs `benchmarks.fullscale_compute` counted for the full-scale sizes
  (fullscale_flops.json, beside this file). A model gets them only where its train.json matches
  the counted job (examples, epochs, width); TFLOP/s is then FLOPs over the training job's wall
  time, start-up and compilation included: what the run achieved, not the peak of a kernel.
* Rates count only the epochs the reporting process trained: a job resumed from its backup
  (`epochs_restored_from_backup` in train.json) restored the others, and its wall time is this
  process's alone. A rate measured while other Keras jobs ran (the time spans in Snakemake's
  metadata overlap) shared the card with them: the row says so ("card shared with").

Nothing here imports Keras or TensorFlow: it runs on the GPU machine after the workflow.

    python -m benchmarks.gpu.report --run-dir results/gpu_run/workdir --out results/gpu_run/report
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import re
from pathlib import Path

from benchmarks.harness import machine
from benchmarks.workflow_dag import finished_jobs, per_rule

FLOPS_FILE = Path(__file__).with_name("fullscale_flops.json")
# The rules whose jobs run Keras, so on the GPU: a training rate measured beside one of them was
# measured on a shared card.
KERAS_RULES = {"train", "evaluate", "plot_activations", "plot_filters", "plot_augmentation_samples"}


def progress(snakemake_log: Path) -> str | None:
    """Snakemake's last "k of n steps (p%) done" line, e.g. "41 of 53 steps (77%) done"."""
    if not snakemake_log.exists():
        return None
    done = re.findall(r"\d+ of \d+ steps \(\d+%\) done", snakemake_log.read_text(errors="replace"))
    return done[-1] if done else None


def job_seconds(benchmark_tsv: Path) -> float | None:
    """The `s` column of a Snakemake benchmark file: the job's wall time."""
    if not benchmark_tsv.exists():
        return None
    with open(benchmark_tsv) as handle:
        return float(next(csv.DictReader(handle, delimiter="\t"))["s"])


def counted_flops(info: dict, model: str, counts: list[dict]) -> float | None:
    """The training FLOPs counted for this model's job, or None where its sizes differ."""
    for job in counts:
        if (
            job["model"] == model
            and job["n_train"] == info["n_train"]
            and job["n_val"] == info["n_val"]
            and job["epochs"] == info["epochs_run"]
            and job["filters"] in (None, info["hyperparameters"].get("filters"))
        ):
            return job["training_FLOP"]
    return None


def job_records(run_dir: Path) -> dict[str, dict]:
    """Snakemake's metadata record of every finished output, by the output's path: each file of
    .snakemake/metadata is named by the output's path in URL-safe base64 (long names split into
    folders, every part but the last starting with '@')."""
    records = {}
    metadata = run_dir / ".snakemake" / "metadata"
    for path in metadata.rglob("*"):
        if not path.is_file():
            continue
        try:
            output = base64.urlsafe_b64decode(
                "".join(part.removeprefix("@") for part in path.relative_to(metadata).parts)
            ).decode()
            record = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue  # not a record, or one being written when the run was stopped
        if not record.get("incomplete") and record.get("starttime"):
            records[output] = record
    return records


def sharing_jobs(own: dict | None, records: dict[str, dict]) -> int | None:
    """How many other Keras jobs ran while the job of record `own` did (None: no record)."""
    if own is None:
        return None
    others = {
        record["job_hash"]
        for record in records.values()
        if record["rule"] in KERAS_RULES
        and record["job_hash"] != own["job_hash"]
        and record["starttime"] < own["endtime"]
        and own["starttime"] < record["endtime"]
    }
    return len(others)


def training_rows(
    results_dir: Path, counts: list[dict], records: dict[str, dict] | None = None
) -> list[dict]:
    records = {} if records is None else records
    rows = []
    for info_path in sorted(results_dir.rglob("train.json")):
        info = json.loads(info_path.read_text())
        run = info_path.parent.relative_to(results_dir).as_posix()
        # A run is <model>/seed<n>; the FLOPs are counted per model, the same for every seed.
        flops = counted_flops(info, re.sub(r"/seed\d+$", "", run), counts)
        seconds = info["wall_time_seconds"]
        # A resumed job restored some epochs from its backup; its wall time covers the rest.
        epochs_here = info["epochs_run"] - info.get("epochs_restored_from_backup", 0)
        flops_here = None if flops is None else flops * epochs_here / info["epochs_run"]
        own = records.get(f"{results_dir.name}/{run}/train.json")
        rows.append(
            {
                "model": run,
                "device": info["device"],
                "backend": info["runtime"]["backend"],
                "precision": info["runtime"]["mixed_precision"],
                "training images": info["n_train"],
                "epochs": info["epochs_run"],
                "epochs trained here": epochs_here,
                "job seconds": job_seconds(info_path.with_name("benchmark.tsv")),
                "training seconds": seconds,
                "images/s": info["n_train"] * epochs_here / seconds,
                "TFLOP": None if flops_here is None else flops_here / 1e12,
                "TFLOP/s": None if flops_here is None else flops_here / seconds / 1e12,
                "card shared with": sharing_jobs(own, records),
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=list(rows[0]) if rows else ["none"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"

    def cell(value):
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return "" if value is None else str(value)

    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[column]) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def build_report(run_dir: Path, snakemake_log: Path, out: Path) -> dict:
    """Write jobs.csv, training.csv, report.md and report.json into `out`; return the JSON."""
    counts = json.loads(FLOPS_FILE.read_text())["jobs"]
    jobs = finished_jobs(run_dir, since=0)
    training = training_rows(run_dir / "results", counts, job_records(run_dir))
    with_flops = [row for row in training if row["TFLOP"] is not None]
    summary = {
        "progress": progress(snakemake_log),
        "jobs finished": len(jobs),
        "first job start to last job end (s)": max(
            (job["start"] + job["seconds"] for job in jobs), default=0
        )
        - min((job["start"] for job in jobs), default=0),
        "models with counted FLOPs": len(with_flops),
        "their TFLOP": sum(row["TFLOP"] for row in with_flops) if with_flops else None,
        "their training seconds": sum(row["training seconds"] for row in with_flops)
        if with_flops
        else None,
    }
    start = min((job["start"] for job in jobs), default=0)
    jobs = [{**job, "start": job["start"] - start} for job in jobs]
    report = {
        "machine": machine(),
        "summary": summary,
        "rules": per_rule(jobs),
        "jobs": jobs,
        "training": training,
    }

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "jobs.csv", jobs)
    write_csv(out / "training.csv", training)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.md").write_text(
        f"# GPU run: {', '.join(report['machine']['gpus']) or 'no GPU'}\n\n"
        + markdown_table([summary])
        + "\n## Per rule\n\n"
        + markdown_table(report["rules"])
        + "\n## Trained models\n\n"
        + markdown_table(training)
        + "\nRates count the epochs trained by the job that wrote train.json (a resumed job restored"
        ' the others). "card shared with": how many other Keras jobs ran meanwhile; where it is'
        " above 0, the rate is not the card's alone.\n"
    )
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--run-dir", type=Path, required=True, help="Snakemake's --directory of the run"
    )
    parser.add_argument("--snakemake-log", type=Path, default=Path("/dev/null"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    report = build_report(args.run_dir, args.snakemake_log, args.out)
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out}: jobs.csv, training.csv, report.md, report.json")
    return report


if __name__ == "__main__":
    main()
