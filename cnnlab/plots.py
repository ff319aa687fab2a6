"""Matplotlib figures of the experiments, drawn from saved files only (histories, best.json).

Every figure function returns a matplotlib Figure; `save_figure` writes it as a PNG of an exact
pixel size (figure size in inches times dpi) and closes it. The Agg backend is chosen here,
before pyplot is imported, so figures draw on machines without a display (cluster nodes, CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnlab.history import COLUMNS as HISTORY_COLUMNS
from cnnlab.history import read_history
from cnnlab.jobio import atomic_output, read_json

# One colour per meaning across every figure, so a reader learns them once.
TRAIN_COLOUR = "tab:blue"
VALIDATION_COLOUR = "tab:orange"
SELECTED_COLOUR = "red"
# The other grid cells: a colour map without red in it, so the selected cell stands out.
OTHER_CELLS_COLOURMAP = "viridis"
FEATURE_MAP_COLOURMAP = "viridis"
# Two runs of the same model set side by side (cnnlab.compare): neither blue nor orange, which
# mean training and validation everywhere else.
COMPARED_RUN_COLOURS = ("tab:purple", "tab:green")


def history_columns(history_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a history.csv as float arrays, epochs counted from 1 as people count."""
    rows = read_history(history_path)
    history = {column: np.array([float(row[column]) for row in rows]) for column in HISTORY_COLUMNS}
    history["epoch"] = history["epoch"] + 1  # CSVLogger counts from 0
    return history


def save_figure(figure: Figure, out_path: str | os.PathLike, dpi: int) -> None:
    """Write `figure` as a PNG at `dpi`, atomically, and release its memory."""
    try:
        with atomic_output(out_path) as partial_path:
            figure.savefig(partial_path, format="png", dpi=dpi)
    finally:
        plt.close(figure)


def epoch_axis(axes, last_epoch: int) -> None:
    """An x axis of whole epochs 1..last_epoch, readable even for a single epoch."""
    axes.set_xlabel("epoch")
    axes.set_xlim(0.5, last_epoch + 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def seed_band(histories: list[dict[str, np.ndarray]], column: str):
    """(epochs, mean, lowest, highest) of one history column over a model's seeds, on the
    epochs every seed has."""
    epochs = min(len(history["epoch"]) for history in histories)
    values = np.array([history[column][:epochs] for history in histories])
    return (
        histories[0]["epoch"][:epochs],
        values.mean(axis=0),
        values.min(axis=0),
        values.max(axis=0),
    )


def plot_over_seeds(axes, histories, column, colour, marker, label, **line_style):
    """A column's mean over the seeds as a line, and the seeds' range as a band around it (no
    band for one seed)."""
    epochs, mean, lowest, highest = seed_band(histories, column)
    if len(histories) > 1:
        axes.fill_between(epochs, lowest, highest, color=colour, alpha=0.18, linewidth=0)
        label = f"{label}, mean of {len(histories)} seeds"
    return axes.plot(epochs, mean, marker, color=colour, label=label, **line_style)[0]


def training_curves_figure(history_paths: list[str | os.PathLike], title: str) -> Figure:
    """Training and validation accuracy (left) and loss (right) against epoch: the mean over
    the model's seeds, with the seeds' range as a band."""
    histories = [history_columns(path) for path in history_paths]
    figure, (accuracy_axes, loss_axes) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for axes, metric, name in (
        (accuracy_axes, "accuracy", "Accuracy"),
        (loss_axes, "loss", "Loss"),
    ):
        plot_over_seeds(axes, histories, metric, TRAIN_COLOUR, "o-", "training")
        plot_over_seeds(axes, histories, f"val_{metric}", VALIDATION_COLOUR, "s--", "validation")
        axes.set_title(f"{name} per epoch")
        epoch_axis(axes, last_epoch=int(seed_band(histories, metric)[0][-1]))
        axes.set_ylabel(name.lower())
        axes.grid(alpha=0.3)
        axes.legend()
    if len(histories) > 1:
        title = f"{title}\nband: lowest to highest of the seeds"
    figure.suptitle(title)
    return figure


def runs_comparison_figure(runs: list[tuple[str, list[str | os.PathLike]]], title: str) -> Figure:
    """Two runs' validation accuracy against epoch, one colour per run: [(label, histories)].

    A run with several seeds (one history each) is drawn as its mean per epoch with a band from
    the lowest to the highest seed; an epoch counts the seeds that reached it, so a seed that
    stopped early does not end the curve.
    """
    if len(runs) != len(COMPARED_RUN_COLOURS):
        raise ValueError(f"compare two runs, not {len(runs)}")
    figure, axes = plt.subplots(figsize=(7, 4), layout="constrained")
    last_epoch = 1
    for (label, history_paths), colour in zip(runs, COMPARED_RUN_COLOURS):
        curves = [history_columns(path)["val_accuracy"] for path in history_paths]
        epochs = np.arange(1, max(len(curve) for curve in curves) + 1)
        per_epoch = [
            [curve[epoch - 1] for curve in curves if len(curve) >= epoch] for epoch in epochs
        ]
        if len(curves) == 1:
            legend = f"{label} (1 seed)"
        else:
            legend = f"{label} (mean of {len(curves)} seeds; band: lowest to highest)"
            axes.fill_between(
                epochs,
                [min(values) for values in per_epoch],
                [max(values) for values in per_epoch],
                color=colour,
                alpha=0.2,
                linewidth=0,
            )
        axes.plot(
            epochs, [np.mean(values) for values in per_epoch], "o-", color=colour, label=legend
        )
        last_epoch = max(last_epoch, int(epochs[-1]))
    axes.set_title(title)
    epoch_axis(axes, last_epoch=last_epoch)
    axes.set_ylabel("validation accuracy")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def selected_cell_path(paths: list[str | os.PathLike], best_path: str | os.PathLike) -> Path:
    """Of one file per grid cell (`<cell>/seed<n>/<file>`), the one of the cell best.json
    selects ("cell" names the folder).

    Rules take every cell's file as input, so the DAG is fixed before training; the choice
    among them is made here, from best.json.
    """
    selected_cell = read_json(best_path)["cell"]
    by_cell = {Path(path).parent.parent.name: Path(path) for path in paths}
    if selected_cell not in by_cell:
        raise ValueError(
            f"{best_path} selects the cell '{selected_cell}', but the files given are those of "
            f"{sorted(by_cell)}; rerun select_best after changing the grid"
        )
    return by_cell[selected_cell]


def cell_label(info: dict) -> str:
    """'lr=0.001, filters=32' from a grid cell's train.json."""
    settings = info["settings"]
    return f"lr={settings['learning_rate']:g}, filters={settings['filters']}"


def selection_verdict(best: dict) -> str:
    """Whether best.json's cell is separable from the runner-up, in two lines that keep apart
    what comes from different epochs: the lead, between each cell's best epoch; then the test,
    which with one seed (`exceeds_noise` None: the cells not compared) is McNemar's on the final
    epochs' models, whose accuracies it names. Where the two cells are the top of several, the
    p-value is said to be optimistic."""
    if not best.get("runner_up"):
        return "the only cell"
    separation = best["separation"]
    lead = (
        f"selected leads {best['runner_up']} by {best['margin']:+.3f} "
        "(best epochs' validation accuracy)"
    )
    if separation["exceeds_noise"] is None:
        runs = "runs differ" if separation["runs_differ"] else "runs within noise"
        if separation["test"] == "mcnemar" and separation.get("mcnemar"):
            pair = separation["mcnemar"][0]
            runs = (
                f"final epochs' models {pair['b_accuracy']:.3f} vs {pair['a_accuracy']:.3f}: {runs}"
            )
        verdict = f"1 seed, cells not comparable; {runs}"
    else:
        separable = "separable" if separation["exceeds_noise"] else "not separable"
        verdict = f"over seeds' best epochs: {separable} from the seed noise"
    cells = separation.get("selected_from", 2)
    optimistic = f"; optimistic: top 2 of {cells} cells" if cells > 2 else ""
    return f"{lead}\n{verdict} ({separation['test']}, p = {separation['p_value']:.2g}{optimistic})"


def grid_comparison_figure(
    history_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    best_path: str | os.PathLike,
    title: str,
) -> Figure:
    """Every grid cell's validation accuracy against epoch, the mean over its seeds with their
    range as a band; the selected cell in red, and whether it is separable from the runner-up.

    Runs live in <cell>/seed<n>/ folders. The cell named in best.json is drawn last, thick and
    red, so it sits on top; the others share a colour map without red.
    """
    if len(history_paths) != len(info_paths):
        raise ValueError(
            f"got {len(history_paths)} histories but {len(info_paths)} train.json files: "
            "pass one of each per run, in the same order"
        )
    best = read_json(best_path)
    selected_cell = best["cell"]
    histories_of_cell, info_of_cell = {}, {}
    for history_path, info_path in zip(history_paths, info_paths):
        cell = Path(history_path).parent.parent.name
        histories_of_cell.setdefault(cell, []).append(history_columns(history_path))
        info_of_cell.setdefault(cell, read_json(info_path))
    cells = list(histories_of_cell)
    if selected_cell not in cells:
        raise ValueError(
            f"{best_path} selects the cell '{selected_cell}', which is not among the grid's "
            f"cells {cells}; rerun select_best after changing the grid"
        )
    figure, axes = plt.subplots(figsize=(8, 5), layout="constrained")
    other_colours = iter(
        plt.get_cmap(OTHER_CELLS_COLOURMAP)(np.linspace(0.1, 0.85, max(len(cells) - 1, 1)))
    )
    for cell in [*[c for c in cells if c != selected_cell], selected_cell]:
        selected = cell == selected_cell
        label = cell_label(info_of_cell[cell]) + (" (selected)" if selected else "")
        plot_over_seeds(
            axes,
            histories_of_cell[cell],
            "val_accuracy",
            SELECTED_COLOUR if selected else next(other_colours),
            "o-",
            label,
            linewidth=2.5 if selected else 1.2,
            markersize=5 if selected else 3,
            zorder=3 if selected else 2,
        )
    axes.set_title(f"{title}\n{selection_verdict(best)}", fontsize="medium")
    epoch_axis(axes, last_epoch=max(int(line.get_xdata()[-1]) for line in axes.get_lines()))
    axes.set_ylabel("validation accuracy")
    axes.grid(alpha=0.3)
    axes.legend(title="grid cell", fontsize="small")
    return figure


def feature_maps_figure(
    layer_maps: dict[str, np.ndarray], title: str, image: np.ndarray, columns: int = 16
) -> Figure:
    """The input `image` (uint8), then each layer's channels (height x width x channels) tiled
    in rows of `columns`, one panel per layer, titled with the layer's name.

    Every channel is standardised on its own, as channels differ in scale by orders of
    magnitude.
    """
    panels = [
        (
            f"{name}: {maps.shape[-1]} channels of {maps.shape[0]}x{maps.shape[1]}",
            tile(standardise_channels(maps), min(columns, maps.shape[-1])),
        )
        for name, maps in layer_maps.items()
    ]
    width = 12
    # Each layer panel gets height in proportion to its tiled image's, so tiles keep their
    # aspect; the input image gets a fixed fifth of the width.
    ratios = [0.2] + [tiled.shape[0] / tiled.shape[1] for _, tiled in panels]
    figure, axes_list = plt.subplots(
        len(ratios),
        1,
        figsize=(width, width * sum(ratios) + 0.5 * len(ratios) + 0.8),
        height_ratios=ratios,
        layout="constrained",
        squeeze=False,
    )
    axes_list = axes_list[:, 0]
    axes_list[0].imshow(image, interpolation="nearest")
    axes_list[0].set_title("input image", fontsize="medium")
    axes_list[0].set_axis_off()
    for axes, (panel_title, tiled) in zip(axes_list[1:], panels):
        shown = axes.imshow(
            tiled, cmap=FEATURE_MAP_COLOURMAP, vmin=0, vmax=255, interpolation="nearest"
        )
        axes.set_title(panel_title, fontsize="medium")
        axes.set_axis_off()
    colourbar = figure.colorbar(shown, ax=axes_list[1:], shrink=0.6, pad=0.01)
    colourbar.set_ticks([0, 128, 255], labels=["low", "channel mean", "high"])
    colourbar.set_label("activation (each channel standardised)")
    figure.suptitle(title)
    return figure


def standardise_channels(maps: np.ndarray) -> np.ndarray:
    """Every channel to mean 128 and standard deviation 64, clipped to 0..255.

    A flat channel (a ReLU that nothing in the image switches on) becomes 0, so it reads as
    "no response" rather than as an average one.
    """
    maps = maps.astype(np.float64)
    centred = maps - maps.mean(axis=(0, 1), keepdims=True)
    spread = maps.std(axis=(0, 1), keepdims=True)
    scaled = np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)
    return np.where(spread > 0, np.clip(scaled * 64 + 128, 0, 255), 0.0)


def tile(maps: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """Channels (height x width x channels) laid out in rows of `columns`.

    The gaps between tiles are NaN, so they draw as the figure's background.
    """
    height, width, channels = maps.shape[0], maps.shape[1], maps.shape[2]
    rows = -(-channels // columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for channel in range(channels):
        row, column = divmod(channel, columns)
        top, left = row * (height + gap), column * (width + gap)
        grid[top : top + height, left : left + width] = maps[:, :, channel]
    return grid


def image_grid_figure(
    rows: list[tuple[str, list[tuple[str, np.ndarray]]]],
    title: str,
    columns: int | None = None,
) -> Figure:
    """Images (uint8, height x width x 3) in labelled rows: [(row label, [(caption, image)])].

    Used for filter patterns (a row per layer) and augmentation samples.
    """
    columns = columns or max(len(images) for _, images in rows)
    lines = [
        (label, images[start : start + columns])
        for label, images in rows
        for start in range(0, len(images), columns)
    ]
    tile_inches = 1.6
    figure, axes_grid = plt.subplots(
        len(lines),
        columns,
        figsize=(columns * tile_inches + 0.8, len(lines) * (tile_inches + 0.35) + 0.7),
        layout="constrained",
        squeeze=False,
    )
    for (label, images), axes_row in zip(lines, axes_grid):
        for index, axes in enumerate(axes_row):
            axes.set_xticks([])
            axes.set_yticks([])
            if index >= len(images):
                axes.set_axis_off()
                continue
            caption, image = images[index]
            axes.imshow(image, interpolation="nearest")
            axes.set_title(caption, fontsize="small")
        axes_row[0].set_ylabel(label, fontsize="medium")
    figure.suptitle(title)
    return figure
