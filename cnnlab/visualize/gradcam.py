"""Grad-CAM: where in an image a CNN looks when it decides (Selvaraju et al. 2017; keras.io's
"Grad-CAM class activation visualization").

The gradient of the predicted class's score with respect to the last conv layer's output gives
one weight per channel (its mean over the feature map); the ReLU of the channels' weighted sum
is the heat map, upsampled over the image. The score is the class's logit (the last Dense
layer without its sigmoid or softmax), as on keras.io: a saturated probability has almost no
gradient. A sigmoid's one logit scores "dog"; "cat" is scored by its negative.

The last conv layer may sit inside a nested model (VGG16's base `vgg16`, itself a layer of the
classifier): the network is flattened into its chain of layers, split after that conv layer
into two models, and the gradient taken between them: `tf.GradientTape` on TensorFlow,
`jax.grad` of the second model's `stateless_call` on JAX. Each imports only its own framework.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
import numpy as np
from PIL import Image

from cnnlab.plots import image_grid_figure, plt, selected_cell_path

# How strongly the heat map shows over the image (keras.io uses 0.4).
OVERLAY_ALPHA = 0.4
HEAT_COLOURMAP = "jet"

# (conv output, class index per image) -> gradient of the summed class scores w.r.t. the conv
# output, as NumPy.
ScoreGradient = Callable[[np.ndarray, np.ndarray], np.ndarray]


def layer_chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order, nested models expanded into theirs, input layers left out.

    Grad-CAM splits the network after a conv layer, which works on a chain; `split_at_last_conv`
    checks the chain reproduces the model."""
    chain = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            chain += layer_chain(layer)
        else:
            chain.append(layer)
    return chain


def logit_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A Dense layer with a sigmoid or softmax as the same layer without it (same weights);
    any other layer as it is."""
    activation = getattr(layer, "activation", None)
    if not isinstance(layer, keras.layers.Dense) or activation not in (
        keras.activations.sigmoid,
        keras.activations.softmax,
    ):
        return layer
    config = layer.get_config() | {"activation": "linear", "name": f"{layer.name}_logits"}
    logits = keras.layers.Dense.from_config(config)
    logits.build((None, layer.kernel.shape[0]))
    logits.set_weights(layer.get_weights())
    return logits


def _chain_model(layers, input_shape, name) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def predict_probabilities(model: keras.Model, images) -> np.ndarray:
    """The model's output for a batch of images, in inference mode, as NumPy.

    A model rebuilt from a loaded one (the fine-tuned VGG16 stage) may keep its one input in a
    list; it is then fed a list, as Keras expects, rather than warned about a bare tensor."""
    inputs = [images] if isinstance(model.input, list) else images
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def split_at_last_conv(model: keras.Model, check_image: np.ndarray):
    """(image -> last conv output, last conv output -> class logits, the conv layer).

    `check_image` (1 x height x width x 3) proves the two halves are the model: their output,
    through the final activation, must be the model's."""
    chain = layer_chain(model)
    convs = [index for index, layer in enumerate(chain) if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"model '{model.name}' has no Conv2D layer for Grad-CAM")
    last = convs[-1]
    # Read before the layers are called again (a layer called twice has no single output).
    conv_shape = chain[last].output.shape[1:]
    not_a_chain = ValueError(
        f"model '{model.name}' is not a chain of layers (a branch, a skip connection?): "
        f"Grad-CAM cannot split it after its last conv layer '{chain[last].name}'"
    )
    try:
        to_conv = _chain_model(chain[: last + 1], model.inputs[0].shape[1:], "to_last_conv")
        from_conv = _chain_model(
            [*chain[last + 1 : -1], logit_layer(chain[-1])], conv_shape, "last_conv_to_logits"
        )
    except (ValueError, TypeError) as error:  # a layer fed what a branch would have fed it
        raise not_a_chain from error
    logits = keras.ops.convert_to_numpy(
        from_conv(to_conv(check_image, training=False), training=False)
    )
    expected = predict_probabilities(model, check_image)
    through = (
        1 / (1 + np.exp(-logits))
        if expected.shape[-1] == 1
        else np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    )
    if not np.allclose(through, expected, atol=1e-4):
        raise not_a_chain
    return to_conv, from_conv, chain[last]


def class_scores(logits, classes):
    """Each image's score of its class: the logit (a sigmoid's one logit scores class 1, its
    negative class 0), summed over the batch (the images do not interact: inference mode)."""
    ops = keras.ops
    if logits.shape[-1] == 1:
        sign = 2.0 * ops.cast(classes, "float32") - 1.0
        return ops.sum(sign * logits[:, 0])
    return ops.sum(ops.take_along_axis(logits, ops.expand_dims(classes, 1), axis=1))


def score_gradient(from_conv: keras.Model) -> ScoreGradient:
    """The gradient function on the backend Keras runs on."""
    if keras.backend.backend() == "jax":
        return _jax_gradient(from_conv)
    if keras.backend.backend() == "tensorflow":
        return _tensorflow_gradient(from_conv)
    raise NotImplementedError(f"Grad-CAM on the {keras.backend.backend()} backend")


def _tensorflow_gradient(from_conv: keras.Model) -> ScoreGradient:
    import tensorflow as tf

    def gradient(conv_output, classes):
        conv_output = tf.constant(conv_output, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(conv_output)
            score = class_scores(from_conv(conv_output, training=False), tf.constant(classes))
        return tape.gradient(score, conv_output).numpy()

    return gradient


def _jax_gradient(from_conv: keras.Model) -> ScoreGradient:
    import jax
    import jax.numpy as jnp

    trainable = [variable.value for variable in from_conv.trainable_variables]
    non_trainable = [variable.value for variable in from_conv.non_trainable_variables]

    def score(conv_output, classes):
        logits, _ = from_conv.stateless_call(trainable, non_trainable, conv_output, training=False)
        return class_scores(logits, classes)

    gradient_of = jax.jit(jax.grad(score))

    def gradient(conv_output, classes):
        return np.asarray(gradient_of(jnp.asarray(conv_output, jnp.float32), jnp.asarray(classes)))

    return gradient


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """The most probable class of each image (a sigmoid's p > 0.5 is class 1)."""
    if probabilities.shape[-1] == 1:
        return (probabilities[:, 0] > 0.5).astype(np.int32)
    return np.argmax(probabilities, axis=-1).astype(np.int32)


def gradcam(model: keras.Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heat maps N x height x width in 0..1, predicted classes, class probabilities N x K)
    for `images` (N x height x width x 3 raw pixels), each map for the image's predicted class.

    A map is scaled by its own maximum; a map with no positive evidence stays all zeros."""
    images = np.asarray(images, dtype=np.float32)
    to_conv, from_conv, _ = split_at_last_conv(model, images[:1])
    probabilities = predict_probabilities(model, images)
    classes = predicted_classes(probabilities)
    conv_output = keras.ops.convert_to_numpy(to_conv(images, training=False))
    gradient = score_gradient(from_conv)(conv_output, classes)
    channel_weights = gradient.mean(axis=(1, 2))  # N x channels
    maps = np.maximum(np.einsum("nhwc,nc->nhw", conv_output, channel_weights), 0)
    peaks = maps.max(axis=(1, 2), keepdims=True)
    maps = np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)
    height, width = images.shape[1:3]
    upsampled = np.stack(
        [
            np.asarray(
                Image.fromarray(heat.astype(np.float32)).resize((width, height), Image.BILINEAR)
            )
            for heat in maps
        ]
    )
    if probabilities.shape[-1] == 1:
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=1)
    return np.clip(upsampled, 0, 1), classes, probabilities


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The heat map (0..1) in `HEAT_COLOURMAP` over the image (uint8 pixels), as uint8."""
    colours = plt.get_cmap(HEAT_COLOURMAP)(heat)[..., :3] * 255
    return np.clip((1 - OVERLAY_ALPHA) * image + OVERLAY_ALPHA * colours, 0, 255).astype(np.uint8)


def spread_indices(count: int, available: int) -> np.ndarray:
    """`count` indices spread evenly over 0..available-1: the split is sorted by class, so both
    classes are shown."""
    return np.unique(np.linspace(0, available - 1, min(count, available)).round().astype(int))


def gradcam_figure(
    models: list[tuple[str, str | os.PathLike]],
    test_data: str | os.PathLike,
    count: int,
    title: str,
):
    """A row of test images, then a row per model of its Grad-CAM over each: [(row label,
    model.keras)], `count` images spread over the test split's .npz."""
    from cnnlab.models import load_model  # registers the workflow's custom layers

    with np.load(test_data, allow_pickle=False) as arrays:
        picked = spread_indices(count, len(arrays["labels"]))
        images, labels = arrays["images"][picked], arrays["labels"][picked]
        ids, class_names = arrays["ids"][picked], arrays["class_names"]
    rows = [
        (
            "test images",
            [
                (f"{image_id.rsplit('/', 1)[-1]}\ntrue: {class_names[label]}", image)
                for image_id, label, image in zip(ids, labels, images)
            ],
        )
    ]
    for label, path in models:
        maps, classes, probabilities = gradcam(load_model(path, compile=False), images)
        rows.append(
            (
                label,
                [
                    (
                        f"said: {class_names[cls]} ({probabilities[index, cls]:.2f})",
                        overlay(image, heat),
                    )
                    for index, (image, heat, cls) in enumerate(zip(images, maps, classes))
                ],
            )
        )
    return image_grid_figure(
        rows,
        title=f"{title}\nGrad-CAM of the predicted class at the last conv layer "
        "(red: where the evidence for it lies)",
    )


def selected_models_gradcam_figure(
    cell_model_paths: list[str | os.PathLike],
    best_path: str | os.PathLike,
    stage_models: list[tuple[str, str | os.PathLike]],
    test_data: str | os.PathLike,
    count: int,
    title: str,
):
    """`gradcam_figure` of the grid cell best.json selects (among every cell's model), then
    of each named stage [(name, model.keras)]."""
    models = [("basic CNN,\nbest cell", selected_cell_path(cell_model_paths, best_path))]
    # Row labels sit beside tiles of a few centimetres: one short phrase per line.
    models += [
        (name.replace(", ", ",\n").replace(" + ", "\n+ "), path) for name, path in stage_models
    ]
    return gradcam_figure(models, test_data, count, title)
