"""Bad input round 4, `python -m cnnlab.compare`: predictions files that cannot be read or do not
match the metrics.json beside them are refused, naming the file; model folders the config no
longer makes are left aside and named, not set beside current ones."""

import json

import numpy as np
import pytest
from test_compare import one_seed_each, write_results

from cnnlab.compare import compare_results, left_out_lines, main
from cnnlab.predictions import PredictionsError, read_predictions

RUN = "catsdogs/vgg16_frozen/seed1"
CORRECT = [1] * 12 + [0] * 8


def rewrite_predictions(path, **changes):
    """The npz at `path` with some arrays changed (written raw, as a hand edit or another tool would)."""
    with np.load(path) as arrays:
        content = dict(arrays) | changes
    np.savez(path, **content)


def probabilities_of(path):
    with np.load(path) as arrays:
        return arrays["probabilities"]


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            lambda p: {"probabilities": np.full_like(probabilities_of(p), np.nan)},
            "40 probabilities are NaN or infinite",
        ),
        (lambda p: {"probabilities": probabilities_of(p) - 0.5}, "outside 0 to 1"),
        (
            lambda p: {"probabilities": probabilities_of(p) / 2},
            "a row of probabilities sums to 0.5, not 1",
        ),
        # [p(dog), p(cat)] under the names [cat, dog]: valid probabilities, another accuracy.
        (
            lambda p: {"probabilities": probabilities_of(p)[:, ::-1]},
            "does not match the metrics.json beside it: it holds a test accuracy of 0.4000, where metrics.json has 0.6000",
        ),
        (
            lambda p: {"class_names": np.array(["dog", "cat"])},
            "does not match the metrics.json beside it: it holds classes ['dog', 'cat'], where metrics.json has ['cat', 'dog']",
        ),
        (
            lambda p: {
                "class_names": np.array(["cat", "dog", "horse"]),
                "probabilities": np.pad(probabilities_of(p), ((0, 0), (0, 1))),
            },
            "it holds classes ['cat', 'dog', 'horse'], where metrics.json has ['cat', 'dog']",
        ),
    ],
    ids=[
        "nan",
        "negative",
        "not-summing-to-1",
        "swapped-columns",
        "swapped-class-names",
        "three-classes",
    ],
)
def test_predictions_that_disagree_with_their_metrics_are_refused_naming_the_file(
    tmp_path, change, problem
):
    before, after = one_seed_each(tmp_path, CORRECT, CORRECT)
    metrics_path = after / RUN / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["per_class_accuracy"] = {"cat": None, "dog": 0.6}
    metrics_path.write_text(json.dumps(metrics))
    compare_results(before, after)  # as written: paired
    path = after / RUN / "test_predictions.npz"
    rewrite_predictions(path, **change(path))
    with pytest.raises(PredictionsError) as raised:
        compare_results(before, after)
    assert str(raised.value).startswith(str(path)) and problem in str(raised.value)


def test_runs_with_different_class_names_are_not_paired(tmp_path):
    # Each side agrees with its own metrics.json (which keeps no per-class record here).
    before, after = one_seed_each(tmp_path, CORRECT, CORRECT)
    rewrite_predictions(
        after / RUN / "test_predictions.npz", class_names=np.array(["cats", "dogs"])
    )
    with pytest.raises(
        ValueError, match=r"has the classes \['cat', 'dog'\] and .*\['cats', 'dogs'\]"
    ):
        compare_results(before, after)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda path: path.write_bytes(path.read_bytes()[:100]), "cannot be read as predictions"),
        (lambda path: path.write_bytes(b""), "cannot be read as predictions"),
        (
            lambda path: rewrite_predictions(path, ids=np.array([object()] * 20, dtype=object)),
            "cannot be read as predictions",
        ),
        (
            lambda path: rewrite_predictions(path, ids=np.array(["test/dog/0000.jpg"] * 20)),
            "image ids repeat",
        ),
        (
            lambda path: np.savez(path, ids=np.array(["a"]), labels=np.array([1])),
            "has no probabilities, class_names",
        ),
    ],
    ids=["truncated", "empty", "object-array", "repeated-id", "missing-keys"],
)
def test_a_damaged_predictions_file_is_named_by_compare(tmp_path, capsys, damage, problem):
    before, after = one_seed_each(tmp_path, CORRECT, CORRECT)
    path = before / RUN / "test_predictions.npz"
    damage(path)
    with pytest.raises(PredictionsError, match=problem) as raised:
        read_predictions(path)
    assert str(raised.value).startswith(str(path))
    with pytest.raises(SystemExit) as exited:
        main([str(before), str(after), "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert (
        f"error: {path}" in error and "rerun the evaluate job" in error and "Traceback" not in error
    )


def write_summary(results, models):
    (results / "summary.csv").write_text(
        "model,test_accuracy\n" + "".join(f"{model},0.7\n" for model in models)
    )


def test_a_model_the_config_no_longer_makes_is_left_aside_and_named(tmp_path):
    """catsdogs.basic.filters changed from [4] to [8]: the f4 cell's folder stays on disk."""
    models = {"catsdogs/basic/lr0.001_f4": {1: 0.6}, "catsdogs/basic/lr0.001_f8": {1: 0.7}}
    before = write_results(tmp_path / "before", models)
    after = write_results(tmp_path / "after", models)
    write_summary(after, ["catsdogs/basic/lr0.001_f8"])
    comparison = compare_results(before, after)
    assert [row["model"] for row in comparison.rows] == ["catsdogs/basic/lr0.001_f8"]
    assert left_out_lines(comparison, ("A", "B")) == [
        "Only in A, not compared: catsdogs/basic/lr0.001_f4.",
        f"Left aside as stale, because the summary.csv of their results folder does not list them (the "
        f"config no longer makes them): {after}: catsdogs/basic/lr0.001_f4.",
        f"{before} has no summary.csv, so every model folder in it was compared, including any its config "
        "no longer makes.",
    ]
