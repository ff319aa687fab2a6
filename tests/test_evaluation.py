"""Evaluation scores a model in inference mode: BatchNorm with its moving statistics and no
augmentation. In training mode a model with both still runs, and its test accuracy is a random
draw that a second evaluation would not repeat."""

from __future__ import annotations

import keras
import numpy as np
from conftest import default_config
from test_training import SIZE, write_split

from cnnlab.models import catsdogs
from cnnlab.models.augmentation import augmentation_layers
from cnnlab.predictions import read_predictions
from cnnlab.training.evaluation import evaluate_job


def test_evaluation_predicts_in_inference_mode_and_repeats_exactly(tmp_path):
    data = write_split(tmp_path / "split", {"test": 4, "val": 2})
    history = tmp_path / "history.csv"
    history.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.7,0.5,0.7\n")
    keras.utils.set_random_seed(1)
    augmentation = augmentation_layers(default_config()["catsdogs"]["augmentation"], seed=2)
    model = catsdogs.basic_cnn(SIZE, filters=4, hidden_units=8, augmentation=augmentation)
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    with np.load(data / "test.npz") as arrays:
        expected = model.predict(arrays["images"], verbose=0)[:, 0]  # P(dog), in inference mode

    def evaluated_probabilities(name):
        out = tmp_path / name
        out.mkdir()
        evaluate_job(
            model_path,
            history,
            data / "test.npz",
            data / "val.npz",
            3,
            out / "metrics.json",
            out / "test_predictions.npz",
            out / "val_predictions.npz",
            threads=1,
        )
        return read_predictions(out / "test_predictions.npz").probabilities[:, 1]

    first, second = evaluated_probabilities("first"), evaluated_probabilities("second")
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(first, second)
