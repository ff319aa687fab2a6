"""Test metrics of one trained model, and what it said of every validation and test image.

One prediction pass per split; the test loss, accuracy and per-class accuracy are computed from
the very probabilities written to test_predictions.npz, so the metrics and the per-image file
cannot disagree.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from cnnlab.history import read_history
from cnnlab.jobio import write_json
from cnnlab.models import load_model
from cnnlab.predictions import Predictions, class_probabilities, write_predictions
from cnnlab.runtime import configure
from cnnlab.training.datasets import load_split, read_identities

log = logging.getLogger(__name__)

# Keras' cross-entropy clips probabilities to [EPSILON, 1 - EPSILON] before the logarithm
# (keras.config.epsilon()); the same here, so a confident wrong answer costs what it costs there.
EPSILON = 1e-7


def predict_split(model, split_path: str | os.PathLike, batch_size: int) -> Predictions:
    """The model's class probabilities for every image of a split's .npz, with the images' ids,
    labels and class names."""
    batches = load_split(split_path, batch_size)
    ids, class_names = read_identities(split_path)
    outputs = model.predict(batches.for_reading(), verbose=0)  # tf.data on TensorFlow
    return Predictions(
        ids=ids,
        labels=batches.labels.astype(np.int64),
        probabilities=class_probabilities(outputs),
        class_names=class_names,
    )


def cross_entropy(predictions: Predictions) -> float:
    """Mean cross-entropy of the true classes' probabilities: binary cross-entropy for a
    sigmoid's [1 - p, p], sparse categorical for a softmax (the losses the models train with)."""
    true_class = predictions.probabilities[np.arange(len(predictions.labels)), predictions.labels]
    clipped = np.clip(true_class.astype(np.float64), EPSILON, 1 - EPSILON)
    return float(-np.mean(np.log(clipped)))


def per_class_accuracy(predictions: Predictions) -> dict[str, float | None]:
    """{class name: fraction of that class's images classified right}; None for a class with
    no images in the split."""
    correct = predictions.correct
    return {
        str(name): (
            float(np.mean(correct[predictions.labels == label]))
            if np.any(predictions.labels == label)
            else None
        )
        for label, name in enumerate(predictions.class_names)
    }


def evaluate_job(
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    test_data: str | os.PathLike,
    val_data: str | os.PathLike,
    batch_size: int,
    out_path: str | os.PathLike,
    test_predictions_path: str | os.PathLike,
    val_predictions_path: str | os.PathLike,
    threads: int,
) -> dict:
    """Write metrics.json (test loss, accuracy and per-class accuracy, beside the final epoch's
    train and validation accuracy and loss from history.csv, the number of epochs and of test
    examples) and the per-image predictions of the test and validation splits.

    `test_data` and `val_data` are the splits' .npz arrays, read `batch_size` images at a time.
    """
    configure(threads)
    model = load_model(model_path, compile=False)
    test = predict_split(model, test_data, batch_size)
    val = predict_split(model, val_data, batch_size)
    history = read_history(history_path)
    final = history[-1]
    metrics = {
        "test_loss": cross_entropy(test),
        "test_accuracy": test.accuracy,
        "per_class_accuracy": per_class_accuracy(test),
        "train_loss": final["loss"],
        "train_accuracy": final["accuracy"],
        "val_loss": final["val_loss"],
        "val_accuracy": final["val_accuracy"],
        "epochs": len(history),
        "n_test": len(test.labels),
    }
    write_predictions(test_predictions_path, test)
    write_predictions(val_predictions_path, val)
    write_json(out_path, metrics)
    log.info("%s: test accuracy %.4f on %d examples", model_path, test.accuracy, len(test.labels))
    return metrics
