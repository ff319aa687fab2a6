"""What the evaluation and selection rules read, from a dry run of the demo DAG (seconds: no job
runs). A rule fed the wrong split still runs, and scores or selects on the wrong images; only a
whole run of the DAG would show it otherwise."""

from __future__ import annotations

import re

import pytest
from conftest import run_snakemake

# Where each data set's decoded splits live (the data stage's outputs).
SPLITS_FOLDER = {"catsdogs": "results/data/petimages", "cifar10": "results/data/cifar10"}


@pytest.fixture(scope="module")
def planned_inputs(tmp_path_factory) -> dict[str, list[list[str]]]:
    """{rule: each planned job's input files, in the order the rule declares them} of a dry run
    up to both grids' best.json: every grid cell's training and evaluation, and the selection."""
    workdir = tmp_path_factory.mktemp("dry_run")
    targets = [f"results/{dataset}/basic/best.json" for dataset in SPLITS_FOLDER]
    output = run_snakemake(workdir, "--dry-run", *targets).stdout
    jobs: dict[str, list[list[str]]] = {}
    for rule, inputs in re.findall(
        r"^(?:local)?rule (\w+):\n    input: (.*)$", output, re.MULTILINE
    ):
        jobs.setdefault(rule, []).append(inputs.split(", "))
    return jobs


def test_evaluation_scores_each_model_on_its_data_sets_test_split(planned_inputs):
    datasets = set()
    for model, history, test, val in planned_inputs["evaluate"]:
        run = model.removesuffix("/model.keras")
        dataset = run.split("/")[1]
        datasets.add(dataset)
        assert history == f"{run}/history.csv"
        assert test == f"{SPLITS_FOLDER[dataset]}/test.npz", f"{run} is evaluated on {test}"
        assert val == f"{SPLITS_FOLDER[dataset]}/val.npz", (
            f"{run}'s validation predictions come from {val}"
        )
    assert datasets == set(SPLITS_FOLDER)


def test_selection_pairs_the_cells_on_validation_predictions_never_on_test_ones(planned_inputs):
    """best.json's McNemar test reads each run's val_predictions.npz: the test images must not
    choose the model they then score."""
    assert len(planned_inputs["select_best"]) == len(SPLITS_FOLDER)
    for inputs in planned_inputs["select_best"]:
        histories = [path for path in inputs if path.endswith("/history.csv")]
        predictions = [path for path in inputs if path.endswith("predictions.npz")]
        assert histories and predictions == [
            path.replace("/history.csv", "/val_predictions.npz") for path in histories
        ]
