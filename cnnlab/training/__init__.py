"""Training infrastructure shared by every model of the project.

* `cnnlab.training.jobs.train_job`: build, train (resumably) and save one model: model.keras,
  history.csv, train.json;
* `cnnlab.training.selection.select_best`: the best cell of a grid, as best.json;
* `cnnlab.training.evaluation.evaluate_job`: a saved model's test metrics, as metrics.json,
  and its per-image predictions on the test and validation splits.

Import them from their modules: selecting the best cell then never starts Keras.
"""
