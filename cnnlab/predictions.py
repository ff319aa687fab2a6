"""Per-image predictions of one trained model on one split: what the model said of each image,
kept so that figures (confusion matrices, galleries of failures) and paired comparisons
(McNemar's test between two runs that scored the same images) never need the model again.

One `.npz` per run and split (`results/<dataset>/<model>/seed<n>/{val,test}_predictions.npz`):

* `ids` (N,) str: the image's identity in its split, as the split's manifest names it
  (cats/dogs: the split folder's relative path, `test/cat/1234.jpg`; CIFAR-10: the binary batch
  and record, `test_batch.bin#00042`), so two runs can be matched image by image;
* `labels` (N,) int: the true class;
* `probabilities` (N, K) float32: the model's probability of each class (K = 2 for cats vs dogs:
  [p(cat), p(dog)], from the one sigmoid output);
* `class_names` (K,) str.

No pickle: every array is a plain numeric or fixed-width string dtype.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

from cnnlab.jobio import ExpectedError, atomic_output

PREDICTIONS_KEYS = ("ids", "labels", "probabilities", "class_names")
# How far a row of probabilities may sum from 1: float32 softmax outputs are within 1e-6.
PROBABILITY_SUM_TOLERANCE = 1e-3


class PredictionsError(ExpectedError, ValueError):
    """A predictions file cannot be read, or does not hold what its metrics.json says; the
    message names the file."""


@dataclass(frozen=True)
class Predictions:
    ids: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    class_names: np.ndarray

    def __post_init__(self):
        n = len(self.labels)
        if len(self.ids) != n or len(self.probabilities) != n:
            raise ValueError(
                f"{len(self.ids)} ids, {n} labels and {len(self.probabilities)} rows of "
                "probabilities: one of each per image"
            )
        if self.probabilities.ndim != 2 or self.probabilities.shape[1] != len(self.class_names):
            raise ValueError(
                f"probabilities of shape {self.probabilities.shape} for "
                f"{len(self.class_names)} classes: expected (images, classes)"
            )
        if len(set(self.ids.tolist())) != n:
            raise ValueError("image ids repeat: each image must be named once")

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class of each image (the most probable)."""
        return np.argmax(self.probabilities, axis=1)

    @property
    def correct(self) -> np.ndarray:
        """Whether each image was classified right (bool)."""
        return self.predicted == self.labels

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct))


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """A model's outputs as (N, K) class probabilities: one sigmoid column p becomes [1 - p, p]."""
    outputs = np.asarray(outputs, dtype="float32")
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def write_predictions(path: str | os.PathLike, predictions: Predictions) -> None:
    """Write `predictions` to `path` atomically (a killed job leaves no half-written file)."""
    with atomic_output(path) as partial, open(partial, "wb") as stream:
        np.savez_compressed(
            stream,
            ids=np.asarray(predictions.ids, dtype=str),
            labels=np.asarray(predictions.labels, dtype=np.int64),
            probabilities=np.asarray(predictions.probabilities, dtype=np.float32),
            class_names=np.asarray(predictions.class_names, dtype=str),
        )


def _probability_problem(probabilities: np.ndarray) -> str | None:
    """What makes `probabilities` not class probabilities (finite, 0 to 1, rows summing to 1)."""
    if not np.issubdtype(probabilities.dtype, np.floating):
        return f"probabilities are {probabilities.dtype}, not floats"
    if not np.all(np.isfinite(probabilities)):
        return f"{int(np.sum(~np.isfinite(probabilities)))} probabilities are NaN or infinite"
    if probabilities.size and (probabilities.min() < 0 or probabilities.max() > 1):
        return f"probabilities run from {probabilities.min():g} to {probabilities.max():g}, outside 0 to 1"
    sums = probabilities.sum(axis=1) if probabilities.ndim == 2 else np.ones(0)
    if np.any(np.abs(sums - 1) > PROBABILITY_SUM_TOLERANCE):
        return f"a row of probabilities sums to {sums[np.argmax(np.abs(sums - 1))]:g}, not 1"
    return None


def read_predictions(path: str | os.PathLike) -> Predictions:
    """The predictions written by `write_predictions`. Raises PredictionsError, naming the file,
    for one that is truncated, empty, not an .npz, lacks a key, holds objects (pickles), or
    whose arrays are not one image per row with class probabilities."""
    advice = "rerun the evaluate job that writes it (snakemake --forcerun evaluate), or remove it"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in PREDICTIONS_KEYS if key not in arrays.files]
            if missing:
                raise PredictionsError(f"{path} has no {', '.join(missing)}: {advice}")
            predictions = Predictions(**{key: arrays[key] for key in PREDICTIONS_KEYS})
    except PredictionsError:
        raise
    # A truncated file is a BadZipFile or an EOFError, an empty one an EOFError, an object
    # array (a pickle) a ValueError, a bad shape or repeated id Predictions' ValueError.
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise PredictionsError(
            f"{path} cannot be read as predictions ({error}): {advice}"
        ) from None
    problem = _probability_problem(predictions.probabilities)
    if problem:
        raise PredictionsError(f"{path}: {problem}: {advice}")
    return predictions


def check_against_metrics(predictions: Predictions, metrics: dict, path: str | os.PathLike) -> None:
    """Raise PredictionsError, naming `path`, unless `predictions` are of the images and classes
    its metrics.json describes and give its test accuracy: the two are written together, so a
    mismatch means one was replaced, edited or swapped (e.g. columns in another class order)."""
    n_test = len(predictions.labels)
    class_names = [str(name) for name in predictions.class_names.tolist()]
    expected_classes = list(metrics.get("per_class_accuracy") or class_names)
    problems = []
    if "n_test" in metrics and metrics["n_test"] != n_test:
        problems.append(f"{n_test} images, where metrics.json has n_test {metrics['n_test']}")
    if class_names != expected_classes:
        problems.append(f"classes {class_names}, where metrics.json has {expected_classes}")
    elif "test_accuracy" in metrics and abs(
        predictions.accuracy - metrics["test_accuracy"]
    ) > 0.5 / max(n_test, 1):
        problems.append(
            f"a test accuracy of {predictions.accuracy:.4f}, where metrics.json has {metrics['test_accuracy']:.4f}"
        )
    if problems:
        raise PredictionsError(
            f"{path} does not match the metrics.json beside it: it holds {'; '.join(problems)}. "
            "Rerun the evaluate job that writes both, or remove the predictions file"
        )
