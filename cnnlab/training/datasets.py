"""The input path of every model, on every backend: batches drawn from decoded uint8 arrays.

Both data sets reach training as .npz files of `images` (N, H, W, 3) uint8 and `labels` (N,):
CIFAR-10 as parsed from its binary batches, cats vs dogs as its split folders decoded once
(`cnnlab.data.petimages.split_to_arrays`). So no epoch decodes a JPEG and no Python runs per
image. `fit` reads `ArrayBatches.for_fit()`: on JAX the `PyDataset` itself; on TensorFlow a
tf.data pipeline over the same arrays in the same order (Keras would hand a PyDataset to
TensorFlow through `from_generator`, a Python call per batch). TensorFlow is imported there
alone, so the JAX path never imports it.
Images stay uint8 until the model's own rescaling layer (a quarter of float32's memory and
host-to-device traffic).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory (inputs, labels) arrays, in a seeded new order every epoch when
    `shuffle` is set.

    The order of epoch e is a function of (seed, e) alone, so a job resumed from its backup at
    epoch e draws the batches an uninterrupted run would have: `fit` passes the epoch through
    the callback from `epoch_callback()`. Batches are slices of the arrays, cut in the main
    thread: copying a few MB is far cheaper than a training step, and Keras' JAX trainer
    already puts the next batches on the device while the current one trains.
    """

    def __init__(
        self,
        inputs: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        if len(inputs) != len(labels):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
        if len(labels) == 0:
            raise ValueError("no examples to batch")
        if shuffle and seed is None:
            raise ValueError("a shuffled ArrayBatches needs a seed, so its orders repeat")
        self.inputs, self.labels = inputs, labels
        self.batch_size = batch_size
        self.shuffle, self.seed = shuffle, seed
        self.epoch = 0
        self._order = self._order_of(0)
        self._tensorflow_pipeline = None  # (dataset, its order variable), made by for_fit()

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        start, stop = index * self.batch_size, (index + 1) * self.batch_size
        if self._order is None:
            return self.inputs[start:stop], self.labels[start:stop]
        picked = self._order[start:stop]
        return self.inputs[picked], self.labels[picked]

    @property
    def count(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of `epoch` (0-based)."""
        self.epoch = epoch
        self._order = self._order_of(epoch)
        if self._tensorflow_pipeline is not None:
            self._tensorflow_pipeline[1].assign(self._order_or_identity())

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback that tells this dataset which epoch `fit` is starting."""
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: self.set_epoch(epoch)
        )

    def _order_of(self, epoch: int):
        """The epoch's order, each batch's share sorted: a gather then reads memory in order,
        and the batch holds the same examples."""
        if not self.shuffle:
            return None
        order = epoch_order(self.seed, epoch, len(self.labels))
        starts = range(self.batch_size, len(order), self.batch_size)
        return np.concatenate([np.sort(part) for part in np.split(order, starts)])

    def _order_or_identity(self) -> np.ndarray:
        return np.arange(len(self.labels)) if self._order is None else self._order

    def for_fit(self):
        """What `fit` reads: these batches, in this order, on the process's backend.

        On TensorFlow, a tf.data pipeline over the same arrays (copied once into TensorFlow's
        memory): batch i of an epoch gathers the same examples as `self[i]`, since both read the
        epoch's order, which `set_epoch` also writes into the pipeline's variable. Keras makes
        an epoch's iterator at the end of the epoch before, ahead of the epoch callback, but
        tf.data computes nothing until the first batch is asked for (its `warm_start` option
        is off), after that callback.
        Elsewhere (JAX), this PyDataset itself.
        """
        if keras.backend.backend() != "tensorflow":
            return self
        if self._tensorflow_pipeline is None:
            self._tensorflow_pipeline = _tensorflow_batches(self)
        return self._tensorflow_pipeline[0]


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order in which a shuffled training split's `count` examples are drawn in `epoch`
    (0-based): a function of (seed, epoch) alone, so a job resumed at epoch e draws what an
    uninterrupted one would. The one description of the order, for every backend."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def _tensorflow_batches(batches: ArrayBatches):
    """(tf.data dataset, order variable): batch i is `batches[i]` under the variable's order."""
    import tensorflow as tf  # the TensorFlow backend's alone

    # On the host: tf.data runs its functions there, and cannot read a variable on a GPU.
    with tf.device("/CPU:0"):
        inputs = tf.convert_to_tensor(batches.inputs)
        labels = tf.convert_to_tensor(batches.labels)
        order = tf.Variable(batches._order_or_identity(), trainable=False, dtype=tf.int64)
    size, count = batches.batch_size, len(batches.labels)

    def batch(index):
        start = index * size
        picked = order[start:tf.minimum(start + size, count)]  # sorted per batch already
        return tf.gather(inputs, picked), tf.gather(labels, picked)

    dataset = tf.data.Dataset.range(len(batches)).map(
        batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE), order


def read_arrays(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a split's .npz file."""
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        raise FileNotFoundError(
            f"{path} is not a split's .npz file: rerun the data stage that writes it"
        )
    with np.load(path, allow_pickle=False) as arrays:
        missing = {"images", "labels"} - set(arrays.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}: rerun the data stage that writes it")
        return arrays["images"], arrays["labels"]


def read_identities(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(ids, class_names) of a split's .npz file: each image's name in its split, in array
    order, and the name of each label."""
    with np.load(path, allow_pickle=False) as arrays:
        missing = {"ids", "class_names"} - set(arrays.files)
        if missing:
            raise ValueError(
                f"{path} lacks {sorted(missing)}, written by an older version of the data stage: "
                "rerun the job that writes it (snakemake --forcerun on that file)"
            )
        return arrays["ids"], arrays["class_names"]


def load_split(
    path: str | os.PathLike,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> ArrayBatches:
    """The batches of one split's .npz file (`count` is its number of examples)."""
    images, labels = read_arrays(path)
    return ArrayBatches(images, labels, batch_size, shuffle=shuffle, seed=seed)
