"""Keras models of the experiments. Importing this package registers the custom layers that
saved models need (`cnnlab.models.catsdogs.VGG16Preprocessing`): load models with
`cnnlab.models.load_model`."""

from __future__ import annotations

import os

import keras

from cnnlab.models import catsdogs, cifar10  # noqa: F401  (registers the custom layers)
from cnnlab.models.augmentation import compile_geometric_layers_on_jax


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """A saved model.keras of this workflow (any architecture), saved under either backend."""
    model = keras.models.load_model(path, compile=compile)
    compile_geometric_layers_on_jax(model)
    return model
