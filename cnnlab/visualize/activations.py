"""Intermediate activations: what every conv layer of a trained CNN makes of one image."""

from __future__ import annotations

import os

import keras
import numpy as np

from cnnlab.plots import feature_maps_figure, selected_cell_path
from cnnlab.visualize.images import load_image, pick_image


def conv_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's 2-D convolution layers, in order."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not layers:
        raise ValueError(f"model '{model.name}' has no Conv2D layer to visualise")
    return layers


def input_size(model: keras.Model) -> tuple[int, int]:
    """(height, width) of the model's image input."""
    _, height, width, _ = model.input.shape
    return int(height), int(width)


def conv_activations(model: keras.Model, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every conv layer's output (height x width x channels) for one image, by layer name.

    `image` is height x width x 3, scaled as the model's input expects.
    """
    layers = conv_layers(model)
    extractor = keras.Model(
        inputs=model.input, outputs=[layer.output for layer in layers], name="conv_activations"
    )
    outputs = extractor(image[np.newaxis], training=False)
    return {
        layer.name: keras.ops.convert_to_numpy(output)[0] for layer, output in zip(layers, outputs)
    }


def load_best_model(model_paths: list[str | os.PathLike], best_path: str | os.PathLike):
    """The selected grid cell's model (inference only: not compiled)."""
    from cnnlab.models import load_model  # registers the workflow's custom layers

    return load_model(selected_cell_path(model_paths, best_path), compile=False)


def activations_figure(
    model_paths: list[str | os.PathLike],
    best_path: str | os.PathLike,
    test_dir: str | os.PathLike,
    image_index: int,
    title: str,
):
    """The figure of every conv layer's channels for test image number `image_index`."""
    model = load_best_model(model_paths, best_path)
    image_path = pick_image(test_dir, image_index)
    image = load_image(image_path, input_size(model))
    maps = conv_activations(model, image)
    return feature_maps_figure(
        maps,
        title=f"{title}\ntest image {image_index}: {image_path.parent.name}/{image_path.name}",
        image=image.astype(np.uint8),
    )
