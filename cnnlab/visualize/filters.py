"""Filter visualisation by gradient ascent: the input pattern each conv filter responds to most.

Start from a noisy grey image and repeatedly step along the gradient of the filter's mean
activation with respect to the image. The gradient is normalised by its root mean square, so
`step_size` is how far (in the model's input units) a typical pixel moves per step, whatever the
layer's scale. The same ascent runs compiled on either Keras backend: a `tf.function` over
`tf.GradientTape` on TensorFlow, `jax.jit` over `jax.grad` of the model's `stateless_call` on
JAX. Each imports only its own framework.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
import numpy as np

from cnnlab.plots import image_grid_figure
from cnnlab.visualize.activations import conv_layers, input_size, load_best_model

# The start: mid-grey (the model's inputs are pixels in 0..255) with a little uniform noise,
# so no filter starts saturated and each filter's ascent starts from a different image.
START_GREY = 128.0
START_NOISE = 10.0
# Keeps the normalisation finite where a filter's gradient is zero (a dead ReLU).
EPSILON = 1e-8

# (image, filter index, steps, step size) -> image after the ascent, all as NumPy.
Ascent = Callable[[np.ndarray, int, int, float], np.ndarray]


def random_start_image(height: int, width: int, seed: int) -> np.ndarray:
    """A 1 x height x width x 3 float32 batch of grey noise, the same for the same seed."""
    generator = np.random.default_rng(seed)
    noise = generator.uniform(-START_NOISE, START_NOISE, size=(1, height, width, 3))
    return (START_GREY + noise).astype(np.float32)


def filter_ascent(feature_extractor: keras.Model) -> Ascent:
    """The compiled ascent for one layer's feature extractor, on the backend Keras runs on.

    The filter index, step count and step size are run-time arguments, so every filter of the
    layer reuses one compiled function.
    """
    if keras.backend.backend() == "jax":
        return _jax_ascent(feature_extractor)
    if keras.backend.backend() == "tensorflow":
        return _tensorflow_ascent(feature_extractor)
    raise NotImplementedError(f"filter ascent on the {keras.backend.backend()} backend")


def _tensorflow_ascent(feature_extractor: keras.Model) -> Ascent:
    import tensorflow as tf

    @tf.function
    def ascend(image, filter_index, steps, step_size):
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(image)
                activation = feature_extractor(image, training=False)
                objective = tf.reduce_mean(activation[..., filter_index])
            gradient = tape.gradient(objective, image)
            gradient /= tf.sqrt(tf.reduce_mean(tf.square(gradient))) + EPSILON
            image = image + step_size * gradient
        return image

    def run(image, filter_index, steps, step_size):
        result = ascend(
            tf.constant(image, tf.float32),
            tf.constant(filter_index),
            tf.constant(steps),
            tf.constant(step_size, tf.float32),
        )
        return result.numpy()

    return run


def _jax_ascent(feature_extractor: keras.Model) -> Ascent:
    import jax
    import jax.numpy as jnp

    trainable = [variable.value for variable in feature_extractor.trainable_variables]
    non_trainable = [variable.value for variable in feature_extractor.non_trainable_variables]

    def objective(image, filter_index):
        activation, _ = feature_extractor.stateless_call(
            trainable, non_trainable, image, training=False
        )
        return jnp.mean(activation[..., filter_index])

    gradient_of = jax.grad(objective)

    @jax.jit
    def ascend(image, filter_index, steps, step_size):
        def step(_, image):
            gradient = gradient_of(image, filter_index)
            gradient /= jnp.sqrt(jnp.mean(jnp.square(gradient))) + EPSILON
            return image + step_size * gradient

        return jax.lax.fori_loop(0, steps, step, image)

    def run(image, filter_index, steps, step_size):
        result = ascend(
            jnp.asarray(image, jnp.float32),
            jnp.int32(filter_index),
            jnp.int32(steps),
            jnp.float32(step_size),
        )
        return np.asarray(result)

    return run


def mean_activation(feature_extractor: keras.Model, image: np.ndarray, filter_index: int) -> float:
    """The filter's activation averaged over the image: what the ascent maximises."""
    activation = keras.ops.convert_to_numpy(feature_extractor(image, training=False))
    return float(activation[..., filter_index].mean())


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
            start = random_start_image(
                height, width, seed=seed + 1000 * layer_number + filter_index
            )
            image = ascend(start, filter_index, steps, step_size)
            layer_patterns.append((filter_index, to_displayable(image[0])))
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
