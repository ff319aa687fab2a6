"""Two made-up result folders compared: exact table values, the verdicts, what is left out, the
figures, and errors that say what to do."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image
from scipy import stats as scipy_stats
from test_plots import write_history

from cnnlab.compare import COLUMNS, main
from cnnlab.predictions import Predictions, write_predictions
from cnnlab.stats import seed_summary, two_proportion_test, wilson_interval

N_TEST = 600
# {model: test accuracy per seed}; None as the seed: the layout from before seed folders.
BEFORE = {
    "catsdogs/basic/lr0.001_f32": {None: 0.709},
    "catsdogs/vgg16_frozen": {1: 0.90, 2: 0.91, 3: 0.92},
    "cifar10/inception": {1: 0.64},
}
AFTER = {
    "catsdogs/basic/lr0.001_f32": {1: 0.78, 2: 0.79, 3: 0.80},
    "catsdogs/vgg16_frozen": {1: 0.905, 2: 0.915, 3: 0.925},
    "cifar10/residual": {1: 0.59},
}


def write_results(folder, models, n_test=N_TEST):
    """A results folder: per seed a metrics.json and a three-epoch history.csv."""
    for model, seeds in models.items():
        for seed, accuracy in seeds.items():
            run = folder / model if seed is None else folder / model / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            (run / "metrics.json").write_text(
                json.dumps(
                    {
                        "test_accuracy": accuracy,
                        "test_loss": 0.5,
                        "train_accuracy": 0.95,
                        "val_accuracy": accuracy,
                        "val_loss": 0.5,
                        "epochs": 3,
                        "n_test": n_test,
                    }
                )
            )
            write_history(run / "history.csv", [accuracy - 0.1, accuracy - 0.05, accuracy])
    return folder


@pytest.fixture
def compared(tmp_path):
    """Runs the comparison of BEFORE and AFTER; returns the output folder."""
    before = write_results(tmp_path / "before", BEFORE)
    after = write_results(tmp_path / "after", AFTER)
    out = tmp_path / "out"
    assert main([str(before), str(after), "--out", str(out), "--labels", "before", "after"]) == 0
    return out


def read_rows(path):
    with open(path, newline="") as handle:
        return {row["model"]: row for row in csv.DictReader(handle)}


def test_an_interval_over_widely_spread_seeds_is_cut_at_1(tmp_path):
    """The demo's three CIFAR-10 residual seeds: the t-interval of their mean would pass 1."""
    spread = {"cifar10/residual": {1: 0.802, 2: 0.825, 3: 0.48}}
    before = write_results(tmp_path / "before", spread)
    after = write_results(tmp_path / "after", {"cifar10/residual": {1: 0.81, 2: 0.82, 3: 0.83}})
    out = tmp_path / "out"
    assert main([str(before), str(after), "--out", str(out)]) == 0
    row = read_rows(out / "comparison.csv")["cifar10/residual"]
    uncut = seed_summary(list(spread["cifar10/residual"].values()))["interval"]
    assert uncut[1] > 1
    assert float(row["a_t_low"]) == pytest.approx(uncut[0], rel=1e-5)
    assert float(row["a_t_high"]) == 1.0


def test_a_single_seed_against_three_seeds_uses_the_test_images(compared):
    row = read_rows(compared / "comparison.csv")["catsdogs/basic/lr0.001_f32"]
    wilson_before, wilson_after = wilson_interval(0.709, N_TEST), wilson_interval(0.79, N_TEST)
    t_after = seed_summary([0.78, 0.79, 0.80])["interval"]
    assert row["a_seeds"] == "1" and row["b_seeds"] == "3" and row["a_n_test"] == "600"
    assert float(row["a_mean"]) == 0.709 and float(row["b_mean"]) == 0.79
    assert row["a_sd"] == "-" and float(row["b_sd"]) == 0.01
    assert float(row["a_wilson_low"]) == pytest.approx(wilson_before[0], rel=1e-5)
    assert float(row["a_wilson_high"]) == pytest.approx(wilson_before[1], rel=1e-5)
    assert float(row["b_wilson_low"]) == pytest.approx(wilson_after[0], rel=1e-5)
    assert row["a_t_low"] == row["a_t_high"] == "-"
    assert float(row["b_t_low"]) == pytest.approx(t_after[0], rel=1e-5)
    assert float(row["b_t_high"]) == pytest.approx(t_after[1], rel=1e-5)
    assert float(row["difference"]) == 0.081
    assert row["test"] == "two-proportion" and row["paired"] == "no"
    # The one run against each of the three, never against their mean, which no run scored;
    # the largest p-value counts: the seed that scored 0.78.
    p_value = two_proportion_test(0.709, N_TEST, 0.78, N_TEST)["p_value"]
    assert float(row["p_value"]) == pytest.approx(p_value, rel=1e-5)
    # By hand: pooled 0.7445, z = 0.071 / sqrt(0.7445 * 0.2555 * 2/600) = 2.8196, p = 0.004808.
    assert p_value == pytest.approx(0.004808, abs=1e-6)
    # One seed before: the seeds' noise is unmeasured, so no verdict on the configurations,
    # only that these runs differ on the test images.
    assert row["seed_noise_measured"] == "no" and row["seeds_needed"] == "3"
    assert row["exceeds_noise"] == "-" and row["runs_differ"] == "yes"
    assert row["verdict"] == "unmeasured seed noise; these runs differ"
    assert row["pairing"].startswith("unpaired: before's ")
    assert row["pairing"].endswith("has no test_predictions.npz (and 5 more)")


def test_three_seeds_against_three_seeds_use_welch(compared):
    row = read_rows(compared / "comparison.csv")["catsdogs/vgg16_frozen"]
    p_value = scipy_stats.ttest_ind(
        [0.90, 0.91, 0.92], [0.905, 0.915, 0.925], equal_var=False
    ).pvalue
    assert float(row["difference"]) == 0.005
    assert row["test"] == "welch"
    assert float(row["p_value"]) == pytest.approx(p_value, rel=1e-5)
    assert row["exceeds_noise"] == "no" and row["verdict"] == "no"
    assert row["seed_noise_measured"] == "yes" and row["seeds_needed"] == "-"
    assert row["explanation"] == (
        f"after is 0.5 points higher than before (Welch's t-test over 3 and 3 seeds; "
        f"p = {p_value:.3g} >= 0.05: within the seed-to-seed noise on these test images (the "
        f"test set's own sampling is not counted), not a demonstrated difference)."
    )


def test_markdown_table_rows_and_what_is_left_out(compared):
    markdown = (compared / "comparison.md").read_text()
    assert (
        "| model | before test acc | before Wilson 95% | before t 95% | after test acc "
        "| after Wilson 95% | after t 95% | after − before | p (test) | verdict |"
    ) in markdown
    assert (
        "| catsdogs/basic/lr0.001_f32 | 0.709 (1 seed) | [0.671, 0.744] | - "
        "| 0.790 ± 0.010 (3 seeds) | [0.756, 0.821] | [0.765, 0.815] | +0.081 "
        "| 0.00481 (two-proportion, unpaired) | unmeasured seed noise; these runs differ |"
    ) in markdown
    assert "Only in before, not compared: cifar10/inception." in markdown
    assert "Only in after, not compared: cifar10/residual." in markdown
    compared_models = set(read_rows(compared / "comparison.csv"))
    assert compared_models == {"catsdogs/basic/lr0.001_f32", "catsdogs/vgg16_frozen"}
    assert (
        "![catsdogs/vgg16_frozen: validation accuracy](figures/catsdogs/vgg16_frozen.png)"
        in markdown
    )


def test_figures_are_pngs_and_the_html_embeds_them(compared):
    figures = sorted(path.relative_to(compared).as_posix() for path in compared.rglob("*.png"))
    assert figures == [
        "figures/catsdogs/basic/lr0.001_f32.png",
        "figures/catsdogs/vgg16_frozen.png",
    ]
    for figure in figures:
        with Image.open(compared / figure) as image:
            assert image.format == "PNG" and image.size == (700, 400)
    page = (compared / "comparison.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 2
    assert '<td class="number">0.790 ± 0.010 (3 seeds)</td>' in page
    assert "Only in after, not compared: cifar10/residual." in page


def test_an_old_run_beside_seed_folders_is_left_aside_and_said_so(tmp_path, capsys):
    before = write_results(tmp_path / "before", {"cifar10/inception": {1: 0.64, 2: 0.66}})
    write_results(tmp_path / "before", {"cifar10/inception": {None: 0.30}})
    after = write_results(tmp_path / "after", {"cifar10/inception": {None: 0.65}})

    assert main([str(before), str(after), "--out", str(tmp_path / "out")]) == 0

    row = read_rows(tmp_path / "out" / "comparison.csv")["cifar10/inception"]
    assert row["a_seeds"] == "2" and float(row["a_mean"]) == 0.65
    old_run = tmp_path / "before" / "cifar10" / "inception" / "metrics.json"
    assert f"Left aside, because the same model has seed folders beside it: {old_run}." in (
        capsys.readouterr().out
    )


def test_a_folder_without_results_names_the_path_and_the_layout(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    after = write_results(tmp_path / "after", AFTER)

    with pytest.raises(SystemExit) as exit_info:
        main([str(empty), str(after), "--out", str(tmp_path / "out")])

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert f"no metrics.json under {empty}" in message
    assert "<data set>/<model>/seed<seed>/metrics.json" in message
    assert not (tmp_path / "out").exists()


def test_a_missing_history_is_named(tmp_path, capsys):
    before = write_results(tmp_path / "before", BEFORE)
    after = write_results(tmp_path / "after", AFTER)
    missing = after / "catsdogs" / "vgg16_frozen" / "seed2" / "history.csv"
    missing.unlink()

    with pytest.raises(SystemExit):
        main([str(before), str(after), "--out", str(tmp_path / "out")])

    assert f"{missing} is missing" in capsys.readouterr().err


def test_a_metrics_file_that_is_not_json_is_named(tmp_path, capsys):
    before = write_results(tmp_path / "before", BEFORE)
    after = write_results(tmp_path / "after", AFTER)
    broken = after / "cifar10" / "residual" / "seed1" / "metrics.json"
    broken.write_text('{"test_accuracy": 0.5')  # cut short

    with pytest.raises(SystemExit):
        main([str(before), str(after), "--out", str(tmp_path / "out")])

    assert f"{broken} is not valid JSON" in capsys.readouterr().err


def test_seeds_scored_on_different_test_sets_are_refused(tmp_path, capsys):
    before = write_results(tmp_path / "before", {"catsdogs/vgg16_frozen": {1: 0.9}})
    write_results(tmp_path / "before", {"catsdogs/vgg16_frozen": {2: 0.9}}, n_test=300)
    after = write_results(tmp_path / "after", {"catsdogs/vgg16_frozen": {1: 0.9}})

    with pytest.raises(SystemExit):
        main([str(before), str(after)])

    assert "different numbers of test images (300, 600)" in capsys.readouterr().err


def test_run_as_a_module_writes_into_comparison_by_default(tmp_path):
    write_results(tmp_path / "before", BEFORE)
    write_results(tmp_path / "after", AFTER)

    result = subprocess.run(
        [sys.executable, "-m", "cnnlab.compare", "before", "after"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "compared 2 model(s)" in result.stdout
    rows = read_rows(tmp_path / "comparison" / "comparison.csv")
    assert rows["catsdogs/basic/lr0.001_f32"]["runs_differ"] == "yes"
    assert "| model | A test acc |" in (tmp_path / "comparison" / "comparison.md").read_text()
    assert (tmp_path / "comparison" / "figures" / "catsdogs" / "vgg16_frozen.png").is_file()


# ------------------------------------------------------------------- paired: per-image predictions


def write_predictions_of(run, correct, ids=None):
    """The run's test_predictions.npz: two classes, the label 1, right where `correct` is 1."""
    correct = np.asarray(correct, dtype=bool)
    labels = np.ones(len(correct), dtype=int)
    p_dog = np.where(correct, 0.9, 0.1).astype("float32")
    if ids is None:
        ids = [f"test/dog/{i:04d}.jpg" for i in range(len(correct))]
    write_predictions(
        run / "test_predictions.npz",
        Predictions(
            ids=np.asarray(ids),
            labels=labels,
            probabilities=np.stack([1 - p_dog, p_dog], axis=1),
            class_names=np.array(["cat", "dog"]),
        ),
    )


def one_seed_each(tmp_path, a_correct, b_correct, b_ids=None):
    n = len(a_correct)
    before = write_results(
        tmp_path / "before", {"catsdogs/vgg16_frozen": {1: float(np.mean(a_correct))}}, n
    )
    after = write_results(
        tmp_path / "after", {"catsdogs/vgg16_frozen": {1: float(np.mean(b_correct))}}, n
    )
    write_predictions_of(before / "catsdogs/vgg16_frozen/seed1", a_correct)
    write_predictions_of(after / "catsdogs/vgg16_frozen/seed1", b_correct, b_ids)
    return before, after


def test_one_run_each_on_the_same_images_is_paired_with_mcnemar(tmp_path):
    # 20 images: both right on 0-9, only before on 10-11, only after on 12-19, both wrong none.
    # McNemar by hand: 2 against 8 discordant, p = 2 * P(X <= 2 | 10, 1/2)
    # = 2 * (1 + 10 + 45) / 1024 = 112/1024 = 0.109375.
    a_correct = [1] * 12 + [0] * 8
    b_correct = [1] * 10 + [0] * 2 + [1] * 8
    before, after = one_seed_each(tmp_path, a_correct, b_correct)
    assert (
        main(
            [str(before), str(after), "--out", str(tmp_path / "out"), "--labels", "before", "after"]
        )
        == 0
    )

    row = read_rows(tmp_path / "out" / "comparison.csv")["catsdogs/vgg16_frozen"]
    assert row["test"] == "mcnemar" and row["paired"] == "yes" and row["n_paired"] == "20"
    assert float(row["p_value"]) == pytest.approx(112 / 1024, rel=1e-5)
    assert float(row["difference"]) == pytest.approx(0.3)  # 0.9 - 0.6
    assert row["exceeds_noise"] == "-" and row["runs_differ"] == "no"
    assert row["pairing"] == (
        "paired: McNemar on the 20 test images of the run pair, matched by image id"
    )
    assert row["mcnemar_by_seed"] == (
        "seed 1: 2 right only by before, 8 only by after, 10 by both, 0 by neither, p = 0.109"
    )
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert (
        "| 0.109 (McNemar, paired on 20 images) | unmeasured seed noise; runs within test-set noise |"
        in markdown
    )
    assert (
        "paired: McNemar on the 20 test images both scored, 2 right only by before, 8 only by after"
        in markdown
    )
    page = (tmp_path / "out" / "comparison.html").read_text()
    assert "0.109 (McNemar, paired on 20 images)" in page
    assert "Paired: McNemar on the 20 test images of the run pair, matched by image id." in page


def test_one_run_against_three_seeds_is_paired_with_each_of_them(tmp_path):
    """Issue 25: before's one run against after's three seeds was an unpaired test on after's
    mean, captioned as if one run pair had been tested. Now the one run is paired with each."""
    n = 20
    a_correct = [1] * 12 + [0] * 8  # 0.60
    b_correct = {1: [1] * 20, 2: [1] * 19 + [0], 3: [1] * 10 + [0] * 2 + [1] * 4 + [0] * 4}
    before = write_results(tmp_path / "before", {"catsdogs/vgg16_frozen": {1: 0.6}}, n)
    after = write_results(
        tmp_path / "after",
        {"catsdogs/vgg16_frozen": {seed: float(np.mean(c)) for seed, c in b_correct.items()}},
        n,
    )
    write_predictions_of(before / "catsdogs/vgg16_frozen/seed1", a_correct)
    for seed, correct in b_correct.items():
        write_predictions_of(after / f"catsdogs/vgg16_frozen/seed{seed}", correct)
    assert (
        main(
            [str(before), str(after), "--out", str(tmp_path / "out"), "--labels", "before", "after"]
        )
        == 0
    )

    row = read_rows(tmp_path / "out" / "comparison.csv")["catsdogs/vgg16_frozen"]
    assert row["test"] == "mcnemar" and row["paired"] == "yes" and row["n_paired"] == "20"
    # seed 1: 0 against 8 discordant, p = 2/256; seed 2: 0 against 7, p = 2/128; seed 3: 2
    # against 4, p = 2 * (1 + 6 + 15) / 64 = 0.6875, the largest: not every pair differs.
    assert float(row["p_value"]) == pytest.approx(0.6875)
    assert row["runs_differ"] == "no"
    assert row["verdict"] == "unmeasured seed noise; 2 of 3 run pairs differ"
    assert row["pairing"] == (
        "paired: McNemar on the 20 test images of before's one run against each of after's 3, "
        "matched by image id"
    )
    assert row["mcnemar_by_seed"].startswith(
        "seed 1: 0 right only by before, 8 only by after, 12 by both, 0 by neither, p = 0.00781; "
        "before seed 1 / after seed 2: 0 right only by before, 7 only by after"
    )


def test_runs_on_different_images_stay_unpaired_and_say_why(tmp_path):
    ids = [f"test/dog/{i:04d}.jpg" for i in range(19)] + ["test/dog/other.jpg"]
    before, after = one_seed_each(tmp_path, [1] * 12 + [0] * 8, [1] * 18 + [0] * 2, b_ids=ids)
    assert main([str(before), str(after), "--out", str(tmp_path / "out")]) == 0

    row = read_rows(tmp_path / "out" / "comparison.csv")["catsdogs/vgg16_frozen"]
    assert row["test"] == "two-proportion" and row["paired"] == "no" and row["n_paired"] == "-"
    assert row["pairing"].startswith(
        "unpaired: A and B scored different images (20 and 20; 1 only in A's"
    )
    assert "test/dog/other.jpg" in row["pairing"]


def test_several_seeds_with_predictions_keep_welch_and_list_each_seeds_mcnemar(tmp_path):
    before = write_results(tmp_path / "before", {"cifar10/residual": {1: 0.5, 2: 0.6, 3: 0.55}}, 20)
    after = write_results(tmp_path / "after", {"cifar10/residual": {1: 0.9, 2: 0.95, 3: 1.0}}, 20)
    for seed, (a_right, b_right) in enumerate([(10, 18), (12, 19), (11, 20)], start=1):
        write_predictions_of(
            before / f"cifar10/residual/seed{seed}", [1] * a_right + [0] * (20 - a_right)
        )
        write_predictions_of(
            after / f"cifar10/residual/seed{seed}", [1] * b_right + [0] * (20 - b_right)
        )
    assert main([str(before), str(after), "--out", str(tmp_path / "out")]) == 0

    row = read_rows(tmp_path / "out" / "comparison.csv")["cifar10/residual"]
    assert row["test"] == "welch" and row["paired"] == "no"
    assert row["pairing"] == (
        "paired: McNemar on the 20 test images of each of 3 run pairs (same seed), matched by image id"
    )
    # seed 1: A right on 0-9, B on 0-17: 0 against 8, p = 2 / 2^8 = 0.0078125.
    assert row["mcnemar_by_seed"].startswith(
        "seed 1: 0 right only by A, 8 only by B, 10 by both, 2 by neither, p = 0.00781; seed 2:"
    )
    assert "McNemar per pair of runs: seed 1:" in (tmp_path / "out" / "comparison.md").read_text()


def test_the_same_folder_twice_is_said_plainly(tmp_path, capsys):
    results = write_results(tmp_path / "results", AFTER)
    (tmp_path / "link").symlink_to(results)
    for other in (results, tmp_path / "link"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(results), str(other), "--out", str(tmp_path / "out")])
        assert exit_info.value.code == 2
        message = capsys.readouterr().err
        assert f"{results} and {other} are the same folder" in message
        assert "scores the same" not in message
    assert not (tmp_path / "out").exists()


def cells_of(line):
    """A Markdown table row's cells: split at each `|` that no backslash escapes."""
    cells, cell, escaped = [], "", False
    for character in line.strip()[1:-1]:
        if escaped:
            cell, escaped = cell + character, False
        elif character == "\\":
            cell, escaped = cell + character, True
        elif character == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += character
    return [*cells, cell]


def test_labels_and_model_names_cannot_break_the_markdown_table(tmp_path):
    models = {"catsdogs/odd|name\\": {1: 0.7}, "catsdogs/vgg16_frozen": {1: 0.8}}
    before = write_results(tmp_path / "before", models)
    after = write_results(tmp_path / "after", models)
    labels = ["run|A\\", "run\nB"]
    assert main([str(before), str(after), "--out", str(tmp_path / "out"), "--labels", *labels]) == 0

    markdown = (tmp_path / "out" / "comparison.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2  # heading, separator, two models: the newline started no line
    for line in table:
        assert len(cells_of(line)) == len(COLUMNS), line
    assert cells_of(table[0])[1].strip() == "run\\|A\\\\ test acc"
    assert cells_of(table[0])[4].strip() == "run<br>B test acc"
    assert "# run|A\\ and run B, model by model" in markdown
    assert "## catsdogs/odd|name\\" in markdown  # prose: one line, nothing to escape
    rows = read_rows(tmp_path / "out" / "comparison.csv")
    assert set(rows) == set(models)  # the CSV quotes what it must


def test_a_run_without_predictions_is_unpaired_and_named(tmp_path):
    before, after = one_seed_each(tmp_path, [1] * 12 + [0] * 8, [1] * 18 + [0] * 2)
    missing = after / "catsdogs" / "vgg16_frozen" / "seed1" / "test_predictions.npz"
    missing.unlink()
    assert main([str(before), str(after), "--out", str(tmp_path / "out")]) == 0

    row = read_rows(tmp_path / "out" / "comparison.csv")["catsdogs/vgg16_frozen"]
    assert row["test"] == "two-proportion" and row["paired"] == "no"
    assert row["pairing"] == f"unpaired: B's {missing.parent} has no test_predictions.npz"
