"""Bad input round 3, config side: whole-number floats, colliding learning-rate labels, VGG16
weights, an activation index past the test split, a huge image size, and overlay files that
are missing, empty or not YAML. Each is normalised or refused before any job."""

import pytest
from conftest import DEMO_CONFIG, REPO, default_config, run_snakemake
from test_bad_input_round4 import write_h5_weights

from cnnlab import configcheck
from cnnlab.configcheck import (
    check_files,
    cross_field_problems,
    load_schema,
    normalise_whole_numbers,
    overlay_file_problems,
    schema_problems,
)
from cnnlab.vgg16_weights import VGG16_CONV_LAYERS

SCHEMA = load_schema(REPO / "schemas" / "config.schema.yaml")


def dry_run_with(tmp_path, overlay_text):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(overlay_text)
    return run_snakemake(tmp_path, "--dry-run", configfiles=(DEMO_CONFIG, overlay), check=False)


# ------------------------------------------------------------------- whole-number floats


def test_whole_number_floats_become_integers_before_any_rule_reads_them():
    config = default_config()
    config["catsdogs"]["basic"]["epochs"] = 2.0
    config["catsdogs"]["basic"]["filters"] = [16.0, 32]
    config["data"]["petimages"]["image_size"] = [64.0, 64]
    config["training"] = {"seeds": [1.0]}
    config["catsdogs"]["vgg16"]["frozen"]["epochs"] = (
        2.5  # not whole: left for the schema to refuse
    )
    assert normalise_whole_numbers(config, SCHEMA) == [
        "catsdogs.basic.epochs",
        "catsdogs.basic.filters.0",
        "data.petimages.image_size.0",
        "training.seeds.0",
    ]
    assert (
        config["catsdogs"]["basic"]["epochs"] == 2
        and type(config["catsdogs"]["basic"]["epochs"]) is int
    )
    assert [type(value) for value in config["catsdogs"]["basic"]["filters"]] == [int, int]
    assert [type(value) for value in config["data"]["petimages"]["image_size"]] == [int, int]
    assert type(config["training"]["seeds"][0]) is int
    assert (
        config["catsdogs"]["basic"]["learning_rates"]
        == default_config()["catsdogs"]["basic"]["learning_rates"]
    )
    assert schema_problems(config, SCHEMA) == [
        ("catsdogs.vgg16.frozen.epochs", "2.5 is not of type 'integer'")
    ]


@pytest.mark.workflow
def test_whole_number_floats_in_an_overlay_run_as_integers(tmp_path):
    result = dry_run_with(
        tmp_path,
        (
            "training: {seeds: [1.0]}\n"
            "catsdogs:\n  basic: {epochs: 2.0, filters: [16.0], learning_rates: [0.001]}\n"
            "data:\n  petimages: {image_size: [64.0, 64]}\n"
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "results/catsdogs/basic/lr0.001_f16/seed1/model.keras" in result.stdout
    assert "seed1.0" not in result.stdout and "_f16.0" not in result.stdout


# --------------------------------------------------------------- labels, sizes, weights, index


def test_two_learning_rates_with_one_folder_name_are_refused_naming_both():
    config = default_config()
    config["catsdogs"]["basic"]["learning_rates"] = [0.001, 0.0010000001, 0.0001]
    assert cross_field_problems(config) == [
        (
            "catsdogs.basic.learning_rates",
            "0.001 and 0.0010000001 are different learning rates with one folder name, lr0.001_*, so one "
            "cell would be lost; make them differ within 6 significant digits, or keep one",
        )
    ]


def test_an_image_size_beyond_1024_is_refused_by_the_schema():
    config = default_config()
    config["data"]["petimages"]["image_size"] = [30000, 30000]
    assert schema_problems(config, SCHEMA) == [
        ("data.petimages.image_size.0", "30000 is greater than the maximum of 1024"),
        ("data.petimages.image_size.1", "30000 is greater than the maximum of 1024"),
    ]


@pytest.mark.parametrize(
    "weights, problem",
    [
        (
            "imagenett",
            "'imagenett' is neither a known name nor a .h5 or .keras file; did you mean 'imagenet'? "
            "set it to one of 'imagenet' (Keras' ImageNet weights, downloaded once into $KERAS_HOME), "
            "'cifar10' (a base this workflow trains on CIFAR-10's training split, offline "
            "(catsdogs.vgg16.pretraining)), a local .h5 file of VGG16's no-top weights, a model.keras "
            "holding a VGG16 base, or null (random)",
        ),
        (
            "missing/vgg16_notop.h5",
            "missing/vgg16_notop.h5 does not exist (or is not a file); set it to one of",
        ),
    ],
    ids=["misspelled-name", "missing-h5-file"],
)
def test_bad_vgg16_weights_are_refused_before_any_job(tmp_path, monkeypatch, weights, problem):
    monkeypatch.chdir(tmp_path)
    config = default_config()
    config["catsdogs"]["vgg16"]["weights"] = weights
    (found,) = cross_field_problems(config)
    assert found[0] == "catsdogs.vgg16.weights" and problem in found[1], found


def test_good_vgg16_weights_pass_and_the_names_are_one_list_to_extend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_h5_weights(tmp_path / "vgg16_notop.h5", VGG16_CONV_LAYERS)
    config = default_config()
    for weights in (
        "imagenet",
        "cifar10",
        None,
        "vgg16_notop.h5",
        str(tmp_path / "vgg16_notop.h5"),
    ):
        config["catsdogs"]["vgg16"]["weights"] = weights
        assert cross_field_problems(config) == [], weights
    for weights in ("cifar100", "base.keras"):
        config["catsdogs"]["vgg16"]["weights"] = weights
        assert [key for key, _ in cross_field_problems(config)] == ["catsdogs.vgg16.weights"]
    monkeypatch.setitem(configcheck.VGG16_WEIGHT_NAMES, "cifar100", "another source, one line away")
    config["catsdogs"]["vgg16"]["weights"] = "cifar100"
    assert cross_field_problems(config) == []


def test_an_activation_image_past_the_test_split_is_refused_with_the_range():
    config = default_config()  # 2000 per class at 0.7/0.15/0.15: 300 test images per class
    config["figures"] = {**config["figures"], "activation_image_index": 600}
    assert cross_field_problems(config) == [
        (
            "figures.activation_image_index",
            "600 is past the end of the cats/dogs test split, which holds 600 images (300 per class); "
            "set it between 0 and 599",
        )
    ]
    config["figures"]["activation_image_index"] = 599
    assert cross_field_problems(config) == []


@pytest.mark.workflow
@pytest.mark.parametrize(
    "overlay_text, error",
    [
        (
            "cifar10:\n  basic: {learning_rates: [0.001, 0.0010000001]}\n",
            "config error at 'cifar10.basic.learning_rates': 0.001 and 0.0010000001 are different learning rates "
            "with one folder name, lr0.001_*",
        ),
        (
            "catsdogs:\n  vgg16: {weights: imagenett}\n",
            "config error at 'catsdogs.vgg16.weights': 'imagenett' is neither a known name nor a .h5 or .keras file; "
            "did you mean 'imagenet'?",
        ),
        (
            "figures: {activation_image_index: 60}\n",
            "config error at 'figures.activation_image_index': 60 is past the end of the cats/dogs test split, "
            "which holds 60 images (30 per class); set it between 0 and 59",
        ),
    ],
    ids=["colliding-learning-rates", "misspelled-weights", "activation-index-past-the-test-split"],
)
def test_late_failures_are_refused_by_the_dry_run(tmp_path, overlay_text, error):
    result = dry_run_with(tmp_path, overlay_text)
    assert result.returncode != 0
    assert error in result.stdout, result.stdout[-3000:]
    assert "Job stats" not in result.stdout
    assert not (tmp_path / "results").exists()


# -------------------------------------------------------------------------- overlay files


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "does not exist; check the path given to --configfile"),
        ("", "is empty; give it keys"),
        ("# only a comment\n", "is empty; give it keys"),
        (
            "data:\n  petimages: {images_per_class: 3\n  x: 1\n",
            "line 3, column 4: expected ',' or '}', but got ':' (while parsing a flow mapping); fix the YAML there",
        ),
        (
            "catsdogs:\n\tbasic: {epochs: 3}\n",
            "line 2, column 1: found character '\\t' that cannot start any token (while scanning for the next token); "
            "fix the YAML there",
        ),
        ("- epochs: 3\n", "holds a list, not keys at the top level"),
    ],
    ids=["missing", "empty", "only-a-comment", "syntax-error", "tab-indentation", "a-list"],
)
def test_a_bad_overlay_file_is_named_with_line_and_column(tmp_path, content, problem):
    overlay = tmp_path / "overlay.yaml"
    if content is not None:
        overlay.write_text(content)
    (found,) = overlay_file_problems([DEMO_CONFIG, overlay])  # demo.yaml itself is fine
    assert found[0] == str(overlay) and problem in found[1], found
    assert check_files([str(DEMO_CONFIG), str(overlay)])[0].startswith(f"config file {overlay}: ")


def test_the_overlay_check_runs_the_snakefiles_checks_on_the_merged_config(tmp_path):
    assert check_files([str(DEMO_CONFIG)]) == []
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("catsdogs:\n  basic: {epochs: 2.0, learning_rates: [0.001, 0.0010000001]}\n")
    assert check_files([str(DEMO_CONFIG), str(overlay)]) == [
        "config error at 'catsdogs.basic.learning_rates': 0.001 and 0.0010000001 are different learning rates "
        "with one folder name, lr0.001_*, so one cell would be lost; make them differ within 6 significant "
        "digits, or keep one",
    ]


def test_a_learning_rate_its_folder_name_rounds_is_refused_with_the_rate_it_would_train_at():
    config = default_config()
    config["cifar10"]["basic"]["learning_rates"] = [0.00123456789, 1e-05]
    assert cross_field_problems(config) == [
        (
            "cifar10.basic.learning_rates",
            "0.00123456789 would train at 0.00123457 (its folder name lr0.00123457_* rounds it to 6 significant "
            "digits); write it as 0.00123457",
        )
    ]
