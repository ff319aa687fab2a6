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
from dataclasses import dataclass

import numpy as np

from cnnlab.jobio import atomic_output


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


def read_predictions(path: str | os.PathLike) -> Predictions:
    """The predictions written by `write_predictions`."""
    with np.load(path, allow_pickle=False) as arrays:
        return Predictions(
            ids=arrays["ids"],
            labels=arrays["labels"],
            probabilities=arrays["probabilities"],
            class_names=arrays["class_names"],
        )
