"""Pick the best cell of a hyper-parameter grid from the cells' histories."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cnnlab.jobio import read_json, write_json
from cnnlab.history import read_history

log = logging.getLogger(__name__)

# What later stages may take from the best cell (those the grid's train.json holds).
HYPERPARAMETERS = ("learning_rate", "filters", "hidden_units")

SELECTION_RULE = (
    "highest validation accuracy reached in any epoch; ties go to the higher final-epoch "
    "validation accuracy (the saved model is the final epoch's), then the lower final-epoch "
    "validation loss, then the cell name in alphabetical order"
)


def select_best(
    history_paths: list[str | os.PathLike],
    info_paths: list[str | os.PathLike],
    out_path: str | os.PathLike,
) -> dict:
    """Write best.json: the chosen cell, its hyper-parameters, and every candidate's scores.

    A cell is the folder holding its history.csv and train.json (e.g. lr0.001_f32).
    """
    infos = {Path(path).parent.name: Path(path) for path in info_paths}
    candidates = []
    for history_path in map(Path, history_paths):
        cell = history_path.parent.name
        if cell not in infos:
            raise ValueError(f"{history_path} has no train.json beside it among {sorted(infos)}")
        candidates.append(_score(cell, read_history(history_path), infos[cell]))
    if not candidates:
        raise ValueError("select_best needs at least one grid cell")
    candidates.sort(
        key=lambda c: (
            -c["best_val_accuracy"],
            -c["final_val_accuracy"],
            c["final_val_loss"],
            c["cell"],
        )
    )
    best = candidates[0]
    result = {
        "cell": best["cell"],
        **{key: best[key] for key in HYPERPARAMETERS if key in best},
        "best_val_accuracy": best["best_val_accuracy"],
        "selection_rule": SELECTION_RULE,
        "candidates": candidates,
    }
    write_json(out_path, result)
    log.info("best cell: %s (validation accuracy %.4f)", best["cell"], best["best_val_accuracy"])
    return result


def _score(cell: str, history: list[dict], info_path: Path) -> dict:
    best_epoch = max(history, key=lambda row: row["val_accuracy"])
    hyperparameters = read_json(info_path)["hyperparameters"]
    return {
        "cell": cell,
        **{key: hyperparameters[key] for key in HYPERPARAMETERS if key in hyperparameters},
        "best_val_accuracy": best_epoch["val_accuracy"],
        "best_epoch": best_epoch["epoch"] + 1,
        "final_val_accuracy": history[-1]["val_accuracy"],
        "final_val_loss": history[-1]["val_loss"],
    }
