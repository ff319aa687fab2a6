"""What each job of a run cost: `results/resources.csv`, one row per job, from Snakemake's
`benchmark:` files (wall time, CPU time, peak memory) and, for training jobs, the per-epoch
times in `history.csv`.

A training job's wall time splits into its epochs (each timed with its validation pass) and a
fixed part: starting Python and the backend, loading the arrays, building and compiling the
model, VGG16's frozen features, saving. `cnnlab.estimate` scales only the epochs to predict a
longer run, so both parts are columns here.
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
import statistics
from pathlib import Path

from cnnlab.summary import html_table_page, write_text

# (CSV column, what it holds). Times in seconds, memory in MiB (as Snakemake measures it).
COLUMNS = {
    "rule": "the Snakemake rule",
    "wildcards": "which of the rule's jobs (name=value ..., empty for a rule with one job)",
    "threads": "the threads Snakemake gave the job",
    "wall_s": "wall time of the whole job",
    "cpu_s": "CPU time of the job's processes (more than wall_s when threads work in parallel)",
    "max_rss_mb": "peak resident memory",
    "epochs": "epochs the job trained (training jobs)",
    "first_epoch_s": "the first epoch's wall time, with its validation pass (it also traces and "
    "compiles the steps)",
    "seconds_per_epoch": "the median wall time of the later epochs (of the first, if it was the "
    "only one): what each further epoch adds",
    "fixed_s": "wall_s less the epochs' time: start-up, loading, compiling, saving",
}


def read_benchmark(path: str | os.PathLike) -> dict | None:
    """Wall time, CPU time and peak memory from a Snakemake benchmark file (its last row when a
    job was benchmarked several times), or None where the job left no file (it has not run
    since benchmarks were written). Snakemake writes `NA` for what it could not measure, e.g.
    the memory of a job too short to sample: that value is None."""
    path = Path(path)
    if not path.exists():
        return None
    rows = list(csv.DictReader(io.StringIO(path.read_text()), delimiter="\t"))
    if not rows:
        raise ValueError(f"{path} has no measurement: delete it and rerun the job that writes it")

    def number(column):
        value = rows[-1].get(column)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    return {"wall_s": number("s"), "cpu_s": number("cpu_time"), "max_rss_mb": number("max_rss")}


def epoch_seconds(history_path: str | os.PathLike) -> list[float]:
    """Each epoch's wall time from a history.csv (empty for a history written before epochs
    were timed)."""
    with open(history_path, newline="") as handle:
        return [
            float(row["epoch_seconds"])
            for row in csv.DictReader(handle)
            if row.get("epoch_seconds") not in (None, "")
        ]


def wildcards_label(wildcards: dict) -> str:
    """A job's wildcards as one stable key: 'dataset=cifar10 model=inception seed=1337'."""
    return " ".join(f"{name}={value}" for name, value in sorted(wildcards.items()))


def job_row(rule: str, wildcards: dict, threads: int, benchmark: str, history: str | None) -> dict:
    """One job's row of resources.csv (measured values None where the job left no record)."""
    row = {"rule": rule, "wildcards": wildcards_label(wildcards), "threads": threads}
    row |= read_benchmark(benchmark) or {"wall_s": None, "cpu_s": None, "max_rss_mb": None}
    row |= {"epochs": None, "first_epoch_s": None, "seconds_per_epoch": None, "fixed_s": None}
    epochs = epoch_seconds(history) if history and Path(history).exists() else []
    if epochs:
        # The first epoch also traces and compiles the steps: what a further epoch adds is a
        # later one's time (the median, against a slow outlier).
        row["epochs"] = len(epochs)
        row["first_epoch_s"] = epochs[0]
        row["seconds_per_epoch"] = statistics.median(epochs[1:] or epochs)
        if row["wall_s"] is not None:
            row["fixed_s"] = max(0.0, row["wall_s"] - sum(epochs))
    return row


def read_resources(path: str | os.PathLike) -> list[dict]:
    """The rows of a resources.csv, numbers as numbers (None where empty)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [column for column in COLUMNS if rows and column not in rows[0]]
    if missing:
        raise ValueError(
            f"{path} lacks the column(s) {', '.join(missing)}: rerun its rule "
            "(snakemake --forcerun summarize_resources)"
        )
    for row in rows:
        for column in COLUMNS:
            if column not in ("rule", "wildcards"):
                value = row[column]
                row[column] = None if value == "" else float(value)
    return rows


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_text(row[column]) for column in COLUMNS])
    return out.getvalue()


def format_seconds(seconds: float | None) -> str:
    """'42 s', '12.5 min', '3.2 h': a duration as a reader plans with it."""
    if seconds is None:
        return "not measured"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def to_html(rows: list[dict]) -> str:
    """The report's page: every job, its time and memory, and the run's totals."""
    headings = [
        "rule",
        "job",
        "threads",
        "wall",
        "CPU",
        "peak memory",
        "epochs",
        "first epoch",
        "per epoch",
        "fixed",
    ]
    head = "".join(f"<th>{html.escape(heading)}</th>" for heading in headings)
    body = []
    for row in rows:
        cells = [
            row["rule"],
            row["wildcards"],
            _text(row["threads"]),
            format_seconds(row["wall_s"]),
            format_seconds(row["cpu_s"]),
            "not measured" if row["max_rss_mb"] is None else f"{row['max_rss_mb']:,.0f} MiB",
            _text(row["epochs"]),
            "" if row["first_epoch_s"] is None else format_seconds(row["first_epoch_s"]),
            "" if row["seconds_per_epoch"] is None else format_seconds(row["seconds_per_epoch"]),
            "" if row["fixed_s"] is None else format_seconds(row["fixed_s"]),
        ]
        body.append(
            "<tr>"
            + "".join(
                f'<td class="{"text" if index < 2 else "number"}">{html.escape(cell)}</td>'
                for index, cell in enumerate(cells)
            )
            + "</tr>"
        )
    measured = [row for row in rows if row["wall_s"] is not None]
    peak = max((row["max_rss_mb"] or 0 for row in measured), default=0)
    totals = (
        f"{len(measured)} of {len(rows)} jobs measured; together {format_seconds(sum(row['wall_s'] for row in measured))} "
        f"of wall time and {format_seconds(sum(row['cpu_s'] or 0 for row in measured))} of CPU time; "
        f"the largest job peaked at {peak:,.0f} MiB. Jobs ran side by side, so the run took less "
        "than the sum of their wall times. To predict a longer run from these: "
        "python -m cnnlab.estimate (docs/performance.md)."
    )
    return html_table_page(
        "What each job cost", head, body, before=f"<p>{html.escape(totals)}</p>\n", after=""
    )


def summarize_resources(jobs: list[dict], csv_path, html_path) -> list[dict]:
    """Write resources.csv and its HTML page for `jobs` (dicts of rule, wildcards, threads,
    benchmark and, for training, history); return the rows."""
    rows = [job_row(**job) for job in jobs]
    write_text(csv_path, to_csv(rows))
    write_text(html_path, to_html(rows))
    return rows


def to_markdown(rows: list[dict]) -> str:
    """Every job, then each rule's jobs together: the tables docs/performance.md quotes."""
    lines = [
        "| rule | job | threads | wall | CPU | peak memory | epochs | first epoch | later epoch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        memory = "" if row["max_rss_mb"] is None else f"{row['max_rss_mb']:,.0f} MiB"
        lines.append(
            f"| {row['rule']} | {row['wildcards'] or '-'} | {_text(row['threads'])} | "
            f"{format_seconds(row['wall_s'])} | {format_seconds(row['cpu_s'])} | {memory} | "
            f"{_text(row['epochs'])} | "
            + " | ".join(
                "" if row[column] is None else format_seconds(row[column])
                for column in ("first_epoch_s", "seconds_per_epoch")
            )
            + " |"
        )
    lines += [
        "",
        "| rule | jobs | wall, all jobs | longest job | largest peak memory |",
        "|---|---:|---:|---:|---:|",
    ]
    for rule in dict.fromkeys(row["rule"] for row in rows):
        measured = [row for row in rows if row["rule"] == rule and row["wall_s"] is not None]
        if not measured:
            continue
        peak = max((row["max_rss_mb"] or 0 for row in measured), default=0)
        lines.append(
            f"| {rule} | {len(measured)} | {format_seconds(sum(r['wall_s'] for r in measured))} | "
            f"{format_seconds(max(r['wall_s'] for r in measured))} | {peak:,.0f} MiB |"
        )
    measured = [row for row in rows if row["wall_s"] is not None]
    lines += [
        "",
        f"All {len(measured)} measured jobs: {format_seconds(sum(r['wall_s'] for r in measured))} "
        f"of wall time, {format_seconds(sum(r['cpu_s'] or 0 for r in measured))} of CPU time.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    # python -m cnnlab.resources results/resources.csv: the run's tables in Markdown.
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cnnlab.resources RESULTS/resources.csv")
    print(to_markdown(read_resources(sys.argv[1])), end="")
