"""Bad input round 3, training side: a batch size larger than the training set trains (as
asked), and train.json and the job's log say what really happened."""

import logging

from test_training import SIZE, run_train_job, write_split


def test_a_batch_larger_than_the_training_set_is_noted_in_train_json_and_the_log(tmp_path, caplog):
    data = write_split(tmp_path / "split", {"train": 3, "val": 2})  # 6 training images
    settings = {
        "learning_rate": 0.003,
        "filters": 4,
        "hidden_units": 8,
        "epochs": 1,
        "batch_size": 32,
        "batchnorm_momentum": 0.9,
        "image_size": list(SIZE),
    }
    with caplog.at_level(logging.WARNING, logger="cnnlab"):
        info = run_train_job("catsdogs_basic", settings, data, tmp_path / "run")
    note = (
        "batch_size 32 is larger than the 6 training examples: each epoch is one step on all 6; "
        "lower the batch size (or use more images) to train as configured"
    )
    assert info["notes"] == [note]
    assert info["hyperparameters"]["batch_size"] == 32  # recorded as asked, with the note beside it
    assert note in caplog.text

    settings["batch_size"] = 6
    assert run_train_job("catsdogs_basic", settings, data, tmp_path / "fits")["notes"] == []
