"""CIFAR-10: the report's basic CNN, and the same net with an inception block or with residual
(skip) connections.

Every model takes raw 0..255 pixels (32 x 32 x 3, uint8 or float) and rescales them itself.
"""

from __future__ import annotations

import keras

from cnnlab.models.blocks import (
    DEFAULT_BATCHNORM_MOMENTUM,
    classifier_output,
    conv_block,
    rescaled_image_input,
)

IMAGE_SHAPE = (32, 32, 3)
CLASSES = 10


def _classifier(image, x, name: str) -> keras.Model:
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(image, classifier_output(x, classes=CLASSES), name=name)


def basic_cnn(filters: int, batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM) -> keras.Model:
    """3 x [Conv2D 3x3 ReLU same, MaxPool 2x2, BatchNorm] of `filters` each, Flatten,
    Dense 10 softmax."""
    image, x = rescaled_image_input(IMAGE_SHAPE)
    for index in (1, 2, 3):
        x = conv_block(x, filters, "same", index, batchnorm_momentum)
    return _classifier(image, x, name="cifar10_basic")


def inception_block(x, branch_filters: int):
    """Four parallel branches, concatenated along channels (4 x `branch_filters` channels):
    1x1; 1x1 then 3x3; 1x1 then 5x5; 2x2 max-pool (stride 1) then 1x1. All ReLU, `same`
    padding, so every branch keeps the input's height and width."""

    def conv(tensor, size, name):
        return keras.layers.Conv2D(
            branch_filters, size, padding="same", activation="relu", name=name
        )(tensor)

    branch_1x1 = conv(x, 1, "inception_1x1")
    branch_3x3 = conv(conv(x, 1, "inception_3x3_reduce"), 3, "inception_3x3")
    branch_5x5 = conv(conv(x, 1, "inception_5x5_reduce"), 5, "inception_5x5")
    pooled = keras.layers.MaxPooling2D(2, strides=1, padding="same", name="inception_pool")(x)
    branch_pool = conv(pooled, 1, "inception_pool_1x1")
    return keras.layers.Concatenate(name="inception_concat")(
        [branch_1x1, branch_3x3, branch_5x5, branch_pool]
    )


def inception_cnn(
    filters: int, batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM
) -> keras.Model:
    """The basic CNN with an inception block between blocks 2 and 3, fed by block 2's BatchNorm.

    Width choice: every convolution of the block has `filters` channels, the width of the best
    grid cell's blocks, as each conv layer of the net has; the concatenation therefore carries
    4 x `filters` channels into block 3, which brings them back to `filters`.
    """
    image, x = rescaled_image_input(IMAGE_SHAPE)
    x = conv_block(x, filters, "same", 1, batchnorm_momentum)
    x = conv_block(x, filters, "same", 2, batchnorm_momentum)
    x = inception_block(x, branch_filters=filters)
    x = conv_block(x, filters, "same", 3, batchnorm_momentum)
    return _classifier(image, x, name="cifar10_inception")


def residual_cnn(
    filters: int, batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM
) -> keras.Model:
    """The basic CNN with two skip connections, as in the report's code: a strided 1x1
    convolution of each of blocks 1 and 2's inputs (matching the block's halved size and width)
    is added to that block's output. Block 1's input is the rescaled image."""
    image, x = rescaled_image_input(IMAGE_SHAPE)
    for index in (1, 2):
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=2, padding="same", name=f"shortcut{index}_conv"
        )(x)
        x = conv_block(x, filters, "same", index, batchnorm_momentum)
        x = keras.layers.Add(name=f"shortcut{index}_add")([x, shortcut])
    x = conv_block(x, filters, "same", 3, batchnorm_momentum)
    return _classifier(image, x, name="cifar10_residual")
