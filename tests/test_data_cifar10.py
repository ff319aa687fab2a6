"""CIFAR-10 binary batches: exact parsing (no pickle), validation, stratified splits."""

import numpy as np
import pytest

from cnnlab.data import cifar10
from cnnlab.data.extract import safe_extract
from cnnlab.data.synthetic import CIFAR10_CLASSES, write_cifar10_tar

TRAIN_IMAGES, TEST_IMAGES = 300, 60


@pytest.fixture(scope="module")
def batches_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar10")
    write_cifar10_tar(folder / "cifar.tar.gz", TRAIN_IMAGES, TEST_IMAGES, seed=9)
    safe_extract(folder / "cifar.tar.gz", folder / "raw")
    return folder / "raw" / "cifar-10-batches-bin"


def test_the_archive_has_the_real_member_names(batches_dir):
    assert sorted(path.name for path in batches_dir.iterdir()) == sorted(
        [f"data_batch_{n}.bin" for n in range(1, 6)]
        + ["test_batch.bin", "batches.meta.txt", "readme.html"]
    )


def test_the_parser_reads_exact_pixels_and_labels(batches_dir):
    raw = (batches_dir / "data_batch_2.bin").read_bytes()
    images, labels = cifar10.read_batch(batches_dir / "data_batch_2.bin")
    assert images.shape == (len(raw) // 3073, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    rng = np.random.default_rng(0)
    for index in rng.integers(0, len(images), 5):
        record = raw[index * 3073 : (index + 1) * 3073]
        assert labels[index] == record[0]
        for row, column, channel in rng.integers(0, [32, 32, 3], (20, 3)):
            # The record is the red plane, then green, then blue, each row by row.
            assert (
                images[index, row, column, channel]
                == record[1 + channel * 1024 + row * 32 + column]
            )


def test_records_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 7)
    (tmp_path / "batch.bin").write_bytes(cifar10.encode_records(images, labels))
    parsed_images, parsed_labels = cifar10.read_batch(tmp_path / "batch.bin")
    np.testing.assert_array_equal(parsed_images, images)
    np.testing.assert_array_equal(parsed_labels, labels)


def test_a_truncated_batch_fails_naming_the_file(tmp_path):
    records = cifar10.encode_records(np.zeros((3, 32, 32, 3), np.uint8), [1, 2, 3])
    (tmp_path / "data_batch_3.bin").write_bytes(records[:-100])
    with pytest.raises(cifar10.CifarFormatError, match=r"data_batch_3\.bin"):
        cifar10.read_batch(tmp_path / "data_batch_3.bin")


def test_a_label_out_of_range_fails(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(
        cifar10.encode_records(np.zeros((2, 32, 32, 3), np.uint8), [3, 10])
    )
    with pytest.raises(cifar10.CifarFormatError, match="label 10"):
        cifar10.read_batch(tmp_path / "test_batch.bin")


def test_prepare_writes_stratified_splits_that_load_without_pickle(batches_dir, tmp_path):
    out_paths = {split: tmp_path / f"{split}.npz" for split in ("train", "val", "test")}
    cifar10.prepare_cifar10(batches_dir.parent, out_paths, validation_size=50, seed=4)
    splits = {split: dict(np.load(path, allow_pickle=False)) for split, path in out_paths.items()}

    assert [len(splits[s]["labels"]) for s in ("train", "val", "test")] == [
        TRAIN_IMAGES - 50,
        50,
        TEST_IMAGES,
    ]
    for arrays in splits.values():
        assert arrays["images"].dtype == np.uint8 and arrays["images"].shape[1:] == (32, 32, 3)
        assert arrays["labels"].dtype == np.int64
        assert list(arrays["class_names"]) == list(CIFAR10_CLASSES)
    # Train + validation are exactly the training batches, nothing lost or repeated.
    all_train = [cifar10.read_batch(batches_dir / name) for name in cifar10.TRAIN_BATCHES]
    expected = np.concatenate([images for images, _ in all_train]).reshape(TRAIN_IMAGES, -1)
    together = np.concatenate([splits["train"]["images"], splits["val"]["images"]]).reshape(
        TRAIN_IMAGES, -1
    )
    assert sorted(map(bytes, together)) == sorted(map(bytes, expected))
    # Stratified: each class's share of validation is within one image of its share of the whole.
    train_labels = np.concatenate([labels for _, labels in all_train])
    expected_share = np.bincount(train_labels, minlength=10) * 50 / TRAIN_IMAGES
    assert np.all(np.abs(np.bincount(splits["val"]["labels"], minlength=10) - expected_share) < 1)


def test_the_validation_draw_keeps_uneven_class_shares():
    labels = np.random.default_rng(3).permutation(np.repeat(np.arange(10), np.arange(1, 11) * 10))
    chosen, _ = cifar10.stratified_split(labels, 40, seed=1)
    share = np.bincount(labels) * 40 / len(labels)
    assert len(chosen) == 40
    assert np.all(np.abs(np.bincount(labels[chosen], minlength=10) - share) < 1)


def test_the_validation_draw_depends_on_the_seed_only():
    labels = np.repeat(np.arange(10), 30)
    first, _ = cifar10.stratified_split(labels, 40, seed=1)
    again, rest = cifar10.stratified_split(labels, 40, seed=1)
    other, _ = cifar10.stratified_split(labels, 40, seed=2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert len(np.intersect1d(first, rest)) == 0 and len(first) + len(rest) == len(labels)


def test_every_image_is_named_by_its_batch_file_and_record(batches_dir, tmp_path):
    """ids name where each image came from: validation images keep their data_batch origin, and
    the named record holds exactly that image."""
    out_paths = {split: tmp_path / f"{split}.npz" for split in ("train", "val", "test")}
    cifar10.prepare_cifar10(batches_dir.parent, out_paths, validation_size=50, seed=4)
    splits = {split: dict(np.load(path, allow_pickle=False)) for split, path in out_paths.items()}
    batches = {
        name: cifar10.read_batch(batches_dir / name)[0]
        for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH)
    }
    every_id = np.concatenate([arrays["ids"] for arrays in splits.values()])
    assert len(set(every_id.tolist())) == len(every_id) == TRAIN_IMAGES + TEST_IMAGES
    assert splits["test"]["ids"][42] == "test_batch.bin#00042"
    assert all(image_id.startswith("data_batch_") for image_id in splits["val"]["ids"])
    for arrays in splits.values():
        for image_id, image in zip(arrays["ids"], arrays["images"]):
            batch_name, record = image_id.split("#")
            np.testing.assert_array_equal(batches[batch_name][int(record)], image)
