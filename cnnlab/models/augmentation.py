"""The report's ImageDataGenerator augmentation, rebuilt as Keras 3 preprocessing layers.

The layers run inside the model, on the device that trains, and only when `training=True`:
at inference (evaluate, predict) the block passes images through unchanged.

How each setting of config `catsdogs.augmentation` maps onto a layer:

* `rotation_degrees` d: `RandomRotation(d / 360)`; Keras' factor is a fraction of a full turn,
  so the angle is drawn from [-d, +d] degrees, as `rotation_range=d` did.
* `width_shift`, `height_shift`: `RandomTranslation`; both APIs take a fraction of the image's
  width/height and draw from [-f, +f].
* `shear_degrees` d: `RandomShear(y_factor=(0, tan(d)))`. Keras 3's shear factor is not an angle: it
  is the entry s of the affine matrix [[1, s_x, 0], [s_y, 1, 0]] that maps output to input
  pixels (a shift of s pixels per pixel of distance), drawn from [-s, +s]. An angle d shears by
  tan(d). ImageDataGenerator's `shear_range` was an angle in degrees and shifted rows by an
  amount proportional to the column, which is Keras 3's y axis. So the report's
  `shear_range=0.2` is a shear of tan(0.2 deg) ~= 0.0035: half a pixel at the far edge of a
  150-pixel image, almost nothing, but that is what the report ran.
* `zoom` z: `RandomZoom(height_factor=z, width_factor=z)`; giving both factors draws the two
  axes independently, as `zoom_range=z` did (each axis scaled by a factor in [1-z, 1+z]).
* `horizontal_flip`: `RandomFlip("horizontal")`.
* `fill_mode`: every geometric layer fills the uncovered border the same way (`nearest` in the
  report), with bilinear interpolation (ImageDataGenerator's default, spline order 1).
"""

from __future__ import annotations

import math

import keras

# RandomShear accepts factors in [0, 1]: tan(45 deg) = 1 is the steepest shear it can express.
MAX_SHEAR_DEGREES = 45.0

# Keras marks these layers as not XLA-compilable because TensorFlow's image-transform op has no
# XLA kernel, and then silently trains the whole model uncompiled. On JAX the same layers are
# plain jax.numpy code that compiles (tests/test_backends.py checks compiled == uncompiled), and
# an uncompiled JAX train step is about ten times slower.
GEOMETRIC_LAYERS = (
    keras.layers.RandomRotation,
    keras.layers.RandomTranslation,
    keras.layers.RandomShear,
    keras.layers.RandomZoom,
)


def compile_geometric_layers_on_jax(layer: keras.layers.Layer) -> None:
    """On the JAX backend, let XLA compile the geometric augmentation layers in `layer` (a model,
    a Sequential block or one layer). Elsewhere, leave Keras' choice."""
    if keras.backend.backend() != "jax":
        return
    if isinstance(layer, GEOMETRIC_LAYERS):
        layer.supports_jit = True
    for inner in getattr(layer, "layers", ()):
        compile_geometric_layers_on_jax(inner)


def shear_factor(degrees: float) -> float:
    """Keras 3 RandomShear's factor for a shear angle in degrees."""
    if not 0 <= degrees <= MAX_SHEAR_DEGREES:
        raise ValueError(
            f"catsdogs.augmentation.shear_degrees must be between 0 and {MAX_SHEAR_DEGREES:g} "
            f"(keras.layers.RandomShear takes tan(angle) <= 1), got {degrees:g}"
        )
    return math.tan(math.radians(degrees))


def augmentation_layers(settings: dict, seed: int | None = None) -> keras.Sequential:
    """The augmentation block described by config `catsdogs.augmentation`.

    `seed` makes the draws repeatable; each layer gets its own seed (seed, seed + 1, ...) so that,
    say, the rotation angle and the shift are not drawn from the same random stream.
    """

    def layer_seed(index: int) -> int | None:
        return None if seed is None else seed + index

    fill_mode = settings["fill_mode"]
    layers = [
        keras.layers.RandomRotation(
            settings["rotation_degrees"] / 360.0,
            fill_mode=fill_mode,
            seed=layer_seed(0),
            name="random_rotation",
        ),
        keras.layers.RandomTranslation(
            height_factor=settings["height_shift"],
            width_factor=settings["width_shift"],
            fill_mode=fill_mode,
            seed=layer_seed(1),
            name="random_translation",
        ),
        # Factors as ranges (0, s): the layer flips each draw's sign at random, so the shear is
        # uniform in [-s, s] as with a plain s, and a range survives saving and loading (Keras
        # 3.15 saves a plain s as (-s, s), which its loader then rejects).
        keras.layers.RandomShear(
            x_factor=(0.0, 0.0),
            y_factor=(0.0, shear_factor(settings["shear_degrees"])),
            fill_mode=fill_mode,
            seed=layer_seed(2),
            name="random_shear",
        ),
        keras.layers.RandomZoom(
            height_factor=settings["zoom"],
            width_factor=settings["zoom"],
            fill_mode=fill_mode,
            seed=layer_seed(3),
            name="random_zoom",
        ),
    ]
    if settings["horizontal_flip"]:
        layers.append(keras.layers.RandomFlip("horizontal", seed=layer_seed(4), name="random_flip"))
    block = keras.Sequential(layers, name="augmentation")
    compile_geometric_layers_on_jax(block)
    return block
