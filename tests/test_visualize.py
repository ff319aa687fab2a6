"""Activations, filter patterns by gradient ascent, and augmentation samples, on tiny models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import assert_drawn_png
from PIL import Image

from cnnlab.plots import save_figure, selected_cell_path
from cnnlab.visualize import activations, augmentation, filters, images

IMAGE_SIZE = (24, 24)


def tiny_cnn(seed: int = 3) -> keras.Model:
    """A seeded two-conv-layer net on raw 0..255 pixels, shaped like the workflow's basic CNN."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((*IMAGE_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(image)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="block1_conv")(x)
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="block2_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(image, keras.layers.Dense(1, activation="sigmoid", name="prediction")(x))


def write_split(folder, per_class=2):
    """A split folder of tiny JPEGs: folder/{cat,dog}/<n>.jpg."""
    generator = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (folder / label).mkdir(parents=True)
        for number in range(per_class):
            pixels = generator.integers(0, 255, (*IMAGE_SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{number}.jpg")
    return folder


def write_grid_models(tmp_path, selected):
    """Two grid cells' saved models and a best.json selecting one; the selected one is tiny_cnn(3)."""
    paths = []
    for cell, seed in (
        ("lr0.001_f16", 3 if selected == "lr0.001_f16" else 4),
        ("lr0.001_f32", 3 if selected == "lr0.001_f32" else 4),
    ):
        path = tmp_path / "basic" / cell / "seed1" / "model.keras"
        path.parent.mkdir(parents=True)
        tiny_cnn(seed).save(path)
        paths.append(path)
    best = tmp_path / "basic" / "best.json"
    best.write_text(json.dumps({"cell": selected}))
    return paths, best


def test_gradient_ascent_raises_the_filters_mean_activation_well_above_the_random_start():
    model = tiny_cnn()
    for layer_name in ("block1_conv", "block2_conv"):
        extractor = keras.Model(model.input, model.get_layer(layer_name).output)
        ascend = filters.filter_ascent(extractor)
        raised = 0
        for filter_index in range(extractor.output.shape[-1]):
            start = filters.random_start_image(*IMAGE_SIZE, seed=filter_index)
            before = float(filters.mean_activation(extractor, start, filter_index))
            if before == 0:
                continue  # a ReLU dead on every start pixel has no gradient to follow
            after = float(
                filters.mean_activation(
                    extractor, ascend(start, filter_index, steps=30, step_size=5.0), filter_index
                )
            )
            assert after > 2 * before, (layer_name, filter_index, before, after)
            raised += 1
        assert raised >= 2, f"too few live filters in {layer_name} to test the ascent"


def test_optimised_patterns_are_standardised_uint8_images():
    image = np.random.default_rng(1).normal(5.0, 0.01, (8, 8, 3))

    shown = filters.to_displayable(image)

    assert shown.dtype == np.uint8 and shown.shape == (8, 8, 3)
    assert abs(float(shown.mean()) - 128) < 5  # standardised around mid-grey, whatever the scale
    assert shown.min() < 80 and shown.max() > 170


def test_filter_patterns_cover_every_conv_layer_and_stop_at_its_width():
    patterns = filters.filter_patterns(
        tiny_cnn(), filters_per_layer=5, steps=2, step_size=1.0, seed=0
    )

    assert list(patterns) == ["block1_conv", "block2_conv"]
    assert [index for index, _ in patterns["block1_conv"]] == [0, 1, 2, 3, 4]
    assert [index for index, _ in patterns["block2_conv"]] == [0, 1, 2, 3]  # only 4 filters
    assert all(image.shape == (*IMAGE_SIZE, 3) for _, image in patterns["block1_conv"])


def test_conv_activations_give_every_conv_layers_channels():
    maps = activations.conv_activations(tiny_cnn(), np.full((*IMAGE_SIZE, 3), 128.0, np.float32))

    assert list(maps) == ["block1_conv", "block2_conv"]
    assert maps["block1_conv"].shape == (22, 22, 6)
    assert maps["block2_conv"].shape == (9, 9, 4)


def test_the_model_best_json_selects_is_the_one_loaded(tmp_path):
    paths, best = write_grid_models(tmp_path, selected="lr0.001_f32")

    assert selected_cell_path(paths, best) == paths[1]
    best.write_text(json.dumps({"cell": "lr0.1_f8"}))
    with pytest.raises(ValueError, match=r"lr0\.1_f8.*rerun select_best"):
        selected_cell_path(paths, best)


def test_activations_and_filters_figures_from_saved_models(tmp_path):
    paths, best = write_grid_models(tmp_path, selected="lr0.001_f16")
    test_dir = write_split(tmp_path / "test")

    activations_figure = activations.activations_figure(
        paths, best, test_dir, image_index=3, title="activations"
    )
    filters_figure = filters.filters_figure(
        paths, best, {"filters_per_layer": 2, "steps": 2, "step_size": 1.0}, seed=0, title="filters"
    )

    assert "dog/1.jpg" in activations_figure.get_suptitle()  # image 3 of cat/0, cat/1, dog/0, dog/1
    panel_titles = [axes.get_title() for axes in activations_figure.axes]
    assert any(title.startswith("block2_conv: 4 channels") for title in panel_titles)
    assert (
        sum(axes.get_ylabel() in ("block1_conv", "block2_conv") for axes in filters_figure.axes)
        == 2
    )
    for name, figure in (("activations.png", activations_figure), ("filters.png", filters_figure)):
        width, height = figure.get_size_inches()
        save_figure(figure, tmp_path / name, dpi=40)
        assert_drawn_png(tmp_path / name, size=(round(width * 40), round(height * 40)))


def test_an_image_index_past_the_split_says_how_many_images_there_are(tmp_path):
    test_dir = write_split(tmp_path / "test")

    with pytest.raises(IndexError, match=r"holds 4 images.*activation_image_index"):
        images.pick_image(test_dir, 4)


AUGMENTATION = {
    "rotation_degrees": 40,
    "width_shift": 0.2,
    "height_shift": 0.2,
    "shear_degrees": 0.2,
    "zoom": 0.2,
    "horizontal_flip": True,
    "fill_mode": "nearest",
}


def test_augmentation_samples_come_from_the_training_layers_and_repeat_with_the_seed():
    image = np.zeros((32, 32, 3), np.float32)
    image[8:24, 4:12] = 255  # an off-centre bar, so every transformation shows

    first = augmentation.augmented_samples(image, AUGMENTATION, count=4, seed=7)
    again = augmentation.augmented_samples(image, AUGMENTATION, count=4, seed=7)

    assert len(first) == 4 and all(sample.shape == (32, 32, 3) for sample in first)
    assert all(sample.dtype == np.uint8 for sample in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(not np.array_equal(sample, image.astype(np.uint8)) for sample in first)
    assert not np.array_equal(first[0], first[1])  # each sample is a fresh draw


def test_augmentation_figure_shows_the_original_and_every_sample(tmp_path):
    train_dir = write_split(tmp_path / "train")

    figure = augmentation.augmentation_figure(
        train_dir, AUGMENTATION, count=6, seed=0, title="samples"
    )

    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert titles[0] == "original: cat"
    assert titles[1:] == [f"augmented {number}" for number in range(1, 7)]
