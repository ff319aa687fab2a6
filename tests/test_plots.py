"""Figures from saved files: pixel sizes, the grid's selected cell in red, atomic writes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from cnnlab import plots


def write_history(path, val_accuracy, columns=plots.HISTORY_COLUMNS):
    """A Keras CSVLogger-style history whose validation accuracy is `val_accuracy` per epoch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = len(val_accuracy)
    values = {
        "epoch": range(epochs),
        "accuracy": np.linspace(0.5, 0.9, epochs),
        "loss": np.linspace(0.7, 0.3, epochs),
        "val_accuracy": val_accuracy,
        "val_loss": np.linspace(0.7, 0.5, epochs),
    }
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for epoch in range(epochs):
            writer.writerow(values[column][epoch] for column in columns)
    return path


def write_grid(tmp_path, cells, selected):
    """Histories and train.json of grid cells {name: (learning rate, filters, val accuracy)}."""
    histories, infos = [], []
    for name, (learning_rate, filters, val_accuracy) in cells.items():
        histories.append(write_history(tmp_path / name / "seed1" / "history.csv", val_accuracy))
        info = tmp_path / name / "seed1" / "train.json"
        info.write_text(
            json.dumps({"settings": {"learning_rate": learning_rate, "filters": filters}})
        )
        infos.append(info)
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"cell": selected, "runner_up": None}))
    return histories, infos, best


GRID = {
    "lr0.001_f16": (0.001, 16, [0.50, 0.55, 0.60]),
    "lr0.001_f32": (0.001, 32, [0.52, 0.61, 0.70]),
    "lr0.0003_f16": (0.0003, 16, [0.51, 0.53, 0.54]),
}


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def expected_pixels(figure, dpi):
    width, height = figure.get_size_inches()
    return round(width * dpi), round(height * dpi)


@pytest.mark.parametrize("dpi", [40, 90])
def test_training_curves_png_has_the_figure_size_times_dpi(tmp_path, dpi):
    history = write_history(tmp_path / "history.csv", [0.5, 0.6, 0.65, 0.7])
    figure = plots.training_curves_figure([history], title="Cats vs dogs: test model")
    expected = expected_pixels(figure, dpi)
    out = tmp_path / "figures" / "curves.png"

    plots.save_figure(figure, out, dpi=dpi)

    assert png_size(out) == expected


def test_training_curves_label_both_panels_and_show_train_and_validation(tmp_path):
    history = write_history(tmp_path / "history.csv", [0.5, 0.6, 0.65])
    figure = plots.training_curves_figure([history], title="a model")

    for axes in figure.axes:
        assert axes.get_title() and axes.get_xlabel() == "epoch" and axes.get_ylabel()
        labels = [text.get_text() for text in axes.get_legend().get_texts()]
        assert labels == ["training", "validation"]
        colours = [to_rgba(line.get_color()) for line in axes.get_lines()]
        assert colours == [to_rgba(plots.TRAIN_COLOUR), to_rgba(plots.VALIDATION_COLOUR)]
        # Epochs are counted from 1 on the x axis, though CSVLogger counts from 0.
        assert list(axes.get_lines()[0].get_xdata()) == [1, 2, 3]


def test_grid_comparison_draws_the_selected_cell_in_red_and_the_others_not(tmp_path):
    histories, infos, best = write_grid(tmp_path, GRID, selected="lr0.001_f32")

    figure = plots.grid_comparison_figure(histories, infos, best, title="grid")

    axes = figure.axes[0]
    red = to_rgba(plots.SELECTED_COLOUR)
    red_lines = [line for line in axes.get_lines() if to_rgba(line.get_color()) == red]
    assert len(red_lines) == 1
    assert list(red_lines[0].get_ydata()) == GRID["lr0.001_f32"][2]
    assert "filters=32" in red_lines[0].get_label() and "selected" in red_lines[0].get_label()
    assert len(axes.get_lines()) == len(GRID)
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert "lr=0.0003, filters=16" in legend
    assert axes.get_xlabel() == "epoch" and axes.get_ylabel() == "validation accuracy"


def test_curves_over_seeds_show_the_mean_and_the_seeds_range(tmp_path):
    runs = [[0.5, 0.6, 0.7], [0.4, 0.7, 0.9], [0.6, 0.5, 0.8]]
    histories = [
        write_history(tmp_path / f"seed{seed}" / "history.csv", values)
        for seed, values in enumerate(runs)
    ]
    figure = plots.training_curves_figure(histories, title="three seeds")

    accuracy_axes = figure.axes[0]
    validation = accuracy_axes.get_lines()[1]
    np.testing.assert_allclose(validation.get_ydata(), np.mean(runs, axis=0))
    assert "mean of 3 seeds" in validation.get_label()
    band = accuracy_axes.collections[1].get_paths()[0].vertices[:, 1]  # the validation band
    assert band.min() == pytest.approx(0.4) and band.max() == pytest.approx(0.9)
    assert "band" in figure.get_suptitle()


def test_the_grid_figure_says_whether_the_selection_is_separable(tmp_path):
    histories, infos, best = write_grid(tmp_path, GRID, selected="lr0.001_f32")
    best.write_text(
        json.dumps(
            {
                "cell": "lr0.001_f32",
                "runner_up": "lr0.001_f16",
                "margin": 0.1,
                "separation": {"exceeds_noise": False, "test": "welch", "p_value": 0.31},
            }
        )
    )
    title = plots.grid_comparison_figure(histories, infos, best, title="grid").axes[0].get_title()
    assert "not separable" in title and "lr0.001_f16" in title and "p = 0.31" in title


def test_the_grid_figure_with_one_seed_says_the_cells_are_not_comparable(tmp_path):
    histories, infos, best = write_grid(tmp_path, GRID, selected="lr0.001_f32")
    best.write_text(
        json.dumps(
            {
                "cell": "lr0.001_f32",
                "runner_up": "lr0.001_f16",
                "margin": 0.1,
                "separation": {
                    "exceeds_noise": None,
                    "runs_differ": True,
                    "test": "mcnemar",
                    "p_value": 0.004,
                },
            }
        )
    )
    title = plots.grid_comparison_figure(histories, infos, best, title="grid").axes[0].get_title()
    assert "1 seed, cells not comparable; runs differ (mcnemar, p = 0.004)" in title
    assert "separable" not in title


def test_the_grid_figure_keeps_the_best_epochs_lead_apart_from_the_final_epochs_test(tmp_path):
    """Issue 25: the title read 'selected leads lr0.003_f16 by +0.014 ... runs differ (mcnemar,
    p = 0.0091)', but the lead is between best epochs and McNemar's test between the final
    epochs' models (0.692 against 0.622): each fact on its own line, with its numbers, and the
    p-value of the top two of four cells said to be optimistic."""
    histories, infos, best = write_grid(tmp_path, GRID, selected="lr0.001_f32")
    best.write_text(
        json.dumps(
            {
                "cell": "lr0.001_f32",
                "runner_up": "lr0.001_f16",
                "margin": 0.014,
                "separation": {
                    "exceeds_noise": None,
                    "runs_differ": True,
                    "test": "mcnemar",
                    "p_value": 0.0091,
                    "selected_from": 4,
                    "mcnemar": [
                        {
                            "seed": 1,
                            "a": "lr0.001_f16",
                            "b": "lr0.001_f32",
                            "a_accuracy": 0.622,
                            "b_accuracy": 0.692,
                            "p_value": 0.0091,
                        }
                    ],
                },
            }
        )
    )
    title = plots.grid_comparison_figure(histories, infos, best, title="grid").axes[0].get_title()
    lead, test = title.split("\n")[1:]
    assert lead == "selected leads lr0.001_f16 by +0.014 (best epochs' validation accuracy)"
    assert test == (
        "1 seed, cells not comparable; final epochs' models 0.692 vs 0.622: runs differ "
        "(mcnemar, p = 0.0091; optimistic: top 2 of 4 cells)"
    )


def test_grid_comparison_png_size(tmp_path):
    histories, infos, best = write_grid(tmp_path, GRID, selected="lr0.001_f16")
    figure = plots.grid_comparison_figure(histories, infos, best, title="grid")
    expected = expected_pixels(figure, 50)

    plots.save_figure(figure, tmp_path / "grid.png", dpi=50)

    assert png_size(tmp_path / "grid.png") == expected


def test_grid_comparison_rejects_a_best_cell_outside_the_grid(tmp_path):
    histories, infos, best = write_grid(tmp_path, GRID, selected="lr0.1_f64")

    with pytest.raises(ValueError, match=r"lr0\.1_f64.*rerun select_best"):
        plots.grid_comparison_figure(histories, infos, best, title="grid")


def test_a_history_without_validation_columns_is_refused_with_the_missing_names(tmp_path):
    history = write_history(tmp_path / "history.csv", [0.5], columns=("epoch", "accuracy", "loss"))

    with pytest.raises(ValueError, match="val_accuracy, val_loss"):
        plots.history_columns(history)


def test_feature_maps_and_image_grid_pngs_have_the_figure_size_times_dpi(tmp_path):
    generator = np.random.default_rng(0)
    maps = {
        "block1_conv": generator.random((30, 30, 20)),
        "block2_conv": generator.random((13, 13, 8)),
    }
    image = generator.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    feature_maps = plots.feature_maps_figure(maps, title="activations", image=image)
    image_grid = plots.image_grid_figure(
        [("block1_conv", [(f"filter {i}", image) for i in range(3)])], title="filters"
    )
    for name, figure in (("maps.png", feature_maps), ("grid.png", image_grid)):
        expected = expected_pixels(figure, 60)
        plots.save_figure(figure, tmp_path / name, dpi=60)
        assert png_size(tmp_path / name) == expected


def test_tile_lays_channels_out_in_rows_with_gaps():
    maps = np.arange(2 * 2 * 5, dtype=float).reshape(2, 2, 5)

    tiled = plots.tile(maps, columns=3, gap=1)

    assert tiled.shape == (2 * 2 + 1, 3 * 2 + 2)
    np.testing.assert_array_equal(tiled[0:2, 0:2], maps[:, :, 0])
    np.testing.assert_array_equal(tiled[3:5, 3:5], maps[:, :, 4])
    assert np.isnan(tiled[3:5, 6:8]).all()  # no sixth channel


def test_a_failing_save_leaves_neither_the_figure_nor_a_partial_file(tmp_path):
    history = write_history(tmp_path / "history.csv", [0.5, 0.6])
    figure = plots.training_curves_figure([history], title="a model")

    def write_half_then_fail(path, **kwargs):
        with open(path, "wb") as half:
            half.write(b"\x89PNG half")
        raise OSError("disk full")

    figure.savefig = write_half_then_fail
    out = tmp_path / "out" / "curves.png"
    with pytest.raises(OSError, match="disk full"):
        plots.save_figure(figure, out, dpi=50)

    assert list(out.parent.iterdir()) == []


def test_channels_are_standardised_each_on_its_own_and_a_dead_channel_reads_as_no_response():
    generator = np.random.default_rng(0)
    maps = np.stack(
        [generator.normal(0, 0.001, (6, 6)), generator.normal(50, 20, (6, 6)), np.zeros((6, 6))],
        axis=-1,
    )

    shown = plots.standardise_channels(maps)

    for channel in (0, 1):  # tiny and large scales look alike
        assert shown[:, :, channel].mean() == pytest.approx(128, abs=8)
        assert shown[:, :, channel].std() == pytest.approx(64, abs=8)
    assert (shown[:, :, 2] == 0).all()


def test_runs_comparison_draws_each_runs_mean_with_a_band_from_lowest_to_highest_seed(tmp_path):
    # Run A: one seed. Run B: three seeds, one of which stopped after two epochs.
    a = [write_history(tmp_path / "a" / "history.csv", [0.50, 0.60, 0.70])]
    b = [
        write_history(tmp_path / "b1" / "history.csv", [0.52, 0.62, 0.72]),
        write_history(tmp_path / "b2" / "history.csv", [0.56, 0.66, 0.74]),
        write_history(tmp_path / "b3" / "history.csv", [0.54, 0.70]),
    ]

    figure = plots.runs_comparison_figure([("before", a), ("after", b)], title="a model")

    axes = figure.axes[0]
    a_line, b_line = axes.get_lines()
    assert to_rgba(a_line.get_color()) == to_rgba(plots.COMPARED_RUN_COLOURS[0])
    assert to_rgba(b_line.get_color()) == to_rgba(plots.COMPARED_RUN_COLOURS[1])
    assert list(a_line.get_xdata()) == [1, 2, 3]
    assert list(a_line.get_ydata()) == pytest.approx([0.50, 0.60, 0.70])
    # The third epoch averages the two seeds that reached it.
    assert list(b_line.get_ydata()) == pytest.approx([0.54, 0.66, 0.73])
    (band,) = axes.collections  # only the run with several seeds has one
    # Its outline runs along the lowest seed per epoch and back along the highest.
    outline = {(x, round(y, 6)) for x, y in band.get_paths()[0].vertices}
    assert outline == {(1, 0.52), (2, 0.62), (3, 0.72), (1, 0.56), (2, 0.70), (3, 0.74)}
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["before (1 seed)", "after (mean of 3 seeds; band: lowest to highest)"]
    assert axes.get_ylabel() == "validation accuracy"


def test_runs_comparison_compares_two_runs_only(tmp_path):
    history = write_history(tmp_path / "history.csv", [0.5])
    with pytest.raises(ValueError, match="two runs, not 3"):
        plots.runs_comparison_figure([("a", [history]), ("b", [history]), ("c", [history])], "x")
