"""The workflow's config, checked before any job runs (called from rules/common.smk).

Two passes. `schema_problems` runs jsonschema with the workflow's own schema and says what is
wrong in the config's terms: the key as a dotted path (`data.petimages.split.train`), the
nearest valid key for a misspelled one, and what to write instead. `check_config` then checks
what a JSON schema cannot say: rules across keys, sizes that would leave a split empty, learning
rates that would share a folder, VGG16 weights that are neither a known name nor a file.
Before both, `normalise_whole_numbers` turns whole-number floats (`epochs: 2.0`, which JSON
Schema counts as an integer) into the integers every later step expects.
Each problem is one line, "config error at '<key>': <what to do>".

Run as `python -m cnnlab.configcheck overlay.yaml ...` it checks overlay files the way Snakemake
cannot before it reads them (see `overlay_file_problems` and `check_files`).
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path

import jsonschema
import yaml

from cnnlab.jobio import ExpectedError
from cnnlab.vgg16_weights import weights_file_problem

# CIFAR-10's binary archive holds 5 training batches of 10,000 images.
CIFAR10_TRAIN_IMAGES = 50_000
HASH_KEYS = ("sha256", "md5")
CATSDOGS_CLASSES = 2
# catsdogs.vgg16.weights: these names (what each means), a local .h5 file, or null (random).
VGG16_WEIGHT_NAMES = {
    "imagenet": "Keras' ImageNet weights, downloaded once into $KERAS_HOME",
    "cifar10": "a base this workflow trains on CIFAR-10's training split, offline (catsdogs.vgg16.pretraining)",
}
# A no-top weights file, or a saved model.keras holding a VGG16 base (another run's cifar10/vgg16_base).
VGG16_WEIGHT_FILE_SUFFIXES = (".h5", ".keras")
# The folders the workflow's rules write into (relative to its working directory). Snakemake
# deletes an output before its job runs, so a data source inside one of them can be lost.
WORKFLOW_OUTPUT_FOLDERS = ("results", "logs")
# The workflow's folder: config.yaml and schemas/ of the checkout this module belongs to.
REPOSITORY = Path(__file__).resolve().parents[1]


class ConfigError(ExpectedError, ValueError):
    """The merged config is invalid; the message names each key and what to do."""


def config_error(problems):
    """A ConfigError listing `problems` ((key, text) pairs), one line each."""
    return ConfigError("\n".join(f"config error at '{key}': {text}" for key, text in problems))


def load_schema(path):
    return yaml.safe_load(Path(path).read_text())


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: PyYAML (and so Snakemake)
    keeps the last one and drops the first with no word, e.g. a second `catsdogs:` block."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    f"while reading the mapping that starts on line {node.start_mark.line + 1}",
                    None,
                    f"'{key}' is given twice here; the first would be dropped with no word: merge the two "
                    f"into one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config_file(path):
    """A config file's content, as Snakemake reads it but refusing duplicate keys."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)


def _with_defaults(validator_class):
    """A validator that fills in schema defaults as it goes, as Snakemake's `validate` does,
    so both passes see the same config (a key with a default is never reported missing)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties_with_defaults})


def _resolve(subschema, schema):
    """Follow a local `$ref` ("#/definitions/name"); the schema uses no other kind."""
    while "$ref" in subschema:
        node = schema
        for part in subschema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        subschema = {**node, **{k: v for k, v in subschema.items() if k != "$ref"}}
    return subschema


def _known_keys(subschema, schema):
    """The property names an object schema accepts, through `$ref` and `allOf`."""
    subschema = _resolve(subschema, schema)
    keys = set(subschema.get("properties", {}))
    for branch in subschema.get("allOf", []):
        keys |= _known_keys(branch, schema)
    return keys


def _dotted(path):
    return ".".join(map(str, path)) or "(top level)"


def _unknown_key_problems(error, schema):
    known = sorted(_known_keys(error.schema, schema))
    problems = []
    for name in sorted(set(error.instance) - set(known)):
        nearest = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{nearest[0]}'?" if nearest else f"the keys here are: {', '.join(known)}"
        )
        problems.append((_dotted([*error.absolute_path, name]), f"unknown key; {hint}"))
    return problems


def _yaml_number_text(value):
    """A non-finite float as YAML spells it: .nan, .inf, -.inf."""
    return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")


def non_finite_problems(node, path=()):
    """Every NaN or infinity in the config, as (dotted key, what to do) pairs. YAML reads .nan and
    .inf as numbers, and JSON Schema's minimum and maximum never refuse NaN (every comparison with
    it is false): a NaN would switch off a limit (data.extract.max_ratio) or train to NaN."""
    if isinstance(node, float) and not math.isfinite(node):
        return [
            (_dotted(path), f"{_yaml_number_text(node)} is not a finite number; write a number")
        ]
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    return [
        problem for key, child in children for problem in non_finite_problems(child, (*path, key))
    ]


def _number_as_text_hint(text):
    """Why a number written in YAML arrived as text, and how to write it; None if `text` is not a
    number. YAML 1.1 (PyYAML, so Snakemake) reads 1e-3 as a string: a float needs a dot (1.0e-3)."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    mantissa, has_exponent, exponent = text.strip().lower().partition("e")
    if has_exponent and "." not in mantissa:
        return (
            f"YAML read '{text}' as text, not a number: YAML 1.1 needs a dot in the mantissa; "
            f"write it as {mantissa}.0e{exponent}"
        )
    return f"'{text}' is text, not a number (is it in quotes?); write it as {text.strip()} without quotes"


def _problems_of(error, schema):
    path = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_key_problems(error, schema)
    if error.validator == "required":
        properties = error.schema.get("properties", {})
        return [
            (
                _dotted([*path, name]),
                "missing; set it"
                + (
                    f" ({properties[name]['description']})"
                    if "description" in properties.get(name, {})
                    else ""
                ),
            )
            for name in error.validator_value
            if name not in error.instance
        ]
    if "propertyNames" in error.schema_path:
        return [
            (
                _dotted(path),
                f"model id '{error.instance}' is not <dataset>/<model>, e.g. catsdogs/basic",
            )
        ]
    is_number = isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool)
    if path and path[-1] in HASH_KEYS and is_number:
        # YAML reads an all-digit hash as a number, which loses leading zeros (or reads a
        # leading 0 as octal): the digits cannot be trusted, so ask for quotes.
        return [
            (
                _dotted(path),
                f"YAML read this hash as the number {error.instance} because it is all digits; "
                f'put it in quotes: {path[-1]}: "<the hash>"',
            )
        ]
    if error.validator == "type" and isinstance(error.instance, str):
        wanted = error.validator_value
        if {"number", "integer"} & set([wanted] if isinstance(wanted, str) else wanted):
            hint = _number_as_text_hint(error.instance)
            if hint:
                return [(_dotted(path), hint)]
    return [(_dotted(path), error.message)]


def schema_problems(config, schema):
    """Every way `config` breaks `schema`, as sorted (dotted key, what is wrong) pairs; NaN and
    infinity, which the schema cannot refuse, are among them.

    Works on a copy: the config is left as it is (Snakemake's `validate` sets the defaults).
    """
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    problems = set(non_finite_problems(config))
    non_finite_keys = {
        key for key, _ in problems
    }  # said once, not again as "inf is greater than ..."
    for error in validator_class(schema).iter_errors(copy.deepcopy(config)):
        problems.update(
            problem for problem in _problems_of(error, schema) if problem[0] not in non_finite_keys
        )
    return sorted(problems)


def _integer_only(validator_class):
    """`validator_class` whose "integer" is an int only: JSON Schema counts 2.0 as an integer,
    Keras, range() and folder names do not."""
    strict = validator_class.TYPE_CHECKER.redefine(
        "integer",
        lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool),
    )
    return jsonschema.validators.extend(validator_class, type_checker=strict)


def normalise_whole_numbers(config, schema):
    """Turn every whole-number float where the schema wants an integer (`epochs: 2.0`,
    `image_size: [64.0, 64]`, `seeds: [1.0]`) into that integer, in place, before any rule
    reads the config. Returns the dotted keys it changed. A float that is not whole is left
    for the schema to refuse."""
    validator_class = _integer_only(_with_defaults(jsonschema.validators.validator_for(schema)))
    changed = []
    for error in validator_class(schema).iter_errors(copy.deepcopy(config)):
        instance = error.instance
        if (
            error.validator != "type"
            or not isinstance(instance, float)
            or not instance.is_integer()
        ):
            continue
        *parents, last = error.absolute_path
        node = config
        for part in parents:
            node = node[part]
        if isinstance(node[last], float):
            node[last] = int(instance)
            changed.append(_dotted(error.absolute_path))
    return sorted(set(changed))


def check_schema(config, schema_path):
    """Raise a ConfigError naming every key of `config` that breaks the schema at `schema_path`."""
    problems = schema_problems(config, load_schema(schema_path))
    if problems:
        raise config_error(problems)


def split_sizes(images_per_class, ratios):
    """Images per class in train, val and test, computed as splitfolders.ratio does:
    train and val are rounded down, test takes the rest."""
    train = int(ratios["train"] * images_per_class)
    val = int(ratios["val"] * images_per_class)
    return {"train": train, "val": val, "test": images_per_class - train - val}


def _smallest_images_per_class(ratios, start):
    """The smallest count from `start` on that leaves every split at least one image."""
    count = start
    while min(split_sizes(count, ratios).values()) < 1:
        count += 1
    return count


def learning_rate_label(learning_rate):
    """The text of a learning rate in folder names and wildcards: 0.001 -> '0.001', 1e-05 -> '1e-05'."""
    return f"{learning_rate:g}"


def _label_problems(key, learning_rates):
    """Learning rates of one grid whose folder names are the same text, so one cell would be
    dropped unseen; and rates the folder name rounds, since a cell trains at the rate its
    name reads back as (grid_cell_values in rules/common.smk), not the one configured."""
    by_label = {}
    for learning_rate in learning_rates:
        by_label.setdefault(learning_rate_label(learning_rate), []).append(learning_rate)
    problems = []
    for label, rates in by_label.items():
        if len(rates) > 1:
            problems.append(
                (
                    key,
                    (
                        f"{' and '.join(map(repr, rates))} are different learning rates with one folder name, "
                        f"lr{label}_*, so one cell would be lost; make them differ within 6 significant digits, "
                        f"or keep one"
                    ),
                )
            )
        elif float(label) != rates[0]:
            problems.append(
                (
                    key,
                    (
                        f"{rates[0]!r} would train at {label} (its folder name lr{label}_* rounds it to 6 "
                        f"significant digits); write it as {label}"
                    ),
                )
            )
    return problems


def _vgg16_weights_problems(weights):
    """What is wrong with catsdogs.vgg16.weights, found before any job (a relative path is read
    from the working directory, as the training job will read it)."""
    if weights is None or weights in VGG16_WEIGHT_NAMES:
        return []
    choices = ", ".join(f"'{name}' ({meaning})" for name, meaning in VGG16_WEIGHT_NAMES.items())
    advice = f"set it to one of {choices}, a local .h5 file of VGG16's no-top weights, a model.keras holding a VGG16 base, or null (random)"
    if not weights.endswith(VGG16_WEIGHT_FILE_SUFFIXES):
        nearest = difflib.get_close_matches(weights, list(VGG16_WEIGHT_NAMES), n=1, cutoff=0.6)
        hint = f"did you mean '{nearest[0]}'? " if nearest else ""
        return [
            (
                "catsdogs.vgg16.weights",
                f"'{weights}' is neither a known name nor a .h5 or .keras file; {hint}{advice}",
            )
        ]
    path = Path(weights).expanduser()
    if not path.is_file():
        return [
            (
                "catsdogs.vgg16.weights",
                f"{path.absolute()} does not exist (or is not a file); {advice}",
            )
        ]
    problem = weights_file_problem(path)
    return [("catsdogs.vgg16.weights", f"{problem}; {advice}")] if problem else []


def _inside(path, folder):
    """Whether `path` is `folder` or inside it, links resolved."""
    return path.resolve().is_relative_to(Path(folder).resolve())


def _source_problems(dataset, data):
    from cnnlab.data.sources import plaintext_without_hash_problem

    kind = data["source"]
    if not data.get(kind):
        return [
            (f"data.{dataset}.{kind}", f"source is '{kind}' but data.{dataset}.{kind} is not set")
        ]
    if kind == "url":
        problem = plaintext_without_hash_problem(dataset, data["url"])
        if problem:
            return [(f"data.{dataset}.url.address", problem)]
    if kind == "path":
        # Relative paths are read from the working directory, as the download job reads them.
        path = Path(data["path"]).expanduser()
        for folder in WORKFLOW_OUTPUT_FOLDERS:
            if _inside(path, folder) or _inside(Path(folder), path):
                where = "inside" if _inside(path, folder) else "around"
                return [
                    (
                        f"data.{dataset}.path",
                        (
                            f"{path} is {where} {folder}/, a folder the workflow writes (and Snakemake deletes "
                            f"an output, such as results/data/{dataset}/raw, before its job): the source could be "
                            f"lost. Copy it outside {folder}/ (e.g. to data/) and point data.{dataset}.path there"
                        ),
                    )
                ]
    return []


def cross_field_problems(cfg):
    """What a JSON schema cannot say, as (dotted key, what to do) pairs; `cfg` is valid
    against the schema, defaults set."""
    problems = []
    petimages, cifar10 = cfg["data"]["petimages"], cfg["data"]["cifar10"]
    split = petimages["split"]
    if abs(sum(split.values()) - 1.0) > 1e-6:
        problems.append(
            (
                "data.petimages.split",
                f"train + val + test must sum to 1, got {sum(split.values()):g}",
            )
        )
    else:
        sizes = split_sizes(petimages["images_per_class"], split)
        empty = [name for name, size in sizes.items() if size < 1]
        if empty:
            problems.append(
                (
                    "data.petimages.images_per_class",
                    f"{petimages['images_per_class']} images per class split {split} leaves "
                    f"{' and '.join(empty)} with 0 images per class; set it to at least "
                    f"{_smallest_images_per_class(split, petimages['images_per_class'])} "
                    f"(or change data.petimages.split)",
                )
            )
        test_images = sizes["test"] * CATSDOGS_CLASSES
        index = cfg["figures"]["activation_image_index"]
        if not empty and index >= test_images:
            problems.append(
                (
                    "figures.activation_image_index",
                    f"{index} is past the end of the cats/dogs test split, which holds {test_images} images "
                    f"({sizes['test']} per class); set it between 0 and {test_images - 1}",
                )
            )
    for dataset in ("petimages", "cifar10"):
        problems += _source_problems(dataset, cfg["data"][dataset])
    for dataset in ("catsdogs", "cifar10"):
        problems += _label_problems(
            f"{dataset}.basic.learning_rates", cfg[dataset]["basic"]["learning_rates"]
        )
    problems += _vgg16_weights_problems(cfg["catsdogs"]["vgg16"]["weights"])
    train_images = (
        cifar10["synthetic"]["train_images"]
        if cifar10["source"] == "synthetic"
        else CIFAR10_TRAIN_IMAGES
    )
    if cifar10["validation_size"] >= train_images:
        problems.append(
            (
                "data.cifar10.validation_size",
                f"{cifar10['validation_size']} leaves no training images (the training batches hold "
                f"{train_images:,}); set it below that",
            )
        )
    return problems


def check_config(cfg):
    """Raise a ConfigError naming every cross-field problem of `cfg`. Runs before any job."""
    problems = cross_field_problems(cfg)
    if problems:
        raise config_error(problems)


def overlay_file_problems(paths):
    """What keeps each config overlay file from being read, as (file, what to do) pairs: a
    file that does not exist, is empty, is not YAML (with the line and column), gives a key
    twice in one mapping, or holds something other than keys at the top level.

    Snakemake reads `--configfile` files in its command-line layer, before the Snakefile (and
    so this package) runs, and says only "Config file is not valid JSON or YAML" or gives a raw
    FileNotFoundError traceback. The workflow cannot step in there; this check is what a user
    (or CI) runs first: python -m cnnlab.configcheck overlay.yaml ...
    """
    problems = []
    for path in map(Path, paths):
        # exists(), not is_file(): /dev/null or a named pipe is read as what it holds.
        if not path.exists() or path.is_dir():
            problems.append(
                (
                    str(path),
                    f"{'is a folder' if path.is_dir() else 'does not exist'}; "
                    f"check the path given to --configfile",
                )
            )
            continue
        try:
            content = load_config_file(path)
        except UnicodeDecodeError as error:
            problems.append(
                (
                    str(path),
                    f"is not text (UTF-8): byte {error.start}; save it as a UTF-8 YAML file",
                )
            )
            continue
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            what = getattr(error, "problem", None) or str(error)
            context = getattr(error, "context", None)
            problems.append(
                (
                    str(path),
                    f"{where}{what}{f' ({context})' if context else ''}; fix the YAML there",
                )
            )
            continue
        if content is None:
            problems.append(
                (
                    str(path),
                    "is empty; give it keys (e.g. 'catsdogs: {basic: {epochs: 3}}') or leave it out",
                )
            )
        elif not isinstance(content, dict):
            problems.append(
                (
                    str(path),
                    f"holds a {type(content).__name__}, not keys at the top level; "
                    f"write it as 'section:' lines, like demo.yaml",
                )
            )
    return problems


def config_file_error(problems):
    """A ConfigError listing `problems` ((file, text) pairs of overlay_file_problems), one line each."""
    return ConfigError("\n".join(f"config file {path}: {text}" for path, text in problems))


def check_config_files(paths):
    """Raise a ConfigError naming each of the config files `paths` that cannot be read as it is
    written. Snakemake has read them by the time the Snakefile runs, so what this adds there is a
    key given twice, which its loader drops with no word."""
    problems = overlay_file_problems(paths)
    if problems:
        raise config_file_error(problems)


def _merged(base, overlay):
    """`overlay` on top of `base`, nested keys merged, as Snakemake merges --configfile files."""
    merged = dict(base)
    for key, value in overlay.items():
        both_dicts = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if both_dicts else value
    return merged


def check_files(paths, repository=REPOSITORY):
    """Every problem of the workflow's config.yaml with the overlay files `paths` on top, as
    lines: first the files themselves, then the merged config as the Snakefile checks it."""
    file_problems = overlay_file_problems([repository / "config.yaml", *paths])
    if file_problems:
        return str(config_file_error(file_problems)).splitlines()
    config = load_config_file(repository / "config.yaml")
    for path in paths:
        config = _merged(config, load_config_file(path))
    schema = load_schema(repository / "schemas" / "config.schema.yaml")
    normalise_whole_numbers(config, schema)
    problems = schema_problems(config, schema)
    if not problems:
        validator = _with_defaults(jsonschema.validators.validator_for(schema))(schema)
        validator.validate(config)  # fills in the defaults, as Snakemake's validate does
        problems = cross_field_problems(config)
    return str(config_error(problems)).splitlines() if problems else []


def main(argv=None):
    """python -m cnnlab.configcheck [overlay.yaml ...]: check before running snakemake."""
    import sys

    lines = check_files(sys.argv[1:] if argv is None else argv)
    print("\n".join(lines) if lines else "config OK", file=sys.stderr if lines else sys.stdout)
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())
