"""Bad config through real Snakemake (dry runs): each is refused before any job, naming the key
and what to write instead. And the schema itself: every object refuses unknown keys, every key
says what it is for."""

import pytest
import yaml
from conftest import DEMO_CONFIG, REPO, default_config, run_snakemake

from cnnlab.configcheck import check_config, cross_field_problems, load_schema, schema_problems

SCHEMA = load_schema(REPO / "schemas" / "config.schema.yaml")
HASH_DIGITS = "1234567890" * 6 + "1234"  # 64 digits: a SHA-256 that happens to hold no letter


def dry_run_with(tmp_path, overlay_text):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(overlay_text)
    return run_snakemake(tmp_path, "--dry-run", configfiles=(DEMO_CONFIG, overlay), check=False)


@pytest.mark.workflow
@pytest.mark.parametrize(
    "overlay_text, error",
    [
        # A misspelled top-level section, and a misspelled key in an allOf-composed object.
        (
            "catsdog:\n  basic: {epochs: 3}\n",
            "config error at 'catsdog': unknown key; did you mean 'catsdogs'?",
        ),
        (
            "catsdogs:\n  basic: {epoch: 3}\n",
            "config error at 'catsdogs.basic.epoch': unknown key; did you mean 'epochs'?",
        ),
        # An all-digit hash, unquoted: YAML reads a number.
        (
            f"data:\n  petimages:\n    source: url\n    url: {{sha256: {HASH_DIGITS}}}\n",
            "config error at 'data.petimages.url.sha256': YAML read this hash as the number "
            f"{HASH_DIGITS} because it is all digits; put it in quotes",
        ),
        # 3 images per class at 0.7/0.15/0.15: no validation image (Keras' "No images found" at training).
        (
            "data:\n  petimages: {images_per_class: 3}\n",
            "config error at 'data.petimages.images_per_class': 3 images per class split "
            "{'train': 0.7, 'val': 0.15, 'test': 0.15} leaves val with 0 images per class; set it to at least 7",
        ),
        # Plain http with no hash: anyone on the way could swap the archive.
        (
            "data:\n  petimages:\n    source: url\n    url: {address: 'http://example.org/pets.zip', size: null, sha256: null}\n",
            "config error at 'data.petimages.url.address': http://example.org/pets.zip is plain http with no hash "
            "pinned, so a changed or swapped archive would go unseen; pin its hash",
        ),
        (
            "data:\n  cifar10: {validation_size: 3000}\n",
            "config error at 'data.cifar10.validation_size': 3000 leaves no training images",
        ),
    ],
    ids=[
        "misspelled-section",
        "misspelled-key-in-overlay",
        "all-digit-hash",
        "empty-val-split",
        "plain-http-without-hash",
        "cifar10-validation-eats-training",
    ],
)
def test_bad_config_stops_before_any_job_with_what_to_do(tmp_path, overlay_text, error):
    result = dry_run_with(tmp_path, overlay_text)
    assert result.returncode != 0
    assert error in result.stdout, result.stdout[-3000:]
    assert "Job stats" not in result.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_a_quoted_all_digit_hash_is_accepted(tmp_path):
    result = dry_run_with(
        tmp_path, f"data:\n  petimages:\n    source: url\n    url: {{sha256: '{HASH_DIGITS}'}}\n"
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "download_petimages" in result.stdout


def test_every_problem_is_named_at_once():
    config = default_config()
    config["catsdogs"]["basic"]["epoch"] = 3
    config["figures"]["dpii"] = 100
    config["data"]["petimages"]["split"]["train"] = -0.1
    assert schema_problems(config, SCHEMA) == [
        ("catsdogs.basic.epoch", "unknown key; did you mean 'epochs'?"),
        ("data.petimages.split.train", "-0.1 is less than or equal to the minimum of 0"),
        ("figures.dpii", "unknown key; did you mean 'dpi'?"),
    ]


def test_a_key_far_from_any_lists_the_valid_ones():
    config = default_config()
    config["training"]["zzz"] = 1
    assert schema_problems(config, SCHEMA) == [
        (
            "training.zzz",
            "unknown key; the keys here are: backend, checkpoint_every, deterministic_ops, gpus_per_job, mixed_precision, retries, seeds, threads, xla",
        )
    ]


def test_report_numbers_are_open_but_typed():
    config = default_config()
    config["report_numbers"] |= {"catsdogs/new_model": 0.5, "cifar10/other": None}
    assert schema_problems(config, SCHEMA) == []
    config["report_numbers"] |= {"catsdogs basic": 0.5, "cifar10/x": "high"}
    assert schema_problems(config, SCHEMA) == [
        (
            "report_numbers",
            "model id 'catsdogs basic' is not <dataset>/<model>, e.g. catsdogs/basic",
        ),
        ("report_numbers.cifar10/x", "'high' is not of type 'number', 'null'"),
    ]


def test_an_ftp_url_needs_a_hash_and_https_does_not():
    config = default_config()
    config["data"]["cifar10"]["url"] = {
        "address": "ftp://mirror.example.org/cifar-10-binary.tar.gz"
    }
    problems = cross_field_problems(config)
    assert [key for key, _ in problems] == ["data.cifar10.url.address"]
    assert "plain ftp with no hash pinned" in problems[0][1]
    config["data"]["cifar10"]["url"]["md5"] = "c32a1d4ab5d03f1284b67883e8d87530"
    assert cross_field_problems(config) == []
    config["data"]["cifar10"]["url"] = {"address": "https://example.org/cifar-10-binary.tar.gz"}
    check_config(config)  # https with no hash: fetched, and the log says it is not verified


def _object_schemas(node, path="(top level)"):
    """Every schema in the tree that describes an object with named properties."""
    if isinstance(node, dict):
        if "properties" in node or "allOf" in node:
            yield path, node
        for key, child in node.items():
            yield from _object_schemas(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _object_schemas(child, f"{path}/{index}")


def test_every_object_in_the_schema_refuses_unknown_keys():
    open_objects = []
    for path, node in _object_schemas(SCHEMA):
        if path.startswith("(top level)/definitions/grid") or "/allOf/" in path:
            continue  # composed: the object that uses them closes them (unevaluatedProperties)
        if (
            node.get("additionalProperties") is not False
            and node.get("unevaluatedProperties") is not False
        ):
            open_objects.append(path)
    assert open_objects == []
    # The two composed objects are closed where they are used.
    assert SCHEMA["properties"]["catsdogs"]["properties"]["basic"]["unevaluatedProperties"] is False
    assert SCHEMA["properties"]["cifar10"]["properties"]["basic"]["unevaluatedProperties"] is False


def test_every_key_in_the_schema_has_a_description():
    undescribed = []
    for path, node in _object_schemas(SCHEMA):
        for name, subschema in node.get("properties", {}).items():
            target = subschema
            if "description" not in subschema and "$ref" in subschema:
                target = SCHEMA["definitions"][subschema["$ref"].rsplit("/", 1)[1]]
            if "description" not in target:
                undescribed.append(f"{path}/{name}")
    assert undescribed == []


def test_the_shipped_configs_are_valid():
    base = default_config()
    assert schema_problems(base, SCHEMA) == []
    for overlay in ("demo.yaml", "fullscale.yaml"):
        merged = _merged(base, yaml.safe_load((REPO / overlay).read_text()))
        assert schema_problems(merged, SCHEMA) == [], overlay


def _merged(base, overlay):
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = (
            _merged(base[key], value)
            if isinstance(value, dict) and isinstance(base.get(key), dict)
            else value
        )
    return merged
