"""The models are the report's designs: layer sequences and parameter counts worked out by hand,
output shapes, and one training step each."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from conftest import default_config

from cnnlab.models import catsdogs, cifar10, load_model
from cnnlab.models.augmentation import augmentation_layers, shear_factor

# The report's ImageDataGenerator settings, as config.yaml keeps them.
REPORT_AUGMENTATION = default_config()["catsdogs"]["augmentation"]


def conv_params(in_channels, out_channels, kernel=3):
    """Weights (kernel x kernel x in x out) plus one bias per output channel."""
    return kernel * kernel * in_channels * out_channels + out_channels


def dense_params(inputs, units):
    return inputs * units + units


def batchnorm_params(channels):
    """gamma and beta (trained), moving mean and variance (not trained)."""
    return 4 * channels


def pooled(side):
    return side // 2


def random_images(count, side, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, side, side, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------ cats vs dogs


@pytest.mark.parametrize("filters", [32, 64])
def test_catsdogs_basic_cnn_is_the_reports(filters):
    model = catsdogs.basic_cnn((150, 150), filters=filters, hidden_units=512)

    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "Rescaling",
        *["Conv2D", "MaxPooling2D", "BatchNormalization"] * 3,
        "Flatten",
        "Dense",
        "Dense",
    ]
    # Valid 3x3 convolutions take 2 pixels off each side, pooling halves: 150 -> 148 -> 74 ->
    # 72 -> 36 -> 34 -> 17.
    side = 150
    for _ in range(3):
        side = pooled(side - 2)
    assert side == 17
    assert model.get_layer("flatten").output.shape[1:] == (side * side * filters,)

    expected = (
        conv_params(3, filters)
        + batchnorm_params(filters)
        + 2 * (conv_params(filters, filters) + batchnorm_params(filters))
        + dense_params(side * side * filters, 512)
        + dense_params(512, 1)
    )
    assert model.count_params() == expected
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 3 * 2 * filters  # the BatchNorm moving statistics
    assert model.output_shape == (None, 1)
    assert model.get_layer("prediction").activation.__name__ == "sigmoid"


def test_vgg16_preprocessing_is_keras_preprocess_input():
    images = random_images(2, 8)
    layer = catsdogs.input_preprocessing("vgg")
    expected = keras.applications.vgg16.preprocess_input(images.astype("float32"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(images)), expected, rtol=0, atol=1e-4
    )
    rescale = catsdogs.input_preprocessing("rescale")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rescale(images)), images / 255, atol=1e-6)
    with pytest.raises(ValueError, match="vgg, rescale"):
        catsdogs.input_preprocessing("imagenet")


def test_vgg16_weights_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"catsdogs\.vgg16\.weights"):
        catsdogs.vgg16_base((32, 32), tmp_path / "missing.h5")


def test_a_vgg16_base_pretrained_on_cifar10_serves_a_larger_image(tmp_path):
    """catsdogs.vgg16.weights: cifar10: the base of the saved 32x32 pretraining model is the
    cats/dogs stages' frozen base at their image size, weight for weight."""
    keras.utils.set_random_seed(3)
    pretrained = catsdogs.vgg16_pretraining_network(cifar10.IMAGE_SHAPE, cifar10.CLASSES, "vgg")
    assert pretrained.output_shape == (None, cifar10.CLASSES)
    pretrained.save(tmp_path / "model.keras")
    keras.utils.set_random_seed(4)  # a fresh random base would differ from the saved one
    base = catsdogs.vgg16_base((48, 48), tmp_path / "model.keras")
    assert base.input_shape == (None, 48, 48, 3)
    assert not base.trainable
    saved = pretrained.get_layer(catsdogs.VGG16_BASE_NAME).get_weights()
    assert len(base.get_weights()) == len(saved) == 26
    for loaded, original in zip(base.get_weights(), saved):
        np.testing.assert_array_equal(loaded, original)


def test_a_saved_model_without_a_vgg16_base_is_refused_by_name(tmp_path):
    catsdogs.basic_cnn((32, 32), 4, 4).save(tmp_path / "basic.keras")
    with pytest.raises(catsdogs.WeightsError, match="is a Keras model with no 'vgg16' base"):
        catsdogs.vgg16_base((32, 32), tmp_path / "basic.keras")


def test_vgg16_classifier_with_augmentation_survives_saving(tmp_path):
    """The whole network, augmentation and custom preprocessing included, loads back and predicts
    the same (augmentation is inactive at inference)."""
    keras.utils.set_random_seed(1)
    base = catsdogs.vgg16_base((32, 32), weights=None)
    head = catsdogs.dense_head(base.output_shape[1:], hidden_units=8)
    model = catsdogs.vgg16_classifier(
        base, head, "vgg", augmentation_layers(REPORT_AUGMENTATION, seed=1), name="vgg16_augmented"
    )
    assert not base.trainable
    assert [w.path for w in model.trainable_weights] == [w.path for w in head.trainable_weights]
    images = random_images(3, 32)
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )
    assert (
        loaded.get_layer("augmentation").get_layer("random_shear").y_factor
        == model.get_layer("augmentation").get_layer("random_shear").y_factor
    )


def test_unfreeze_vgg16_base():
    base = catsdogs.vgg16_base((32, 32), weights=None)
    head = catsdogs.dense_head(base.output_shape[1:], hidden_units=4)
    model = catsdogs.vgg16_classifier(base, head, "rescale")
    frozen_trainable = len(model.trainable_weights)
    catsdogs.unfreeze_vgg16_base(model)
    assert (
        len(model.trainable_weights) == frozen_trainable + 2 * 13
    )  # 13 conv layers, kernel + bias
    with pytest.raises(ValueError, match="vgg16_frozen"):
        catsdogs.unfreeze_vgg16_base(catsdogs.basic_cnn((32, 32), 4, 4))


# ------------------------------------------------------------------------------ augmentation


def test_augmentation_matches_the_reports_generator():
    block = augmentation_layers(REPORT_AUGMENTATION, seed=3)
    layers = {layer.name: layer for layer in block.layers}
    assert list(layers) == [
        "random_rotation",
        "random_translation",
        "random_shear",
        "random_zoom",
        "random_flip",
    ]
    # Keras' rotation factor is a fraction of a full turn: +-40 degrees.
    assert math.isclose(layers["random_rotation"].factor[1] * 360, 40)
    assert (
        layers["random_translation"].height_factor,
        layers["random_translation"].width_factor,
    ) == (0.2, 0.2)
    # A shear angle of 0.2 degrees displaces by tan(0.2 deg) pixels per pixel.
    assert math.isclose(layers["random_shear"].y_factor[1], math.tan(math.radians(0.2)))
    assert layers["random_shear"].x_factor == (0.0, 0.0)
    zoom = layers["random_zoom"]
    assert (zoom.height_factor, zoom.width_factor) == (0.2, 0.2)  # both given: drawn independently
    assert layers["random_flip"].mode == "horizontal"
    assert {layer.fill_mode for name, layer in layers.items() if name != "random_flip"} == {
        "nearest"
    }

    images = random_images(4, 32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(block(images, training=False)), images)
    assert not np.allclose(keras.ops.convert_to_numpy(block(images, training=True)), images)


def test_no_flip_and_shear_limit():
    block = augmentation_layers({**REPORT_AUGMENTATION, "horizontal_flip": False})
    assert "random_flip" not in [layer.name for layer in block.layers]
    assert math.isclose(shear_factor(45), 1.0)
    with pytest.raises(ValueError, match="shear_degrees"):
        shear_factor(60)


# --------------------------------------------------------------------------------- CIFAR-10


def cifar10_basic_params(filters):
    """3 'same' blocks keep 32 -> 16 -> 8 -> 4 pixels a side: Flatten has 4 * 4 * filters."""
    return (
        conv_params(3, filters)
        + conv_params(filters, filters)
        + conv_params(filters, filters)
        + 3 * batchnorm_params(filters)
        + dense_params(4 * 4 * filters, 10)
    )


def cifar10_inception_params(filters):
    """The basic net, plus the block's six convolutions, with block 3 fed 4 x filters channels."""
    block = (
        4 * conv_params(filters, filters, kernel=1)  # 1x1 branch, both reductions, pool projection
        + conv_params(filters, filters, kernel=3)
        + conv_params(filters, filters, kernel=5)
    )
    wider_block3 = conv_params(4 * filters, filters) - conv_params(filters, filters)
    return cifar10_basic_params(filters) + block + wider_block3


def cifar10_residual_params(filters):
    """The basic net, plus the two strided 1x1 shortcut convolutions (from 3 and from filters)."""
    return (
        cifar10_basic_params(filters)
        + conv_params(3, filters, kernel=1)
        + conv_params(filters, filters, kernel=1)
    )


CIFAR10_ARCHITECTURES = {
    "basic": (cifar10.basic_cnn, cifar10_basic_params),
    "inception": (cifar10.inception_cnn, cifar10_inception_params),
    "residual": (cifar10.residual_cnn, cifar10_residual_params),
}


@pytest.mark.parametrize("filters", [128, 256])
@pytest.mark.parametrize("architecture", list(CIFAR10_ARCHITECTURES))
def test_cifar10_parameter_counts(architecture, filters):
    build, expected_params = CIFAR10_ARCHITECTURES[architecture]
    model = build(filters)
    assert model.count_params() == expected_params(filters)
    assert model.output_shape == (None, 10)
    assert model.get_layer("prediction").activation.__name__ == "softmax"
    assert model.get_layer("flatten").output.shape[1:] == (4 * 4 * filters,)


def test_inception_block_concatenates_its_branches():
    model = cifar10.inception_cnn(16)
    branches = ["inception_1x1", "inception_3x3", "inception_5x5", "inception_pool_1x1"]
    concat = model.get_layer("inception_concat")
    assert concat.output.shape[-1] == sum(
        model.get_layer(name).output.shape[-1] for name in branches
    )
    # Fed by block 2's BatchNorm; every branch keeps its 8 x 8 size; block 3 follows.
    block2 = model.get_layer("block2_batchnorm").output
    for name in ["inception_1x1", "inception_3x3_reduce", "inception_5x5_reduce", "inception_pool"]:
        assert model.get_layer(name).input is block2
    assert all(model.get_layer(name).output.shape[1:3] == (8, 8) for name in branches)
    assert model.get_layer("block3_conv").input is concat.output
    assert model.get_layer("inception_pool").pool_size == (2, 2)
    assert model.get_layer("inception_pool").strides == (1, 1)


def test_residual_adds_two_strided_shortcuts():
    model = cifar10.residual_cnn(16)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert [layer.name for layer in adds] == ["shortcut1_add", "shortcut2_add"]
    # Shortcut 1 starts from the (rescaled) image, shortcut 2 from block 2's input (the first sum).
    assert model.get_layer("shortcut1_conv").input is model.get_layer("rescale").output
    assert model.get_layer("shortcut2_conv").input is model.get_layer("shortcut1_add").output
    assert model.get_layer("block2_conv").input is model.get_layer("shortcut1_add").output
    assert model.get_layer("block3_conv").input is model.get_layer("shortcut2_add").output
    for index in (1, 2):
        shortcut = model.get_layer(f"shortcut{index}_conv")
        assert shortcut.strides == (2, 2) and shortcut.kernel_size == (1, 1)


# --------------------------------------------------------------------------- training steps


def vgg16_augmented_tiny():
    base = catsdogs.vgg16_base((32, 32), weights=None)
    head = catsdogs.dense_head(base.output_shape[1:], hidden_units=4)
    return catsdogs.vgg16_classifier(
        base, head, "vgg", augmentation_layers(REPORT_AUGMENTATION, seed=0)
    )


TRAIN_STEP_MODELS = {
    "catsdogs_basic": (lambda: catsdogs.basic_cnn((32, 32), 4, 8), 2),
    "vgg16_augmented": (vgg16_augmented_tiny, 2),
    "cifar10_basic": (lambda: cifar10.basic_cnn(8), 10),
    "cifar10_inception": (lambda: cifar10.inception_cnn(8), 10),
    "cifar10_residual": (lambda: cifar10.residual_cnn(8), 10),
}


@pytest.mark.parametrize("name", list(TRAIN_STEP_MODELS))
def test_one_training_step(name):
    """A forward and backward pass on raw uint8 pixels changes every trainable weight's values."""
    keras.utils.set_random_seed(0)
    build, classes = TRAIN_STEP_MODELS[name]
    model = build()
    loss = "binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    images = random_images(4, 32)
    labels = np.arange(4) % classes
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    step_loss = model.train_on_batch(images, labels)
    assert np.isfinite(step_loss)
    changed = [
        not np.array_equal(old, keras.ops.convert_to_numpy(w))
        for old, w in zip(before, model.trainable_weights, strict=True)
    ]
    assert all(changed)
