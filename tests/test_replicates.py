"""Two training seeds through the real DAG, on a small demo: every model has two runs, the
results table shows mean, sd and both intervals, and best.json holds the margin and the verdict
that the grid figure repeats."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.stats
from conftest import TWO_SEEDS

from cnnlab.jobio import read_json
from cnnlab.stats import wilson_interval

SEEDS = TWO_SEEDS


@pytest.fixture(scope="module")
def two_seed_run(jax_two_seed_run):
    """conftest's tiny run with two seeds (on JAX: the same run serves tests/test_backends.py)."""
    return jax_two_seed_run / "results"


@pytest.mark.workflow
def test_every_model_has_one_run_per_seed(two_seed_run):
    runs = sorted(path.parent for path in two_seed_run.rglob("metrics.json"))
    models = {run.parent for run in runs}
    # 2 cells + 3 VGG16 stages, 2 cells + 2 variants + the VGG16 base pretrained on CIFAR-10
    assert len(models) == 10
    for model in models:
        assert sorted(path.name for path in model.glob("seed*")) == [
            f"seed{seed}" for seed in SEEDS
        ]
    for run in runs:
        info = read_json(run / "train.json")
        assert info["seed"] == int(run.name.removeprefix("seed"))


@pytest.mark.workflow
def test_the_table_shows_mean_sd_and_both_intervals(two_seed_run):
    with open(two_seed_run / "summary.csv", newline="") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 10
    for model, row in rows.items():
        accuracies = [
            read_json(two_seed_run / model / f"seed{seed}" / "metrics.json")["test_accuracy"]
            for seed in SEEDS
        ]
        n_test = read_json(two_seed_run / model / f"seed{SEEDS[0]}" / "metrics.json")["n_test"]
        mean, sd = np.mean(accuracies), np.std(accuracies, ddof=1)
        assert row["seeds"] == "2"
        assert float(row["test_accuracy"]) == pytest.approx(mean, rel=1e-5)
        assert float(row["test_accuracy_sd"]) == pytest.approx(sd, rel=1e-4, abs=1e-6)
        half = scipy.stats.t.ppf(0.975, df=1) * sd / np.sqrt(2)
        # The t-interval, cut at an accuracy's 0 and 1 (two seeds: t = 12.7, so it often passes).
        assert float(row["seeds_interval_low"]) == pytest.approx(
            max(0, mean - half), rel=1e-4, abs=1e-6
        )
        assert float(row["seeds_interval_high"]) == pytest.approx(
            min(1, mean + half), rel=1e-4, abs=1e-6
        )
        low, high = wilson_interval(mean, n_test)
        assert float(row["test_set_interval_low"]) == pytest.approx(low, rel=1e-5)
        assert float(row["test_set_interval_high"]) == pytest.approx(high, rel=1e-5)
        if row["report_test_accuracy"] != "-":
            # Two seeds: the seed noise is measured, so the verdict compares configurations.
            assert row["report_verdict"] in ("consistent", "differs")
            assert (
                float(row["difference_interval_low"])
                < float(row["difference"])
                < float(row["difference_interval_high"])
            )
    markdown = (two_seed_run / "summary.md").read_text()
    assert "95% CI over seeds" in markdown and "95% CI of the test set" in markdown


@pytest.mark.workflow
@pytest.mark.parametrize("grid", ["catsdogs", "cifar10"])
# In the tiny run one cell's seeds may score the same; scipy then warns of "nearly identical"
# data, though Welch's test is exact with one side's variance 0 (as cnnlab.stats says too).
@pytest.mark.filterwarnings("ignore:Precision loss occurred in moment calculation:RuntimeWarning")
def test_best_json_holds_the_margin_and_the_verdict(two_seed_run, grid):
    best = read_json(two_seed_run / grid / "basic" / "best.json")
    candidates = {candidate["cell"]: candidate for candidate in best["candidates"]}
    learning_rate = {"catsdogs": "0.001", "cifar10": "0.003"}[grid]
    assert set(candidates) == {f"lr{learning_rate}_f4", f"lr{learning_rate}_f8"}
    assert best["seeds"] == SEEDS
    assert best["runner_up"] == next(cell for cell in candidates if cell != best["cell"])
    means = {cell: candidate["best_val_accuracy"] for cell, candidate in candidates.items()}
    assert best["margin"] == pytest.approx(means[best["cell"]] - means[best["runner_up"]])
    assert best["margin"] >= 0
    separation = best["separation"]
    assert separation["test"] in ("welch", "two-proportion")
    assert separation["seed_noise_measured"] is True  # two seeds per cell
    assert separation["difference"] == pytest.approx(best["margin"])  # best - runner-up
    # Each seed's runs of the two cells, paired on the validation images (val_predictions.npz).
    assert [pair["seed"] for pair in separation["mcnemar"]] == SEEDS
    for pair in separation["mcnemar"]:
        assert (pair["a"], pair["b"]) == (best["runner_up"], best["cell"])
        assert (
            pair["n"]
            == read_json(
                two_seed_run / grid / "basic" / best["cell"] / f"seed{pair['seed']}" / "train.json"
            )["n_val"]
        )
    # The verdict, worked out here from the runs' own numbers (not from best.json's p-value).
    per_seed = {
        cell: [run["best_val_accuracy"] for run in candidate["runs"]]
        for cell, candidate in candidates.items()
    }
    if separation["test"] == "welch":
        expected_p = scipy.stats.ttest_ind(
            per_seed[best["cell"]], per_seed[best["runner_up"]], equal_var=False
        ).pvalue
    else:  # the seeds did not vary: a pooled two-proportion z-test on the validation images
        n_val = candidates[best["cell"]]["n_val"]
        lead, runner = means[best["cell"]], means[best["runner_up"]]
        pooled = (lead + runner) / 2
        z = (lead - runner) / np.sqrt(pooled * (1 - pooled) * 2 / n_val) if 0 < pooled < 1 else 0.0
        expected_p = 2 * scipy.stats.norm.sf(abs(z))
    assert separation["p_value"] == pytest.approx(expected_p, rel=1e-6)
    assert separation["exceeds_noise"] is bool(expected_p < 0.05)
    for candidate in candidates.values():
        assert [run["seed"] for run in candidate["runs"]] == SEEDS
        assert candidate["best_val_accuracy"] == pytest.approx(
            np.mean([run["best_val_accuracy"] for run in candidate["runs"]])
        )
