"""Grad-CAM on a model whose evidence is known: it looks where the bright pixels are.
(The same maps on TensorFlow and JAX: tests/test_backends.py.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnlab.models import cifar10
from cnnlab.plots import save_figure
from cnnlab.visualize import gradcam

SIZE = 16


def brightness_model(weight: float, bias: float) -> keras.Model:
    """ "Dog" in proportion to brightness: a 1x1 conv that averages the channels (the last conv
    layer, inside a nested model as VGG16's base is), global average pooling, one sigmoid.

    The score's gradient is the same at every position, so the heat map is the conv output
    itself: the image's brightness where the prediction is "dog", nothing where it is "cat"."""
    inner_input = keras.Input((SIZE, SIZE, 3))
    brightness = keras.layers.Conv2D(1, 1, activation="relu", name="brightness")(
        keras.layers.Rescaling(1 / 255)(inner_input)
    )
    base = keras.Model(inner_input, brightness, name="base")
    image = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(base(image))
    output = keras.layers.Dense(1, activation="sigmoid", name="prediction")(x)
    model = keras.Model(image, output)
    base.get_layer("brightness").set_weights([np.full((1, 1, 3, 1), 1 / 3), np.zeros(1)])
    model.get_layer("prediction").set_weights([np.array([[weight]]), np.array([bias])])
    return model


def bright_corner_image() -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[: SIZE // 2, : SIZE // 2] = 255  # the top-left quarter lit
    return image


def test_the_map_lies_on_the_evidence_for_the_predicted_class():
    model = brightness_model(weight=20.0, bias=-2.0)  # mean brightness 0.25: logit +3, "dog"
    maps, classes, probabilities = gradcam.gradcam(model, bright_corner_image()[None])
    assert classes.tolist() == [1] and probabilities[0, 1] == pytest.approx(
        1 / (1 + np.exp(-3)), rel=1e-5
    )
    heat = maps[0]
    assert heat.shape == (SIZE, SIZE)
    assert heat[: SIZE // 2 - 1, : SIZE // 2 - 1].min() > 0.9  # the lit quarter is hot ...
    assert (
        heat[SIZE // 2 + 1 :, :].max() < 0.1 and heat[:, SIZE // 2 + 1 :].max() < 0.1
    )  # ... the rest cold


def test_evidence_against_the_predicted_class_leaves_the_map_empty():
    # The same brightness now argues for "dog", but the bias makes the model say "cat": no
    # pixel is evidence for "cat", and the ReLU leaves nothing.
    model = brightness_model(weight=20.0, bias=-8.0)
    maps, classes, _ = gradcam.gradcam(model, bright_corner_image()[None])
    assert classes.tolist() == [0]
    assert maps.max() == 0


def test_the_last_conv_layer_is_found_inside_a_nested_base():
    model = brightness_model(weight=1.0, bias=0.0)
    _, _, conv = gradcam.split_at_last_conv(model, bright_corner_image()[None].astype("float32"))
    assert conv.name == "brightness"


# Fed a bare tensor, such a model makes Keras warn that the input structure does not match.
@pytest.mark.filterwarnings("error::UserWarning")
def test_a_model_whose_input_is_a_list_works_too():
    """A model rebuilt from a loaded one (the fine-tuned VGG16 stage) may keep its one input
    in a list."""
    inner = brightness_model(weight=20.0, bias=-2.0)
    image = keras.Input((SIZE, SIZE, 3), name="image")
    model = keras.Model([image], inner(image))
    assert isinstance(model.input, list)
    maps, classes, _ = gradcam.gradcam(model, bright_corner_image()[None])
    assert classes.tolist() == [1] and maps[0, 0, 0] > 0.9


def test_a_model_that_is_not_a_chain_is_refused():
    model = cifar10.residual_cnn(filters=4)
    images = np.zeros((1, 32, 32, 3), np.float32) + 100
    with pytest.raises(ValueError, match="not a chain of layers"):
        gradcam.gradcam(model, images)


def test_the_figure_has_a_row_of_images_and_a_row_per_model(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.array([0, 0, 0, 1, 1])
    np.savez(
        tmp_path / "test.npz",
        images=images,
        labels=labels,
        ids=np.array([f"test/x/{i}.jpg" for i in range(5)]),
        class_names=np.array(["cat", "dog"]),
    )
    brightness_model(20.0, -2.0).save(tmp_path / "a.keras")
    brightness_model(-20.0, 2.0).save(tmp_path / "b.keras")
    figure = gradcam.gradcam_figure(
        [("model a", tmp_path / "a.keras"), ("model b", tmp_path / "b.keras")],
        tmp_path / "test.npz",
        count=3,
        title="t",
    )
    shown = [axes for axes in figure.axes if axes.images]
    assert len(shown) == 3 * 3  # images, then two models, three images each
    assert [axes.get_ylabel() for axes in figure.axes[::3]] == ["test images", "model a", "model b"]
    # Spread over the split: the first, the middle and the last image (both classes).
    assert [axes.get_title().split("\n")[0] for axes in shown[:3]] == ["0.jpg", "2.jpg", "4.jpg"]
    np.testing.assert_array_equal(shown[2].images[0].get_array(), images[4])
    save_figure(figure, tmp_path / "gradcam.png", dpi=40)
    assert (tmp_path / "gradcam.png").stat().st_size > 0


# ------------------------------------------- evidence for and against, images of different classes


def red_against_green_model(red_weight: float, green_weight: float) -> keras.Model:
    """ "Dog" in proportion to red minus green: a 1x1 conv (the last conv layer) passes the red
    and the green channel on, then global average pooling and one sigmoid. Red is evidence for
    "dog" and green against it, so the weighted sum of the channels is positive where an image
    is red and negative where it is green, until Grad-CAM's ReLU; for "cat" it is the reverse."""
    image = keras.Input((SIZE, SIZE, 3), name="image")
    channels = keras.layers.Conv2D(2, 1, activation="relu", name="red_and_green")(
        keras.layers.Rescaling(1 / 255)(image)
    )
    x = keras.layers.GlobalAveragePooling2D()(channels)
    output = keras.layers.Dense(1, activation="sigmoid", name="prediction")(x)
    model = keras.Model(image, output)
    kernel = np.zeros((1, 1, 3, 2))
    kernel[0, 0, 0, 0] = kernel[0, 0, 1, 1] = 1  # red -> channel 0, green -> channel 1
    model.get_layer("red_and_green").set_weights([kernel, np.zeros(2)])
    model.get_layer("prediction").set_weights(
        [np.array([[red_weight], [-green_weight]]), np.zeros(1)]
    )
    return model


HALF = SIZE // 2
TOP_LEFT, BOTTOM_RIGHT = np.s_[: HALF - 1, : HALF - 1], np.s_[HALF + 1 :, HALF + 1 :]


def red_and_green_images() -> np.ndarray:
    """A red top-left quarter and a green bottom-right one, then the green quarter alone: to
    `red_against_green_model(8, 4)` a "dog" (logit 0.25 * 8 - 0.25 * 4 = +1) and a "cat" (-1)."""
    images = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    images[0, :HALF, :HALF, 0] = 255
    images[:, HALF:, HALF:, 1] = 255
    return images


def test_evidence_against_the_predicted_class_is_zero_not_negative():
    maps, classes, _ = gradcam.gradcam(
        red_against_green_model(8.0, 4.0), red_and_green_images()[:1]
    )
    assert classes.tolist() == [1]
    assert maps.min() >= 0 and maps.max() <= 1
    assert maps[0][TOP_LEFT].min() > 0.9  # red: for "dog"
    assert np.all(maps[0][BOTTOM_RIGHT] == 0)  # green: against "dog", cut by the ReLU


def test_each_map_of_a_batch_is_the_map_of_its_image_alone():
    """Images of different predicted classes in one batch: each map weighs the channels by its
    own image's gradient (the gradients of "dog" and "cat" here cancel out on average)."""
    model = red_against_green_model(8.0, 4.0)
    images = red_and_green_images()
    maps, classes, _ = gradcam.gradcam(model, images)
    assert classes.tolist() == [1, 0]
    for image, heat in zip(images, maps, strict=True):
        alone, _, _ = gradcam.gradcam(model, image[None])
        np.testing.assert_allclose(heat, alone[0], atol=1e-6)
    assert maps[1][BOTTOM_RIGHT].min() > 0.9  # green: for "cat"


def test_the_figure_draws_the_predicted_class_not_the_true_label(tmp_path):
    images = red_and_green_images()
    model = red_against_green_model(8.0, 4.0)
    model.save(tmp_path / "model.keras")
    labels = np.array([0, 1])  # both predicted wrong: their true label's map is another one
    np.savez(
        tmp_path / "test.npz",
        images=images,
        labels=labels,
        ids=np.array(["test/cat/0.jpg", "test/dog/1.jpg"]),
        class_names=np.array(["cat", "dog"]),
    )
    maps, classes, _ = gradcam.gradcam(model, images)
    assert classes.tolist() == [1, 0]
    figure = gradcam.gradcam_figure(
        [("model", tmp_path / "model.keras")], tmp_path / "test.npz", 2, "t"
    )
    drawn = [axes.images[0].get_array() for axes in figure.axes if axes.images][2:]
    for image, heat, overlaid in zip(images, maps, drawn, strict=True):
        np.testing.assert_array_equal(overlaid, gradcam.overlay(image, heat))
