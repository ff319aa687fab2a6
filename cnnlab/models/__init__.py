"""Keras models of the experiments. Importing this package registers the custom layers that
saved models need (`cnnlab.models.catsdogs.VGG16Preprocessing`): load models with
`cnnlab.models.load_model`."""

from __future__ import annotations

import os

import keras

from cnnlab.models import catsdogs, cifar10  # noqa: F401  (registers the custom layers)


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """A saved model.keras of this workflow (any architecture)."""
    return keras.models.load_model(path, compile=compile)
