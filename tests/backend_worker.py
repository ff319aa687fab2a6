"""Runs in a subprocess on one Keras backend, for tests/test_backends.py (a backend is fixed when
Keras is first imported, so each backend gets its own process).

    python tests/backend_worker.py BACKEND save DIR     # every architecture: model + predictions
    python tests/backend_worker.py BACKEND check DIR    # load DIR's models, compare predictions
    python tests/backend_worker.py BACKEND ascent DIR   # filter ascent of DIR/tiny.keras
    python tests/backend_worker.py BACKEND augment DIR  # augmentation: compiled vs uncompiled
    python tests/backend_worker.py BACKEND gradcam DIR  # Grad-CAM of DIR's cats/dogs models
    python tests/backend_worker.py BACKEND augmented_models DIR  # what augmented models' layers see
    python tests/backend_worker.py BACKEND resume DIR   # the batches of fits, whole, killed, resumed

Prints one JSON line of findings; the test asserts on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cnnlab.runtime import use_backend

BACKEND, COMMAND, FOLDER = sys.argv[1], sys.argv[2], Path(sys.argv[3])
use_backend(BACKEND)

import keras  # noqa: E402  (after use_backend)
import numpy as np  # noqa: E402
from conftest import default_config  # noqa: E402

from cnnlab.models import catsdogs, cifar10, load_model  # noqa: E402
from cnnlab.models.augmentation import augmentation_layers  # noqa: E402

CATSDOGS_SIZE = (48, 48)
AUGMENTATION = default_config()["catsdogs"]["augmentation"]


def vgg16(augmented: bool, name: str) -> keras.Model:
    base = catsdogs.vgg16_base(CATSDOGS_SIZE, weights=None)
    head = catsdogs.dense_head(base.output_shape[1:], hidden_units=8)
    augmentation = augmentation_layers(AUGMENTATION, seed=1) if augmented else None
    return catsdogs.vgg16_classifier(base, head, "vgg", augmentation, name=name)


# Every architecture the workflow trains, small.
ARCHITECTURES = {
    "catsdogs_basic": lambda: catsdogs.basic_cnn(CATSDOGS_SIZE, filters=4, hidden_units=8),
    "vgg16_frozen": lambda: vgg16(augmented=False, name="vgg16_frozen"),
    "vgg16_finetune": lambda: catsdogs.unfreeze_vgg16_base(vgg16(False, "vgg16_finetune")),
    "vgg16_augmented": lambda: vgg16(augmented=True, name="vgg16_augmented"),
    "cifar10_basic": lambda: cifar10.basic_cnn(filters=8),
    "cifar10_inception": lambda: cifar10.inception_cnn(filters=8),
    "cifar10_residual": lambda: cifar10.residual_cnn(filters=8),
}


def images_for(model: keras.Model) -> np.ndarray:
    _, height, width, _ = model.input.shape
    pixels = np.random.default_rng(0).integers(0, 256, (4, height, width, 3))
    return pixels.astype(np.uint8)


def save(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name, build in ARCHITECTURES.items():
        keras.utils.set_random_seed(3)
        model = build()
        # One training step, so BatchNorm statistics and optimizer state are not the defaults.
        model.compile(optimizer="adam", loss=_loss(model))
        images = images_for(model)
        model.train_on_batch(images, np.array([0, 1, 0, 1]))
        model.save(folder / f"{name}.keras")
        np.save(folder / f"{name}.npy", model.predict(images, verbose=0))
    return {"saved": sorted(ARCHITECTURES)}


def check(folder: Path) -> dict:
    differences = {}
    for name in ARCHITECTURES:
        model = load_model(folder / f"{name}.keras")
        expected = np.load(folder / f"{name}.npy")
        predicted = model.predict(images_for(model), verbose=0)
        differences[name] = float(np.max(np.abs(predicted - expected)))
    return {"max_abs_difference": differences}


def ascent(folder: Path) -> dict:
    """The same ascent, from the same start, on the model saved by the other backend."""
    from cnnlab.visualize import filters

    model = load_model(folder / "tiny.keras")
    layer = model.get_layer("block2_conv")
    extractor = keras.Model(model.input, layer.output)
    run = filters.filter_ascent(extractor)
    results = {}
    for filter_index in range(layer.filters):
        start = filters.random_start_image(24, 24, seed=filter_index)
        image = run(start, filter_index, 20, 2.0)
        np.save(folder / f"ascent-{BACKEND}-{filter_index}.npy", image)
        results[filter_index] = (
            filters.mean_activation(extractor, start, filter_index),
            filters.mean_activation(extractor, image, filter_index),
        )
    return {"activation_before_after": results}


GRADCAM_MODELS = ("catsdogs_basic", "vgg16_frozen", "vgg16_augmented")


def gradcam(folder: Path) -> dict:
    """Grad-CAM of models saved by the other backend (the VGG16 ones through their nested
    base), saved as gradcam-<backend>-<model>.npy."""
    from cnnlab.visualize.gradcam import gradcam as heat_maps

    findings = {}
    for name in GRADCAM_MODELS:
        model = load_model(folder / f"{name}.keras")
        maps, classes, _ = heat_maps(model, images_for(model))
        np.save(folder / f"gradcam-{BACKEND}-{name}.npy", maps)
        findings[name] = {
            "classes": classes.tolist(),
            "max": float(maps.max()),
            "std": float(maps.std()),
        }
    return {"gradcam": findings}


def save_tiny(folder: Path) -> None:
    keras.utils.set_random_seed(3)
    image = keras.Input((24, 24, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(image)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="block1_conv")(x)
    x = keras.layers.MaxPooling2D(2, name="block1_pool")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="block2_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="prediction")(x)
    keras.Model(image, output).save(folder / "tiny.keras")


def augment(folder: Path) -> dict:
    """The augmentation block, uncompiled and under jax.jit, from the same random state."""
    import jax

    layers = augmentation_layers(AUGMENTATION, seed=5)
    images = np.random.default_rng(1).uniform(0, 255, (4, 40, 40, 3)).astype("float32")
    layers.build(images.shape)
    state = [variable.value for variable in layers.non_trainable_variables]

    eager, _ = layers.stateless_call([], state, images, training=True)
    compiled_call = jax.jit(lambda state, x: layers.stateless_call([], state, x, training=True))
    compiled, _ = compiled_call(state, images)
    eager, compiled = np.asarray(eager), np.asarray(compiled)
    return {
        "supports_jit": {layer.name: layer.supports_jit for layer in layers.layers},
        "max_abs_difference": float(np.max(np.abs(eager - compiled))),
        "changed_pixels": float(np.mean(np.abs(eager - images) > 1)),
    }


def augmented_models(folder: Path) -> dict:
    """In each model built with augmentation, the input its first layer after the augmentation
    (the rescaling or the VGG16 preprocessing) receives, in training and in inference mode:
    the fraction of pixels more than 1 off the image fed in."""
    augmentation = augmentation_layers(AUGMENTATION, seed=2)
    built = {
        "catsdogs_basic": catsdogs.basic_cnn(CATSDOGS_SIZE, 4, 8, augmentation=augmentation),
        "vgg16_augmented": vgg16(augmented=True, name="vgg16_augmented"),
    }
    changed = {}
    for name, model in built.items():
        first = next(layer for layer in model.layers[1:] if not isinstance(layer, keras.Sequential))
        seen = keras.Model(model.input, first.input)
        images = images_for(model).astype("float32")
        changed[name] = {
            mode: float(np.mean(np.abs(np.asarray(seen(images, training=training)) - images) > 1))
            for mode, training in (("training", True), ("inference", False))
        }
    return {"changed_pixels": changed}


def resume(folder: Path) -> dict:
    """The labels Keras' fit draws in each epoch (tests/test_tf_input.py's recorder and fit): of
    a whole fit, of one killed after its first epoch, and of that one's rerun, which resumes.
    (`folder` is unused: the fits keep nothing on disk.)"""
    from test_tf_input import labels_fit_draws

    fits = {
        "uninterrupted": labels_fit_draws(3),
        "killed": labels_fit_draws(3, stop_after=0),
        # Its checkpoint holds epoch 0: jobs.fit starts the rerun at epoch 1.
        "resumed": labels_fit_draws(3, initial_epoch=1),
    }
    return {
        "labels_per_epoch": {
            fit: [labels.tolist() for labels in epochs] for fit, epochs in fits.items()
        }
    }


def _loss(model: keras.Model) -> str:
    return (
        "binary_crossentropy" if model.output_shape[-1] == 1 else "sparse_categorical_crossentropy"
    )


if __name__ == "__main__":
    if COMMAND == "save":
        findings = save(FOLDER)
        save_tiny(FOLDER)
    else:
        findings = {
            "check": check,
            "ascent": ascent,
            "augment": augment,
            "gradcam": gradcam,
            "augmented_models": augmented_models,
            "resume": resume,
        }[COMMAND](FOLDER)
    findings["backend"] = keras.backend.backend()
    findings["tensorflow_imported"] = "tensorflow" in sys.modules
    print(json.dumps(findings))
