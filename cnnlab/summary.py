"""The results table: one row per trained model, beside the original report's published numbers,
with how sure each test accuracy is.

The headline interval of a test accuracy is where the configuration's accuracy on new images
lies (`cnnlab.stats.configuration_interval`): with several seeds it counts their spread and the
test set's sampling noise, with one seed the test set's alone (the Wilson interval). The
details keep the two parts apart: the t-interval over seeds (these test images only) and the
Wilson interval of the test set. Beside the report's published number, with its own test set's
Wilson interval: our difference from it, with an interval and p-value that count the noise of
*both* numbers (`cnnlab.stats.difference_from_report`): the report's number is itself one
training run scored on a finite test set (`report_test_images` in config: 600 cats/dogs images,
CIFAR-10's 10,000), not an exact value.

Written three ways from the same rows: CSV (every column, for programs), Markdown and a small
HTML page (so `snakemake --report` shows the table, not just a download link): a main table
a reader takes in at once, at most MAIN_COLUMNS_LIMIT columns, with the rest in a details table
below it, and above them each data set's overview figure (`cnnlab.overview`) where given.
A dash marks a value that does not apply: the report trained no such model, a model is not
a grid cell, or one seed has no spread.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
from pathlib import Path

from cnnlab.jobio import atomic_output, read_json
from cnnlab.stats import (
    ACCURACY_RANGE,
    configuration_interval,
    difference_from_report,
    seed_summary,
    wilson_interval,
)

NOT_APPLICABLE = "-"

# (CSV column, heading in the details table; None: not a details column). An interval's two
# CSV columns are shown as one "[low, high]" cell, under the heading of its low end.
COLUMNS = [
    ("model", "model"),
    ("best_of_grid", "best of grid"),
    ("seeds", "seeds"),
    ("train_accuracy", "final train acc"),
    ("val_accuracy", "final val acc"),
    ("test_loss", "test loss"),
    ("test_accuracy", None),
    ("test_accuracy_interval_low", None),
    ("test_accuracy_interval_high", None),
    ("test_accuracy_sd", "sd over seeds"),
    ("seeds_interval_low", "95% CI over seeds (these test images)"),
    ("seeds_interval_high", None),
    ("test_set_interval_low", "95% CI of the test set (Wilson)"),
    ("test_set_interval_high", None),
    ("n_test", "test images"),
    ("epochs", "epochs"),
    ("wall_time_seconds", "training time"),
    ("device", "device"),
    ("backend", "backend"),
    ("report_test_accuracy", None),
    ("report_n_test", "report's test images"),
    ("report_interval_low", None),
    ("report_interval_high", None),
    ("difference", None),
    ("difference_interval_low", None),
    ("difference_interval_high", None),
    ("difference_p_value", None),
    ("report_verdict", None),
]
INTERVALS = {
    "test_accuracy": ("test_accuracy_interval_low", "test_accuracy_interval_high"),
    "seeds_interval_low": ("seeds_interval_low", "seeds_interval_high"),
    "test_set_interval_low": ("test_set_interval_low", "test_set_interval_high"),
    "report_test_accuracy": ("report_interval_low", "report_interval_high"),
    "difference": ("difference_interval_low", "difference_interval_high"),
}
# The main table: what a reader came for; a value and its interval share a cell.
MAIN_COLUMNS = [
    ("model", "model"),
    ("seeds", "seeds"),
    ("test_accuracy", "test acc [95% CI, new images]"),
    ("report_test_accuracy", "report's test acc [95% CI of its test set]"),
    ("difference", "ours − report [95% CI]"),
    ("difference_p_value", "p"),
    ("report_verdict", "ours vs report"),
]
MAIN_COLUMNS_LIMIT = 8
DETAIL_COLUMNS = [(column, heading) for column, heading in COLUMNS if heading is not None]

# Left-aligned in the HTML table; the rest are numbers.
TEXT_COLUMNS = {"model", "device", "backend", "report_verdict"}

STATISTICS_DOC = "docs/statistics.md"
NOTES = (
    "Test acc is the mean over the seeds, and its 95% interval is where this configuration's "
    "accuracy on new images lies: it counts the seeds' spread and the test set's sampling "
    "noise (one seed: the test set's Wilson interval alone). "
    "The report's number is one training run on its own test set (600 cats/dogs images, "
    "CIFAR-10's 10,000), shown with that test set's interval, and the difference's interval "
    "and p count the noise of both numbers. "
    "With several seeds the verdict compares the configurations, with one seed only whether "
    "our run and the report's differ beyond the test sets' noise; a grid's best cell (bold) "
    "was picked on validation accuracy, which is optimistic, while its test accuracy is not."
)
DETAILS_NOTE = (
    "Details: final train and val accuracies are the last epoch's, means over the seeds; the "
    "95% CI over seeds covers the seeds' noise on these test images only, the Wilson interval "
    "the test set's noise only; training time is per run."
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


def model_of(run: str) -> str:
    """'catsdogs/vgg16_frozen' for the run 'catsdogs/vgg16_frozen/seed1337'."""
    model, _, seed = run.rpartition("/seed")
    if not model or not seed.isdigit():
        raise ValueError(f"'{run}' is not a run id '<dataset>/<model>/seed<n>'")
    return model


def summary_rows(
    models: list[str],
    runs: list[str],
    metrics_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    best_paths: dict[str, str | os.PathLike],
    report_numbers: dict[str, float | None],
    report_test_images: dict[str, int],
) -> list[dict]:
    """One row per model, in the order given, with raw (unformatted) values.

    `models` are ids like "catsdogs/vgg16_frozen" or "cifar10/basic/lr0.001_f32"; `runs` the
    ids of their runs, "<model>/seed<n>", parallel to `metrics_paths` (metrics.json) and
    `info_paths` (train.json). `best_paths` maps a grid id ("catsdogs/basic") to its
    best.json. `report_numbers` maps a model id or a grid id to the report's test accuracy
    (None where the report gave none); a grid id's number belongs to the grid's best cell.
    `report_test_images` maps a data set ("catsdogs") to the size of the report's test set.
    """
    if not len(runs) == len(metrics_paths) == len(info_paths):
        raise ValueError(
            f"got {len(runs)} runs, {len(metrics_paths)} metrics.json and {len(info_paths)} "
            "train.json paths: pass one of each per run, in the same order"
        )
    runs_of_model = {model: [] for model in models}
    for run, metrics_path, info_path in zip(runs, metrics_paths, info_paths):
        if model_of(run) not in runs_of_model:
            raise ValueError(f"the run {run} belongs to none of the models {models}")
        runs_of_model[model_of(run)].append((metrics_path, info_path))
    missing = [model for model, model_runs in runs_of_model.items() if not model_runs]
    if missing:
        raise ValueError(f"no runs given for {', '.join(missing)}")
    best_cells = {grid: read_json(path)["cell"] for grid, path in best_paths.items()}
    unknown = sorted(set(report_numbers) - set(models) - set(best_cells))
    if unknown:
        raise ValueError(
            f"report_numbers names {', '.join(unknown)}, which is neither a model nor a grid "
            f"of this workflow; use one of {', '.join(sorted(best_cells) + list(models))}"
        )
    rows = []
    for model in models:
        grid = grid_of(model)
        is_best = grid is not None and best_cells.get(grid) == model.rsplit("/", 1)[-1]
        report_accuracy = report_numbers.get(grid if is_best else model)
        results, test_accuracies = model_results(runs_of_model[model])
        row = {"model": model, "best_of_grid": None if grid is None else is_best} | results
        report_n_test = (
            None if report_accuracy is None else report_test_set_size(model, report_test_images)
        )
        rows.append(
            row
            | compared_with_report(test_accuracies, row["n_test"], report_accuracy, report_n_test)
        )
    return rows


def report_test_set_size(model: str, report_test_images: dict[str, int]) -> int:
    """How many test images the report scored `model`'s data set on (config report_test_images)."""
    dataset = model.split("/", 1)[0]
    try:
        return int(report_test_images[dataset])
    except KeyError:
        raise ValueError(
            f"report_test_images has no entry for {dataset} ({model} has a report number): give "
            "the size of the report's test set for it in config, e.g. report_test_images: "
            "{catsdogs: 600, cifar10: 10000}"
        ) from None


def model_results(runs: list[tuple]) -> tuple[dict, list[float]]:
    """Means over a model's runs and how sure its test accuracy is; and the test accuracy of
    each run."""
    metrics = [(read_json(path), path) for path, _ in runs]
    infos = [(read_json(path), path) for _, path in runs]

    def mean_of(records, key):
        return sum(required(record, key, path) for record, path in records) / len(records)

    test_accuracies = [required(record, "test_accuracy", path) for record, path in metrics]
    over_seeds = seed_summary(test_accuracies, value_range=ACCURACY_RANGE)
    n_test = required(metrics[0][0], "n_test", metrics[0][1])
    test_set = wilson_interval(over_seeds["mean"], n_test)
    seeds_interval = over_seeds["interval"] or (None, None)
    on_new_images = configuration_interval(test_accuracies, n_test)["interval"]
    return {
        "seeds": len(runs),
        "train_accuracy": mean_of(metrics, "train_accuracy"),
        "val_accuracy": mean_of(metrics, "val_accuracy"),
        "test_loss": mean_of(metrics, "test_loss"),
        "test_accuracy": over_seeds["mean"],
        "test_accuracy_interval_low": on_new_images[0],
        "test_accuracy_interval_high": on_new_images[1],
        "test_accuracy_sd": over_seeds["sd"],
        "seeds_interval_low": seeds_interval[0],
        "seeds_interval_high": seeds_interval[1],
        "test_set_interval_low": test_set[0],
        "test_set_interval_high": test_set[1],
        "n_test": n_test,
        "epochs": required(metrics[0][0], "epochs", metrics[0][1]),
        "wall_time_seconds": mean_of(infos, "wall_time_seconds"),
        "device": required(infos[0][0], "device", infos[0][1]),
        "backend": backend_label(required(infos[0][0], "runtime", infos[0][1])),
    }, test_accuracies


REPORT_COLUMNS = (
    "report_test_accuracy",
    "report_n_test",
    "report_interval_low",
    "report_interval_high",
    "difference",
    "difference_interval_low",
    "difference_interval_high",
    "difference_p_value",
    "report_verdict",
)


def compared_with_report(
    test_accuracies: list[float],
    n_test: int,
    report_accuracy: float | None,
    report_n_test: int | None,
) -> dict:
    """The report's number beside ours, with its test set's Wilson interval: the difference
    ours - report, its 95% interval and p-value counting both test sets' noise (and the seeds',
    where there are several), and the verdict (`cnnlab.stats.difference_from_report`). Dashes
    where the report has no number."""
    if report_accuracy is None:
        return dict.fromkeys(REPORT_COLUMNS)
    comparison = difference_from_report(test_accuracies, n_test, report_accuracy, report_n_test)
    report_interval = wilson_interval(report_accuracy, report_n_test)
    return {
        "report_test_accuracy": report_accuracy,
        "report_n_test": report_n_test,
        "report_interval_low": report_interval[0],
        "report_interval_high": report_interval[1],
        "difference": comparison["difference"],
        "difference_interval_low": comparison["interval"][0],
        "difference_interval_high": comparison["interval"][1],
        "difference_p_value": comparison["p_value"],
        "report_verdict": comparison["verdict"],
    }


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
    if isinstance(value, bool):
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
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column == "difference":
        return f"{value:+.3f}"
    if column == "difference_p_value":
        return f"{value:.3g}"
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


def cell_text(row: dict, column: str) -> str:
    """A value rounded for people; an interval's column shows its value (if it has one) and
    "[low, high]"."""
    if column not in INTERVALS:
        text = display_value(column, row[column])
        if column == "model" and row["best_of_grid"]:
            text += " (best of grid)"
        return text
    low, high = (row[end] for end in INTERVALS[column])
    sign = "+" if column == "difference" else ""  # a difference is signed
    interval = NOT_APPLICABLE if low is None else f"[{low:{sign}.3f}, {high:{sign}.3f}]"
    if column.endswith("_low"):  # a bare interval, no value of its own
        return interval
    value = display_value(column, row[column])
    return value if low is None else f"{value} {interval}"


def displayed_cells(row: dict, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(column, text) of each shown cell of `columns`."""
    return [(column, cell_text(row, column)) for column, _ in columns]


def per_class_tables(
    models: list[str], runs: list[str], metrics_paths: list[str | os.PathLike]
) -> dict[str, tuple[list[str], list[tuple[str, dict]]]]:
    """Test accuracy of each class, the mean over a model's seeds (metrics.json's
    `per_class_accuracy`), one table per data set since their classes differ:
    {dataset: (class names, [(model, {class: accuracy or None})])}."""
    per_run = {}
    for run, path in zip(runs, metrics_paths):
        per_run.setdefault(model_of(run), []).append(
            required(read_json(path), "per_class_accuracy", path)
        )
    tables = {}
    for model in models:
        dataset = model.split("/", 1)[0]
        seeds = per_run[model]
        classes = list(seeds[0])
        means = {}
        for name in classes:
            values = [seed[name] for seed in seeds if seed.get(name) is not None]
            means[name] = sum(values) / len(values) if values else None
        tables.setdefault(dataset, (classes, []))[1].append((model, means))
    return tables


PER_CLASS_NOTE = (
    "Per-class test accuracy: the fraction of each class's test images classified correctly "
    "(mean over the seeds); the diagonal of the model's row-normalised confusion matrix."
)


def per_class_markdown(tables: dict) -> list[str]:
    lines = []
    for dataset, (classes, table_rows) in tables.items():
        lines += [
            "",
            f"## Per-class test accuracy: {dataset}",
            "",
            "| model | " + " | ".join(classes) + " |",
            "| --- |" + " --- |" * len(classes),
        ]
        for model, means in table_rows:
            lines.append(
                f"| {model} | "
                + " | ".join(display_value("test_accuracy", means[name]) for name in classes)
                + " |"
            )
    return lines + (["", PER_CLASS_NOTE] if tables else [])


def per_class_html(tables: dict) -> str:
    parts = []
    for dataset, (classes, table_rows) in tables.items():
        head = "<th>model</th>" + "".join(f"<th>{html.escape(name)}</th>" for name in classes)
        body = "".join(
            f'<tr><td class="text">{html.escape(model)}</td>'
            + "".join(
                f'<td class="number">{display_value("test_accuracy", means[name])}</td>'
                for name in classes
            )
            + "</tr>\n"
            for model, means in table_rows
        )
        parts.append(
            f"<h2>Per-class test accuracy: {html.escape(dataset)}</h2>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"
        )
    if parts:
        parts.append(f"<p>{html.escape(PER_CLASS_NOTE)}</p>\n")
    return "".join(parts)


def overview_markdown(overview_paths: dict[str, str | os.PathLike], markdown_path) -> list[str]:
    """The overview figures as images, linked relative to the Markdown file."""
    return [
        f"![{dataset}: test accuracy beside the report's numbers]"
        f"({Path(os.path.relpath(path, Path(markdown_path).parent)).as_posix()})"
        for dataset, path in overview_paths.items()
    ]


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    def line(cells):
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [line(heading for _, heading in columns), line("---" for _ in columns)]
    for row in rows:
        cells = [text for _, text in displayed_cells(row, columns)]
        if row["best_of_grid"]:
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        lines.append(line(cells))
    return lines


def to_markdown(
    rows: list[dict], per_class: dict | None = None, overview_images: list[str] = ()
) -> str:
    lines = ["# Results beside the report's published numbers", ""]
    lines += [*(f"{image}\n" for image in overview_images)]
    lines += markdown_table(rows, MAIN_COLUMNS)
    lines += ["", NOTES + f" More: [{STATISTICS_DOC}](../{STATISTICS_DOC}).", "", "## Details", ""]
    lines += markdown_table(rows, DETAIL_COLUMNS)
    lines += ["", DETAILS_NOTE]
    lines += per_class_markdown(per_class or {})
    return "\n".join([*lines, ""])


def html_table(rows: list[dict], columns: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """(the <th> cells, the <tr> rows) of `columns`; best cells' rows in bold."""
    head = "".join(f"<th>{html.escape(heading)}</th>" for _, heading in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"text" if column in TEXT_COLUMNS else "number"}">{html.escape(text)}</td>'
            for column, text in displayed_cells(row, columns)
        )
        body.append(
            f'<tr class="best">{cells}</tr>' if row["best_of_grid"] else f"<tr>{cells}</tr>"
        )
    return head, body


def to_html(
    rows: list[dict],
    per_class: dict | None = None,
    overview_paths: dict[str, str | os.PathLike] | None = None,
) -> str:
    """A standalone page (the report shows it in a frame): each data set's overview figure,
    embedded, the main table, best cells in bold, then the details."""
    head, body = html_table(rows, MAIN_COLUMNS)
    figures = "".join(
        f'<img src="data:image/png;base64,'
        f'{base64.b64encode(Path(path).read_bytes()).decode("ascii")}" '
        f'alt="{html.escape(dataset)}: test accuracy beside the report\'s">\n'
        for dataset, path in (overview_paths or {}).items()
    )
    details_head, details_body = html_table(rows, DETAIL_COLUMNS)
    details = (
        "<h2>Details</h2>\n"
        f"<table>\n<thead><tr>{details_head}</tr></thead>\n<tbody>\n"
        + "\n".join(details_body)
        + f"\n</tbody>\n</table>\n<p>{html.escape(DETAILS_NOTE)}</p>\n"
    )
    notes = (
        f'<p>{html.escape(NOTES)} More: <a href="../{STATISTICS_DOC}">{STATISTICS_DOC}</a> '
        "in the workflow's repository.</p>\n"
    )
    title = "Results beside the report's published numbers"
    return html_table_page(
        title,
        head,
        body,
        before=figures,
        after=notes + details + per_class_html(per_class or {}),
        extra_css="tr.best { font-weight: bold; background: #fff3f3; } "
        "img { max-width: 100%; display: block; margin-bottom: 1em; }",
    )


def html_table_page(
    title: str, head: str, rows: list[str], before: str, after: str, extra_css: str = ""
) -> str:
    """A standalone HTML page: a title, `before`, a table (`head`: the <th> cells; `rows`: the
    <tr> elements), then `after`. Shared by the results table and `cnnlab.compare`."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
  body {{ font-family: sans-serif; margin: 1.5em; }}
  table {{ border-collapse: collapse; font-size: 0.9em; }}
  th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
  th {{ background: #f0f0f0; }}
  td.text {{ text-align: left; }}
  {extra_css}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{before}<table>
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
{after}</body>
</html>
"""


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as partial_path:
        Path(partial_path).write_text(text)


def summarize_results(
    models: list[str],
    runs: list[str],
    metrics_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    best_paths: dict[str, str | os.PathLike],
    report_numbers: dict[str, float | None],
    report_test_images: dict[str, int],
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    html_path: str | os.PathLike,
    overview_paths: dict[str, str | os.PathLike] | None = None,
) -> list[dict]:
    """Write the results table as CSV, Markdown and HTML, each atomically; return its rows.
    The Markdown and HTML add a table of per-class test accuracy per data set, and show the
    figures of `overview_paths` ({data set: overview.png}) above the table: the Markdown links
    them, the HTML embeds them."""
    rows = summary_rows(
        models, runs, metrics_paths, info_paths, best_paths, report_numbers, report_test_images
    )
    per_class = per_class_tables(models, runs, metrics_paths)
    overview_paths = overview_paths or {}
    write_text(csv_path, to_csv(rows))
    write_text(
        markdown_path,
        to_markdown(rows, per_class, overview_markdown(overview_paths, markdown_path)),
    )
    write_text(html_path, to_html(rows, per_class, overview_paths))
    return rows
