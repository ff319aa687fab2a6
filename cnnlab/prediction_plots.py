"""Figures of what each model said of every test image, drawn from the per-image predictions
files (`cnnlab.predictions`) and the test split's arrays only: confusion matrices and galleries
of the most confidently wrong images. No model is loaded, so these jobs never start Keras.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from cnnlab.plots import image_grid_figure, plt, save_figure, selected_cell_path
from cnnlab.predictions import Predictions, read_predictions

# Counts and fractions alike: white is none, dark blue is many.
CONFUSION_COLOURMAP = "Blues"


def confusion_counts(predictions: Predictions) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    classes = len(predictions.class_names)
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (predictions.labels, predictions.predicted), 1)
    return counts


def pooled_confusion(runs: list[Predictions]) -> np.ndarray:
    """The confusion counts of a model's seeds added up; every seed must have scored the same
    images (the same ids, labels and classes), or the sum would mix test sets."""
    first = runs[0]
    for other in runs[1:]:
        if not (
            np.array_equal(other.ids, first.ids)
            and np.array_equal(other.labels, first.labels)
            and np.array_equal(other.class_names, first.class_names)
        ):
            raise ValueError(
                "the seeds' predictions are of different test images: rerun their evaluate "
                "jobs (snakemake --forcerun evaluate)"
            )
    return sum(confusion_counts(run) for run in runs)


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the fraction of a true class given each prediction); a
    class with no images keeps a row of zeros."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def confusion_matrix_figure(counts: np.ndarray, class_names: list[str], title: str) -> Figure:
    """Counts (left) and row-normalised fractions (right), true class down, prediction across."""
    classes = len(class_names)
    side = 3.2 if classes <= 3 else 5.2
    figure, panels = plt.subplots(1, 2, figsize=(2 * side + 0.6, side + 1.0), layout="constrained")
    for axes, values, name, text_of in (
        (panels[0], counts, "counts", lambda value: f"{value:d}"),
        (
            panels[1],
            row_normalised(counts),
            "fraction of each true class",
            lambda value: f"{value:.2f}",
        ),
    ):
        high = values.max() if values.max() > 0 else 1
        axes.imshow(values, cmap=CONFUSION_COLOURMAP, vmin=0, vmax=high)
        fontsize = "medium" if classes <= 3 else "x-small"
        for row in range(classes):
            for column in range(classes):
                value = values[row, column]
                axes.text(
                    column,
                    row,
                    text_of(value),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if value > 0.6 * high else "black",
                )
        many = classes > 3  # long names side by side would overlap: slant them
        axes.set_xticks(
            range(classes),
            class_names,
            rotation=45 if many else 0,
            ha="right" if many else "center",
        )
        axes.set_yticks(range(classes), class_names)
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        axes.set_title(name, fontsize="medium")
    figure.suptitle(title)
    return figure


def confusion_title(title: str, counts: np.ndarray, seeds: int) -> str:
    images = int(counts.sum()) // seeds
    accuracy = np.trace(counts) / counts.sum()
    pooled = f", summed over {seeds} seeds" if seeds > 1 else ""
    return f"{title}\n{images} test images{pooled}; accuracy {accuracy:.3f}"


def draw_confusion_matrices(
    runs_of_model: dict[str, list[str | os.PathLike]],
    out_paths: dict[str, str | os.PathLike],
    titles: dict[str, str],
    dpi: int,
) -> None:
    """One confusion-matrix PNG per model: {model: its runs' test_predictions.npz},
    {model: PNG path}, {model: title}."""
    for model, paths in runs_of_model.items():
        runs = [read_predictions(path) for path in paths]
        counts = pooled_confusion(runs)
        figure = confusion_matrix_figure(
            counts, runs[0].class_names.tolist(), confusion_title(titles[model], counts, len(runs))
        )
        save_figure(figure, out_paths[model], dpi=dpi)


def most_confident_failures(predictions: Predictions, count: int) -> np.ndarray:
    """Indices of up to `count` wrongly classified images, the most confident first (by the
    probability the model gave its wrong prediction); ties keep the split's order."""
    wrong = np.flatnonzero(~predictions.correct)
    confidence = predictions.probabilities[wrong, predictions.predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def failures_figure(
    predictions: Predictions, images: np.ndarray, image_ids: np.ndarray, count: int, title: str
) -> Figure:
    """The `count` test images the model gets most confidently wrong, each with its true
    label, the prediction and its probability, and the image's id. `images` and `image_ids`
    are the test split's arrays (the images are found by id)."""
    position = {image_id: index for index, image_id in enumerate(image_ids.tolist())}
    missing = [image_id for image_id in predictions.ids.tolist() if image_id not in position]
    if missing:
        raise ValueError(
            f"{len(missing)} predicted images (e.g. {missing[0]}) are not in the test split: "
            "the predictions are of another split; rerun the evaluate job"
        )
    names = predictions.class_names
    tiles = []
    for index in most_confident_failures(predictions, count):
        predicted = predictions.predicted[index]
        caption = (
            f"{predictions.ids[index].rsplit('/', 1)[-1]}\n"
            f"true: {names[predictions.labels[index]]}\n"
            f"said: {names[predicted]}\n"
            f"p = {predictions.probabilities[index, predicted]:.2f}"
        )
        tiles.append((caption, images[position[predictions.ids[index]]]))
    wrong = int((~predictions.correct).sum())
    summary = f"{wrong} of {len(predictions.labels)} test images wrong"
    if not tiles:
        figure, axes = plt.subplots(figsize=(6, 2), layout="constrained")
        axes.set_axis_off()
        axes.text(0.5, 0.5, "no test image is classified wrongly", ha="center", va="center")
        figure.suptitle(f"{title}\n{summary}")
        return figure
    figure = image_grid_figure(
        [("most confident\nfailures", tiles)],
        title=f"{title}\n{summary}; "
        + (
            f"all {wrong} shown"
            if len(tiles) == wrong
            else f"the {len(tiles)} most confident shown"
        ),
        columns=min(len(tiles), 8),
    )
    # Four caption lines per tile: room for them under the two-line title.
    lines = -(-len(tiles) // 8)
    figure.set_figheight(figure.get_figheight() + 0.45 * lines)
    return figure


def draw_failure_galleries(
    selections: list[dict],
    test_data: dict[str, str | os.PathLike],
    count: int,
    dpi: int,
) -> None:
    """One gallery PNG per selected model. Each selection is {"dataset", "predictions": [one
    test_predictions.npz], or one per grid cell with "best": the best.json that chooses among
    them, "out": the PNG, "title"}; `test_data` maps a dataset to its test split's .npz."""
    splits = {}
    for selection in selections:
        dataset = selection["dataset"]
        if dataset not in splits:
            with np.load(test_data[dataset], allow_pickle=False) as arrays:
                splits[dataset] = (arrays["images"], arrays["ids"])
        title = selection["title"]
        if "best" in selection:
            path = selected_cell_path(selection["predictions"], selection["best"])
            title = f"{title}, best cell {path.parent.parent.name}"
        else:
            (path,) = selection["predictions"]
        images, image_ids = splits[dataset]
        figure = failures_figure(read_predictions(path), images, image_ids, count, title)
        save_figure(figure, selection["out"], dpi=dpi)
