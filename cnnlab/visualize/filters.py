"""Filter visualisation by gradient ascent: the input pattern each conv filter responds to most.

Start from a noisy grey image and repeatedly step along the gradient of the filter's mean
activation with respect to the image. The gradient is normalised by its root mean square, so
`step_size` is how far (in the model's input units) a typical pixel moves per step, whatever the
layer's scale. Keras 3 with the TensorFlow backend: the gradient comes from tf.GradientTape.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from cnnlab.plots import image_grid_figure
from cnnlab.visualize.activations import conv_layers, input_size, load_best_model

# The start: mid-grey (the model's inputs are pixels in 0..255) with a little uniform noise,
# so no filter starts saturated and each filter's ascent starts from a different image.
START_GREY = 128.0
START_NOISE = 10.0


def random_start_image(height: int, width: int, seed: int) -> tf.Tensor:
    """A 1 x height x width x 3 batch of grey noise, the same for the same seed."""
    generator = np.random.default_rng(seed)
    noise = generator.uniform(-START_NOISE, START_NOISE, size=(1, height, width, 3))
    return tf.constant(START_GREY + noise, dtype=tf.float32)


def mean_activation(feature_extractor: keras.Model, image: tf.Tensor, filter_index) -> tf.Tensor:
    """The filter's activation averaged over the image: what the ascent maximises."""
    activation = feature_extractor(image, training=False)
    return tf.reduce_mean(activation[..., filter_index])


def filter_ascent(feature_extractor: keras.Model):
    """A compiled function (image, filter index, steps, step size) -> image after the ascent.

    One function per layer: the filter index is a tensor argument, so every filter of the layer
    reuses the same traced graph.
    """

    @tf.function
    def ascend(image, filter_index, steps, step_size):
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(image)
                objective = mean_activation(feature_extractor, image, filter_index)
            gradient = tape.gradient(objective, image)
            gradient /= tf.sqrt(tf.reduce_mean(tf.square(gradient))) + 1e-8
            image = image + step_size * gradient
        return image

    def run(image: tf.Tensor, filter_index: int, steps: int, step_size: float) -> tf.Tensor:
        return ascend(
            image, tf.constant(filter_index), tf.constant(steps), tf.constant(step_size, tf.float32)
        )

    return run




def to_displayable(image: np.ndarray) -> np.ndarray:
    """An optimised image as uint8 pixels: standardised, scaled to mean 128 and standard
    deviation 64, and clipped to 0..255 (the pattern, not its raw scale, is what matters)."""
    image = np.asarray(image, dtype=np.float64)
    image = image - image.mean()
    image = image / (image.std() + 1e-8)
    return np.clip(image * 64 + 128, 0, 255).astype(np.uint8)


def filter_patterns(
    model: keras.Model, filters_per_layer: int, steps: int, step_size: float, seed: int
) -> dict[str, list[tuple[int, np.ndarray]]]:
    """For every conv layer, its first `filters_per_layer` filters' patterns (uint8 images).

    Returns {layer name: [(filter index, height x width x 3 image), ...]}.
    """
    height, width = input_size(model)
    patterns = {}
    for layer_number, layer in enumerate(conv_layers(model)):
        feature_extractor = keras.Model(model.input, layer.output, name=f"{layer.name}_extractor")
        ascend = filter_ascent(feature_extractor)
        layer_patterns = []
        for filter_index in range(min(filters_per_layer, layer.filters)):
            start = random_start_image(height, width, seed=seed + 1000 * layer_number + filter_index)
            image = ascend(start, filter_index, steps, step_size)
            layer_patterns.append((filter_index, to_displayable(image.numpy()[0])))
        patterns[layer.name] = layer_patterns
    return patterns


def filters_figure(
    model_paths: list[str | os.PathLike],
    best_path: str | os.PathLike,
    settings: dict,
    seed: int,
    title: str,
):
    """A row of filter patterns per conv layer of the selected grid cell's model.

    `settings` is config `figures.filter_visualization` (filters_per_layer, steps, step_size).
    """
    model = load_best_model(model_paths, best_path)
    patterns = filter_patterns(
        model,
        filters_per_layer=settings["filters_per_layer"],
        steps=settings["steps"],
        step_size=settings["step_size"],
        seed=seed,
    )
    rows = [
        (layer_name, [(f"filter {index}", image) for index, image in layer_patterns])
        for layer_name, layer_patterns in patterns.items()
    ]
    return image_grid_figure(
        rows,
        title=f"{title}\n{settings['steps']} gradient-ascent steps of size {settings['step_size']:g}",
    )
