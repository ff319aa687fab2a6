"""The report's open questions as overlays (questions/*.yaml): each validates against the schema,
plans the DAG it promises on the full config, and the one switch a question needs reaches the
model."""

from __future__ import annotations

import re

import keras
import pytest
from conftest import REPO, default_config, run_snakemake

from cnnlab.training.jobs import build_catsdogs_basic

QUESTIONS = REPO / "questions"


def planned_outputs(tmp_path, overlay: str) -> str:
    result = run_snakemake(tmp_path, "--dry-run", configfiles=(QUESTIONS / overlay,), timeout=300)
    return result.stdout


def test_every_question_has_its_overlay():
    assert sorted(path.name for path in QUESTIONS.glob("*.yaml")) == [
        "augmented_basic.yaml",
        "cifar10_wider.yaml",
        "more_petimages.yaml",
    ]


def test_the_wider_cifar10_grid_is_planned(tmp_path):
    stdout = planned_outputs(tmp_path, "cifar10_wider.yaml")
    cells = set(re.findall(r"results/cifar10/basic/(lr[^/]+)/seed\d+/model\.keras", stdout))
    assert cells == {"lr0.001_f512", "lr0.001_f1024"}


@pytest.mark.parametrize("overlay", ["augmented_basic.yaml", "more_petimages.yaml"])
def test_the_cats_dogs_questions_plan_the_protocols_grid(tmp_path, overlay):
    stdout = planned_outputs(tmp_path, overlay)
    cells = set(re.findall(r"results/catsdogs/basic/(lr[^/]+)/seed\d+/model\.keras", stdout))
    assert cells == {"lr0.0001_f32", "lr0.0001_f64", "lr0.001_f32", "lr0.001_f64"}


def test_the_augmented_basic_cnn_trains_through_the_vgg16_stages_augmentation():
    settings = {
        "image_size": [40, 40],
        "filters": 4,
        "hidden_units": 8,
        "batchnorm_momentum": 0.9,
        "augmentation": default_config()["catsdogs"]["augmentation"],
    }
    augmented = build_catsdogs_basic(settings, seed=1, initial_model_path=None)
    plain = build_catsdogs_basic(
        {**settings, "augmentation": None}, seed=1, initial_model_path=None
    )
    assert "augmentation" in [layer.name for layer in augmented.layers]
    assert "augmentation" not in [layer.name for layer in plain.layers]
    # The same network after the augmentation block: the same trainable weights.
    assert augmented.count_params() == plain.count_params()
    images = keras.random.uniform((2, 40, 40, 3), 0, 255, seed=3)
    # Augmentation acts in training only: inference sees the image as it is, every time.
    inference = [keras.ops.convert_to_numpy(augmented(images, training=False)) for _ in range(2)]
    assert inference[0] == pytest.approx(inference[1], abs=1e-7)
    augmentation = augmented.get_layer("augmentation")
    transformed = keras.ops.convert_to_numpy(augmentation(images, training=True))
    assert abs(transformed - keras.ops.convert_to_numpy(images)).mean() > 1
