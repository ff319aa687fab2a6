"""The results table: one row per trained model, beside the original report's published numbers.

Written three ways from the same rows: CSV (for programs), Markdown (for people and READMEs)
and a small HTML page (so `snakemake --report` shows the table, not just a download link).
A dash marks a value that does not apply: the report trained no such model, or a model is not
a grid cell.
"""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path

from cnnlab.jobio import atomic_output, read_json

NOT_APPLICABLE = "-"

# (CSV column, Markdown/HTML heading)
COLUMNS = [
    ("model", "model"),
    ("best_of_grid", "best of grid"),
    ("train_accuracy", "final train acc"),
    ("val_accuracy", "final val acc"),
    ("test_loss", "test loss"),
    ("test_accuracy", "test acc"),
    ("epochs", "epochs"),
    ("wall_time_seconds", "training time"),
    ("device", "device"),
    ("backend", "backend"),
    ("report_test_accuracy", "report's test acc"),
    ("difference", "difference (ours - report)"),
]

# Left-aligned in the HTML table; the rest are numbers.
TEXT_COLUMNS = {"model", "device", "backend"}

NOTES = (
    "Accuracies are fractions of images classified correctly; train and val are the last "
    "epoch's. A grid's best cell (by validation accuracy, from best.json) is compared with the "
    "report's number for that grid's basic CNN. A dash: the report has no such number, or the "
    "model is not a grid cell."
)


def backend_label(runtime: dict) -> str:
    """The Keras backend a model trained on, with its mixed-precision policy if one was used:
    "tensorflow", "jax (mixed_bfloat16)"."""
    policy = runtime.get("mixed_precision", "float32")
    return runtime["backend"] + ("" if policy == "float32" else f" ({policy})")


def required(record: dict, key: str, path: str | os.PathLike):
    """record[key], or an error that names the file and the job that writes it."""
    try:
        return record[key]
    except KeyError:
        raise KeyError(
            f"{path} has no '{key}': rerun the job that writes it (snakemake --forcerun on "
            f"{Path(path).name})"
        ) from None


def grid_of(model: str) -> str | None:
    """'catsdogs/basic' for a grid cell 'catsdogs/basic/lr0.001_f32'; None for other models."""
    parts = model.split("/")
    return "/".join(parts[:-1]) if len(parts) == 3 else None


def summary_rows(
    models: list[str],
    metrics_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    best_paths: dict[str, str | os.PathLike],
    report_numbers: dict[str, float | None],
) -> list[dict]:
    """One row per model, in the order given, with raw (unformatted) values.

    `models` are ids like "catsdogs/vgg16_frozen" or "cifar10/basic/lr0.001_f32", parallel to
    `metrics_paths` (metrics.json) and `info_paths` (train.json). `best_paths` maps a grid id
    ("catsdogs/basic") to its best.json. `report_numbers` maps a model id or a grid id to the
    report's test accuracy (None where the report gave none); a grid id's number belongs to the
    grid's best cell.
    """
    if not len(models) == len(metrics_paths) == len(info_paths):
        raise ValueError(
            f"got {len(models)} models, {len(metrics_paths)} metrics.json and {len(info_paths)} "
            "train.json paths: pass one of each per model, in the same order"
        )
    best_cells = {grid: read_json(path)["cell"] for grid, path in best_paths.items()}
    unknown = sorted(set(report_numbers) - set(models) - set(best_cells))
    if unknown:
        raise ValueError(
            f"report_numbers names {', '.join(unknown)}, which is neither a model nor a grid "
            f"of this workflow; use one of {', '.join(sorted(best_cells) + list(models))}"
        )
    rows = []
    for model, metrics_path, info_path in zip(models, metrics_paths, info_paths):
        metrics, info = read_json(metrics_path), read_json(info_path)
        grid = grid_of(model)
        is_best = grid is not None and best_cells.get(grid) == model.rsplit("/", 1)[-1]
        report_key = grid if is_best else model
        report_accuracy = report_numbers.get(report_key)
        test_accuracy = required(metrics, "test_accuracy", metrics_path)
        rows.append({
            "model": model,
            "best_of_grid": None if grid is None else is_best,
            "train_accuracy": required(metrics, "train_accuracy", metrics_path),
            "val_accuracy": required(metrics, "val_accuracy", metrics_path),
            "test_loss": required(metrics, "test_loss", metrics_path),
            "test_accuracy": test_accuracy,
            "epochs": required(metrics, "epochs", metrics_path),
            "wall_time_seconds": required(info, "wall_time_seconds", info_path),
            "device": required(info, "device", info_path),
            "backend": backend_label(required(info, "runtime", info_path)),
            "report_test_accuracy": report_accuracy,
            "difference": None if report_accuracy is None else test_accuracy - report_accuracy,
        })
    return rows


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def csv_value(column: str, value) -> str:
    """Full precision for programs; a dash where the value does not apply."""
    if value is None:
        return NOT_APPLICABLE
    if column == "best_of_grid":
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"  # no float noise such as -0.019000000000000017
    return str(value)


def display_value(column: str, value) -> str:
    """Rounded for people; a dash where the value does not apply."""
    if value is None:
        return NOT_APPLICABLE
    if column == "best_of_grid":
        return "best" if value else ""
    if column == "difference":
        return f"{value:+.3f}"
    if column == "wall_time_seconds":
        return format_duration(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(column for column, _ in COLUMNS)
    for row in rows:
        writer.writerow(csv_value(column, row[column]) for column, _ in COLUMNS)
    return buffer.getvalue()


def to_markdown(rows: list[dict]) -> str:
    def line(cells):
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [
        "# Results beside the report's published numbers",
        "",
        line(heading for _, heading in COLUMNS),
        line("---" for _ in COLUMNS),
    ]
    for row in rows:
        cells = [display_value(column, row[column]) for column, _ in COLUMNS]
        if row["best_of_grid"]:
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        lines.append(line(cells))
    lines += ["", NOTES, ""]
    return "\n".join(lines)


def to_html(rows: list[dict]) -> str:
    """A standalone page (the report shows it in a frame): the table, best cells in bold."""
    head = "".join(f"<th>{html.escape(heading)}</th>" for _, heading in COLUMNS)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"text" if column in TEXT_COLUMNS else "number"}">'
            f"{html.escape(display_value(column, row[column]))}</td>"
            for column, _ in COLUMNS
        )
        body.append(f'<tr class="best">{cells}</tr>' if row["best_of_grid"] else f"<tr>{cells}</tr>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Results beside the report's published numbers</title>
<style>
  body {{ font-family: sans-serif; margin: 1.5em; }}
  table {{ border-collapse: collapse; font-size: 0.9em; }}
  th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
  th {{ background: #f0f0f0; }}
  td.text {{ text-align: left; }}
  tr.best {{ font-weight: bold; background: #fff3f3; }}
</style>
</head>
<body>
<h1>Results beside the report's published numbers</h1>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
<p>{html.escape(NOTES)}</p>
</body>
</html>
"""


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as partial_path:
        Path(partial_path).write_text(text)


def summarize_results(
    models: list[str],
    metrics_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    best_paths: dict[str, str | os.PathLike],
    report_numbers: dict[str, float | None],
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    html_path: str | os.PathLike,
) -> list[dict]:
    """Write the results table as CSV, Markdown and HTML, each atomically; return its rows."""
    rows = summary_rows(models, metrics_paths, info_paths, best_paths, report_numbers)
    write_text(csv_path, to_csv(rows))
    write_text(markdown_path, to_markdown(rows))
    write_text(html_path, to_html(rows))
    return rows
