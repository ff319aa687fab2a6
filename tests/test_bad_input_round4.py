"""Bad input round 4, config side: NaN and infinity, keys given twice, numbers YAML reads as text,
seeds NumPy refuses, a data source inside the workflow's own output folders, VGG16 weights files
that hold something else, and an empty config file that is not a regular file. Each is refused
before any job, naming the key (or the file) and what to write instead."""

import h5py
import pytest
from conftest import DEMO_CONFIG, REPO, default_config, run_snakemake

from cnnlab.configcheck import check_files, cross_field_problems, load_schema, schema_problems
from cnnlab.vgg16_weights import VGG16_CONV_LAYERS, weights_file_problem

SCHEMA = load_schema(REPO / "schemas" / "config.schema.yaml")


def check_overlay(tmp_path, text):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(text)
    return check_files([str(DEMO_CONFIG), str(overlay)])


def write_h5_weights(path, layer_names):
    """A Keras weights file (legacy layout) listing `layer_names`, as the no-top VGG16 file does."""
    with h5py.File(path, "w") as weights:
        weights.attrs["layer_names"] = [name.encode() for name in layer_names]
        for name in layer_names:
            weights.create_group(name)
    return path


# ------------------------------------------------------------------------- NaN and infinity


@pytest.mark.parametrize(
    "overlay_text, key, text",
    [
        # A NaN limit would switch off the zip-bomb guard (every comparison with NaN is false).
        ("data: {extract: {max_ratio: .nan}}\n", "data.extract.max_ratio", ".nan"),
        (
            "catsdogs: {vgg16: {finetune: {learning_rate: .nan}}}\n",
            "catsdogs.vgg16.finetune.learning_rate",
            ".nan",
        ),
        ("data: {petimages: {split: {train: .nan}}}\n", "data.petimages.split.train", ".nan"),
        ("report_numbers: {catsdogs/basic: .nan}\n", "report_numbers.catsdogs/basic", ".nan"),
        (
            "catsdogs: {basic: {learning_rates: [.nan]}}\n",
            "catsdogs.basic.learning_rates.0",
            ".nan",
        ),
        (
            "figures: {filter_visualization: {step_size: .inf}}\n",
            "figures.filter_visualization.step_size",
            ".inf",
        ),
        (
            "catsdogs: {augmentation: {rotation_degrees: -.inf}}\n",
            "catsdogs.augmentation.rotation_degrees",
            "-.inf",
        ),
    ],
    ids=["max-ratio", "finetune-rate", "split", "report-number", "grid-rate", "inf", "minus-inf"],
)
def test_nan_and_infinity_are_refused_naming_the_key(tmp_path, overlay_text, key, text):
    # Said once per key, not also as "inf is greater than the maximum", and never as "write it as nan".
    assert check_overlay(tmp_path, overlay_text) == [
        f"config error at '{key}': {text} is not a finite number; write a number"
    ]


def test_a_number_yaml_reads_as_text_says_how_to_write_it(tmp_path):
    assert check_overlay(tmp_path, "catsdogs: {basic: {learning_rates: [1e-3, '0.01']}}\n") == [
        "config error at 'catsdogs.basic.learning_rates.0': YAML read '1e-3' as text, not a number: "
        "YAML 1.1 needs a dot in the mantissa; write it as 1.0e-3",
        "config error at 'catsdogs.basic.learning_rates.1': '0.01' is text, not a number (is it in quotes?); "
        "write it as 0.01 without quotes",
    ]
    assert check_overlay(tmp_path, "catsdogs: {basic: {learning_rates: [1.0e-3]}}\n") == []


@pytest.mark.parametrize("key", ["seed", "training.seeds.0"])
def test_seeds_are_bounded_to_what_numpy_and_keras_accept(key):
    config = default_config()
    too_large = 2**32 + 1  # keras.utils.set_random_seed: "Seed must be between 0 and 2**32 - 1"
    if key == "seed":
        config["seed"] = too_large
    else:
        config["training"] = {"seeds": [too_large]}
    assert schema_problems(config, SCHEMA) == [
        (key, f"{too_large} is greater than the maximum of 4294967295")
    ]
    if key == "seed":
        config["seed"] = 2**32 - 1
    else:
        config["training"] = {"seeds": [2**32 - 1]}
    assert schema_problems(config, SCHEMA) == []


# --------------------------------------------------------------------- keys given twice, /dev/null


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    lines = check_overlay(
        tmp_path, "catsdogs:\n  basic: {epochs: 3}\ncatsdogs:\n  vgg16: {batch_size: 4}\n"
    )
    assert lines == [
        f"config file {tmp_path / 'overlay.yaml'}: line 3, column 1: 'catsdogs' is given twice here; the first "
        "would be dropped with no word: merge the two into one (while reading the mapping that starts on "
        "line 1); fix the YAML there"
    ]
    nested = check_overlay(tmp_path, "figures:\n  dpi: 100\n  dpi: 200\n")
    assert len(nested) == 1 and "line 3, column 3: 'dpi' is given twice here" in nested[0]


def test_dev_null_is_said_to_be_empty_not_missing():
    (line,) = check_files(["/dev/null"])
    assert line.startswith("config file /dev/null: is empty; give it keys"), line


# ------------------------------------------------------------- a source in the workflow's outputs


@pytest.mark.parametrize(
    "path, where",
    [
        ("results/data/petimages/raw", "inside results/"),
        ("logs/PetImages", "inside logs/"),
        (".", "around results/"),
    ],
    ids=["raw-output-of-an-earlier-run", "logs", "the-working-directory"],
)
def test_a_source_inside_the_workflows_output_folders_is_refused(
    tmp_path, monkeypatch, path, where
):
    monkeypatch.chdir(tmp_path)
    config = default_config()
    config["data"]["petimages"] |= {"source": "path", "path": path}
    (problem,) = cross_field_problems(config)
    assert problem[0] == "data.petimages.path"
    assert f"is {where}, a folder the workflow writes" in problem[1]
    assert "Copy it outside" in problem[1]


def test_a_source_reached_through_a_link_into_results_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "data").mkdir(parents=True)
    (tmp_path / "pets").symlink_to(tmp_path / "results" / "data")
    config = default_config()
    config["data"]["cifar10"] |= {"source": "path", "path": "pets"}
    assert [key for key, _ in cross_field_problems(config)] == ["data.cifar10.path"]
    config["data"]["cifar10"]["path"] = str(tmp_path / "data" / "cifar-10-binary.tar.gz")
    assert cross_field_problems(config) == []


# --------------------------------------------------------------------------- VGG16 weights files


def test_a_weights_file_that_is_not_a_vgg16_base_is_refused_naming_what_it_holds(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.h5").write_text("these are not weights\n")
    write_h5_weights(tmp_path / "resnet.h5", ["conv1_conv", "conv1_bn", "conv2_block1_1_conv"])
    (tmp_path / "text.keras").write_text("not a zip\n")
    config = default_config()
    found = {}
    for name in ("notes.h5", "resnet.h5", "text.keras"):
        config["catsdogs"]["vgg16"]["weights"] = name
        ((key, found[name]),) = cross_field_problems(config)
        assert key == "catsdogs.vgg16.weights"
    assert found["notes.h5"].startswith("notes.h5 is not an HDF5 file")
    assert found["resnet.h5"].startswith(
        "resnet.h5 holds no VGG16 base: it lacks block1_conv1, block1_conv2, block2_conv1 ... "
        "(its layers: conv1_bn, conv1_conv, conv2_block1_1_conv)"
    )
    assert found["text.keras"].startswith("text.keras is not a saved Keras model")


def test_a_vgg16_weights_file_passes(tmp_path):
    assert (
        weights_file_problem(
            write_h5_weights(tmp_path / "vgg16_notop.h5", ["input_1", *VGG16_CONV_LAYERS])
        )
        is None
    )


def test_a_saved_model_without_a_vgg16_base_is_refused(tmp_path):
    import zipfile

    for name, layers in (("other.keras", ["dense", "conv2d"]), ("base.keras", ["vgg16", "head"])):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr(
                "config.json",
                '{"class_name": "Functional", "config": {"name": "m", "layers": ['
                + ", ".join(
                    f'{{"class_name": "X", "config": {{"name": "{layer}"}}}}' for layer in layers
                )
                + "]}}",
            )
    assert weights_file_problem(tmp_path / "other.keras").startswith(
        f"{tmp_path / 'other.keras'} is a Keras model with no 'vgg16' base (its layers: conv2d, dense, m)"
    )
    assert weights_file_problem(tmp_path / "base.keras") is None


# ---------------------------------------------------------------- through Snakemake: before any job


@pytest.mark.workflow
@pytest.mark.parametrize(
    "overlay_text, error",
    [
        (
            "data: {extract: {max_ratio: .nan}}\n",
            "config error at 'data.extract.max_ratio': .nan is not a finite number; write a number",
        ),
        (
            "catsdogs:\n  basic: {epochs: 3}\ncatsdogs:\n  vgg16: {batch_size: 4}\n",
            "line 3, column 1: 'catsdogs' is given twice here",
        ),
        (
            "data: {petimages: {source: path, path: results/data/petimages/raw}}\n",
            "config error at 'data.petimages.path': results/data/petimages/raw is inside results/",
        ),
    ],
    ids=["nan", "key-given-twice", "source-in-results"],
)
def test_round4_config_is_refused_by_the_dry_run(tmp_path, overlay_text, error):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(overlay_text)
    raw = tmp_path / "results" / "data" / "petimages" / "raw"
    raw.mkdir(parents=True)
    (raw / "only_copy.jpg").write_bytes(b"the user's only copy")
    result = run_snakemake(tmp_path, "--dry-run", configfiles=(DEMO_CONFIG, overlay), check=False)
    assert result.returncode != 0
    assert error in result.stdout, result.stdout[-3000:]
    assert "Job stats" not in result.stdout
    assert (raw / "only_copy.jpg").read_bytes() == b"the user's only copy"


def test_the_training_job_names_the_weights_file_and_what_it_holds(tmp_path):
    """Where the config check could not look (the file changed since, or h5py is missing where
    Snakemake runs), the job refuses the file with the project's message, not a Keras traceback."""
    from cnnlab.models.catsdogs import WeightsError, vgg16_base

    write_h5_weights(tmp_path / "resnet.h5", ["conv1_conv"])
    with pytest.raises(
        WeightsError, match=r"catsdogs.vgg16.weights: .*resnet.h5 holds no VGG16 base"
    ):
        vgg16_base((32, 32), str(tmp_path / "resnet.h5"))
