"""The whole demo DAG, run once (the `demo_run` fixture): every model trained, evaluated and
tabulated, and the demo data learnable enough that the numbers mean something."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from conftest import DEMO_CONFIG, default_config

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


def test_every_model_is_trained_and_evaluated(demo_run):
    config = demo_config()
    expected = (
        {f"catsdogs/basic/{cell}" for cell in grid_cells(config["catsdogs"]["basic"])}
        | {"catsdogs/vgg16_frozen", "catsdogs/vgg16_finetune", "catsdogs/vgg16_augmented"}
        | {f"cifar10/basic/{cell}" for cell in grid_cells(config["cifar10"]["basic"])}
        | {"cifar10/inception", "cifar10/residual"}
    )
    results = demo_run / "results"
    evaluated = {
        path.parent.relative_to(results).as_posix() for path in results.rglob("metrics.json")
    }
    assert evaluated == expected
    assert len([model for model in evaluated if model.startswith("catsdogs/basic/")]) == 4
    for model in expected:
        metrics = read_json(results / model / "metrics.json")
        info = read_json(results / model / "train.json")
        assert 0.0 <= metrics["test_accuracy"] <= 1.0
        assert info["epochs_run"] == metrics["epochs"]
        with open(results / model / "history.csv") as handle:
            epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
        assert epochs == list(range(info["epochs_run"])), f"{model}: epochs {epochs}"


def test_best_catsdogs_cell_learns_the_demo_data(demo_run):
    results = demo_run / "results" / "catsdogs" / "basic"
    best = read_json(results / "best.json")
    scores = {candidate["cell"]: candidate["best_val_accuracy"] for candidate in best["candidates"]}
    assert scores[best["cell"]] == max(scores.values())
    tested = {cell: read_json(results / cell / "metrics.json")["test_accuracy"] for cell in scores}
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


def test_summary_table_has_a_row_per_model(demo_run):
    results = demo_run / "results"
    with open(results / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(list(results.rglob("metrics.json")))
    assert (results / "summary.md").read_text().count("\n|") >= len(rows)


def test_cleanup_manifest_accounts_for_every_junk_kind_of_the_demo_archive(demo_run):
    data = demo_run / "results" / "data" / "petimages"
    with open(data / "clean_manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    decisions = {(row["action"], row["reason"].split(":")[0]) for row in rows if row["action"] != "kept"}
    for reason in ("zero-byte file", "not an image", "truncated or corrupt", "Thumbs.db"):
        assert ("dropped", reason) in decisions, (reason, decisions)
    for kind in ("greyscale JPEG", "CMYK JPEG", "palette PNG", "RGBA PNG"):
        assert ("converted", f"{kind} converted to RGB") in decisions, (kind, decisions)
    assert ("converted", "RGB TIFF re-encoded as JPEG") in decisions, decisions
    # Nothing lost: every image kept or converted is in the cleaned folder, once.
    survivors = sum(row["action"] != "dropped" for row in rows)
    assert survivors == len(list((data / "clean").rglob("*.jpg")))
