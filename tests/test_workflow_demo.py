"""The whole demo DAG, run once (the `demo_run` fixture): every model trained, evaluated and
tabulated, and the demo data learnable enough that the numbers mean something."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import yaml
from conftest import DEMO_CONFIG, default_config

from cnnlab.stats import wilson_interval

pytestmark = pytest.mark.workflow


def demo_config() -> dict:
    """config.yaml with demo.yaml laid over it, as Snakemake merges them."""

    def merge(base, overlay):
        for key, value in overlay.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    return merge(default_config(), yaml.safe_load(DEMO_CONFIG.read_text()))


def grid_cells(grid: dict) -> set[str]:
    return {f"lr{lr:g}_f{filters}" for lr in grid["learning_rates"] for filters in grid["filters"]}


def read_json(path):
    return json.loads(path.read_text())


def configured_epochs(config: dict, model: str) -> int:
    """The epochs demo.yaml sets for "<dataset>/<model>"."""
    dataset, name = model.split("/", 1)
    if name.startswith("basic/"):
        return config[dataset]["basic"]["epochs"]
    if model == "cifar10/vgg16_base":  # trained for the cats/dogs stages, with their settings
        return config["catsdogs"]["vgg16"]["pretraining"]["epochs"]
    if name.startswith("vgg16_"):
        return config[dataset]["vgg16"][name.removeprefix("vgg16_")]["epochs"]
    return config[dataset][name]["epochs"]


def test_every_model_is_trained_and_evaluated(demo_run):
    config = demo_config()
    expected = (
        {f"catsdogs/basic/{cell}" for cell in grid_cells(config["catsdogs"]["basic"])}
        | {"catsdogs/vgg16_frozen", "catsdogs/vgg16_finetune", "catsdogs/vgg16_augmented"}
        | {f"cifar10/basic/{cell}" for cell in grid_cells(config["cifar10"]["basic"])}
        | {"cifar10/inception", "cifar10/residual"}
        # The demo's VGG16 stages start from a base pretrained on its CIFAR-10 split.
        | ({"cifar10/vgg16_base"} if config["catsdogs"]["vgg16"]["weights"] == "cifar10" else set())
    )
    results = demo_run / "results"
    data_folder = {"catsdogs": "petimages", "cifar10": "cifar10"}
    # One run per model: the demo has one training seed.
    evaluated = {
        path.parent.parent.relative_to(results).as_posix() for path in results.rglob("metrics.json")
    }
    assert evaluated == expected
    assert {path.parent.name for path in results.rglob("metrics.json")} == {"seed1337"}
    assert len([model for model in evaluated if model.startswith("catsdogs/basic/")]) == 4
    for model in expected:
        run = results / model / "seed1337"
        metrics = read_json(run / "metrics.json")
        info = read_json(run / "train.json")
        # The accuracy counts images of the data stage's own test split (another file): a
        # whole number of them right.
        with np.load(results / "data" / data_folder[model.split("/")[0]] / "test.npz") as test:
            n_test = len(test["labels"])
        assert metrics["n_test"] == n_test
        right = metrics["test_accuracy"] * n_test
        assert right == pytest.approx(round(right), abs=1e-3), f"{model}: {right} of {n_test}"
        # Every model ran the epochs the config asks of it (no early stop in the demo).
        assert info["epochs_run"] == metrics["epochs"] == configured_epochs(config, model), model
        with open(run / "history.csv") as handle:
            epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
        assert epochs == list(range(info["epochs_run"])), f"{model}: epochs {epochs}"


def test_best_catsdogs_cell_learns_the_demo_data(demo_run):
    results = demo_run / "results" / "catsdogs" / "basic"
    best = read_json(results / "best.json")
    scores = {candidate["cell"]: candidate["best_val_accuracy"] for candidate in best["candidates"]}
    assert scores[best["cell"]] == max(scores.values())
    tested = {
        cell: read_json(results / cell / "seed1337" / "metrics.json")["test_accuracy"]
        for cell in scores
    }
    # Measured 0.683-0.783 (cnnlab.data.synthetic): clearly above chance, yet the cells differ,
    # so the grid shows what a learning rate or width changes.
    assert tested[best["cell"]] >= 0.7, tested
    assert max(tested.values()) - min(tested.values()) >= 0.05, tested


def test_best_cifar10_model_learns_the_demo_data(demo_run):
    results = demo_run / "results" / "cifar10"
    accuracies = {
        path.parent.relative_to(results).as_posix(): read_json(path)["test_accuracy"]
        for path in results.rglob("metrics.json")
    }
    assert max(accuracies.values()) >= 0.5, accuracies


# What each demo model must reach on its test split: the floors, measured well above them.
TEST_ACCURACY_FLOORS = {
    "catsdogs/vgg16_frozen": 0.65,
    "catsdogs/vgg16_finetune": 0.65,
    "catsdogs/vgg16_augmented": 0.65,
}
CHANCE = {"catsdogs": 1 / 2, "cifar10": 1 / 10}


def test_every_model_beats_chance_by_a_margin(demo_run):
    """Not only the best cells: a model at chance (a VGG16 stage with nothing to learn from, a
    flat curve) is a bug. Every model's 95% Wilson interval of its test accuracy lies above
    chance, and the VGG16 stages reach their floor."""
    results = demo_run / "results"
    below = {}
    for path in sorted(results.rglob("metrics.json")):
        model = path.parent.parent.relative_to(results).as_posix()
        metrics = read_json(path)
        low, _ = wilson_interval(metrics["test_accuracy"], metrics["n_test"])
        floor = TEST_ACCURACY_FLOORS.get(model, 0.0)
        if low <= CHANCE[model.split("/")[0]] or metrics["test_accuracy"] < floor:
            below[model] = (metrics["test_accuracy"], metrics["n_test"], round(low, 3), floor)
    assert not below, (
        f"(test accuracy, test images, Wilson low, floor) of models at chance: {below}"
    )
    assert set(TEST_ACCURACY_FLOORS) <= {
        path.parent.parent.relative_to(results).as_posix() for path in results.rglob("metrics.json")
    }


def test_summary_table_has_a_row_per_model(demo_run):
    results = demo_run / "results"
    with open(results / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(list(results.rglob("metrics.json")))
    # The results table, first in the file: one line per row, below the header and its rule
    # (the per-class tables follow after a blank line).
    markdown = (results / "summary.md").read_text().split("\n\n")
    table_lines = next(block for block in markdown if block.startswith("| model |")).splitlines()
    assert len(table_lines) == len(rows) + 2
    assert [
        line.split("|")[1].strip(" *").removesuffix(" (best of grid)") for line in table_lines[2:]
    ] == [row["model"] for row in rows]


def test_cleanup_manifest_accounts_for_every_junk_kind_of_the_demo_archive(demo_run):
    data = demo_run / "results" / "data" / "petimages"
    with open(data / "clean_manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    decisions = {
        (row["action"], row["reason"].split(":")[0]) for row in rows if row["action"] != "kept"
    }
    for reason in ("zero-byte file", "not an image", "truncated or corrupt", "Thumbs.db"):
        assert ("dropped", reason) in decisions, (reason, decisions)
    for kind in ("greyscale JPEG", "CMYK JPEG", "palette PNG", "RGBA PNG"):
        assert ("converted", f"{kind} converted to RGB") in decisions, (kind, decisions)
    assert ("converted", "RGB TIFF re-encoded as JPEG") in decisions, decisions
    # Nothing lost: every image kept or converted is in the cleaned folder, once.
    survivors = sum(row["action"] != "dropped" for row in rows)
    assert survivors == len(list((data / "clean").rglob("*.jpg")))


def recomputed_best_cell(grid_dir) -> str:
    """The grid cell SELECTION_RULE picks, worked out here from each run's history.csv alone:
    the highest mean over the seeds of the best val_accuracy of any epoch; ties to the higher
    mean final val_accuracy, then the lower mean final val_loss, then the cell name."""
    runs = {}
    for history_path in grid_dir.glob("*/seed*/history.csv"):
        with open(history_path, newline="") as handle:
            epochs = list(csv.DictReader(handle))
        val_accuracies = [float(epoch["val_accuracy"]) for epoch in epochs]
        runs.setdefault(history_path.parent.parent.name, []).append(
            (max(val_accuracies), val_accuracies[-1], float(epochs[-1]["val_loss"]))
        )
    scores = {
        cell: (
            -np.mean([r[0] for r in cell_runs]),
            -np.mean([r[1] for r in cell_runs]),
            np.mean([r[2] for r in cell_runs]),
        )
        for cell, cell_runs in runs.items()
    }
    return min(scores, key=lambda cell: (scores[cell], cell))


def assert_same_number(csv_cell: str, value: float, where: str) -> None:
    # The CSV keeps 6 significant digits, so it may differ from the JSON by half a unit there.
    assert float(csv_cell) == pytest.approx(value, rel=5e-6, abs=0), where


def test_summary_rows_are_the_models_own_metrics_and_best_marks_match_best_json(demo_run):
    results = demo_run / "results"
    with open(results / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    models = [row["model"] for row in rows]
    # The demo trains one seed: each model's one run is its seed1337 folder.
    assert sorted(models) == sorted(
        path.parent.parent.relative_to(results).as_posix() for path in results.rglob("metrics.json")
    )
    best_cells = {
        path.parent.relative_to(results).as_posix(): read_json(path)["cell"]
        for path in results.rglob("best.json")
    }
    assert sorted(best_cells) == ["catsdogs/basic", "cifar10/basic"]
    for grid, best_cell in best_cells.items():
        assert best_cell == recomputed_best_cell(results / grid), grid

    for row in rows:
        model = row["model"]
        metrics = read_json(results / model / "seed1337" / "metrics.json")
        info = read_json(results / model / "seed1337" / "train.json")
        for column in ("train_accuracy", "val_accuracy", "test_accuracy", "test_loss"):
            assert_same_number(row[column], metrics[column], f"{model} {column}")
        # One seed: no spread, and the test set's Wilson interval of this accuracy.
        assert row["seeds"] == "1" and row["test_accuracy_sd"] == "-", model
        low, high = wilson_interval(metrics["test_accuracy"], metrics["n_test"])
        assert_same_number(row["test_set_interval_low"], low, f"{model} interval")
        assert_same_number(row["test_set_interval_high"], high, f"{model} interval")
        assert row["epochs"] == str(metrics["epochs"]), model
        assert_same_number(
            row["wall_time_seconds"], info["wall_time_seconds"], f"{model} wall time"
        )
        assert row["device"] == info["device"], model
        policy = info["runtime"].get("mixed_precision", "float32")
        backend = info["runtime"]["backend"]
        assert row["backend"] == (backend if policy == "float32" else f"{backend} ({policy})"), (
            model
        )
        grid, _, cell = model.rpartition("/")
        if grid in best_cells:
            assert row["best_of_grid"] == ("yes" if cell == best_cells[grid] else "no"), model
        else:  # not a grid cell
            assert row["best_of_grid"] == "-", model
    # Each grid has its one best row.
    marked = sorted(row["model"] for row in rows if row["best_of_grid"] == "yes")
    assert marked == sorted(f"{grid}/{cell}" for grid, cell in best_cells.items())


# ------------------------------------------------------------------ per-image predictions


def runs_of(demo_run):
    """Every run folder the demo evaluated (those with a metrics.json)."""
    return sorted(path.parent for path in (demo_run / "results").rglob("metrics.json"))


def test_every_run_has_test_and_validation_predictions_that_match_its_metrics(demo_run):
    from cnnlab.predictions import read_predictions

    runs = runs_of(demo_run)
    assert len(runs) == 14  # 13 models and the VGG16 base pretrained on CIFAR-10
    for run in runs:
        metrics = read_json(run / "metrics.json")
        test = read_predictions(run / "test_predictions.npz")
        val = read_predictions(run / "val_predictions.npz")
        # The very numbers: metrics.json is computed from these predictions.
        assert test.accuracy == metrics["test_accuracy"], run
        assert len(test.labels) == metrics["n_test"], run
        for label, name in enumerate(test.class_names):
            assert (
                np.mean(test.correct[test.labels == label]) == metrics["per_class_accuracy"][name]
            )
        # Validation images are other images than the test split's.
        assert not set(val.ids.tolist()) & set(test.ids.tolist()), run


def test_two_models_of_a_data_set_scored_the_same_images_in_the_same_order(demo_run):
    from cnnlab.predictions import read_predictions

    results = demo_run / "results"
    config = demo_config()
    for dataset, second, id_form in (
        ("catsdogs", "vgg16_frozen", r"test/(cat|dog)/[^/]+\.jpg"),
        ("cifar10", "residual", r"test_batch\.bin#\d{5}"),
    ):
        first = "basic/" + min(grid_cells(config[dataset]["basic"]))
        one = read_predictions(results / dataset / first / "seed1337" / "test_predictions.npz")
        other = read_predictions(results / dataset / second / "seed1337" / "test_predictions.npz")
        assert one.ids.tolist() == other.ids.tolist()
        np.testing.assert_array_equal(one.labels, other.labels)
        assert all(re.fullmatch(id_form, image_id) for image_id in one.ids), one.ids[:3]
    # The cats/dogs ids are the split manifest's test paths, every one of them.
    with open(results / "data" / "petimages" / "split_manifest.csv") as handle:
        manifest = {row["path"] for row in csv.DictReader(handle) if row["split"] == "test"}
    catsdogs = read_predictions(
        results / "catsdogs" / "vgg16_frozen" / "seed1337" / "test_predictions.npz"
    )
    assert set(catsdogs.ids.tolist()) == manifest


def test_the_prediction_figures_are_drawn_for_every_model(demo_run):
    from PIL import Image

    figures = demo_run / "results" / "figures"
    matrices = sorted(figures.rglob("confusion_matrix.png"))
    assert len(matrices) == 14
    galleries = {
        path.parent.relative_to(figures).as_posix() for path in figures.rglob("failures.png")
    }
    assert galleries == {
        "catsdogs/basic",
        "catsdogs/vgg16_frozen",
        "catsdogs/vgg16_finetune",
        "catsdogs/vgg16_augmented",
        "cifar10/basic",
        "cifar10/inception",
        "cifar10/residual",
    }
    for path in [*matrices, figures / "catsdogs" / "gradcam.png"]:
        with Image.open(path) as image:
            assert np.asarray(image.convert("L")).std() > 10, path  # not a blank page


def test_every_job_of_the_demo_is_measured_and_the_estimate_of_the_same_run_is_its_measurement(
    demo_run, tmp_path
):
    """resources.csv has a measured row for every job the demo ran, training jobs with their
    epochs; the estimate of the demo from the demo's own measurements plans the same jobs and
    gives each exactly what it took (a plumbing check: keys, columns, epochs; no timing)."""
    from cnnlab import estimate
    from cnnlab.resources import read_resources

    rows = read_resources(demo_run / "results" / "resources.csv")
    planned = estimate.plan([DEMO_CONFIG], cores=2)
    # Every job but the table's own (it is written while that job runs).
    expected = {job.key for job in planned if job.rule != "summarize_resources"}
    assert {(row["rule"], row["wildcards"]) for row in rows} == expected
    assert [(row["rule"], row["wildcards"]) for row in rows if row["wall_s"] is None] == []
    config = demo_config()
    for row in rows:
        if row["rule"] == "train":
            wildcards = dict(part.split("=", 1) for part in row["wildcards"].split())
            model = f"{wildcards['dataset']}/{wildcards['model']}"
            assert row["epochs"] == configured_epochs(config, model), row
            assert 0 < row["seconds_per_epoch"] < row["wall_s"], row
            assert row["max_rss_mb"] > 0, row
    out = tmp_path / "estimate.json"
    arguments = ["--measured", str(demo_run / "results"), "--configfile", str(DEMO_CONFIG)]
    assert (
        estimate.main([*arguments, "--check", str(demo_run / "results"), "--json", str(out)]) == 0
    )
    for job in json.loads(out.read_text())["jobs"]:
        if job["rule"] != "summarize_resources":
            assert job["basis"] == "measured", job
            assert job["estimate_s"] == pytest.approx(job["actual_s"]), job
