"""Cats vs dogs: the report's basic CNN, and VGG16 transfer learning.

Every model here takes raw 0..255 RGB pixels (uint8 or float): scaling happens inside the model,
so a saved model.keras is the whole network and needs no preprocessing code beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from cnnlab.jobio import ExpectedError
from cnnlab.models.blocks import (
    DEFAULT_BATCHNORM_MOMENTUM,
    classifier_output,
    conv_block,
    rescaled_image_input,
)
from cnnlab.vgg16_weights import VGG16_BASE_NAME, weights_file_problem

# The folder names of the split, in label order: cat = 0, dog = 1.
CLASS_NAMES = ["cat", "dog"]
PREPROCESSING_CHOICES = ("vgg", "rescale")


def basic_cnn(
    image_size: tuple[int, int],
    filters: int,
    hidden_units: int,
    batchnorm_momentum: float = DEFAULT_BATCHNORM_MOMENTUM,
    augmentation: keras.layers.Layer | None = None,
) -> keras.Model:
    """The report's CNN: 3 x [Conv2D 3x3 ReLU (valid), MaxPool 2x2, BatchNorm], Flatten,
    Dense `hidden_units` ReLU, Dense 1 sigmoid. `filters` is the width of all three blocks.
    `augmentation`, when given, transforms the training images first (the report's open
    question: would the basic CNN gain from the VGG16 stage's augmentation?)."""
    image, x = rescaled_image_input((*image_size, 3), augmentation)
    for index in (1, 2, 3):
        x = conv_block(x, filters, "valid", index, batchnorm_momentum)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    return keras.Model(image, classifier_output(x, classes=2), name="catsdogs_basic")


@keras.saving.register_keras_serializable(package="cnnlab")
class VGG16Preprocessing(keras.layers.Layer):
    """`keras.applications.vgg16.preprocess_input` as a layer: RGB -> BGR, then the ImageNet
    channel means subtracted, the input the ImageNet weights were trained on.

    A registered layer rather than a Lambda, so the saved model loads without `safe_mode=False`
    (importing `cnnlab.models` registers it).
    """

    def call(self, images):
        return keras.applications.vgg16.preprocess_input(keras.ops.cast(images, self.compute_dtype))


def input_preprocessing(kind: str) -> keras.layers.Layer:
    """What VGG16 sees of a raw image: `vgg` (ImageNet's preprocessing, right for the ImageNet
    weights) or `rescale` (the report's 1/255)."""
    if kind == "vgg":
        return VGG16Preprocessing(name="vgg16_preprocessing")
    if kind == "rescale":
        return keras.layers.Rescaling(1.0 / 255, name="rescale")
    raise ValueError(
        f"unknown VGG16 preprocessing '{kind}': set catsdogs.vgg16.preprocessing to one of "
        f"{', '.join(PREPROCESSING_CHOICES)}"
    )


class WeightsError(ExpectedError, FileNotFoundError):
    """VGG16's weights are neither a local file nor downloadable; the message says what to set."""


def vgg16_base(image_size: tuple[int, int], weights: str | os.PathLike | None) -> keras.Model:
    """VGG16's convolutional base, frozen.

    `weights`: "imagenet" (downloaded once into Keras' cache, $KERAS_HOME, which an offline
    cluster can pre-seed), a local .h5 file of the no-top weights, a saved model.keras that holds
    a VGG16 base (the base this workflow pretrains on CIFAR-10: `catsdogs.vgg16.weights: cifar10`),
    or None (random, seeded). Convolution weights do not depend on the image size, so a base
    trained on 32x32 images serves 150x150 ones.
    """
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise WeightsError(
            f"VGG16 weights file {weights} does not exist: set catsdogs.vgg16.weights to "
            "'imagenet', 'cifar10', the path of vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, "
            "or null for random weights"
        )
    # The config check ran this before any job; again here, as the file may have changed since.
    problem = weights not in (None, "imagenet") and weights_file_problem(weights)
    if problem:
        raise WeightsError(f"catsdogs.vgg16.weights: {problem}")
    from_saved_model = weights is not None and Path(weights).suffix == ".keras"
    try:
        base = keras.applications.VGG16(
            include_top=False,
            weights=None if weights is None or from_saved_model else str(weights),
            input_shape=(*image_size, 3),
            name=VGG16_BASE_NAME,
        )
    except Exception as error:
        # Keras raises a bare Exception("URL fetch failure on ...") when it cannot download.
        if weights != "imagenet" or "URL fetch failure" not in str(error):
            raise
        raise WeightsError(
            f"Could not download VGG16's ImageNet weights ({error}). Offline, put "
            f"vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 in $KERAS_HOME/models/ (default "
            f"~/.keras/models/), set catsdogs.vgg16.weights to the path of a local copy, or to "
            f"cifar10 to pretrain the base on CIFAR-10 here."
        ) from error
    if from_saved_model:
        base.set_weights(_saved_vgg16_base(weights).get_weights())
    base.trainable = False
    return base


def _saved_vgg16_base(path: str | os.PathLike) -> keras.Model:
    """The VGG16 base inside a saved model.keras (by its layer name)."""
    # Imported here: cnnlab.models imports this module.
    from cnnlab.models import load_model

    model = load_model(path, compile=False)
    try:
        return model.get_layer(VGG16_BASE_NAME)
    except ValueError:
        raise ValueError(
            f"{path} holds no '{VGG16_BASE_NAME}' base to take weights from: point "
            "catsdogs.vgg16.weights at a model with one (the cifar10/vgg16_base run's model.keras)"
        ) from None


def vgg16_pretraining_network(
    image_shape: tuple[int, int, int], classes: int, preprocessing: str
) -> keras.Model:
    """VGG16's base, trainable from random weights, with a global-average-pooled softmax on top:
    what `catsdogs.vgg16.weights: cifar10` trains on CIFAR-10's training split, where ImageNet's
    weights are out of reach. The cats/dogs stages then take its base (`vgg16_base`), fed the
    same preprocessing."""
    base = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=image_shape, name=VGG16_BASE_NAME
    )
    image = keras.Input(shape=image_shape, name="image")
    x = base(input_preprocessing(preprocessing)(image))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(image, classifier_output(x, classes), name="vgg16_pretraining")


def dense_head(feature_shape: tuple[int, ...], hidden_units: int) -> keras.Model:
    """The classifier on top of the base: Flatten, Dense `hidden_units` ReLU, Dense 1 sigmoid."""
    features = keras.Input(shape=feature_shape, name="vgg16_features")
    x = keras.layers.Flatten(name="flatten")(features)
    x = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    return keras.Model(features, classifier_output(x, classes=2), name="head")


def vgg16_features(base: keras.Model, preprocessing: str) -> keras.Model:
    """Raw image -> preprocessing -> base: what the frozen stage computes once per split."""
    image = keras.Input(shape=base.input_shape[1:], name="image")
    features = base(input_preprocessing(preprocessing)(image))
    return keras.Model(image, features, name="vgg16_feature_extractor")


def vgg16_classifier(
    base: keras.Model,
    head: keras.Model,
    preprocessing: str,
    augmentation: keras.layers.Layer | None = None,
    name: str = "vgg16_classifier",
) -> keras.Model:
    """The whole network: [augmentation] -> preprocessing -> base -> head, on raw images.

    Augmentation layers are active only in training, so evaluation and prediction see the image
    as it is.
    """
    image = keras.Input(shape=base.input_shape[1:], name="image")
    x = image if augmentation is None else augmentation(image)
    x = input_preprocessing(preprocessing)(x)
    return keras.Model(image, head(base(x)), name=name)


def unfreeze_vgg16_base(model: keras.Model) -> keras.Model:
    """Make the VGG16 base of a saved classifier trainable, for fine-tuning."""
    try:
        base = model.get_layer(VGG16_BASE_NAME)
    except ValueError:
        raise ValueError(
            f"model '{model.name}' has no '{VGG16_BASE_NAME}' layer: fine-tuning starts from "
            "the vgg16_frozen stage's model.keras"
        ) from None
    base.trainable = True
    return model
