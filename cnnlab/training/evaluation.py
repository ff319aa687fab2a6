"""Test metrics of one trained model."""

from __future__ import annotations

import logging
import os

from cnnlab.models import load_model
from cnnlab.jobio import write_json
from cnnlab.runtime import configure
from cnnlab.training.datasets import load_split
from cnnlab.history import read_history
from cnnlab.training.jobs import loss_for

log = logging.getLogger(__name__)


def evaluate_job(
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    test_data: str | os.PathLike,
    batch_size: int,
    out_path: str | os.PathLike,
    threads: int,
) -> dict:
    """Write metrics.json: test loss and accuracy, beside the final epoch's train and validation
    accuracy and loss from history.csv, the number of epochs and of test examples.

    `test_data` is the test split's .npz arrays, read `batch_size` images at a time.
    """
    configure(threads)
    model = load_model(model_path, compile=False)
    model.compile(loss=loss_for(model), metrics=["accuracy"])
    test = load_split(test_data, batch_size)
    n_test = test.count
    scores = model.evaluate(test, verbose=2, return_dict=True)
    test_loss, test_accuracy = scores["loss"], scores["accuracy"]
    history = read_history(history_path)
    final = history[-1]
    metrics = {
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "train_loss": final["loss"],
        "train_accuracy": final["accuracy"],
        "val_loss": final["val_loss"],
        "val_accuracy": final["val_accuracy"],
        "epochs": len(history),
        "n_test": n_test,
    }
    write_json(out_path, metrics)
    log.info("%s: test accuracy %.4f on %d examples", model_path, test_accuracy, n_test)
    return metrics
