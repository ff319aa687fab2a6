"""history.csv: one row per epoch, as Keras' CSVLogger writes it (`epoch` counted from 0).

Training writes it, selection and evaluation read it, figures plot it: one reader for all.
"""

from __future__ import annotations

import csv
import os

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
