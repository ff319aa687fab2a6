"""Mending history.csv after a killed run (the reader is cnnlab.history.read_history)."""

from __future__ import annotations

import csv
import os
from pathlib import Path


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
