"""Building blocks the cats/dogs and CIFAR-10 models share."""

from __future__ import annotations

import keras

# Keras' default, which the report used. Inference uses BatchNorm's moving averages, which after
# n training steps still hold momentum**n of their initial values: 0.99 needs a few hundred steps
# to settle, so the demo's short runs use 0.9 (config `batchnorm_momentum`).
DEFAULT_BATCHNORM_MOMENTUM = 0.99


def conv_block(
    x,
    filters: int,
    padding: str,
    index: int,
    batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM,
):
    """The report's conv block: Conv2D 3x3 ReLU, MaxPool 2x2, BatchNorm, named block{index}_*."""
    x = keras.layers.Conv2D(
        filters, 3, padding=padding, activation="relu", name=f"block{index}_conv"
    )(x)
    x = keras.layers.MaxPooling2D(2, name=f"block{index}_pool")(x)
    return keras.layers.BatchNormalization(
        momentum=batchnorm_momentum, name=f"block{index}_batchnorm"
    )(x)


def rescaled_image_input(
    image_shape: tuple[int, int, int], augmentation: keras.layers.Layer | None = None
):
    """The model's image input (raw 0..255 pixels, uint8 or float) and its 1/255-scaled tensor,
    augmented first when an augmentation block is given (active in training only).

    Scaling inside the model keeps the input pipeline in uint8 and the saved model
    self-contained: whoever loads it feeds plain pixels.
    """
    image = keras.Input(shape=image_shape, name="image")
    x = image if augmentation is None else augmentation(image)
    return image, keras.layers.Rescaling(1.0 / 255, name="rescale")(x)


def classifier_output(x, classes: int):
    """The last Dense layer: 1 sigmoid unit for two classes, else a softmax over `classes`.

    It always computes in float32, so under mixed precision the probabilities and the loss do
    not lose precision in float16.
    """
    if classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="prediction")(x)
    return keras.layers.Dense(classes, activation="softmax", dtype="float32", name="prediction")(x)
