"""Figures from the per-image predictions: confusion matrices (counts from known predictions),
galleries of the most confident failures, and Grad-CAM (where a known model looks)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnnlab import prediction_plots
from cnnlab.plots import save_figure
from cnnlab.predictions import Predictions, write_predictions

CLASSES = np.array(["cat", "dog", "bird"])


def predictions_of(labels, predicted, confidence=None, ids=None, classes=CLASSES):
    """Predictions whose most probable class is `predicted`, with that class's probability
    `confidence` (the rest shared by the others)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    confidence = np.full(len(labels), 0.8) if confidence is None else np.asarray(confidence)
    probabilities = np.tile((1 - confidence)[:, None] / (len(classes) - 1), (1, len(classes)))
    probabilities[np.arange(len(labels)), predicted] = confidence
    ids = (
        np.array([f"test/{index:03d}.jpg" for index in range(len(labels))]) if ids is None else ids
    )
    return Predictions(ids, labels, probabilities.astype(np.float32), classes)


def png_pixels(figure, path, dpi=50):
    save_figure(figure, path, dpi=dpi)
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# ----------------------------------------------------------------------- confusion matrices


def test_confusion_counts_from_known_predictions():
    # true:      cat cat cat dog dog bird bird bird bird
    # predicted: cat dog cat dog cat bird bird dog  bird
    predictions = predictions_of([0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 1, 0, 1, 0, 2, 2, 1, 2])
    counts = prediction_plots.confusion_counts(predictions)
    np.testing.assert_array_equal(counts, [[2, 1, 0], [1, 1, 0], [0, 1, 3]])
    np.testing.assert_allclose(
        prediction_plots.row_normalised(counts), [[2 / 3, 1 / 3, 0], [0.5, 0.5, 0], [0, 0.25, 0.75]]
    )


def test_a_class_without_test_images_keeps_a_row_of_zeros():
    counts = prediction_plots.confusion_counts(predictions_of([0, 1, 1], [0, 0, 1]))
    np.testing.assert_array_equal(prediction_plots.row_normalised(counts)[2], [0, 0, 0])


def test_seeds_add_up_and_must_have_scored_the_same_images():
    first = predictions_of([0, 1, 2], [0, 1, 1])
    second = predictions_of([0, 1, 2], [1, 1, 2])
    np.testing.assert_array_equal(
        prediction_plots.pooled_confusion([first, second]), [[1, 1, 0], [0, 2, 0], [0, 1, 1]]
    )
    other_images = predictions_of([0, 1, 2], [0, 1, 2], ids=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="different test images"):
        prediction_plots.pooled_confusion([first, other_images])


def test_the_confusion_figure_shows_counts_and_fractions_with_class_names(tmp_path):
    predictions = predictions_of([0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 1, 0, 1, 0, 2, 2, 1, 2])
    counts = prediction_plots.confusion_counts(predictions)
    figure = prediction_plots.confusion_matrix_figure(counts, CLASSES.tolist(), "a model")
    counts_axes, fractions_axes = figure.axes
    np.testing.assert_array_equal(counts_axes.images[0].get_array(), counts)
    assert [text.get_text() for text in counts_axes.texts] == [
        "2",
        "1",
        "0",
        "1",
        "1",
        "0",
        "0",
        "1",
        "3",
    ]
    assert [text.get_text() for text in fractions_axes.texts][:3] == ["0.67", "0.33", "0.00"]
    assert [label.get_text() for label in counts_axes.get_xticklabels()] == CLASSES.tolist()
    assert [label.get_text() for label in fractions_axes.get_yticklabels()] == CLASSES.tolist()
    pixels = png_pixels(figure, tmp_path / "confusion.png")
    assert pixels.std() > 10  # something drawn, not a blank page


def test_one_confusion_png_per_model_titled_with_its_accuracy(tmp_path):
    paths = {}
    for seed, predicted in ((1, [0, 1, 1, 2]), (2, [0, 1, 2, 2])):
        paths[seed] = tmp_path / f"seed{seed}" / "test_predictions.npz"
        paths[seed].parent.mkdir()
        write_predictions(paths[seed], predictions_of([0, 1, 2, 2], predicted))
    out = {"cifar10/basic/lr0.001_f8": tmp_path / "figures" / "confusion.png"}
    prediction_plots.draw_confusion_matrices(
        {"cifar10/basic/lr0.001_f8": [paths[1], paths[2]]},
        out,
        {"cifar10/basic/lr0.001_f8": "CIFAR-10: basic CNN"},
        dpi=40,
    )
    with Image.open(out["cifar10/basic/lr0.001_f8"]) as image:
        assert image.size[0] > 200 and np.asarray(image.convert("L")).std() > 10
    title = prediction_plots.confusion_title("t", np.array([[1, 0], [1, 2]]) * 2, seeds=2)
    assert title == "t\n4 test images, summed over 2 seeds; accuracy 0.750"


# -------------------------------------------------------------------------------- galleries


def test_the_gallery_picks_the_most_confidently_wrong_images_first():
    predictions = predictions_of(
        labels=[0, 0, 1, 1, 2, 2],
        predicted=[1, 0, 0, 1, 0, 1],
        confidence=[0.6, 0.99, 0.9, 0.95, 0.7, 0.9],
    )
    # Wrong: 0 (0.6), 2 (0.9), 4 (0.7), 5 (0.9); the tie keeps the split's order.
    np.testing.assert_array_equal(
        prediction_plots.most_confident_failures(predictions, 3), [2, 5, 4]
    )
    np.testing.assert_array_equal(
        prediction_plots.most_confident_failures(predictions, 10), [2, 5, 4, 0]
    )
    all_right = predictions_of([0, 1], [0, 1])
    assert len(prediction_plots.most_confident_failures(all_right, 3)) == 0


def test_the_gallery_shows_each_failure_with_its_label_prediction_and_probability(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    ids = np.array([f"test/{index:03d}.jpg" for index in range(6)])
    predictions = predictions_of(
        [0, 0, 1, 1, 2, 2], [1, 0, 0, 1, 0, 1], [0.6, 0.99, 0.9, 0.95, 0.7, 0.9], ids=ids
    )
    # The split's arrays in another order than the predictions: images are found by id.
    order = np.array([5, 3, 1, 0, 2, 4])
    figure = prediction_plots.failures_figure(predictions, images[order], ids[order], 2, "model")
    shown = [axes for axes in figure.axes if axes.images]
    assert [axes.get_title() for axes in shown] == [
        "002.jpg\ntrue: dog\nsaid: cat\np = 0.90",
        "005.jpg\ntrue: bird\nsaid: dog\np = 0.90",
    ]
    np.testing.assert_array_equal(shown[0].images[0].get_array(), images[2])
    np.testing.assert_array_equal(shown[1].images[0].get_array(), images[5])
    assert "4 of 6 test images wrong" in figure._suptitle.get_text()
    assert png_pixels(figure, tmp_path / "gallery.png").std() > 10


def test_predictions_of_images_outside_the_split_are_refused():
    predictions = predictions_of([0], [1], ids=np.array(["val/cat/1.jpg"]))
    with pytest.raises(ValueError, match="not in the test split"):
        prediction_plots.failures_figure(
            predictions, np.zeros((1, 4, 4, 3), np.uint8), np.array(["test/cat/1.jpg"]), 3, "m"
        )


def test_the_basic_cnns_gallery_is_of_the_cell_best_json_selects(tmp_path, monkeypatch):
    images = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    ids = np.array(["test_batch.bin#00000", "test_batch.bin#00001", "test_batch.bin#00002"])
    np.savez(tmp_path / "test.npz", images=images, ids=ids)
    cells = {"lr0.001_f8": [1, 1, 2], "lr0.01_f8": [0, 2, 2]}  # the second gets only image 1 wrong
    paths = []
    for cell, predicted in cells.items():
        path = tmp_path / "basic" / cell / "seed1" / "test_predictions.npz"
        path.parent.mkdir(parents=True)
        write_predictions(path, predictions_of([0, 1, 2], predicted, ids=ids))
        paths.append(str(path))
    (tmp_path / "best.json").write_text(json.dumps({"cell": "lr0.01_f8"}))
    out = tmp_path / "failures.png"
    selection = {
        "dataset": "cifar10",
        "predictions": paths,
        "best": str(tmp_path / "best.json"),
        "out": str(out),
        "title": "CIFAR-10: basic CNN",
    }
    shown = []
    original = prediction_plots.failures_figure

    def recording(predictions, *args):
        figure = original(predictions, *args)
        shown.append((args[-1], [axes.get_title() for axes in figure.axes if axes.images]))
        return figure

    monkeypatch.setattr(prediction_plots, "failures_figure", recording)
    prediction_plots.draw_failure_galleries([selection], {"cifar10": tmp_path / "test.npz"}, 4, 40)
    assert shown == [
        (
            "CIFAR-10: basic CNN, best cell lr0.01_f8",
            ["test_batch.bin#00001\ntrue: dog\nsaid: bird\np = 0.80"],
        )
    ]
    assert out.stat().st_size > 0


def test_a_model_with_no_failures_gets_a_figure_that_says_so():
    predictions = predictions_of([0, 1], [0, 1])
    figure = prediction_plots.failures_figure(
        predictions, np.zeros((2, 4, 4, 3), np.uint8), predictions.ids, 3, "model"
    )
    assert any("no test image" in text.get_text() for text in figure.axes[0].texts)
