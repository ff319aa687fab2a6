"""TensorFlow's input path (`ArrayBatches.for_fit`): one tf.data pipeline per fit that yields exactly
the batches of ArrayBatches, in the same seeded order per epoch, through Keras' own `fit`, resumed
or not; and `for_reading`, the arrays in order. (This process's backend is TensorFlow, the tests'
default; the JAX path reads the PyDataset itself and never imports TensorFlow:
tests/test_backends.py.)"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest

from cnnlab.training.datasets import ArrayBatches, epoch_order

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the TensorFlow backend's input path"
)

COUNT, BATCH, SEED = 30, 8, 5  # the last batch is short


def arrays():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (COUNT, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(COUNT, dtype=np.int64)  # each example's own id: batches show the order
    return images, labels


def expected_batches(batches: ArrayBatches, epoch: int):
    batches.set_epoch(epoch)
    return [batches[index] for index in range(len(batches))]


def drawn_by_fit_protocol(fit_input, first_epoch: int, epochs: int):
    """Each epoch's batches as Keras' fit draws them with steps_per_epoch: the callback's
    train begin, then per epoch its epoch begin and that many batches, from one iterator made
    after the first epoch begin; then whether the iterator has run out."""
    assert fit_input.steps_per_epoch is not None
    fit_input.callback.on_train_begin()
    iterator, per_epoch = None, []
    for epoch in range(first_epoch, epochs):
        fit_input.callback.on_epoch_begin(epoch)
        iterator = iterator or iter(fit_input.data)
        per_epoch.append(
            [
                (images.numpy(), labels.numpy())
                for images, labels in (next(iterator) for _ in range(fit_input.steps_per_epoch))
            ]
        )
    with pytest.raises(StopIteration):
        next(iterator)
    return per_epoch


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_pipeline_yields_the_batches_of_array_batches_in_each_epoch(shuffle):
    batches = ArrayBatches(*arrays(), BATCH, shuffle=shuffle, seed=SEED)
    reference = ArrayBatches(*arrays(), BATCH, shuffle=shuffle, seed=SEED)
    fit_input = batches.for_fit(epochs=3)
    assert fit_input.data is not batches and fit_input.steps_per_epoch == len(batches) == 4
    orders = []
    for epoch, drawn in enumerate(drawn_by_fit_protocol(fit_input, 0, 3)):
        wanted = expected_batches(reference, epoch)
        assert len(drawn) == len(wanted) == 4
        for (images, labels), (wanted_images, wanted_labels) in zip(drawn, wanted, strict=True):
            assert images.dtype == np.uint8 and labels.dtype == np.int64
            np.testing.assert_array_equal(images, wanted_images)
            np.testing.assert_array_equal(labels, wanted_labels)
        orders.append(np.concatenate([labels for _, labels in drawn]))
    # A fit that starts at epoch 1 (a resumed job) draws epochs 1 and 2 as they were, then ends.
    resumed = drawn_by_fit_protocol(batches.for_fit(epochs=3), 1, 3)
    for epoch, drawn in zip((1, 2), resumed, strict=True):
        np.testing.assert_array_equal(
            np.concatenate([labels for _, labels in drawn]), orders[epoch]
        )
    if shuffle:
        # The order is the seed's and the epoch's: new each epoch.
        assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
        for epoch, order in enumerate(orders):
            np.testing.assert_array_equal(np.sort(order), np.arange(COUNT))  # every example once
            np.testing.assert_array_equal(
                order,
                np.concatenate(
                    [
                        np.sort(part)
                        for part in np.split(
                            epoch_order(SEED, epoch, COUNT), range(BATCH, COUNT, BATCH)
                        )
                    ]
                ),
            )
    else:
        assert all(np.array_equal(order, np.arange(COUNT)) for order in orders)


def test_reading_is_in_array_order_and_refuses_a_shuffled_split():
    images, labels = arrays()
    drawn = list(ArrayBatches(images, labels, BATCH).for_reading())
    assert [len(batch_labels) for _, batch_labels in drawn] == [8, 8, 8, 6]
    np.testing.assert_array_equal(np.concatenate([image_batch for image_batch, _ in drawn]), images)
    np.testing.assert_array_equal(
        np.concatenate([batch_labels for _, batch_labels in drawn]), labels
    )
    with pytest.raises(ValueError, match="for_fit"):
        ArrayBatches(images, labels, BATCH, shuffle=True, seed=SEED).for_reading()


class LabelRecorder(keras.Model):
    """A model whose training step only records the labels of its batch, on any backend (JAX's
    step takes the model's state and returns it, here unchanged; tests/backend_worker.py)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def call(self, inputs):
        # One number per image, the labels' shape: JAX's fit computes the loss to build the model.
        return keras.ops.mean(keras.ops.cast(inputs, "float32"), axis=(1, 2, 3))

    def train_step(self, *state_and_data):
        *state, data = state_and_data
        self.seen.append(keras.ops.convert_to_numpy(data[1]))
        logs = {"loss": keras.ops.convert_to_tensor(0.0)}
        return (logs, *state) if state else logs


class StopAfter(keras.callbacks.Callback):
    """Kills the fit at the end of an epoch (as a pre-empted job dies after its checkpoint)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def labels_fit_draws(
    epochs: int, initial_epoch: int = 0, stop_after: int | None = None
) -> list[np.ndarray]:
    """The label batches that Keras' fit draws, epoch by epoch, as jobs.fit feeds it: a new
    job's batches, from `initial_epoch` (where jobs.fit starts a job resumed from the
    checkpoint of that many epochs)."""
    batches = ArrayBatches(*arrays(), BATCH, shuffle=True, seed=SEED)
    model = LabelRecorder()
    model(arrays()[0][:1])  # built, as a checkpoint's restore needs
    # A loss to build: fit then draws a batch to build it before the first epoch (and must not
    # shift the epochs' batches by doing so).
    model.compile(loss="mse", run_eagerly=True)
    fit_input = batches.for_fit(epochs)
    callbacks = [fit_input.callback]
    if stop_after is not None:
        callbacks.append(StopAfter(stop_after))
    with contextlib.suppress(KeyboardInterrupt):
        model.fit(
            fit_input.data,
            steps_per_epoch=fit_input.steps_per_epoch,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )
    per_epoch = len(batches)
    return [
        np.concatenate(model.seen[start : start + per_epoch])
        for start in range(0, len(model.seen), per_epoch)
    ]


def test_fit_draws_each_epochs_order_and_a_resumed_fit_draws_the_same():
    uninterrupted = labels_fit_draws(epochs=3)
    reference = ArrayBatches(*arrays(), BATCH, shuffle=True, seed=SEED)
    assert len(uninterrupted) == 3
    for epoch, drawn in enumerate(uninterrupted):
        wanted = np.concatenate([labels for _, labels in expected_batches(reference, epoch)])
        np.testing.assert_array_equal(drawn, wanted)
    # A job killed after epoch 0, then rerun: its checkpoint makes its fit start at epoch 1,
    # and it draws what the uninterrupted one drew in epochs 1 and 2.
    killed = labels_fit_draws(epochs=3, stop_after=0)
    np.testing.assert_array_equal(killed[0], uninterrupted[0])
    assert len(killed) == 1
    resumed = labels_fit_draws(epochs=3, initial_epoch=1)
    assert len(resumed) == 2
    for drawn, wanted in zip(resumed, uninterrupted[1:], strict=True):
        np.testing.assert_array_equal(drawn, wanted)
