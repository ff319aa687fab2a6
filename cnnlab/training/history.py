"""history.csv: one row per epoch, as Keras' CSVLogger writes it (`epoch` 0-based)."""

from __future__ import annotations

import csv
import os
from pathlib import Path


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a history.csv, numbers as floats (`epoch` as int, 0-based as Keras writes it)."""
    with open(path, newline="") as handle:
        rows = [
            {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]
    if not rows:
        raise ValueError(f"{path} has no epochs: rerun the training job that writes it")
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
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)
    return len(kept)
