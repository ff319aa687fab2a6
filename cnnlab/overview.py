"""The results at a glance: one forest plot per data set, each model's test accuracy with its
interval beside the report's number with its own, chance marked, the grid's best cell marked,
and the verdict beside each row.

Drawn from the same rows as the results table (`cnnlab.summary.summary_rows`), so the picture
and the table never disagree, and from saved files only (metrics.json, train.json, best.json):
a change to the figure never retrains.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnnlab.jobio import read_json
from cnnlab.plots import SELECTED_COLOUR, plt, save_figure
from cnnlab.summary import display_value, summary_rows

OURS_COLOUR = "black"
REPORT_COLOUR = "tab:gray"
# Not red: red marks the selected grid cell in every figure.
CHANCE_COLOUR = "0.35"
# Ours just above a row's centre, the report's just below, so the two never overlap.
ROW_OFFSET = 0.17


def row_label(row: dict) -> str:
    """'vgg16_frozen (3 seeds)', 'basic/lr0.001_f16 (1 seed, best of grid)'."""
    seeds = f"{row['seeds']} seed{'' if row['seeds'] == 1 else 's'}"
    best = ", best of grid" if row["best_of_grid"] else ""
    return f"{row['model'].split('/', 1)[1]} ({seeds}{best})"


def verdict_label(row: dict) -> str:
    """Beside a row: the difference from the report with its interval and the verdict, or that
    the report has no number for it."""
    if row["report_test_accuracy"] is None:
        return "report: no number"
    return (
        f"{display_value('difference', row['difference'])} "
        f"[{row['difference_interval_low']:+.3f}, {row['difference_interval_high']:+.3f}]: "
        f"{row['report_verdict']}"
    )


def interval_arms(row: dict, value: str, interval: str) -> list[list[float]]:
    """errorbar's xerr for a value and its interval (not symmetric: Wilson's, or cut at 1)."""
    return [[row[value] - row[f"{interval}_low"]], [row[f"{interval}_high"] - row[value]]]


def overview_figure(rows: list[dict], chance: float, title: str) -> Figure:
    """A forest plot of `rows` (summary rows of one data set, drawn top to bottom): ours as a
    black dot with the interval on new images (one seed: the test set's Wilson interval), the
    report's number as a grey diamond with its test set's Wilson interval, chance as a dotted
    line; the best grid cell's label in red; each row's verdict on the right."""
    height = 1.4 + 0.42 * len(rows)
    figure, axes = plt.subplots(figsize=(11, height), layout="constrained")
    positions = np.arange(len(rows))[::-1]  # the first row at the top
    for row, y in zip(rows, positions):
        axes.errorbar(
            row["test_accuracy"],
            y + ROW_OFFSET,
            xerr=interval_arms(row, "test_accuracy", "test_accuracy_interval"),
            fmt="o",
            color=OURS_COLOUR,
            markersize=6,
            capsize=3,
        )
        if row["report_test_accuracy"] is not None:
            axes.errorbar(
                row["report_test_accuracy"],
                y - ROW_OFFSET,
                xerr=interval_arms(row, "report_test_accuracy", "report_interval"),
                fmt="D",
                color=REPORT_COLOUR,
                markerfacecolor="white",
                markersize=6,
                capsize=3,
            )
    axes.axvline(chance, color=CHANCE_COLOUR, linestyle=":", linewidth=1.5)
    axes.set_yticks(positions, [row_label(row) for row in rows])
    for label, row in zip(axes.get_yticklabels(), rows):
        if row["best_of_grid"]:
            label.set_color(SELECTED_COLOUR)
            label.set_fontweight("bold")
    verdicts = axes.secondary_yaxis("right")
    verdicts.set_yticks(positions, [verdict_label(row) for row in rows], fontsize="small")
    verdicts.tick_params(length=0)
    lows = [row["test_accuracy_interval_low"] for row in rows] + [
        row["report_interval_low"] for row in rows if row["report_interval_low"] is not None
    ]
    # A little past 1, so an interval cut at 1 does not vanish into the frame.
    axes.set_xlim(max(0.0, min([chance, *lows]) - 0.05), 1.01)
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_xlabel("test accuracy")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(
        handles=[
            Line2D(
                [],
                [],
                marker="o",
                color=OURS_COLOUR,
                label="ours: mean over seeds, 95% CI on new images",
            ),
            Line2D(
                [],
                [],
                marker="D",
                color=REPORT_COLOUR,
                markerfacecolor="white",
                label="report: one run, 95% CI of its test set",
            ),
            Line2D([], [], linestyle=":", color=CHANCE_COLOUR, label=f"chance ({chance:.2g})"),
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=3,
        fontsize="small",
        frameon=False,
    )
    axes.set_title(
        f"{title}\nright: ours − report [95% CI] and the verdict", fontsize="medium", pad=24
    )
    return figure


def chance_accuracy(metrics_path: str | os.PathLike) -> float:
    """1 / the number of classes, as metrics.json's per-class accuracies name them."""
    return 1 / len(read_json(metrics_path)["per_class_accuracy"])


def plot_overview(
    dataset: str,
    models: list[str],
    runs: list[str],
    metrics_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    best_paths: dict[str, str | os.PathLike],
    report_numbers: dict[str, float | None],
    report_test_images: dict[str, int],
    title: str,
    out_path: str | os.PathLike,
    dpi: int,
) -> None:
    """Write `dataset`'s overview figure: its models' rows of the results table as a forest
    plot. `report_numbers` may name every data set's models; only `dataset`'s are used."""
    rows = summary_rows(
        models,
        runs,
        metrics_paths,
        info_paths,
        best_paths,
        {key: value for key, value in report_numbers.items() if key.split("/", 1)[0] == dataset},
        report_test_images,
    )
    save_figure(overview_figure(rows, chance_accuracy(metrics_paths[0]), title), out_path, dpi=dpi)
