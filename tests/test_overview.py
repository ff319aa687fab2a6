"""The overview forest plot, drawn from a fake finished results folder: a row per model with
our interval, the report's number with its own, chance, the best cell and the verdicts."""

from __future__ import annotations

from matplotlib.colors import to_rgba
from test_plots import expected_pixels, png_size
from test_summary import REPORT_NUMBERS, REPORT_TEST_IMAGES, write_inputs

from cnnlab.overview import overview_figure, plot_overview
from cnnlab.plots import SELECTED_COLOUR
from cnnlab.summary import summary_rows

CATSDOGS = ["catsdogs/basic/lr0.001_f16", "catsdogs/basic/lr0.001_f32", "catsdogs/vgg16_frozen"]


def catsdogs_inputs(tmp_path):
    """The cats/dogs models of test_summary's fake results, and their files."""
    _, runs, metrics_paths, info_paths, best_paths = write_inputs(tmp_path)
    chosen = [index for index, run in enumerate(runs) if run.startswith("catsdogs/")]
    return (
        CATSDOGS,
        [runs[i] for i in chosen],
        [metrics_paths[i] for i in chosen],
        [info_paths[i] for i in chosen],
        {"catsdogs/basic": best_paths["catsdogs/basic"]},
    )


def test_the_overview_draws_each_model_beside_the_reports_number_with_chance_and_verdicts(tmp_path):
    models, runs, metrics_paths, info_paths, best_paths = catsdogs_inputs(tmp_path)
    numbers = {key: value for key, value in REPORT_NUMBERS.items() if key.startswith("catsdogs")}
    rows = summary_rows(
        models, runs, metrics_paths, info_paths, best_paths, numbers, REPORT_TEST_IMAGES
    )
    axes = overview_figure(rows, chance=0.5, title="Cats vs dogs").axes[0]

    # Ours: a dot per model at its accuracy; the report's: a diamond where it has a number
    # (the best cell and VGG16; the other grid cell has none).
    ours = [line for line in axes.get_lines() if line.get_marker() == "o"]
    report = [line for line in axes.get_lines() if line.get_marker() == "D"]
    assert sorted(line.get_xdata()[0] for line in ours) == [0.64, 0.69, 0.875]
    assert sorted(line.get_xdata()[0] for line in report) == [0.709, 0.907]
    chance = [line for line in axes.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in chance] == [0.5]
    labels = [label.get_text() for label in axes.get_yticklabels()]
    # Drawn top to bottom in the table's order.
    assert labels == [
        "basic/lr0.001_f16 (1 seed)",
        "basic/lr0.001_f32 (1 seed, best of grid)",
        "vgg16_frozen (1 seed)",
    ]
    best_label = next(
        label for label in axes.get_yticklabels() if "best of grid" in label.get_text()
    )
    assert to_rgba(best_label.get_color()) == to_rgba(SELECTED_COLOUR)
    verdicts = [label.get_text() for label in axes.child_axes[0].get_yticklabels()]
    assert verdicts[0] == "report: no number"
    assert verdicts[1].startswith("-0.019 [") and verdicts[1].endswith(
        ": runs within test-set noise; 1 seed"
    )
    # Our interval on 100 images is the Wilson interval (one seed); the report's, on 600, narrower.
    vgg = rows[2]
    [vgg_bar] = [bar for bar in axes.containers if bar.lines[0].get_xdata()[0] == 0.875]
    ((start, end),) = vgg_bar.lines[2][0].get_segments()
    assert (start[0], end[0]) == (
        vgg["test_accuracy_interval_low"],
        vgg["test_accuracy_interval_high"],
    )


def test_plot_overview_writes_a_png_of_the_figure_size_from_saved_files(tmp_path):
    models, runs, metrics_paths, info_paths, best_paths = catsdogs_inputs(tmp_path)
    out = tmp_path / "figures" / "catsdogs" / "overview.png"
    # The whole config's report numbers: the other data set's are left out, not refused.
    plot_overview(
        "catsdogs",
        models,
        runs,
        metrics_paths,
        info_paths,
        best_paths,
        REPORT_NUMBERS,
        REPORT_TEST_IMAGES,
        title="Cats vs dogs",
        out_path=out,
        dpi=50,
    )
    rows = summary_rows(
        models,
        runs,
        metrics_paths,
        info_paths,
        best_paths,
        {"catsdogs/basic": 0.709, "catsdogs/vgg16_frozen": 0.907},
        REPORT_TEST_IMAGES,
    )
    assert png_size(out) == expected_pixels(overview_figure(rows, 0.5, "Cats vs dogs"), 50)
