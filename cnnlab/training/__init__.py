"""Training infrastructure shared by every model of the project.

* `train_job`: build, train (resumably) and save one model: model.keras, history.csv, train.json;
* `select_best`: the best cell of a grid, as best.json;
* `evaluate_job`: a saved model's test metrics, as metrics.json.

They are imported on first use, so a job that only selects the best cell never starts
TensorFlow (seconds per job).
"""

import importlib

_HOMES = {
    "train_job": "cnnlab.training.jobs",
    "select_best": "cnnlab.training.selection",
    "evaluate_job": "cnnlab.training.evaluation",
}
__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'cnnlab.training' has no attribute '{name}'")
    return getattr(importlib.import_module(_HOMES[name]), name)
