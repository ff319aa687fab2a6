"""TensorFlow's input path (`ArrayBatches.for_fit`): a tf.data pipeline that yields exactly the
batches of ArrayBatches, in the same seeded order per epoch, through Keras' own `fit`, resumed
or not. (This process's backend is TensorFlow, the tests' default; the JAX path reads the
PyDataset itself and never imports TensorFlow: tests/test_backends.py.)"""

from __future__ import annotations

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


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_pipeline_yields_the_batches_of_array_batches_in_each_epoch(shuffle):
    batches = ArrayBatches(*arrays(), BATCH, shuffle=shuffle, seed=SEED)
    reference = ArrayBatches(*arrays(), BATCH, shuffle=shuffle, seed=SEED)
    dataset = batches.for_fit()
    assert dataset is not batches
    orders = []
    for epoch in (0, 1, 2, 1):
        batches.set_epoch(epoch)
        drawn = [(images.numpy(), labels.numpy()) for images, labels in dataset]
        wanted = expected_batches(reference, epoch)
        assert len(drawn) == len(wanted) == 4
        for (images, labels), (wanted_images, wanted_labels) in zip(drawn, wanted, strict=True):
            assert images.dtype == np.uint8 and labels.dtype == np.int64
            np.testing.assert_array_equal(images, wanted_images)
            np.testing.assert_array_equal(labels, wanted_labels)
        orders.append(np.concatenate([labels for _, labels in drawn]))
    if shuffle:
        # The order is the seed's and the epoch's: new each epoch, the same for the same epoch.
        assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
        np.testing.assert_array_equal(orders[1], orders[3])
        for epoch, order in zip((0, 1, 2), orders, strict=False):
            np.testing.assert_array_equal(
                np.sort(order), np.arange(COUNT)
            )  # every example once
            np.testing.assert_array_equal(
                order, np.concatenate([np.sort(part) for part in np.split(
                    epoch_order(SEED, epoch, COUNT), range(BATCH, COUNT, BATCH))])
            )
    else:
        assert all(np.array_equal(order, np.arange(COUNT)) for order in orders)


class LabelRecorder(keras.Model):
    """A model whose training step only records the labels of its batch."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def call(self, inputs):
        return inputs

    def train_step(self, data):
        self.seen.append(keras.ops.convert_to_numpy(data[1]))
        return {"loss": keras.ops.convert_to_tensor(0.0)}


def labels_fit_draws(epochs: int, initial_epoch: int = 0) -> list[np.ndarray]:
    """The label batches that Keras' fit draws, epoch by epoch, as jobs.fit feeds it."""
    batches = ArrayBatches(*arrays(), BATCH, shuffle=True, seed=SEED)
    model = LabelRecorder()
    model.compile(run_eagerly=True)
    model.fit(
        batches.for_fit(), epochs=epochs, initial_epoch=initial_epoch,
        callbacks=[batches.epoch_callback()], shuffle=False, verbose=0,
    )
    per_epoch = len(batches)
    return [np.concatenate(model.seen[start:start + per_epoch])
            for start in range(0, len(model.seen), per_epoch)]


def test_fit_draws_each_epochs_order_and_a_resumed_fit_draws_the_same():
    uninterrupted = labels_fit_draws(epochs=3)
    reference = ArrayBatches(*arrays(), BATCH, shuffle=True, seed=SEED)
    assert len(uninterrupted) == 3
    for epoch, drawn in enumerate(uninterrupted):
        wanted = np.concatenate([labels for _, labels in expected_batches(reference, epoch)])
        np.testing.assert_array_equal(drawn, wanted)
    # A job resumed at epoch 1 (BackupAndRestore sets fit's initial epoch) draws what the
    # uninterrupted one drew in epochs 1 and 2.
    resumed = labels_fit_draws(epochs=3, initial_epoch=1)
    assert len(resumed) == 2
    for drawn, wanted in zip(resumed, uninterrupted[1:], strict=True):
        np.testing.assert_array_equal(drawn, wanted)
