"""select_best: the best grid cell over seeds and tie-breaks, its margin over the runner-up, and
the separation's test and direction, over seeds (Welch) and image by image (McNemar on each
run's val_predictions.npz)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from cnnlab.predictions import Predictions, write_predictions
from cnnlab.stats import SEEDS_PER_SIDE_NEEDED
from cnnlab.training.selection import select_best


def write_cell(
    root, cell, val_accuracies, val_losses, hyperparameters, seed=1, n_val=100, val_correct=None
):
    """One run of a grid cell, <cell>/seed<seed>/, with its history, train.json and
    val_predictions.npz. `val_correct`: which validation images the final model gets right
    (1/0 per image); by default the first round(final val accuracy * n_val)."""
    folder = root / cell / f"seed{seed}"
    folder.mkdir(parents=True)
    with open(folder / "history.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "accuracy", "loss", "val_accuracy", "val_loss"])
        for epoch, (accuracy, loss) in enumerate(zip(val_accuracies, val_losses, strict=True)):
            writer.writerow([epoch, 0.9, 0.1, accuracy, loss])
    (folder / "train.json").write_text(
        json.dumps({"hyperparameters": hyperparameters, "n_val": n_val})
    )
    if val_correct is None:
        right = round(val_accuracies[-1] * n_val)
        val_correct = [1] * right + [0] * (n_val - right)
    write_val_predictions(folder / "val_predictions.npz", val_correct)
    return folder


def write_val_predictions(path, correct, ids=None):
    """Two classes, every image a dog (1), predicted right where `correct` is 1."""
    correct = np.asarray(correct, dtype=bool)
    p_dog = np.where(correct, 0.8, 0.3).astype("float32")
    if ids is None:
        ids = [f"val/dog/{i:04d}.jpg" for i in range(len(correct))]
    write_predictions(
        path,
        Predictions(
            ids=np.asarray(ids),
            labels=np.ones(len(correct), dtype=int),
            probabilities=np.stack([1 - p_dog, p_dog], axis=1),
            class_names=np.array(["cat", "dog"]),
        ),
    )


def run_select(folders, out):
    """select_best on the runs in `folders`; returns best.json's content."""
    select_best(
        [f / "history.csv" for f in folders],
        [f / "train.json" for f in reversed(folders)],  # any order: matched by run
        [f / "val_predictions.npz" for f in folders],
        out,
    )
    return json.loads(Path(out).read_text())


def test_select_best_and_its_tie_breaks(tmp_path):
    cells = {
        # Same best accuracy (0.8) as the two below, but a worse final epoch.
        "lr0.001_f32": ([0.8, 0.6], [0.5, 0.4]),
        # Best 0.8 and final 0.8: these two tie until the loss, which picks lr0.0001_f64.
        "lr0.0001_f32": ([0.7, 0.8], [0.5, 0.5]),
        "lr0.0001_f64": ([0.7, 0.8], [0.5, 0.3]),
        "lr0.001_f64": ([0.5, 0.75], [0.5, 0.2]),
    }
    folders = [
        write_cell(
            tmp_path,
            cell,
            accuracies,
            losses,
            {
                "learning_rate": float(cell[2 : cell.index("_")]),
                "filters": int(cell.rsplit("_f", 1)[1]),
                "hidden_units": 512,
                "epochs": 2,
            },
        )
        for cell, (accuracies, losses) in cells.items()
    ]
    out = tmp_path / "best.json"
    best = run_select(folders, out)
    assert best["cell"] == "lr0.0001_f64"
    assert (best["learning_rate"], best["filters"], best["hidden_units"]) == (0.0001, 64, 512)
    assert [c["cell"] for c in best["candidates"]] == [
        "lr0.0001_f64",
        "lr0.0001_f32",
        "lr0.001_f32",
        "lr0.001_f64",
    ]
    assert {c["cell"]: c["best_val_accuracy"] for c in best["candidates"]}["lr0.001_f64"] == 0.75
    assert "epochs" not in best

    # Equal in every score: the cell name decides.
    tied = [
        write_cell(tmp_path / "tied", cell, [0.5], [0.5], {"learning_rate": 0.1})
        for cell in ("b", "a")
    ]
    assert run_select(tied, out)["cell"] == "a"


def test_select_best_ranks_cells_by_their_mean_over_seeds_and_judges_the_margin(tmp_path):
    """Three seeds per cell. 'steady' wins on its mean though 'lucky' has the single best
    run; 'steady' and 'close' differ by less than their seeds do, 'steady' and 'far' by much
    more: Welch's t-test over the seeds says which lead is real."""
    seeds = {
        "steady": [0.80, 0.81, 0.82],
        "lucky": [0.60, 0.70, 0.90],
        "close": [0.78, 0.82, 0.80],
    }

    def select(cells):
        root = tmp_path / "-".join(cells)
        paths = [
            write_cell(root, cell, [value], [0.5], {"learning_rate": 0.001, "filters": 8}, seed)
            for cell in cells
            for seed, value in zip((1, 2, 3), seeds[cell])
        ]
        return run_select(paths, root / "best.json")

    best = select(["steady", "lucky", "close"])
    assert best["cell"] == "steady" and best["seeds"] == [1, 2, 3]
    assert best["best_val_accuracy"] == pytest.approx(0.81)
    assert best["runner_up"] == "close" and best["margin"] == pytest.approx(0.01)
    welch = scipy.stats.ttest_ind(seeds["steady"], seeds["close"], equal_var=False)
    assert best["separation"]["test"] == "welch"
    assert best["separation"]["p_value"] == pytest.approx(welch.pvalue)
    assert best["separation"]["exceeds_noise"] is False
    lucky = next(c for c in best["candidates"] if c["cell"] == "lucky")
    assert lucky["best_val_accuracy_sd"] == pytest.approx(np.std(seeds["lucky"], ddof=1))

    seeds["far"] = [0.60, 0.61, 0.62]
    best = select(["steady", "far"])
    assert best["runner_up"] == "far" and best["separation"]["exceeds_noise"] is True


def test_one_seed_pairs_the_runs_on_the_validation_images_and_compares_no_configurations(tmp_path):
    """One seed per cell: the seed-to-seed noise is unmeasured, so best.json does not call the
    cells separable or not; McNemar says whether these two runs differ on the 600 validation
    images. 'a' (best, 0.80) is right on 30 images that 'b' (0.78) gets wrong, 'b' on 18 that
    'a' gets wrong."""
    both = [1] * 450
    a_correct = both + [1] * 30 + [0] * 18 + [0] * 102  # 480 right: 0.80
    b_correct = both + [0] * 30 + [1] * 18 + [0] * 102  # 468 right: 0.78
    paths = [
        write_cell(
            tmp_path, "a", [0.80], [0.5], {"learning_rate": 0.001}, n_val=600, val_correct=a_correct
        ),
        write_cell(
            tmp_path, "b", [0.78], [0.5], {"learning_rate": 0.001}, n_val=600, val_correct=b_correct
        ),
    ]
    best = run_select(paths, tmp_path / "best.json")
    separation = best["separation"]
    assert best["cell"] == "a" and best["runner_up"] == "b"
    assert best["margin"] == pytest.approx(0.02)
    assert separation["difference"] == pytest.approx(best["margin"])  # best - runner-up
    assert (
        separation["test"] == "mcnemar" and separation["paired"] is True and separation["n"] == 600
    )
    # By hand: 18 against 30 discordant, p = 2 * sum_{k <= 18} C(48, k) / 2^48.
    p_value = 2 * sum(math.comb(48, k) for k in range(19)) / 2**48
    assert separation["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert p_value == pytest.approx(0.1114, abs=1e-4)
    assert separation["seed_noise_measured"] is False
    assert separation["seeds_needed"] == SEEDS_PER_SIDE_NEEDED
    assert separation["exceeds_noise"] is None and separation["runs_differ"] is False
    assert "cannot be compared" in separation["explanation"]
    assert "paired: McNemar on the 600 validation images both scored" in separation["explanation"]
    [pair] = separation["mcnemar"]
    assert (pair["seed"], pair["a"], pair["b"]) == (1, "b", "a")  # A: the runner-up, B: the best
    assert (pair["only_b_right"], pair["only_a_right"]) == (30, 18)
    assert "final epoch" in best["paired_on"] and "optimistic" in best["paired_on"]


def test_best_json_separation_points_from_the_runner_up_to_the_best(tmp_path):
    """The sides are asymmetric: the difference is the best cell's lead (positive beside a
    positive margin), the explanation says the best is higher, and each pair's McNemar counts
    are oriented runner-up (A) against best (B). Here the runner-up's *final* model is right on
    more validation images than the best cell's, which selection (best epoch) does not see:
    McNemar's difference is negative while the margin is positive, and best.json keeps both
    signs as they are."""
    runner_up_final = [1] * 70 + [0] * 30  # final epoch 0.70
    best_final = [1] * 60 + [0] * 40  # final epoch 0.60, after a best epoch of 0.90
    paths = [
        write_cell(
            tmp_path,
            "lr0.001_f8",
            [0.90, 0.60],
            [0.4, 0.6],
            {"learning_rate": 0.001},
            val_correct=best_final,
        ),
        write_cell(
            tmp_path,
            "lr0.001_f4",
            [0.70, 0.70],
            [0.5, 0.5],
            {"learning_rate": 0.001},
            val_correct=runner_up_final,
        ),
    ]
    best = run_select(paths, tmp_path / "best.json")
    separation = best["separation"]
    assert best["cell"] == "lr0.001_f8" and best["runner_up"] == "lr0.001_f4"
    assert best["margin"] == pytest.approx(0.20) and best["margin"] > 0
    assert separation["difference"] == pytest.approx(best["margin"])
    assert separation["explanation"].startswith("lr0.001_f8 is 20.0 points higher than lr0.001_f4")
    [pair] = separation["mcnemar"]
    assert pair["a"] == best["runner_up"] and pair["b"] == best["cell"]
    assert (pair["only_a_right"], pair["only_b_right"]) == (10, 0)
    assert pair["a_accuracy"] == pytest.approx(0.70) and pair["b_accuracy"] == pytest.approx(0.60)
    assert pair["difference"] == pytest.approx(-0.10)  # best - runner-up, on the final models
    assert separation["p_value"] == pytest.approx(2 / 2**10)  # 2 * P(X <= 0 | 10, 1/2)
    assert separation["runs_differ"] is True
    # Issue 25: the lead is between best epochs, McNemar's test between final epochs; the
    # explanation gives the accuracies McNemar compared, not only the lead.
    assert (
        "McNemar compares the final epochs' models: seed 1: lr0.001_f8 0.600, lr0.001_f4 0.700."
        in (separation["explanation"])
    )
    assert separation["selected_from"] == 2 and "optimistic" not in separation["explanation"]


def test_the_top_two_of_several_cells_get_a_p_value_said_to_be_optimistic(tmp_path):
    """Issue 25: the best cell and the runner-up are the top two of a ranking on the same
    validation images, so a p-value computed as if they had been picked in advance is
    optimistic; best.json says so."""
    paths = [
        write_cell(tmp_path, cell, [accuracy], [0.5], {"learning_rate": 0.001})
        for cell, accuracy in {"a": 0.80, "b": 0.78, "c": 0.70, "d": 0.60}.items()
    ]
    separation = run_select(paths, tmp_path / "best.json")["separation"]
    assert separation["selected_from"] == 4
    assert separation["explanation"].endswith(
        "The two are the top two of 4 cells ranked on these validation images, so this p-value, "
        "computed as if they had been chosen in advance, is optimistic."
    )


def test_several_seeds_judge_by_welch_and_keep_each_seeds_mcnemar(tmp_path):
    seeds = {"steady": [0.80, 0.81, 0.82], "far": [0.60, 0.61, 0.62]}
    paths = [
        write_cell(tmp_path, cell, [value], [0.5], {"learning_rate": 0.001}, seed)
        for cell in seeds
        for seed, value in zip((1, 2, 3), seeds[cell])
    ]
    best = run_select(paths, tmp_path / "best.json")
    separation = best["separation"]
    welch = scipy.stats.ttest_ind(seeds["far"], seeds["steady"], equal_var=False)
    assert separation["test"] == "welch" and separation["p_value"] == pytest.approx(welch.pvalue)
    assert separation["exceeds_noise"] is True and separation["seed_noise_measured"] is True
    assert separation["runs_differ"] is None
    assert [pair["seed"] for pair in separation["mcnemar"]] == [1, 2, 3]
    for pair in separation["mcnemar"]:
        # 100 images: steady right on the first 80-82, far on the first 60-62.
        assert pair["only_a_right"] == 0 and pair["only_b_right"] == 20
        assert pair["a"] == "far" and pair["b"] == "steady"


def test_a_missing_or_mismatched_predictions_file_is_named(tmp_path):
    paths = [
        write_cell(tmp_path, "a", [0.8], [0.5], {"learning_rate": 0.001}),
        write_cell(tmp_path, "b", [0.7], [0.5], {"learning_rate": 0.001}),
    ]
    with pytest.raises(ValueError, match=r"no val_predictions.npz given for a/seed1"):
        select_best(
            [p / "history.csv" for p in paths],
            [p / "train.json" for p in paths],
            [paths[1] / "val_predictions.npz"],
            tmp_path / "best.json",
        )
    write_val_predictions(
        paths[1] / "val_predictions.npz", [1] * 100, ids=[f"val/dog/x{i}.jpg" for i in range(100)]
    )
    with pytest.raises(
        ValueError,
        match=r"b/seed1/val_predictions.npz and .*a/seed1/val_predictions.npz: .*different images",
    ):
        run_select(paths, tmp_path / "best.json")
    assert not (tmp_path / "best.json").exists()


def test_a_grid_of_one_cell_has_no_runner_up_and_the_epochs_count_from_one(tmp_path):
    """The one cell is best, with nothing to be separated from; its best epoch is numbered as
    people count epochs (the second of three here), not as history.csv's 0-based index."""
    folder = write_cell(
        tmp_path,
        "lr0.001_f32",
        [0.6, 0.9, 0.7],
        [0.6, 0.3, 0.5],
        {"learning_rate": 0.001, "filters": 32},
    )
    best = run_select([folder], tmp_path / "best.json")
    assert best["cell"] == "lr0.001_f32"
    assert best["runner_up"] is None and best["margin"] is None and best["separation"] is None
    [candidate] = best["candidates"]
    assert [run["best_epoch"] for run in candidate["runs"]] == [2]


def test_two_seeds_give_a_cell_its_spread(tmp_path):
    hyperparameters = {"learning_rate": 0.001, "filters": 32}
    folders = [
        write_cell(tmp_path, "lr0.001_f32", [0.6, accuracy], [0.5, 0.4], hyperparameters, seed=seed)
        for seed, accuracy in ((1, 0.7), (2, 0.8))
    ]
    best = run_select(folders, tmp_path / "best.json")
    [candidate] = best["candidates"]
    assert candidate["best_val_accuracy"] == pytest.approx(0.75)
    assert candidate["best_val_accuracy_sd"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
