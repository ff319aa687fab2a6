"""What a `catsdogs.vgg16.weights` file holds, read without Keras: the config check runs it before
any job (a wrong file would otherwise fail the training job, after the grid, and be retried),
and the training job runs it again before handing the file to Keras.

A `.h5` file must be HDF5 and name VGG16's 13 convolution layers (`block1_conv1` ...
`block5_conv3`), as Keras' no-top weights file and a Keras 3 `.weights.h5` of a VGG16 base do.
A `.keras` file must be a saved Keras model (a zip with `config.json`) holding a layer named
`vgg16`, the base that `catsdogs.vgg16.weights: cifar10` pretrains.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

VGG16_BASE_NAME = "vgg16"
VGG16_CONV_LAYERS = [
    f"block{block}_conv{conv}"
    for block, convs in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for conv in range(1, convs + 1)
]
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SHOWN_NAMES = 6  # layer names quoted in a message, so a big network's list stays readable


def _first_bytes(path: Path, count: int) -> bytes:
    with open(path, "rb") as stream:
        return stream.read(count)


def _h5_layer_names(path: Path) -> set[str] | None:
    """The layer names a Keras weights file lists (legacy `layer_names` attributes, or a Keras 3
    `.weights.h5`'s groups under `layers/`); None where h5py is not installed here."""
    try:
        import h5py
    except ImportError:  # the environment running Snakemake may lack it: the job checks again
        return None
    names = set()
    with h5py.File(path, "r") as weights:
        for group in (weights, weights.get("model_weights")):
            if group is not None and "layer_names" in group.attrs:
                names |= {
                    name.decode() if isinstance(name, bytes) else str(name)
                    for name in group.attrs["layer_names"]
                }
        layers = weights.get("layers")
        if layers is not None:
            layers.visit(lambda name: names.add(name.rsplit("/", 1)[-1]))
    return names


def _keras_layer_names(path: Path) -> set[str]:
    """Every layer name in a saved model's config.json (nested models included)."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    names = set()

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("config"), dict) and isinstance(node["config"].get("name"), str):
                names.add(node["config"]["name"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(config)
    return names


def _listed(names: set[str]) -> str:
    shown = sorted(names)[:SHOWN_NAMES]
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return ", ".join(shown) + more if shown else "none"


def weights_file_problem(path: str | os.PathLike) -> str | None:
    """What keeps the file at `path` (an existing .h5 or .keras file) from being VGG16 weights,
    naming the file and what it holds; None when it looks like VGG16 weights."""
    path = Path(path)
    try:
        if path.suffix == ".keras":
            if not zipfile.is_zipfile(path):
                return (
                    f"{path} is not a saved Keras model (a .keras file is a zip; this one is not)"
                )
            try:
                names = _keras_layer_names(path)
            except (KeyError, ValueError, zipfile.BadZipFile) as error:
                return f"{path} is a zip but not a saved Keras model (no readable config.json: {error})"
            if VGG16_BASE_NAME not in names:
                return (
                    f"{path} is a Keras model with no '{VGG16_BASE_NAME}' base (its layers: "
                    f"{_listed(names)}); point it at a model that holds one, such as the "
                    f"cifar10/vgg16_base run's model.keras"
                )
            return None
        if _first_bytes(path, len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            return f"{path} is not an HDF5 file, so not a .h5 weights file"
        names = _h5_layer_names(path)
    except OSError as error:
        return f"{path} cannot be read: {error}"
    if names is None:
        return None
    missing = [name for name in VGG16_CONV_LAYERS if name not in names]
    if missing:
        return (
            f"{path} holds no VGG16 base: it lacks {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''} (its layers: {_listed(names)}); use "
            f"vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 or the weights of a VGG16 base"
        )
    return None
