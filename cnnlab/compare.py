"""Two result folders side by side, model by model, with how sure each number is.

    python -m cnnlab.compare RESULTS_A RESULTS_B [--out DIR] [--labels A B]

What `dvc metrics diff` and `dvc plots diff` show, plus the statistics they lack. RESULTS_A and
RESULTS_B are the workflow's `results/` folders (or copies of them), laid out as
`<data set>/<model>/seed<seed>/metrics.json` with `history.csv` beside it (and, from
evaluations that keep them, `test_predictions.npz`: each test image's label and predicted
probabilities); a model trained before seeds existed (`<data set>/<model>/metrics.json`)
counts as one seed. Models found in both are compared; those in one only are listed. Written
into --out (default `comparison/`): `comparison.md`, `comparison.html` (self-contained:
figures embedded), `comparison.csv`, and `figures/<data set>/<model>.png`, each model's
validation-accuracy curves of both runs.

How to read the table, one row per model:

* **test acc**: the test accuracy, the mean over seeds where there are several, then "± sd"
  (the seeds' sample standard deviation) and, in brackets, how many seeds.
* **Wilson 95%**: the interval that the test set's size alone allows around that accuracy
  (about ±3.6 points on 600 images). Seeds are scored on the same images, so several seeds
  do not narrow it.
* **t 95%**: with several seeds, the confidence interval of the mean over seeds (Student t,
  cut at 0 and 1): the training seed's noise on these test images only, not the test set's.
  A dash for a single seed, whose spread is unknown.
* **B − A**: the difference of the mean test accuracies.
* **p**: the two-sided p-value of that difference, by Welch's t-test over seeds where both
  sides have several; else, with one run on a side, of that run against each run of the other
  side, by McNemar's exact test when the runs kept predictions of the same test images
  (paired: it counts the images one gets right and the other wrong), else by a two-proportion
  z-test on the test images (unpaired: conservative when both runs used the same images). Both
  see only the test set's noise. Against several runs the largest p-value counts: the one run
  differs from the others only if it differs from each.
* **verdict**: with several seeds per side, "yes" when p < 0.05 (the configurations differ
  beyond the seeds' noise on these test images), "no" otherwise, which does not show they are
  equal, only that these numbers cannot tell them apart. With one seed on a side the
  seed-to-seed noise is unmeasured:
  the verdict says so, and says only whether *these runs* differ on the test images; a
  difference of configurations (backends, settings) needs about 3 seeds per side.

With several seeds on both sides and predictions kept, each pair of runs with the same seed
number also gets its McNemar test, listed under the model's heading; with one run on a side,
each of its pairs is listed.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.jobio import read_json
from cnnlab.plots import runs_comparison_figure, save_figure
from cnnlab.predictions import Predictions, check_against_metrics, read_predictions
from cnnlab.stats import (
    ACCURACY_RANGE,
    SEEDS_PER_SIDE_NEEDED,
    PairingError,
    difference_verdict,
    paired_comparison,
    seed_summary,
    wilson_interval,
)
from cnnlab.summary import NOT_APPLICABLE, html_table_page, required, write_text

CONFIDENCE = 0.95
ALPHA = 0.05
FIGURE_DPI = 100
SEED_FOLDER = re.compile(r"seed(\d+)")
LAYOUT = (
    "<results>/<data set>/<model>/seed<seed>/metrics.json with history.csv beside it, e.g. "
    "results/catsdogs/vgg16_frozen/seed1/metrics.json (or, from before seeds, "
    "<results>/<data set>/<model>/metrics.json)"
)

# (CSV column, Markdown/HTML heading; "{a}" and "{b}" stand for the runs' labels)
COLUMNS = [
    ("model", "model"),
    ("a_test_accuracy", "{a} test acc"),
    ("a_wilson", "{a} Wilson 95%"),
    ("a_t_interval", "{a} t 95%"),
    ("b_test_accuracy", "{b} test acc"),
    ("b_wilson", "{b} Wilson 95%"),
    ("b_t_interval", "{b} t 95%"),
    ("difference", "{b} − {a}"),
    ("p_value", "p (test)"),
    ("verdict", "verdict"),
]
# Raw values for programs: every number its own column, intervals as low and high.
CSV_COLUMNS = [
    "model",
    *[
        f"{side}_{name}"
        for side in "ab"
        for name in (
            "seeds",
            "n_test",
            "mean",
            "sd",
            "wilson_low",
            "wilson_high",
            "t_low",
            "t_high",
        )
    ],
    "difference",
    "test",
    "paired",
    "n_paired",
    "p_value",
    "seed_noise_measured",
    "seeds_needed",
    "exceeds_noise",
    "runs_differ",
    "verdict",
    "pairing",
    "mcnemar_by_seed",
    "explanation",
]
PREDICTIONS_FILE = "test_predictions.npz"
# The workflow's results table: its model column lists the models the config made when it ran.
SUMMARY_FILE = "summary.csv"
TEXT_COLUMNS = {"model", "verdict"}  # left-aligned in the HTML table


class ComparisonError(ValueError):
    """The result folders cannot be compared; the message says what was read and what to do."""


@dataclass
class SeedResult:
    seed: int | None  # None: a run from before seed folders
    test_accuracy: float
    n_test: int
    history_path: Path
    predictions_path: Path | None  # None: the evaluation kept no per-image predictions


@dataclass
class Comparison:
    rows: list[dict]  # raw values, keyed by CSV_COLUMNS
    # model -> (A's history.csv files, B's), one per seed: the figures' curves
    histories: dict[str, tuple[list[Path], list[Path]]]
    only_in_a: list[str]
    only_in_b: list[str]
    # Old-layout metrics.json files left aside because the same model has seed folders.
    ignored: list[Path] = field(default_factory=list)
    # Model folders left aside because their results folder's summary.csv does not list them
    # (the config no longer makes them), as "<results folder>: <model>".
    stale: list[str] = field(default_factory=list)
    # Results folders without a summary.csv, whose every model folder was compared.
    unlisted: list[Path] = field(default_factory=list)


def read_seed(metrics_path: Path, seed: int | None) -> SeedResult:
    try:
        metrics = read_json(metrics_path)
    except json.JSONDecodeError as error:
        raise ComparisonError(
            f"{metrics_path} is not valid JSON ({error}): rerun the evaluate job that writes it"
        ) from None
    history_path = metrics_path.with_name("history.csv")
    if not history_path.is_file():
        raise ComparisonError(
            f"{history_path} is missing: a trained model's folder holds the history.csv its "
            f"training wrote beside metrics.json ({LAYOUT}); copy it along with the results"
        )
    predictions_path = metrics_path.with_name(PREDICTIONS_FILE)
    return SeedResult(
        seed=seed,
        test_accuracy=float(required(metrics, "test_accuracy", metrics_path)),
        n_test=int(required(metrics, "n_test", metrics_path)),
        history_path=history_path,
        predictions_path=predictions_path if predictions_path.is_file() else None,
    )


def models_the_config_makes(results: Path) -> set[str] | None:
    """The models listed in `results`/summary.csv, which the workflow rewrites whenever its
    config's models change; None where there is no summary.csv (a copy of model folders)."""
    path = results / SUMMARY_FILE
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        return {row["model"] for row in csv.DictReader(handle) if row.get("model")}


def find_models(results: Path) -> tuple[dict[str, list[SeedResult]], list[Path]]:
    """Every model under `results` with its seeds (in seed order), and the old-layout
    metrics.json files left aside because their model also has seed folders."""
    if not results.is_dir():
        raise ComparisonError(
            f"{results.absolute()} is not a folder: pass a results folder ({LAYOUT})"
        )
    found: dict[str, dict[int | None, Path]] = {}
    for metrics_path in sorted(results.rglob("metrics.json")):
        folder = metrics_path.parent
        seed_match = SEED_FOLDER.fullmatch(folder.name)
        model_folder, seed = (folder.parent, int(seed_match[1])) if seed_match else (folder, None)
        found.setdefault(model_folder.relative_to(results).as_posix(), {})[seed] = metrics_path
    if not found:
        raise ComparisonError(
            f"no metrics.json under {results.absolute()}: expected {LAYOUT}. Pass the folder the "
            "workflow wrote (results/), after its evaluate jobs ran"
        )
    models, ignored = {}, []
    for model, paths in found.items():
        if None in paths and len(paths) > 1:
            # A model retrained with seeds after an older run: the seed folders are the new run.
            ignored.append(paths.pop(None))
        # Sortable: None (an old-layout run) is now a model's only seed, or absent.
        models[model] = [read_seed(paths[seed], seed) for seed in sorted(paths)]
    return models, ignored


def shared_test_set_size(model: str, seeds: list[SeedResult], results: Path) -> int:
    """The seeds' common number of test images; refuses seeds scored on different test sets."""
    sizes = {seed.n_test for seed in seeds}
    if len(sizes) > 1:
        raise ComparisonError(
            f"the seeds of {model} under {results} were scored on different numbers of test "
            f"images ({', '.join(map(str, sorted(sizes)))}): rerun their evaluate jobs on one test set"
        )
    return sizes.pop()


def side_values(side: str, model: str, seeds: list[SeedResult], results: Path) -> dict:
    """One run's columns of a model's row, raw: accuracy, its Wilson and t intervals."""
    n_test = shared_test_set_size(model, seeds, results)
    summary = seed_summary([seed.test_accuracy for seed in seeds], CONFIDENCE, ACCURACY_RANGE)
    wilson_low, wilson_high = wilson_interval(summary["mean"], n_test, CONFIDENCE)
    t_low, t_high = summary["interval"] or (None, None)
    return {
        f"{side}_seeds": summary["n"],
        f"{side}_n_test": n_test,
        f"{side}_mean": summary["mean"],
        f"{side}_sd": summary["sd"],
        f"{side}_wilson_low": wilson_low,
        f"{side}_wilson_high": wilson_high,
        f"{side}_t_low": t_low,
        f"{side}_t_high": t_high,
    }


def run_pairs(
    a_seeds: list[SeedResult], b_seeds: list[SeedResult]
) -> list[tuple[SeedResult, SeedResult]]:
    """The runs of A and B that can be set image by image against each other: a side's one run
    against each run of the other side, or, with several on both sides, the runs of the same
    seed number."""
    if len(a_seeds) == 1 or len(b_seeds) == 1:
        return [(a, b) for a in a_seeds for b in b_seeds]
    b_by_seed = {seed.seed: seed for seed in b_seeds}
    return [(a, b_by_seed[a.seed]) for a in a_seeds if a.seed in b_by_seed]


def checked_predictions(seed: SeedResult) -> Predictions:
    """A run's predictions, refused (PredictionsError, naming the file) when they cannot be read
    or do not match the metrics.json beside them."""
    predictions = read_predictions(seed.predictions_path)
    check_against_metrics(
        predictions,
        read_json(seed.predictions_path.with_name("metrics.json")),
        seed.predictions_path,
    )
    return predictions


def seed_list(seeds: list[SeedResult]) -> str:
    return ", ".join(
        "none (no seed folder)" if seed.seed is None else str(seed.seed) for seed in seeds
    )


def paired_tests(
    a_seeds: list[SeedResult], b_seeds: list[SeedResult], labels: tuple[str, str]
) -> tuple[list[dict], str]:
    """McNemar's test of each pair of runs that kept predictions of the same test images, and a
    sentence on the pairing: what was paired, or why nothing was."""
    pairs = run_pairs(a_seeds, b_seeds)
    if not pairs:
        return [], (
            f"unpaired: {labels[0]}'s runs (seeds {seed_list(a_seeds)}) and {labels[1]}'s (seeds "
            f"{seed_list(b_seeds)}) share no seed number to pair them by"
        )
    results, reasons = [], []
    for a, b in pairs:
        missing = [
            f"{label}'s {seed.history_path.parent} has no {PREDICTIONS_FILE}"
            for label, seed in zip(labels, (a, b))
            if seed.predictions_path is None
        ]
        if missing:
            reasons += missing
            continue
        a_predictions, b_predictions = checked_predictions(a), checked_predictions(b)
        if a_predictions.class_names.tolist() != b_predictions.class_names.tolist():
            raise ComparisonError(
                f"{a.predictions_path} has the classes {a_predictions.class_names.tolist()} and "
                f"{b.predictions_path} {b_predictions.class_names.tolist()}: runs that classify into "
                "different classes (or in another order) cannot be set image by image side by side"
            )
        try:
            pair = paired_comparison(a_predictions, b_predictions, labels)
        except PairingError as error:
            reasons.append(str(error))
            continue
        results.append(
            {"seed": a.seed if a.seed == b.seed else None, "seeds": (a.seed, b.seed), **pair}
        )
    if reasons:
        # All or nothing: a test over some pairs only would mix paired and unpaired evidence.
        more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
        return [], f"unpaired: {reasons[0]}{more}"
    sizes = sorted({pair["n"] for pair in results})
    if len(results) == 1:
        runs = "the run pair"
    elif len(a_seeds) == 1 or len(b_seeds) == 1:
        single, several = (0, 1) if len(a_seeds) == 1 else (1, 0)
        runs = f"{labels[single]}'s one run against each of {labels[several]}'s {len(results)}"
    else:
        runs = f"each of {len(results)} run pairs (same seed)"
    return results, (
        f"paired: McNemar on the {'/'.join(map(str, sizes))} test images of {runs}, matched by "
        f"image id"
    )


def mcnemar_text(pairs: list[dict], labels: tuple[str, str]) -> str:
    """One clause per pair: 'seed 1: 412 right only by A, 78 only by B, p = 1.8e-06'; runs of
    different seeds are named by both: 'A seed 1 / B seed 2: ...'."""
    return "; ".join(
        f"{pair_name(pair, labels)}: "
        f"{pair['only_a_right']} right only by {labels[0]}, {pair['only_b_right']} only by "
        f"{labels[1]}, {pair['both_right']} by both, {pair['both_wrong']} by neither, "
        f"p = {pair['p_value']:.3g}"
        for pair in pairs
    )


def pair_name(pair: dict, labels: tuple[str, str]) -> str:
    if pair["seed"] is not None:
        return f"seed {pair['seed']}"
    if pair["seeds"] == (None, None):
        return "runs"
    return " / ".join(
        f"{label} {'run' if seed is None else f'seed {seed}'}"
        for label, seed in zip(labels, pair["seeds"])
    )


def same_folder(results_a: Path, results_b: Path) -> bool:
    try:
        return results_a.samefile(results_b)
    except OSError:  # one does not exist: find_models says so
        return False


def compare_results(
    results_a: Path, results_b: Path, labels: tuple[str, str] = ("A", "B")
) -> Comparison:
    """The raw rows (CSV_COLUMNS) of the models in both folders, and what was left out."""
    if same_folder(results_a, results_b):
        raise ComparisonError(
            f"{results_a} and {results_b} are the same folder ({results_a.resolve()}): a folder "
            "compared with itself differs nowhere. Pass two different results folders, e.g. "
            "results/ and runs/<other run>/results"
        )
    models_a, ignored_a = find_models(results_a)
    models_b, ignored_b = find_models(results_b)
    stale, unlisted = [], []
    for results, models in ((results_a, models_a), (results_b, models_b)):
        # A model folder from an earlier config (basic.filters [4] -> [8] leaves lr..._f4) stays
        # on disk: set beside current models, it would pass for one. Leave it aside, by name.
        current = models_the_config_makes(results)
        if current is None:
            unlisted.append(results)
            continue
        for model in sorted(set(models) - current):
            stale.append(f"{results}: {model}")
            del models[model]
    common = sorted(set(models_a) & set(models_b))
    if not common:
        raise ComparisonError(
            f"{results_a} and {results_b} have no model in common ({labels[0]}: "
            f"{', '.join(sorted(models_a))}; {labels[1]}: {', '.join(sorted(models_b))}): "
            "pass two results folders of the same experiments"
        )
    rows, histories = [], {}
    for model in common:
        a_seeds, b_seeds = models_a[model], models_b[model]
        row = {
            "model": model,
            **side_values("a", model, a_seeds, results_a),
            **side_values("b", model, b_seeds, results_b),
        }
        pairs, pairing = paired_tests(a_seeds, b_seeds, labels)
        verdict = difference_verdict(
            [seed.test_accuracy for seed in a_seeds],
            row["a_n_test"],
            [seed.test_accuracy for seed in b_seeds],
            row["b_n_test"],
            alpha=ALPHA,
            labels=labels,
            paired=pairs,
        )
        rows.append(
            {
                **row,
                **{
                    key: verdict[key]
                    for key in (
                        "difference",
                        "test",
                        "paired",
                        "p_value",
                        "seed_noise_measured",
                        "seeds_needed",
                        "exceeds_noise",
                        "runs_differ",
                        "verdict",
                        "explanation",
                    )
                },
                "n_paired": verdict["n"],
                "pairing": pairing,
                "mcnemar_by_seed": mcnemar_text(pairs, labels) or None,
            }
        )
        histories[model] = (
            [seed.history_path for seed in a_seeds],
            [seed.history_path for seed in b_seeds],
        )
    return Comparison(
        rows=rows,
        histories=histories,
        only_in_a=sorted(set(models_a) - set(models_b)),
        only_in_b=sorted(set(models_b) - set(models_a)),
        ignored=ignored_a + ignored_b,
        stale=stale,
        unlisted=unlisted,
    )


def figure_path(model: str) -> str:
    """Relative to the output folder. Not with_suffix: model names hold dots (lr0.001_f32)."""
    return f"figures/{model}.png"


def write_figures(comparison: Comparison, out: Path, labels: tuple[str, str]) -> None:
    for model, (a_histories, b_histories) in comparison.histories.items():
        figure = runs_comparison_figure(
            [(labels[0], a_histories), (labels[1], b_histories)],
            title=f"{model}: validation accuracy",
        )
        save_figure(figure, out / figure_path(model), dpi=FIGURE_DPI)


def interval_text(low: float | None, high: float | None) -> str:
    return NOT_APPLICABLE if low is None else f"[{low:.3f}, {high:.3f}]"


def display_cells(row: dict) -> dict[str, str]:
    """A row rounded for people, keyed by COLUMNS."""
    cells = {"model": row["model"]}
    for side in "ab":
        accuracy = f"{row[f'{side}_mean']:.3f}"
        if row[f"{side}_sd"] is not None:
            accuracy += f" ± {row[f'{side}_sd']:.3f}"
        seeds = row[f"{side}_seeds"]
        cells[f"{side}_test_accuracy"] = f"{accuracy} ({seeds} seed{'s' if seeds > 1 else ''})"
        cells[f"{side}_wilson"] = interval_text(
            row[f"{side}_wilson_low"], row[f"{side}_wilson_high"]
        )
        cells[f"{side}_t_interval"] = interval_text(row[f"{side}_t_low"], row[f"{side}_t_high"])
    cells["difference"] = f"{row['difference']:+.3f}"
    test = TEST_NAMES[row["test"]]
    if row["paired"]:
        test += f" on {row['n_paired']} images"
    cells["p_value"] = f"{row['p_value']:.3g} ({test})"
    cells["verdict"] = row["verdict"]
    return cells


TEST_NAMES = {
    "welch": "Welch, seeds",
    "mcnemar": "McNemar, paired",
    "two-proportion": "two-proportion, unpaired",
}


def headings(labels: tuple[str, str]) -> list[str]:
    return [heading.format(a=labels[0], b=labels[1]) for _, heading in COLUMNS]


def csv_cell(value) -> str:
    if value is None:
        return NOT_APPLICABLE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(comparison: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in comparison.rows:
        writer.writerow(csv_cell(row[column]) for column in CSV_COLUMNS)
    return buffer.getvalue()


def left_out_lines(comparison: Comparison, labels: tuple[str, str]) -> list[str]:
    """What the table does not show, one sentence each."""
    lines = []
    for label, models in ((labels[0], comparison.only_in_a), (labels[1], comparison.only_in_b)):
        if models:
            lines.append(f"Only in {label}, not compared: {', '.join(models)}.")
    if comparison.ignored:
        lines.append(
            "Left aside, because the same model has seed folders beside it: "
            f"{', '.join(str(path) for path in comparison.ignored)}."
        )
    if comparison.stale:
        lines.append(
            f"Left aside as stale, because the {SUMMARY_FILE} of their results folder does not list "
            f"them (the config no longer makes them): {', '.join(comparison.stale)}."
        )
    for results in comparison.unlisted:
        lines.append(
            f"{results} has no {SUMMARY_FILE}, so every model folder in it was compared, including "
            "any its config no longer makes."
        )
    return lines


READING_GUIDE = (
    "test acc: the mean over seeds ± their standard deviation (number of seeds). Wilson 95%: "
    "the interval that the test set's size alone allows. t 95%: the interval of the mean over "
    "seeds on these test images, cut at 0 and 1 (the seeds' noise only; a dash for one seed). "
    "p: Welch's t-test over seeds where both runs have several; "
    "with one run on a side, that run against each run of the other side (the largest p "
    "counts): McNemar's exact test on the images one run gets right and the "
    "other wrong where both kept predictions of the same images (paired), else a "
    "two-proportion z-test on the test images (unpaired). "
    f"Verdict: with several seeds per side, 'yes' when p < {ALPHA:g}, and a 'no' means these "
    "numbers cannot tell the configurations apart. With one seed on a side the seed-to-seed "
    "noise is unmeasured: the configurations are not compared (about "
    f"{SEEDS_PER_SIDE_NEEDED} seeds per side would), only these runs."
)


def markdown_cell(text) -> str:
    """`text` safe inside a Markdown table cell: a backslash, a `|` or a line break in a label or
    a folder name would otherwise end the cell or the row."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(text.splitlines()) if text else text


def markdown_text(text) -> str:
    """`text` safe on one line of Markdown prose (a heading, a sentence): line breaks become
    spaces, so a label cannot start a heading or a table of its own."""
    return " ".join(str(text).splitlines())


def markdown_code(text) -> str:
    """`text` as inline code, fenced with more backticks than it holds."""
    text = markdown_text(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def to_markdown(comparison: Comparison, sources: tuple[Path, Path], labels: tuple[str, str]) -> str:
    def line(cells):
        return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"

    a_label, b_label = map(markdown_text, labels)
    lines = [
        f"# {a_label} and {b_label}, model by model",
        "",
        f"{a_label}: {markdown_code(sources[0])}; {b_label}: {markdown_code(sources[1])}.",
        "",
        line(headings(labels)),
        line("---" for _ in COLUMNS),
    ]
    for row in comparison.rows:
        cells = display_cells(row)
        lines.append(line(cells[column] for column, _ in COLUMNS))
    lines += ["", READING_GUIDE, ""]
    lines += [f"{markdown_text(sentence)}\n" for sentence in left_out_lines(comparison, labels)]
    for row in comparison.rows:
        model = markdown_text(row["model"])
        lines += [f"## {model}", "", markdown_text(row["explanation"]), ""]
        lines += [markdown_text(text) + "\n" for text in section_notes(row)]
        lines += [f"![{model}: validation accuracy]({figure_path(row['model'])})", ""]
    return "\n".join(lines)


def section_notes(row: dict) -> list[str]:
    """Below a model's explanation: how its runs were paired, and each pair's McNemar test."""
    notes = [row["pairing"][0].upper() + row["pairing"][1:] + "."]
    if row["mcnemar_by_seed"] and row["test"] != "mcnemar":
        notes.append(f"McNemar per pair of runs: {row['mcnemar_by_seed']}.")
    elif row["mcnemar_by_seed"]:
        notes.append(f"Image by image: {row['mcnemar_by_seed']}.")
    return notes


def embedded_png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(
    comparison: Comparison, sources: tuple[Path, Path], labels: tuple[str, str], out: Path
) -> str:
    """One page that needs nothing beside it: the figures are embedded."""
    head = "".join(f"<th>{html.escape(heading)}</th>" for heading in headings(labels))
    body = []
    for row in comparison.rows:
        cells = display_cells(row)
        body.append(
            "<tr>"
            + "".join(
                f'<td class="{"text" if column in TEXT_COLUMNS else "number"}">{html.escape(cells[column])}</td>'
                for column, _ in COLUMNS
            )
            + "</tr>"
        )
    left_out = "".join(
        f"<p>{html.escape(sentence)}</p>\n" for sentence in left_out_lines(comparison, labels)
    )
    sections = "".join(
        f"<h2>{html.escape(row['model'])}</h2>\n<p>{html.escape(row['explanation'])}</p>\n"
        + "".join(f"<p>{html.escape(note)}</p>\n" for note in section_notes(row))
        + f'<img src="{embedded_png(out / figure_path(row["model"]))}" '
        f'alt="{html.escape(row["model"])}: validation accuracy">\n'
        for row in comparison.rows
    )
    sources_line = (
        f"<p>{html.escape(labels[0])}: <code>{html.escape(str(sources[0]))}</code>;\n"
        f"{html.escape(labels[1])}: <code>{html.escape(str(sources[1]))}</code>.</p>\n"
    )
    return html_table_page(
        f"{labels[0]} and {labels[1]}, model by model",
        head,
        body,
        before=sources_line,
        after=f"<p>{html.escape(READING_GUIDE)}</p>\n{left_out}{sections}",
        extra_css="img { max-width: 100%; }",
    )


def write_comparison(
    results_a: Path, results_b: Path, out: Path, labels: tuple[str, str] = ("A", "B")
) -> Comparison:
    """Compare two results folders and write comparison.{md,html,csv} and the figures into
    `out`, each file atomically; return the comparison."""
    comparison = compare_results(results_a, results_b, labels)
    write_figures(comparison, out, labels)  # first: the HTML embeds them
    sources = (results_a, results_b)
    write_text(out / "comparison.csv", to_csv(comparison))
    write_text(out / "comparison.md", to_markdown(comparison, sources, labels))
    write_text(out / "comparison.html", to_html(comparison, sources, labels, out))
    return comparison


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.compare",
        description="Set two results folders side by side, model by model: test accuracies with "
        "their intervals, whether each difference exceeds the noise, validation curves overlaid.",
    )
    parser.add_argument("results_a", type=Path, help="a results folder (the workflow's results/)")
    parser.add_argument("results_b", type=Path, help="the results folder to set beside it")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("comparison"),
        help="where to write comparison.{md,html,csv} and figures/ (default: comparison)",
    )
    parser.add_argument(
        "--labels",
        nargs=2,
        default=["A", "B"],
        metavar=("A", "B"),
        help="names of the two runs in the table and figures (default: A B)",
    )
    args = parser.parse_args(argv)
    labels = tuple(args.labels)
    if labels[0] == labels[1]:
        parser.error(f"--labels must name the two runs differently, not both '{labels[0]}'")
    try:
        comparison = write_comparison(args.results_a, args.results_b, args.out, labels)
    except KeyError as error:  # a metrics.json without a key; its message says which and why
        parser.exit(2, f"{parser.prog}: error: {error.args[0]}\n")
    except (ValueError, OSError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(
        f"compared {len(comparison.rows)} model(s); wrote {args.out / 'comparison.md'}, "
        f"comparison.html, comparison.csv and figures/"
    )
    for sentence in left_out_lines(comparison, labels):
        print(sentence)
    return 0


if __name__ == "__main__":
    sys.exit(main())
