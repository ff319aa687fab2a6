"""The data stage through real Snakemake: built from an empty folder; bad configs stop early."""

import csv

import numpy as np
import pytest
import yaml
from conftest import DEMO_CONFIG, run_snakemake

DATA_TARGETS = ("results/data/petimages/split_manifest.csv", "results/data/cifar10/test.npz")

# The demo's sources and sizes, smaller still.
TINY = {
    "data": {
        "petimages": {"synthetic": {"images_per_class": 12}, "images_per_class": 10},
        "cifar10": {"synthetic": {"train_images": 100, "test_images": 20}, "validation_size": 10},
    }
}


def write_overlay(folder, name, overlay):
    path = folder / name
    path.write_text(yaml.safe_dump(overlay))
    return path


@pytest.mark.workflow
def test_the_demo_builds_the_data_targets_from_an_empty_folder(tmp_path):
    run_snakemake(
        tmp_path,
        *DATA_TARGETS,
        configfiles=(DEMO_CONFIG, write_overlay(tmp_path, "tiny.yaml", TINY)),
    )

    with open(tmp_path / "results/data/petimages/clean_manifest.csv", newline="") as file:
        cleaned = list(csv.DictReader(file))
    assert {row["action"] for row in cleaned} == {"kept", "converted", "dropped"}
    with open(tmp_path / "results/data/petimages/split_manifest.csv", newline="") as file:
        split = list(csv.DictReader(file))
    assert len(split) == 2 * 10
    for name in ("train", "val", "test"):
        for class_name in ("cat", "dog"):
            folder = tmp_path / "results/data/petimages/split" / name / class_name
            assert sorted(p.name for p in folder.iterdir()) == sorted(
                row["path"].rsplit("/", 1)[1]
                for row in split
                if row["split"] == name and row["class"] == class_name
            )
    sizes = {
        name: len(np.load(tmp_path / f"results/data/cifar10/{name}.npz")["labels"])
        for name in ("train", "val", "test")
    }
    assert sizes == {"train": 90, "val": 10, "test": 20}
    assert "cat" in (tmp_path / "logs/data/clean_petimages.log").read_text()


@pytest.mark.workflow
@pytest.mark.parametrize(
    "overlay, key",
    [
        (
            {"data": {"petimages": {"split": {"train": -0.1, "val": 0.55, "test": 0.55}}}},
            "data.petimages.split.train",
        ),
        (
            {"data": {"petimages": {"split": {"train": 0.5, "val": 0.2, "test": 0.2}}}},
            "data.petimages.split",
        ),
        ({"data": {"cifar10": {"source": "torrent"}}}, "data.cifar10.source"),
        ({"data": {"petimages": {"images_per_class": "many"}}}, "data.petimages.images_per_class"),
        ({"data": {"petimages": {"source": "path", "path": None}}}, "data.petimages.path"),
    ],
    ids=[
        "negative-ratio",
        "ratios-not-summing-to-1",
        "unknown-source-kind",
        "wrong-type",
        "path-source-without-path",
    ],
)
def test_an_invalid_config_fails_before_any_job_naming_the_key(tmp_path, overlay, key):
    bad = write_overlay(tmp_path, "bad.yaml", overlay)
    result = run_snakemake(tmp_path, *DATA_TARGETS, configfiles=(DEMO_CONFIG, bad), check=False)
    assert result.returncode != 0
    assert f"config error at '{key}'" in result.stdout
    assert "Job stats" not in result.stdout
    assert not (tmp_path / "results").exists()
