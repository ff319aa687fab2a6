"""CIFAR-10 from its binary archive, read with numpy (no pickle is ever loaded).

The binary format (https://www.cs.toronto.edu/~kriz/cifar.html): each of
`data_batch_1.bin` .. `data_batch_5.bin` and `test_batch.bin` in `cifar-10-batches-bin/` is a
run of 3073-byte records, one label byte (0-9) then the 32x32 image as 1024 red, 1024 green
and 1024 blue bytes, row by row. `batches.meta.txt` names the classes, one per line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cnnlab.jobio import ExpectedError, atomic_output

log = logging.getLogger(__name__)

RECORD_BYTES = 1 + 32 * 32 * 3
NUM_CLASSES = 10
TRAIN_BATCHES = tuple(f"data_batch_{number}.bin" for number in range(1, 6))
TEST_BATCH = "test_batch.bin"
META_FILE = "batches.meta.txt"


class CifarFormatError(ExpectedError, ValueError):
    """A CIFAR-10 binary file is missing, truncated or holds impossible values."""


def encode_records(images, labels):
    """Images (uint8 N,32,32,3) and labels (N) as binary records: the inverse of `read_batch`."""
    planar = np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], planar], axis=1).tobytes()


def read_batch(path):
    """One batch file -> (images uint8 N,32,32,3 NHWC, labels int64 N)."""
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0 or data.size % RECORD_BYTES:
        raise CifarFormatError(
            f"{path}: {data.size} bytes is not a whole number of {RECORD_BYTES}-byte records "
            f"(truncated or not a CIFAR-10 binary batch); fetch the archive again"
        )
    records = data.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= NUM_CLASSES:
        raise CifarFormatError(f"{path}: label {labels.max()} is outside 0-{NUM_CLASSES - 1}")
    # Channel-planar (N, 3, 32, 32) -> channels-last (N, 32, 32, 3), as Keras expects.
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_class_names(path):
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(names) != NUM_CLASSES:
        raise CifarFormatError(f"{path}: expected {NUM_CLASSES} class names, found {len(names)}")
    return names


def find_batches_dir(raw_dir):
    """The folder holding the batch files: `cifar-10-batches-bin/` anywhere under raw_dir,
    or raw_dir itself when a local copy of that folder was given."""
    raw_dir = Path(raw_dir)
    candidates = sorted(path.parent for path in raw_dir.rglob(TEST_BATCH))
    if len(candidates) != 1:
        raise CifarFormatError(
            f"{raw_dir}: expected one folder with {TEST_BATCH} (cifar-10-batches-bin/), "
            f"found {len(candidates)}: {[str(c) for c in candidates]}"
        )
    return candidates[0]


def _missing_files(batches_dir):
    return [
        name
        for name in (*TRAIN_BATCHES, TEST_BATCH, META_FILE)
        if not (batches_dir / name).is_file()
    ]


def layout_problem(raw_dir, subject=None):
    """What keeps `raw_dir` from being the extracted CIFAR-10 binary archive, as a sentence
    about `subject` (default: raw_dir), or None."""
    raw_dir = Path(raw_dir)
    subject = subject or str(raw_dir)
    candidates = sorted(path.parent for path in raw_dir.rglob(TEST_BATCH))
    if len(candidates) != 1:
        shown = [f"{path.relative_to(raw_dir).as_posix()}/" for path in candidates]
        return (
            f"{subject} holds {len(candidates)} folders with {TEST_BATCH} (cifar-10-batches-bin/), "
            f"expected one: {shown}"
        )
    missing = _missing_files(candidates[0])
    if missing:
        return f"{subject} lacks {', '.join(missing)} beside {TEST_BATCH}"
    return None


def record_ids(batch_name, count):
    """The ids of a batch file's records: `test_batch.bin#00042` is record 42 of test_batch.bin."""
    return np.array([f"{batch_name}#{index:05d}" for index in range(count)], dtype=str)


def load_cifar10(raw_dir):
    """{"train": (images, labels, ids), "test": (images, labels, ids)} and the class names.

    An image's id names its batch file and record (`record_ids`), so a validation image drawn
    from the training batches keeps its origin, and runs can be matched image by image."""
    batches_dir = find_batches_dir(raw_dir)
    missing = _missing_files(batches_dir)
    if missing:
        raise CifarFormatError(f"{batches_dir}: missing {', '.join(missing)}")
    train = [read_batch(batches_dir / name) for name in TRAIN_BATCHES]
    test_images, test_labels = read_batch(batches_dir / TEST_BATCH)
    splits = {
        "train": (
            np.concatenate([images for images, _ in train]),
            np.concatenate([labels for _, labels in train]),
            np.concatenate(
                [record_ids(name, len(labels)) for name, (_, labels) in zip(TRAIN_BATCHES, train)]
            ),
        ),
        "test": (test_images, test_labels, record_ids(TEST_BATCH, len(test_labels))),
    }
    return splits, read_class_names(batches_dir / META_FILE)


def stratified_split(labels, size, seed):
    """Indices (sorted) of a seeded draw of `size` items with each class in proportion to
    its share of `labels`, and the indices of the rest."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if not 0 < size < len(labels):
        raise ValueError(
            f"validation size {size} must be between 1 and {len(labels) - 1} (the training images)"
        )
    # Largest-remainder apportionment: floors first, then one more for the biggest remainders.
    quotas = size * counts / len(labels)
    take = np.floor(quotas).astype(int)
    remainder_order = np.argsort(-(quotas - take), kind="stable")
    take[remainder_order[: size - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [
            rng.permutation(np.flatnonzero(labels == cls))[:count]
            for cls, count in zip(classes, take)
        ]
    )
    chosen.sort()
    return chosen, np.setdiff1d(np.arange(len(labels)), chosen)


def save_npz(path, images, labels, class_names, ids):
    """Write one split; class names and image ids as fixed-width str arrays, so loading needs
    no pickle."""
    with atomic_output(path) as partial, open(partial, "wb") as file:
        np.savez(
            file,
            images=np.ascontiguousarray(images, dtype=np.uint8),
            labels=np.asarray(labels, dtype=np.int64),
            class_names=np.asarray(class_names, dtype=str),
            ids=np.asarray(ids, dtype=str),
        )


def prepare_cifar10(raw_dir, out_paths, validation_size, seed):
    """Parse the extracted archive and write train/val/test .npz files (`out_paths` keys);
    the validation split is a seeded, stratified draw from the training batches."""
    splits, class_names = load_cifar10(raw_dir)
    train_images, train_labels, train_ids = splits["train"]
    val_index, train_index = stratified_split(train_labels, validation_size, seed)
    arrays = {
        "train": (train_images[train_index], train_labels[train_index], train_ids[train_index]),
        "val": (train_images[val_index], train_labels[val_index], train_ids[val_index]),
        "test": splits["test"],
    }
    for split, (images, labels, ids) in arrays.items():
        save_npz(out_paths[split], images, labels, class_names, ids)
        per_class = np.bincount(labels, minlength=NUM_CLASSES)
        log.info(
            "%s: %d images, per class %s -> %s",
            split,
            len(labels),
            per_class.tolist(),
            out_paths[split],
        )
    log.info("Classes: %s", ", ".join(class_names))
