"""Pick the best cell of a hyper-parameter grid from the cells' histories, over the seeds, and say
whether its lead over the runner-up exceeds the noise: over the seeds where both cells have
several, and image by image on the validation set (McNemar, from each run's
val_predictions.npz) for each seed both cells ran."""

from __future__ import annotations

import logging
import os
import statistics
from collections import defaultdict
from pathlib import Path

from cnnlab.history import read_history
from cnnlab.jobio import read_json, write_json
from cnnlab.predictions import read_predictions
from cnnlab.stats import PairingError, difference_verdict, paired_comparison

log = logging.getLogger(__name__)

# What later stages may take from the best cell (those the grid's train.json holds).
HYPERPARAMETERS = ("learning_rate", "filters", "hidden_units")

SELECTION_RULE = (
    "highest mean over the seeds of the best validation accuracy reached in any epoch; ties "
    "go to the higher mean final-epoch validation accuracy (the saved model is the final "
    "epoch's), then the lower mean final-epoch validation loss, then the cell name in "
    "alphabetical order"
)

# Said in best.json beside the paired tests, because the two numbers come from different epochs.
PAIRED_ON = (
    "McNemar's test compares the two cells' saved models, the final epoch's, on the validation "
    "images (val_predictions.npz); the ranking and the margin use each run's best epoch's "
    "validation accuracy. That accuracy is a maximum over epochs, and the selected cell's a "
    "maximum over cells too, so it is optimistic: the test accuracy of the selected cell is "
    "the honest estimate."
)


def select_best(
    history_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    prediction_paths: list[str | os.PathLike],
    out_path: str | os.PathLike,
) -> dict:
    """Write best.json: the chosen cell, its hyper-parameters, its margin over the runner-up
    and whether that margin exceeds the noise, and every candidate's scores.

    A run is the folder holding its history.csv, train.json and val_predictions.npz,
    <cell>/seed<n> (e.g. lr0.001_f32/seed1337); a cell's runs are its seeds.
    """
    infos = {_run_of(path): Path(path) for path in info_paths}
    predictions = {_run_of(path): Path(path) for path in prediction_paths}
    runs_of_cell = defaultdict(list)
    for history_path in map(Path, history_paths):
        cell, seed = _run_of(history_path)
        if (cell, seed) not in infos:
            raise ValueError(f"{history_path} has no train.json beside it")
        runs_of_cell[cell].append(_score_run(seed, read_history(history_path), infos[cell, seed]))
    if not runs_of_cell:
        raise ValueError("select_best needs at least one grid cell")
    candidates = sorted(
        (_score_cell(cell, runs) for cell, runs in runs_of_cell.items()),
        key=lambda c: (
            -c["best_val_accuracy"],
            -c["final_val_accuracy"],
            c["final_val_loss"],
            c["cell"],
        ),
    )
    best = candidates[0]
    result = {
        "cell": best["cell"],
        **{key: best[key] for key in HYPERPARAMETERS if key in best},
        "best_val_accuracy": best["best_val_accuracy"],
        "seeds": [run["seed"] for run in best["runs"]],
        "selection_rule": SELECTION_RULE,
        **_separation(
            best, candidates[1] if len(candidates) > 1 else None, predictions, len(candidates)
        ),
        "paired_on": PAIRED_ON,
        "candidates": candidates,
    }
    write_json(out_path, result)
    log.info(
        "best cell: %s (mean validation accuracy %.4f over %d seed(s)); %s",
        best["cell"],
        best["best_val_accuracy"],
        len(best["runs"]),
        result["separation"]["explanation"] if result["separation"] else "the only cell",
    )
    return result


def _run_of(path) -> tuple[str, int]:
    """(cell, seed) of a run's file: .../<cell>/seed<n>/history.csv."""
    run = Path(path).parent
    if not run.name.startswith("seed") or not run.name[4:].isdigit():
        raise ValueError(f"{path} is not in a seed<n> folder of its grid cell (<cell>/seed<n>/)")
    return run.parent.name, int(run.name[4:])


def _score_run(seed: int, history: list[dict], info_path: Path) -> dict:
    best_epoch = max(history, key=lambda row: row["val_accuracy"])
    info = read_json(info_path)
    return {
        "seed": seed,
        "hyperparameters": info["hyperparameters"],
        "n_val": info["n_val"],
        "best_val_accuracy": best_epoch["val_accuracy"],
        "best_epoch": best_epoch["epoch"] + 1,
        "final_val_accuracy": history[-1]["val_accuracy"],
        "final_val_loss": history[-1]["val_loss"],
    }


def _score_cell(cell: str, runs: list[dict]) -> dict:
    runs = sorted(runs, key=lambda run: run["seed"])
    best_values = [run["best_val_accuracy"] for run in runs]
    hyperparameters = runs[0]["hyperparameters"]
    return {
        "cell": cell,
        **{key: hyperparameters[key] for key in HYPERPARAMETERS if key in hyperparameters},
        "best_val_accuracy": statistics.fmean(best_values),
        "best_val_accuracy_sd": statistics.stdev(best_values) if len(runs) > 1 else None,
        "final_val_accuracy": statistics.fmean(run["final_val_accuracy"] for run in runs),
        "final_val_loss": statistics.fmean(run["final_val_loss"] for run in runs),
        "n_val": runs[0]["n_val"],
        "runs": [{key: run[key] for key in run if key != "hyperparameters"} for run in runs],
    }


def _separation(best: dict, runner_up: dict | None, predictions: dict, cells: int) -> dict:
    """The best cell's lead over the runner-up, and whether it exceeds the noise: Welch's t-test
    over the seeds when both have several; with one seed, the configurations are not compared
    and McNemar's test says whether the two runs differ on the validation images
    (`cnnlab.stats.difference_verdict`). Each seed both cells ran gets its McNemar test.

    Of more than two `cells`, the two compared are the top two of a ranking on these same
    validation images: a p-value computed as if they had been chosen in advance is optimistic,
    and the explanation and "selected_from" say so."""
    if runner_up is None:
        return {"runner_up": None, "margin": None, "separation": None}
    common_seeds = {run["seed"] for run in best["runs"]} & {
        run["seed"] for run in runner_up["runs"]
    }
    pairs = [
        {"seed": seed, **_paired(runner_up["cell"], best["cell"], seed, predictions)}
        for seed in sorted(common_seeds)
    ]
    # B is the best cell, A the runner-up: the difference is the best cell's lead.
    verdict = difference_verdict(
        [run["best_val_accuracy"] for run in runner_up["runs"]],
        runner_up["n_val"],
        [run["best_val_accuracy"] for run in best["runs"]],
        best["n_val"],
        labels=(runner_up["cell"], best["cell"]),
        scored_on="validation",
        paired=pairs,
    )
    if verdict["test"] == "mcnemar":
        # The margin is between best epochs; McNemar sees the final epochs' saved models.
        verdict["explanation"] += (
            " McNemar compares the final epochs' models: "
            + "; ".join(
                f"seed {pair['seed']}: {pair['b']} {pair['b_accuracy']:.3f}, {pair['a']} "
                f"{pair['a_accuracy']:.3f}"
                for pair in pairs
            )
            + "."
        )
    if cells > 2:
        verdict["explanation"] += (
            f" The two are the top two of {cells} cells ranked on these validation images, so "
            "this p-value, computed as if they had been chosen in advance, is optimistic."
        )
    verdict["selected_from"] = cells
    return {
        "runner_up": runner_up["cell"],
        "margin": best["best_val_accuracy"] - runner_up["best_val_accuracy"],
        "separation": verdict,
    }


def _paired(runner_up: str, best: str, seed: int, predictions: dict) -> dict:
    """McNemar's test of one seed's runs of the runner-up (A) and the best cell (B)."""
    paths = {cell: predictions.get((cell, seed)) for cell in (runner_up, best)}
    missing = [f"{cell}/seed{seed}" for cell, path in paths.items() if path is None]
    if missing:
        raise ValueError(
            f"no val_predictions.npz given for {', '.join(missing)}: select_best pairs the best "
            "cell with its runner-up on the validation images; rerun the evaluate jobs of the grid"
        )
    try:
        return paired_comparison(
            read_predictions(paths[runner_up]), read_predictions(paths[best]), (runner_up, best)
        )
    except PairingError as error:
        raise ValueError(
            f"{paths[runner_up]} and {paths[best]}: {error}. Every cell is scored on the same "
            "validation split; rerun their evaluate jobs"
        ) from None
