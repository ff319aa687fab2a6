"""PetImages cleaning (every junk kind, with its reason) and the seeded subset/split."""

import csv
import filecmp

import numpy as np
import pytest
from PIL import Image

from cnnlab.data.extract import safe_extract
from cnnlab.data.petimages import PetImagesError, clean_petimages, split_petimages, split_to_arrays
from cnnlab.data.synthetic import PETIMAGES_JUNK, write_petimages_zip

IMAGES_PER_CLASS = 6
IMAGE_SIZE = (40, 48)  # height, width: not square, so a swapped order would show

# What cleaning must do with each junk kind, and a phrase its reason must contain.
EXPECTED = {
    "zero_byte": ("dropped", "zero-byte"),
    "not_an_image": ("dropped", "not an image"),
    "truncated_jpeg": ("dropped", "truncated"),
    "thumbs_db": ("dropped", "Thumbs.db"),
    "greyscale_jpeg": ("converted", "greyscale JPEG"),
    "cmyk_jpeg": ("converted", "CMYK JPEG"),
    "palette_png": ("converted", "palette PNG"),
    "rgba_png": ("converted", "RGBA PNG"),
    "tiff": ("converted", "RGB TIFF re-encoded as JPEG"),
}


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """An extracted synthetic PetImages archive and its {path: junk kind} map."""
    folder = tmp_path_factory.mktemp("petimages")
    junk = write_petimages_zip(folder / "pets.zip", IMAGES_PER_CLASS, seed=5)
    safe_extract(folder / "pets.zip", folder / "raw")
    return folder, junk


@pytest.fixture(scope="module")
def cleaned(raw):
    folder, junk = raw
    clean_petimages(
        folder / "raw", folder / "clean", folder / "manifest.csv", IMAGE_SIZE, workers=2
    )
    return folder, junk, read_csv(folder / "manifest.csv")


def test_the_expectations_cover_every_junk_kind():
    assert set(EXPECTED) == set(PETIMAGES_JUNK)


def test_every_junk_kind_gets_its_action_and_reason(cleaned):
    _, junk, manifest = cleaned
    rows = {row["path"]: row for row in manifest}
    assert set(junk) <= set(rows)
    for path, kind in junk.items():
        action, phrase = EXPECTED[kind]
        assert rows[path]["action"] == action, (path, kind, rows[path])
        assert phrase in rows[path]["reason"], (path, kind, rows[path])
    for path, row in rows.items():
        if path not in junk:
            assert (row["action"], row["reason"]) == ("kept", ""), row


def test_the_manifest_accounts_for_every_file_in_sorted_order(raw, cleaned):
    folder, _, manifest = cleaned
    archived = sorted(
        path.relative_to(folder / "raw/PetImages").as_posix()
        for path in (folder / "raw/PetImages").rglob("*")
        if path.is_file()
    )
    assert [row["path"] for row in manifest] == archived
    assert {row["class"] for row in manifest} == {"cat", "dog"}
    assert all(row["class"] == row["path"].split("/")[0].lower() for row in manifest)


def test_survivors_are_rgb_jpegs_of_the_training_size(cleaned):
    folder, _, manifest = cleaned
    for class_name in ("cat", "dog"):
        survivors = [
            row for row in manifest if row["class"] == class_name and row["action"] != "dropped"
        ]
        written = sorted((folder / "clean" / class_name).iterdir())
        # The good images, and the 5 junk kinds that are images in another mode or format.
        assert len(written) == len(survivors) == IMAGES_PER_CLASS + 5
        for path in written:
            with Image.open(path) as image:
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", IMAGE_SIZE[::-1])


def test_cleaning_output_is_the_same_with_one_worker(raw, cleaned, tmp_path):
    folder, _, _ = cleaned
    clean_petimages(
        folder / "raw", tmp_path / "clean", tmp_path / "manifest.csv", IMAGE_SIZE, workers=1
    )
    assert (tmp_path / "manifest.csv").read_bytes() == (folder / "manifest.csv").read_bytes()
    for class_name in ("cat", "dog"):
        comparison = filecmp.dircmp(tmp_path / "clean" / class_name, folder / "clean" / class_name)
        assert comparison.left_only == comparison.right_only == []
        assert filecmp.cmpfiles(
            tmp_path / "clean" / class_name,
            folder / "clean" / class_name,
            comparison.common,
            shallow=False,
        )[0] == sorted(comparison.common)


def split(clean_dir, out, images_per_class, seed=11, ratios=None):
    ratios = ratios or {"train": 0.5, "val": 0.25, "test": 0.25}
    split_dirs = {name: out / "split" / name for name in ("train", "val", "test")}
    split_petimages(
        clean_dir, split_dirs, out / "split_manifest.csv", images_per_class, ratios, seed
    )
    return read_csv(out / "split_manifest.csv")


def test_the_split_is_reproducible_and_balanced(cleaned, tmp_path):
    folder, _, _ = cleaned
    first = split(folder / "clean", tmp_path / "a", images_per_class=8)
    split(folder / "clean", tmp_path / "b", images_per_class=8)
    assert (tmp_path / "a/split_manifest.csv").read_bytes() == (
        tmp_path / "b/split_manifest.csv"
    ).read_bytes()

    for class_name in ("cat", "dog"):
        counts = {
            name: sum(1 for row in first if row["class"] == class_name and row["split"] == name)
            for name in ("train", "val", "test")
        }
        assert counts == {"train": 4, "val": 2, "test": 2}
    # Every manifest row is a file in its split folder, and every file there has a row.
    on_disk = sorted(
        path.relative_to(tmp_path / "a/split").as_posix()
        for path in (tmp_path / "a/split").rglob("*")
        if path.is_file()
    )
    assert [row["path"] for row in first] == on_disk
    names = [row["path"].rsplit("/", 1)[1] + row["class"] for row in first]
    assert len(set(names)) == len(names)  # no image in two splits


def test_another_seed_chooses_other_images(cleaned, tmp_path):
    folder, _, _ = cleaned
    first = split(folder / "clean", tmp_path / "a", images_per_class=8, seed=1)
    second = split(folder / "clean", tmp_path / "b", images_per_class=8, seed=2)
    assert first != second


def test_too_few_images_names_the_class(cleaned, tmp_path):
    folder, _, _ = cleaned
    with pytest.raises(PetImagesError, match="class 'cat' has 11 clean images"):
        split(folder / "clean", tmp_path, images_per_class=12)
    assert not (tmp_path / "split").exists() or not any((tmp_path / "split").iterdir())


def test_decompression_bombs_and_nested_files_are_dropped(tmp_path, monkeypatch):
    # Pillow warns between one and two times its pixel limit and refuses above; both drop.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    pets = tmp_path / "raw/PetImages"
    for folder in ("Cat", "Dog/extra"):
        (pets / folder).mkdir(parents=True)
    Image.new("RGB", (20, 20)).save(pets / "Cat/small.jpg")
    Image.new("RGB", (40, 40)).save(pets / "Cat/warned.jpg", "JPEG")
    Image.new("RGB", (80, 80)).save(pets / "Dog/refused.jpg", "JPEG")
    Image.new("RGB", (20, 20)).save(pets / "Dog/extra/nested.jpg", "JPEG")
    # Images this small are below the default min_side: lower it, this test is about pixels.
    clean_petimages(
        tmp_path / "raw",
        tmp_path / "clean",
        tmp_path / "manifest.csv",
        IMAGE_SIZE,
        workers=2,
        min_side=10,
    )
    rows = {
        row["path"]: (row["action"], row["reason"]) for row in read_csv(tmp_path / "manifest.csv")
    }
    assert rows["Cat/small.jpg"] == ("kept", "")
    assert rows["Cat/warned.jpg"][0] == rows["Dog/refused.jpg"][0] == "dropped"
    assert "decompression bomb" in rows["Cat/warned.jpg"][1]
    assert "decompression bomb" in rows["Dog/refused.jpg"][1]
    assert rows["Dog/extra/nested.jpg"] == ("dropped", "in a subfolder of the class folder")
    assert [p.name for p in (tmp_path / "clean/cat").iterdir()] == ["small.jpg"]


def test_split_arrays_name_each_image_as_the_split_manifest_does(cleaned, tmp_path):
    """The arrays' ids are the manifest's paths of that split, one per image, in array order,
    and each names the file whose pixels sit at its place (labels agree with the folder)."""
    folder, _, _ = cleaned
    manifest = split(folder / "clean", tmp_path, images_per_class=8)
    split_root = tmp_path / "split"
    every_id = []
    for name in ("train", "val", "test"):
        split_to_arrays(split_root / name, tmp_path / f"{name}.npz")
        with np.load(tmp_path / f"{name}.npz", allow_pickle=False) as arrays:
            ids, labels, images = arrays["ids"], arrays["labels"], arrays["images"]
        assert sorted(ids) == sorted(row["path"] for row in manifest if row["split"] == name)
        for image_id, label, image in zip(ids, labels, images):
            assert ["cat", "dog"][label] == image_id.split("/")[1]
            with Image.open(split_root.parent / "split" / image_id) as on_disk:
                np.testing.assert_array_equal(np.asarray(on_disk.convert("RGB")), image)
        every_id += ids.tolist()
    assert len(set(every_id)) == len(every_id) == len(manifest)


def test_split_arrays_name_their_classes_in_the_models_label_order(cleaned, tmp_path):
    from cnnlab.models.catsdogs import CLASS_NAMES

    folder, _, _ = cleaned
    split(folder / "clean", tmp_path, images_per_class=8)
    split_to_arrays(tmp_path / "split" / "test", tmp_path / "test.npz")
    with np.load(tmp_path / "test.npz", allow_pickle=False) as arrays:
        assert arrays["class_names"].tolist() == CLASS_NAMES
