"""Training infrastructure shared by every model of the project.

* `train_job`: build, train (resumably) and save one model: model.keras, history.csv, train.json;
* `select_best`: the best cell of a grid, as best.json;
* `evaluate_job`: a saved model's test metrics, as metrics.json.
"""

from cnnlab.training.evaluation import evaluate_job
from cnnlab.training.jobs import train_job
from cnnlab.training.selection import select_best

__all__ = ["evaluate_job", "select_best", "train_job"]
