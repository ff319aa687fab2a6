"""The results table: a row per model, the report's numbers and differences, dashes elsewhere."""

from __future__ import annotations

import base64
import csv
import json

import numpy as np
import pytest
import scipy.stats

from cnnlab.stats import wilson_interval
from cnnlab.summary import NOT_APPLICABLE, summarize_results

# Fake results: {model: (train acc, val acc, test loss, test acc, epochs, wall time, device)}.
RESULTS = {
    "catsdogs/basic/lr0.001_f16": (0.81, 0.66, 0.62, 0.64, 6, 12.5, "CPU"),
    "catsdogs/basic/lr0.001_f32": (0.85, 0.71, 0.58, 0.69, 6, 20.0, "CPU"),
    "catsdogs/vgg16_frozen": (0.95, 0.88, 0.31, 0.875, 3, 95.0, "GPU:0 (NVIDIA H100)"),
    "cifar10/basic/lr0.001_f16": (0.55, 0.50, 1.40, 0.49, 6, 30.0, "CPU"),
    "cifar10/inception": (0.60, 0.52, 1.35, 0.51, 6, 4000.0, "CPU"),
}
BEST_CELLS = {"catsdogs/basic": "lr0.001_f32", "cifar10/basic": "lr0.001_f16"}
# The report has numbers for the cats/dogs grid and VGG16, none for CIFAR-10's inception model.
REPORT_NUMBERS = {"catsdogs/basic": 0.709, "catsdogs/vgg16_frozen": 0.907, "cifar10/basic": 0.64}
# The report's test sets, as config.yaml derives them from its protocol.
REPORT_TEST_IMAGES = {"catsdogs": 600, "cifar10": 10000}


def per_class_of(model, test_accuracy):
    """Per-class accuracies around the test accuracy: cats/dogs' two, CIFAR-10's first class
    never tested (None), as metrics.json has them."""
    if model.startswith("catsdogs/"):
        return {"cat": test_accuracy - 0.05, "dog": test_accuracy + 0.05}
    return {"airplane": None, "automobile": test_accuracy + 0.1, "bird": test_accuracy - 0.1}


def write_inputs(tmp_path, results=RESULTS, best_cells=BEST_CELLS):
    """One run (seed 1) per model."""
    runs, metrics_paths, info_paths, best_paths = [], [], [], {}
    for model, (train, val, test_loss, test_acc, epochs, seconds, device) in results.items():
        runs.append(f"{model}/seed1")
        folder = tmp_path / "results" / runs[-1]
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(
            json.dumps(
                {
                    "train_accuracy": train,
                    "val_accuracy": val,
                    "test_loss": test_loss,
                    "test_accuracy": test_acc,
                    "epochs": epochs,
                    "n_test": 100,
                    "per_class_accuracy": per_class_of(model, test_acc),
                }
            )
        )
        (folder / "train.json").write_text(
            json.dumps(
                {
                    "wall_time_seconds": seconds,
                    "device": device,
                    "epochs_run": epochs,
                    "runtime": {"backend": "jax", "mixed_precision": "mixed_bfloat16"}
                    if device != "CPU"
                    else {"backend": "tensorflow", "mixed_precision": "float32"},
                }
            )
        )
        metrics_paths.append(folder / "metrics.json")
        info_paths.append(folder / "train.json")
    for grid, cell in best_cells.items():
        best_paths[grid] = tmp_path / "results" / grid / "best.json"
        best_paths[grid].write_text(json.dumps({"cell": cell}))
    return list(results), runs, metrics_paths, info_paths, best_paths


def summarize(tmp_path, report_numbers=REPORT_NUMBERS):
    models, runs, metrics_paths, info_paths, best_paths = write_inputs(tmp_path)
    outputs = {name: tmp_path / f"summary.{name}" for name in ("csv", "md", "html")}
    summarize_results(
        models=models,
        runs=runs,
        metrics_paths=metrics_paths,
        info_paths=info_paths,
        best_paths=best_paths,
        report_numbers=report_numbers,
        report_test_images=REPORT_TEST_IMAGES,
        csv_path=outputs["csv"],
        markdown_path=outputs["md"],
        html_path=outputs["html"],
    )
    return outputs


def read_csv_rows(path):
    with open(path, newline="") as handle:
        return {row["model"]: row for row in csv.DictReader(handle)}


def test_the_table_has_a_row_per_model_with_its_metrics(tmp_path):
    rows = read_csv_rows(summarize(tmp_path)["csv"])

    assert list(rows) == list(RESULTS)
    for model, (train, val, test_loss, test_acc, epochs, seconds, device) in RESULTS.items():
        row = rows[model]
        assert float(row["train_accuracy"]) == train
        assert float(row["val_accuracy"]) == val
        assert float(row["test_loss"]) == test_loss
        assert float(row["test_accuracy"]) == test_acc
        assert int(row["epochs"]) == epochs
        assert float(row["wall_time_seconds"]) == seconds
        assert row["device"] == device
        assert row["backend"] == ("tensorflow" if device == "CPU" else "jax (mixed_bfloat16)")


def test_the_best_grid_cell_is_marked_and_compared_with_the_reports_basic_cnn(tmp_path):
    rows = read_csv_rows(summarize(tmp_path)["csv"])

    best = rows["catsdogs/basic/lr0.001_f32"]
    assert best["best_of_grid"] == "yes"
    assert float(best["report_test_accuracy"]) == REPORT_NUMBERS["catsdogs/basic"]
    assert float(best["difference"]) == pytest.approx(
        RESULTS["catsdogs/basic/lr0.001_f32"][3] - REPORT_NUMBERS["catsdogs/basic"]
    )
    other_cell = rows["catsdogs/basic/lr0.001_f16"]
    assert other_cell["best_of_grid"] == "no"
    assert other_cell["report_test_accuracy"] == other_cell["difference"] == NOT_APPLICABLE
    assert rows["cifar10/basic/lr0.001_f16"]["best_of_grid"] == "yes"
    assert (
        float(rows["cifar10/basic/lr0.001_f16"]["report_test_accuracy"])
        == REPORT_NUMBERS["cifar10/basic"]
    )


def test_models_the_report_did_not_train_show_dashes(tmp_path):
    rows = read_csv_rows(summarize(tmp_path)["csv"])

    inception = rows["cifar10/inception"]
    assert inception["report_test_accuracy"] == inception["difference"] == NOT_APPLICABLE
    assert inception["best_of_grid"] == NOT_APPLICABLE  # not a grid cell
    vgg = rows["catsdogs/vgg16_frozen"]
    assert float(vgg["difference"]) == pytest.approx(
        RESULTS["catsdogs/vgg16_frozen"][3] - REPORT_NUMBERS["catsdogs/vgg16_frozen"]
    )


def test_a_null_report_number_is_a_dash_too(tmp_path):
    rows = read_csv_rows(
        summarize(tmp_path, {**REPORT_NUMBERS, "catsdogs/vgg16_frozen": None})["csv"]
    )

    assert rows["catsdogs/vgg16_frozen"]["report_test_accuracy"] == NOT_APPLICABLE


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_markdown_and_html_show_every_model_with_rounded_numbers(tmp_path):
    outputs = summarize(tmp_path)
    main, details = outputs["md"].read_text().split("## Per-class")[0].split("## Details")
    main_lines, detail_lines = table_lines(main), table_lines(details)

    assert len(main_lines) == len(detail_lines) == 2 + len(RESULTS)  # headings, separator, rows
    vgg_line = next(line for line in main_lines if "catsdogs/vgg16_frozen" in line)
    difference = RESULTS["catsdogs/vgg16_frozen"][3] - REPORT_NUMBERS["catsdogs/vgg16_frozen"]
    assert f"| {difference:+.3f} [" in vgg_line and "| 0.907 [" in vgg_line
    inception_line = next(line for line in main_lines if "cifar10/inception" in line)
    assert inception_line.endswith(" | ".join([""] + [NOT_APPLICABLE] * 4 + [""]).strip())
    inception_details = next(line for line in detail_lines if "cifar10/inception" in line)
    assert "1.1 h" in inception_details  # 4000 s, readable
    best_line = next(line for line in main_lines if "lr0.001_f32" in line)
    assert "**catsdogs/basic/lr0.001_f32 (best of grid)**" in best_line
    assert "**best**" in next(line for line in detail_lines if "lr0.001_f32" in line)
    html = outputs["html"].read_text().split("<h2>Per-class")[0]
    main_html, details_html = html.split("<h2>Details</h2>")
    assert main_html.count("<tr") == details_html.count("<tr") == 1 + len(RESULTS)
    assert main_html.count('class="best"') == len(BEST_CELLS)


def test_the_main_table_has_at_most_8_columns_and_the_details_keep_the_rest(tmp_path):
    """Issue 25: 21 columns scrolled sideways at 1600 px. The main table holds what a reader
    came for, value and interval in one cell; every other value is in the details below (and
    every column in the CSV); three sentences and a link replace the long footnote."""
    outputs = summarize(tmp_path)
    markdown = outputs["md"].read_text()
    main, details = markdown.split("## Per-class")[0].split("## Details")
    heading = table_lines(main)[0]
    assert heading == (
        "| model | seeds | test acc [95% CI, new images] | report's test acc [95% CI of its "
        "test set] | ours − report [95% CI] | p | ours vs report |"
    )
    assert heading.count("|") - 1 <= 8
    for name in (
        "final train acc",
        "test loss",
        "sd over seeds",
        "95% CI over seeds",
        "95% CI of the test set",
        "training time",
        "device",
        "backend",
    ):
        assert name in table_lines(details)[0]
    notes = next(line for line in main.splitlines() if line.startswith("Test acc is the mean"))
    assert notes.count(". ") == 3 and "[docs/statistics.md](../docs/statistics.md)" in notes
    html = outputs["html"].read_text()
    main_html = html.split("<h2>Details</h2>")[0]
    assert main_html.split("</thead>")[0].count("<th>") <= 8
    assert '<a href="../docs/statistics.md">docs/statistics.md</a>' in main_html


def test_the_overview_figures_come_first_linked_in_markdown_and_embedded_in_html(tmp_path):
    models, runs, metrics_paths, info_paths, best_paths = write_inputs(tmp_path)
    figure = tmp_path / "results" / "figures" / "catsdogs" / "overview.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"\x89PNG not really")
    summarize_results(
        models=models,
        runs=runs,
        metrics_paths=metrics_paths,
        info_paths=info_paths,
        best_paths=best_paths,
        report_numbers=REPORT_NUMBERS,
        report_test_images=REPORT_TEST_IMAGES,
        csv_path=tmp_path / "results" / "s.csv",
        markdown_path=tmp_path / "results" / "s.md",
        html_path=tmp_path / "results" / "s.html",
        overview_paths={"catsdogs": figure},
    )
    markdown = (tmp_path / "results" / "s.md").read_text()
    image = "![catsdogs: test accuracy beside the report's numbers](figures/catsdogs/overview.png)"
    assert markdown.index(image) < markdown.index("| model |")
    html = (tmp_path / "results" / "s.html").read_text()
    embedded = '<img src="data:image/png;base64,' + base64.b64encode(b"\x89PNG not really").decode()
    assert html.index(embedded) < html.index("<table>")


def test_per_class_accuracy_gets_a_table_per_data_set_beside_the_results(tmp_path):
    outputs = summarize(tmp_path)
    markdown = outputs["md"].read_text()
    catsdogs = markdown.split("## Per-class test accuracy: catsdogs")[1].split("## ")[0]
    assert "| model | cat | dog |" in catsdogs
    vgg_line = next(line for line in catsdogs.splitlines() if "catsdogs/vgg16_frozen" in line)
    assert vgg_line == "| catsdogs/vgg16_frozen | 0.825 | 0.925 |"
    cifar = markdown.split("## Per-class test accuracy: cifar10")[1]
    assert "| model | airplane | automobile | bird |" in cifar
    assert f"| cifar10/inception | {NOT_APPLICABLE} | 0.610 | 0.410 |" in cifar
    html = outputs["html"].read_text()
    assert html.count("<h2>Per-class test accuracy") == 2
    assert '<td class="text">catsdogs/vgg16_frozen</td><td class="number">0.825</td>' in html


def test_a_report_number_for_an_unknown_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"catsdogs/vgg19.*neither a model nor a grid"):
        summarize(tmp_path, {**REPORT_NUMBERS, "catsdogs/vgg19": 0.9})


def test_a_metrics_file_without_a_field_names_the_file(tmp_path):
    models, runs, metrics_paths, info_paths, best_paths = write_inputs(tmp_path)
    metrics_paths[0].write_text(json.dumps({"test_accuracy": 0.5, "n_test": 100}))

    with pytest.raises(KeyError, match=r"metrics\.json has no 'train_accuracy'"):
        summarize_results(
            models=models,
            runs=runs,
            metrics_paths=metrics_paths,
            info_paths=info_paths,
            best_paths=best_paths,
            report_numbers={},
            report_test_images=REPORT_TEST_IMAGES,
            csv_path=tmp_path / "s.csv",
            markdown_path=tmp_path / "s.md",
            html_path=tmp_path / "s.html",
        )
    assert not (tmp_path / "s.csv").exists()


SEEDED_MODEL = "catsdogs/basic/lr0.001_f32"  # the best cats/dogs cell in write_inputs


def summarize_seeds(tmp_path, accuracies: dict[int, float]) -> dict:
    """The summary row of the best cats/dogs cell trained with these seeds' test accuracies."""
    models, runs, metrics_paths, info_paths, best_paths = write_inputs(tmp_path)
    model = SEEDED_MODEL
    for seed, accuracy in accuracies.items():
        run = f"{model}/seed{seed}"
        folder = tmp_path / "results" / run
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(
            json.dumps(
                {
                    "train_accuracy": 0.9,
                    "val_accuracy": 0.7,
                    "test_loss": 0.6,
                    "test_accuracy": accuracy,
                    "epochs": 6,
                    "n_test": 600,
                    "per_class_accuracy": per_class_of(model, accuracy),
                }
            )
        )
        (folder / "train.json").write_text(
            json.dumps(
                {
                    "wall_time_seconds": 10.0 * seed,
                    "device": "CPU",
                    "runtime": {"backend": "tensorflow", "mixed_precision": "float32"},
                }
            )
        )
        if seed > 1:
            runs.append(run)
            metrics_paths.append(folder / "metrics.json")
            info_paths.append(folder / "train.json")
    summarize_results(
        models=models,
        runs=runs,
        metrics_paths=metrics_paths,
        info_paths=info_paths,
        best_paths=best_paths,
        report_numbers=REPORT_NUMBERS,
        report_test_images=REPORT_TEST_IMAGES,
        csv_path=tmp_path / "s.csv",
        markdown_path=tmp_path / "s.md",
        html_path=tmp_path / "s.html",
    )
    return read_csv_rows(tmp_path / "s.csv")[model]


def test_several_seeds_give_a_mean_sd_and_intervals(tmp_path):
    """Three seeds of the best cats/dogs cell: the row holds their mean, sd and t-interval,
    the test set's Wilson interval of the mean, and whether the report's number is inside."""
    model = SEEDED_MODEL
    accuracies = {1: 0.69, 2: 0.72, 3: 0.75}
    row = summarize_seeds(tmp_path, accuracies)

    values = np.array(list(accuracies.values()))
    mean, sd = values.mean(), values.std(ddof=1)
    half = scipy.stats.t.ppf(0.975, df=2) * sd / np.sqrt(3)
    assert int(row["seeds"]) == 3
    assert float(row["test_accuracy"]) == pytest.approx(mean)
    assert float(row["test_accuracy_sd"]) == pytest.approx(sd, rel=1e-5)
    assert float(row["seeds_interval_low"]) == pytest.approx(mean - half, rel=1e-5)
    assert float(row["seeds_interval_high"]) == pytest.approx(mean + half, rel=1e-5)
    low, high = wilson_interval(mean, 600)
    assert (float(row["test_set_interval_low"]), float(row["test_set_interval_high"])) == (
        pytest.approx(low, rel=1e-5),
        pytest.approx(high, rel=1e-5),
    )
    # The headline interval: the configuration on new images, seeds and test set both counted
    # (issue 25): 0.03² / 3 + 0.72 * 0.28 / 600 = 0.000636, df = 0.000636² / (0.0003² / 2) = 8.99.
    seed_term, test_term = sd**2 / 3, mean * (1 - mean) / 600
    df = (seed_term + test_term) ** 2 / (seed_term**2 / 2)
    headline_half = scipy.stats.t.ppf(0.975, df) * np.sqrt(seed_term + test_term)
    assert float(row["test_accuracy_interval_low"]) == pytest.approx(mean - headline_half, rel=1e-5)
    assert float(row["test_accuracy_interval_high"]) == pytest.approx(
        mean + headline_half, rel=1e-5
    )
    # Never narrower than the test set's noise alone. (Here narrower than the t-interval over
    # seeds, whose t has 2 degrees of freedom: the test set's term is known, not estimated.)
    assert headline_half > (high - low) / 2
    report_low, report_high = wilson_interval(0.709, 600)
    assert float(row["report_interval_low"]) == pytest.approx(report_low, rel=1e-5)
    assert float(row["wall_time_seconds"]) == pytest.approx(20.0)  # per run
    # Against the report's 0.709 on 600 images, by hand (as in test_stats): difference +0.011;
    # test sets 0.72*0.28/600 + 0.709*0.291/600 = 0.00067987, seeds 0.03² * (1/3 + 1) = 0.0012,
    # se = 0.0433575, Welch-Satterthwaite df = 0.00187987² / (0.0012² / 2) = 4.908.
    assert int(row["report_n_test"]) == 600
    assert float(row["difference"]) == pytest.approx(0.011, abs=1e-9)
    difference_half = scipy.stats.t.ppf(0.975, 4.9082) * 0.0433575
    assert float(row["difference_interval_low"]) == pytest.approx(0.011 - difference_half, abs=1e-4)
    assert float(row["difference_interval_high"]) == pytest.approx(
        0.011 + difference_half, abs=1e-4
    )
    assert float(row["difference_p_value"]) == pytest.approx(
        2 * scipy.stats.t.sf(0.011 / 0.0433575, 4.9082), abs=1e-4
    )
    assert row["report_verdict"] == "consistent"
    main_line, details_line, _per_class_line = (
        line
        for line in (tmp_path / "s.md").read_text().splitlines()
        if line.startswith("|") and model in line
    )
    assert (
        f"| **0.720 [{mean - headline_half:.3f}, {mean + headline_half:.3f}]** "
        f"| **0.709 [{report_low:.3f}, {report_high:.3f}]** "
        "| **+0.011 [-0.101, +0.123]** | **0.81** | **consistent** |"
    ) in main_line
    assert f"[{mean - half:.3f}, {mean + half:.3f}]" in details_line
    # Per class, too, the mean over the three seeds (cat: each seed's accuracy - 0.05).
    assert f"| {model} | {mean - 0.05:.3f} | {mean + 0.05:.3f} |" in (tmp_path / "s.md").read_text()


def test_intervals_of_widely_spread_seeds_stay_within_what_accuracies_can_be(tmp_path):
    """Seeds 0.50, 0.98, 0.99: the t-interval of their mean would pass 1, and that of the
    difference from the report's 0.709 both -1 and +1; the table cuts both at what can be."""
    accuracies = {1: 0.50, 2: 0.98, 3: 0.99}
    row = summarize_seeds(tmp_path, accuracies)
    values = np.array(list(accuracies.values()))
    mean, sd = values.mean(), values.std(ddof=1)
    half = scipy.stats.t.ppf(0.975, df=2) * sd / np.sqrt(3)
    assert mean + half > 1
    assert float(row["seeds_interval_low"]) == pytest.approx(mean - half, rel=1e-5)
    assert float(row["seeds_interval_high"]) == 1.0
    # Three seeds this spread leave the difference free to be anything: -1 to +1, no further.
    assert float(row["difference"]) == pytest.approx(mean - 0.709, abs=1e-6)
    assert (float(row["difference_interval_low"]), float(row["difference_interval_high"])) == (
        -1,
        1,
    )
    assert row["report_verdict"] == "consistent"


def test_one_seed_is_set_beside_the_report_with_both_test_sets_noise(tmp_path):
    rows = read_csv_rows(summarize(tmp_path)["csv"])
    vgg = rows["catsdogs/vgg16_frozen"]  # 0.875 on 100 images; the report's 0.907 on 600
    assert (
        vgg["seeds"] == "1"
        and vgg["test_accuracy_sd"] == vgg["seeds_interval_low"] == NOT_APPLICABLE
    )
    # By hand: se = sqrt(0.875*0.125/100 + 0.907*0.093/600) = sqrt(0.00109375 + 0.00014059)
    # = 0.0351331; z = -0.032 / 0.0351331 = -0.9108; p = 0.3624.
    assert vgg["report_n_test"] == "600"
    assert float(vgg["difference_p_value"]) == pytest.approx(0.3624, abs=1e-4)
    assert float(vgg["difference_interval_low"]) == pytest.approx(
        -0.032 - 1.959964 * 0.0351331, abs=1e-5
    )
    assert vgg["report_verdict"] == "runs within test-set noise; 1 seed"
    cifar = rows["cifar10/basic/lr0.001_f16"]  # 0.49 on 100; the report's 0.64 on 10,000
    # se = sqrt(0.49*0.51/100 + 0.64*0.36/10000) = sqrt(0.002499 + 0.00002304) = 0.0502199;
    # z = -0.15 / 0.0502199 = -2.9869; p = 0.00282.
    assert cifar["report_n_test"] == "10000"
    assert float(cifar["difference_p_value"]) == pytest.approx(0.00282, abs=1e-5)
    assert float(cifar["difference_interval_high"]) < 0  # ours lower: the interval is below 0
    assert cifar["report_verdict"] == "runs differ; 1 seed"


def test_the_reports_test_set_size_must_be_given_for_a_data_set_it_numbers(tmp_path):
    models, runs, metrics_paths, info_paths, best_paths = write_inputs(tmp_path)
    with pytest.raises(ValueError, match="report_test_images has no entry for cifar10"):
        summarize_results(
            models=models,
            runs=runs,
            metrics_paths=metrics_paths,
            info_paths=info_paths,
            best_paths=best_paths,
            report_numbers=REPORT_NUMBERS,
            report_test_images={"catsdogs": 600},
            csv_path=tmp_path / "s.csv",
            markdown_path=tmp_path / "s.md",
            html_path=tmp_path / "s.html",
        )
    assert not (tmp_path / "s.csv").exists()
