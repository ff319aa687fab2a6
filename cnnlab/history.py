"""history.csv: one row per epoch, as Keras' CSVLogger writes it (`epoch` counted from 0).

Training writes it (and mends it after a killed run), selection and evaluation read it,
figures plot it: one module for all.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from cnnlab.jobio import atomic_output

COLUMNS = ("epoch", "accuracy", "loss", "val_accuracy", "val_loss")


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a history.csv, numbers as floats (`epoch` as int, 0-based as Keras writes it).

    Refuses an empty history or one without the columns every reader needs, naming them.
    """
    with open(path, newline="") as handle:
        rows = [
            {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]
    if not rows:
        raise ValueError(f"{path} has no epochs: rerun the training job that writes it")
    missing = [column for column in COLUMNS if column not in rows[0]]
    if missing:
        raise ValueError(
            f"{path} lacks the column(s) {', '.join(missing)}; a Keras CSVLogger history of a "
            f"model trained with validation data has {', '.join(COLUMNS)}: rerun its training job"
        )
    return rows


def keep_epochs_before(path: str | os.PathLike, first_epoch: int) -> int:
    """Drop the rows of epochs >= `first_epoch` (and any line cut short); return the rows kept."""
    path = Path(path)
    with open(path, newline="") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        return 0
    header, rows = lines[0], lines[1:]
    kept = [
        row
        for row in rows
        if len(row) == len(header) and row[0].isdigit() and int(row[0]) < first_epoch
    ]
    # Whole or not at all: a kill in a rewrite in place would lose the rows of earlier epochs.
    with atomic_output(path) as partial, open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)
    return len(kept)
