"""The workflow's config, checked before any job runs (called from rules/common.smk).

Two passes. `schema_problems` runs jsonschema with the workflow's own schema and says what is
wrong in the config's terms: the key as a dotted path (`data.petimages.split.train`), the
nearest valid key for a misspelled one, and what to write instead. `check_config` then checks
what a JSON schema cannot say: rules across keys, and sizes that would leave a split empty.
Each problem is one line, "config error at '<key>': <what to do>".
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

import jsonschema
import yaml

# CIFAR-10's binary archive holds 5 training batches of 10,000 images.
CIFAR10_TRAIN_IMAGES = 50_000
HASH_KEYS = ("sha256", "md5")


class ConfigError(ValueError):
    """The merged config is invalid; the message names each key and what to do."""


def config_error(problems):
    """A ConfigError listing `problems` ((key, text) pairs), one line each."""
    return ConfigError("\n".join(f"config error at '{key}': {text}" for key, text in problems))


def load_schema(path):
    return yaml.safe_load(Path(path).read_text())


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
        hint = f"did you mean '{nearest[0]}'?" if nearest else f"the keys here are: {', '.join(known)}"
        problems.append((_dotted([*error.absolute_path, name]), f"unknown key; {hint}"))
    return problems


def _problems_of(error, schema):
    path = list(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_key_problems(error, schema)
    if error.validator == "required":
        properties = error.schema.get("properties", {})
        return [
            (_dotted([*path, name]), "missing; set it" + (f" ({properties[name]['description']})"
                                                         if "description" in properties.get(name, {}) else ""))
            for name in error.validator_value if name not in error.instance
        ]
    if "propertyNames" in error.schema_path:
        return [(_dotted(path), f"model id '{error.instance}' is not <dataset>/<model>, e.g. catsdogs/basic")]
    is_number = isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool)
    if path and path[-1] in HASH_KEYS and is_number:
        # YAML reads an all-digit hash as a number, which loses leading zeros (or reads a
        # leading 0 as octal): the digits cannot be trusted, so ask for quotes.
        return [(_dotted(path), f"YAML read this hash as the number {error.instance} because it is all digits; "
                                f"put it in quotes: {path[-1]}: \"<the hash>\"")]
    return [(_dotted(path), error.message)]


def schema_problems(config, schema):
    """Every way `config` breaks `schema`, as sorted (dotted key, what is wrong) pairs.

    Works on a copy: the config is left as it is (Snakemake's `validate` sets the defaults).
    """
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    problems = set()
    for error in validator_class(schema).iter_errors(copy.deepcopy(config)):
        problems.update(_problems_of(error, schema))
    return sorted(problems)


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


def _source_problems(dataset, data):
    from cnnlab.data.sources import plaintext_without_hash_problem

    kind = data["source"]
    if not data.get(kind):
        return [(f"data.{dataset}.{kind}", f"source is '{kind}' but data.{dataset}.{kind} is not set")]
    if kind == "url":
        problem = plaintext_without_hash_problem(dataset, data["url"])
        if problem:
            return [(f"data.{dataset}.url.address", problem)]
    return []


def cross_field_problems(cfg):
    """What a JSON schema cannot say, as (dotted key, what to do) pairs; `cfg` is valid
    against the schema, defaults set."""
    problems = []
    petimages, cifar10 = cfg["data"]["petimages"], cfg["data"]["cifar10"]
    split = petimages["split"]
    if abs(sum(split.values()) - 1.0) > 1e-6:
        problems.append(("data.petimages.split", f"train + val + test must sum to 1, got {sum(split.values()):g}"))
    else:
        sizes = split_sizes(petimages["images_per_class"], split)
        empty = [name for name, size in sizes.items() if size < 1]
        if empty:
            problems.append((
                "data.petimages.images_per_class",
                f"{petimages['images_per_class']} images per class split {split} leaves "
                f"{' and '.join(empty)} with 0 images per class; set it to at least "
                f"{_smallest_images_per_class(split, petimages['images_per_class'])} "
                f"(or change data.petimages.split)",
            ))
    for dataset in ("petimages", "cifar10"):
        problems += _source_problems(dataset, cfg["data"][dataset])
    train_images = (
        cifar10["synthetic"]["train_images"] if cifar10["source"] == "synthetic" else CIFAR10_TRAIN_IMAGES
    )
    if cifar10["validation_size"] >= train_images:
        problems.append((
            "data.cifar10.validation_size",
            f"{cifar10['validation_size']} leaves no training images (the training batches hold "
            f"{train_images:,}); set it below that",
        ))
    return problems


def check_config(cfg):
    """Raise a ConfigError naming every cross-field problem of `cfg`. Runs before any job."""
    problems = cross_field_problems(cfg)
    if problems:
        raise config_error(problems)
