"""Bad archives, images and disks, fed to the functions the data rules call: each is refused
with what to do, or dropped/converted with a reason in the manifest. Never silent."""

import csv
import errno
import io
import tarfile
import zipfile
from collections import namedtuple

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import extract
from cnnlab.data.cifar10 import save_npz
from cnnlab.data.extract import ArchiveTooLargeError, safe_extract
from cnnlab.data.petimages import PetImagesError, clean_petimages, split_petimages
from cnnlab.data.sources import DataSourceError, fetch_and_extract
from cnnlab.jobio import OutputWriteError, atomic_output

IMAGE_SIZE = (40, 48)  # height, width
ZEROS = bytes(20_000_000)  # deflates about 1000 to 1: a small zip bomb


def fetch(tmp_path, source, dataset="petimages", **options):
    fetch_and_extract(dataset, source, tmp_path / "downloads", tmp_path / "raw", seed=3, **options)
    return tmp_path / "raw"


def write_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def jpeg_bytes(size=(60, 50)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def pets_zip(path, cat=None, dog=None):
    """A PetImages-shaped zip: one good image per class unless `cat`/`dog` say otherwise."""
    return write_zip(
        path,
        {
            **(cat if cat is not None else {"PetImages/Cat/1.jpg": jpeg_bytes()}),
            **(dog if dog is not None else {"PetImages/Dog/1.jpg": jpeg_bytes()}),
        },
    )


# ------------------------------------------------------------------------- zip and tar bombs


def test_a_zip_bomb_is_refused_by_its_ratio_before_anything_is_extracted(tmp_path):
    bomb = write_zip(tmp_path / "bomb.zip", {"PetImages/Cat/zeros.jpg": ZEROS})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(
        ArchiveTooLargeError,
        match=r"more than data\.extract\.max_ratio = 100 times its size \(a zip or tar bomb\)",
    ):
        safe_extract(bomb, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_zip_bomb_of_many_small_members_is_refused_by_their_running_total(tmp_path):
    """400 members of 1 MB of zeros: no one member is over the ratio, their total is."""
    member_bytes = 1 << 20
    bomb = write_zip(
        tmp_path / "bomb.zip", {f"PetImages/Cat/{n}.jpg": bytes(member_bytes) for n in range(400)}
    )
    archive_bytes = bomb.stat().st_size
    assert member_bytes < 100 * archive_bytes < 400 * member_bytes
    with pytest.raises(
        ArchiveTooLargeError, match=r"more than data\.extract\.max_ratio = 100 times its size"
    ):
        safe_extract(bomb, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_tar_bomb_is_refused_at_the_member_that_crosses_the_line(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as archive:
        for name in ("a", "b"):
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}.bin")
            info.size = len(ZEROS)
            archive.addfile(info, io.BytesIO(ZEROS))
    with pytest.raises(ArchiveTooLargeError, match="max_ratio"):
        safe_extract(bomb, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_archive_over_the_configured_cap_is_refused_through_the_download_job(tmp_path):
    archive = write_zip(
        tmp_path / "pets.zip",
        {f"PetImages/Cat/{n}.jpg": bytes(1000) for n in range(3)},
        compression=zipfile.ZIP_STORED,
    )
    with pytest.raises(ArchiveTooLargeError) as error:
        fetch(
            tmp_path,
            {"kind": "path", "path": str(archive)},
            extract_limits={"max_bytes": 2500, "max_ratio": 100},
        )
    assert "more than data.extract.max_bytes = 2,500; refusing to extract" in str(error.value)
    assert not (tmp_path / "raw").exists()


def test_an_archive_larger_than_the_free_space_is_refused(tmp_path, monkeypatch):
    archive = pets_zip(tmp_path / "pets.zip")
    DiskUsage = namedtuple("DiskUsage", "total used free")
    monkeypatch.setattr(
        extract.shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9 - 100, 100)
    )
    with pytest.raises(
        ArchiveTooLargeError, match=r"but only 100 bytes are free in .*; free space there"
    ):
        fetch(tmp_path, {"kind": "path", "path": str(archive)})
    assert not (tmp_path / "raw").exists()


# ----------------------------------------------------- wrong archives: told at the download job


@pytest.mark.parametrize(
    "members, problem",
    [
        ({}, "pets.zip is empty: it holds no PetImages/Cat/ or PetImages/Dog/ folder"),
        (
            {"PetImages/Cat/1.jpg": jpeg_bytes()},
            "pets.zip holds no Dog/ folder (found only PetImages/Cat/)",
        ),
        (
            {"PetImages/Cat/1.jpg": jpeg_bytes(), "PetImages/Dog/": b""},
            "pets.zip has an empty class folder: PetImages/Dog/ holds no files",
        ),
        (
            {"readme.txt": b"hello"},
            "pets.zip holds no Cat/ or Dog/ folder (expected PetImages/Cat/ and PetImages/Dog/)",
        ),
    ],
    ids=["empty-zip", "no-dog-folder", "empty-dog-folder", "another-archive"],
)
def test_a_zip_that_is_not_petimages_is_refused_by_the_download_job(tmp_path, members, problem):
    archive = write_zip(tmp_path / "copy" / "pets.zip", members)
    with pytest.raises(DataSourceError) as error:
        fetch(tmp_path, {"kind": "path", "path": str(archive)})
    assert str(error.value) == (
        f"{archive.parent}/{problem}. Point data.petimages.path at the PetImages archive "
        f"(kagglecatsanddogs_5340.zip) or the folder it extracts to."
    )
    assert not (tmp_path / "raw").exists()


def test_a_cifar10_archive_without_a_batch_is_refused_by_the_download_job(tmp_path):
    archive = tmp_path / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("data_batch_1.bin", "test_batch.bin", "batches.meta.txt"):
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = 3073
            tar.addfile(info, io.BytesIO(bytes(3073)))
    with pytest.raises(
        DataSourceError,
        match=(
            r"cifar\.tar\.gz lacks data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin "
            r"beside test_batch\.bin\. Point data\.cifar10\.path at the CIFAR-10 binary archive"
        ),
    ):
        fetch(tmp_path, {"kind": "path", "path": str(archive)}, dataset="cifar10")
    assert not (tmp_path / "raw").exists()


# ----------------------------------------------------------------- downloads: hashes and cache


@pytest.mark.parametrize("address", ["http://127.0.0.1:9/pets.zip", "ftp://127.0.0.1:9/pets.zip"])
def test_plain_http_or_ftp_without_a_hash_is_refused_before_connecting(tmp_path, address):
    with pytest.raises(
        DataSourceError,
        match=r"with no hash pinned, .*pin its hash \(data\.petimages\.url\.sha256 or \.md5\)",
    ):
        fetch(tmp_path, {"kind": "url", "address": address}, retries=0)
    assert not (tmp_path / "downloads").exists()


def test_an_unverified_download_is_cached_by_url_not_by_name(tmp_path):
    first = pets_zip(
        tmp_path / "mirror1" / "pets.zip", cat={"PetImages/Cat/first.jpg": jpeg_bytes()}
    )
    second = pets_zip(
        tmp_path / "mirror2" / "pets.zip", cat={"PetImages/Cat/second.jpg": jpeg_bytes()}
    )
    fetch(tmp_path, {"kind": "url", "address": first.as_uri()})
    raw = fetch(tmp_path, {"kind": "url", "address": second.as_uri()})
    # Same file name, another URL: the second archive, not the first one's cached copy.
    assert sorted(path.name for path in (raw / "PetImages/Cat").iterdir()) == ["second.jpg"]
    cached = sorted((tmp_path / "downloads").rglob("pets.zip"))
    assert len(cached) == 2 and all(path.parent.parent.name == "unverified" for path in cached)
    assert sorted(path.read_bytes() for path in cached) == sorted(
        [first.read_bytes(), second.read_bytes()]
    )


# -------------------------------------------------------------------------------- images


def read_manifest(path):
    with open(path, newline="") as file:
        return {row["path"]: (row["action"], row["reason"]) for row in csv.DictReader(file)}


@pytest.fixture
def pets(tmp_path):
    """An extracted PetImages folder with one plain image per class; tests add the bad ones."""
    root = tmp_path / "raw/PetImages"
    for class_name in ("Cat", "Dog"):
        (root / class_name).mkdir(parents=True)
        Image.new("RGB", (60, 50), (10, 200, 10)).save(root / class_name / "plain.jpg", "JPEG")
    return root


def clean(tmp_path, **options):
    clean_petimages(
        tmp_path / "raw", tmp_path / "clean", tmp_path / "manifest.csv", IMAGE_SIZE, **options
    )
    return read_manifest(tmp_path / "manifest.csv")


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped_to_white(tmp_path, pets):
    grey16 = np.full((50, 60), 40000, dtype=np.uint16)
    grey16[:, 30:] = 10000
    Image.fromarray(grey16).save(pets / "Cat/deep.png")
    rows = clean(tmp_path)
    assert rows["Cat/deep.png"] == (
        "converted",
        "16-bit greyscale PNG scaled to 8 bits and converted to RGB",
    )
    with Image.open(tmp_path / "clean/cat/deep.png.jpg") as image:
        pixels = np.asarray(image.convert("L"), dtype=int)
    # 40000 / 257 = 155.6 and 10000 / 257 = 38.9 (before, both clipped to 255).
    assert abs(pixels[:, :20].mean() - 156) < 3
    assert abs(pixels[:, -20:].mean() - 39) < 3


def test_a_32_bit_float_image_is_dropped_with_a_reason(tmp_path, pets):
    Image.fromarray(np.full((50, 60), 0.5, dtype=np.float32)).save(pets / "Dog/float.tif")
    rows = clean(tmp_path)
    assert rows["Dog/float.tif"] == (
        "dropped",
        "floating-point greyscale TIFF: no known white level to scale to 8 bits; save it as 8-bit",
    )
    assert not (tmp_path / "clean/dog/float.tif.jpg").exists()


def test_a_rotated_phone_photo_is_turned_upright_and_the_manifest_says_so(tmp_path, pets):
    # Stored as the sensor saw it: 80 wide, 40 high, left half white. EXIF orientation 6 says
    # "turn 90 degrees clockwise to view": upright, the white half is on top.
    sideways = np.zeros((40, 80, 3), dtype=np.uint8)
    sideways[:, :40] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(sideways).save(pets / "Dog/phone.jpg", "JPEG", exif=exif)
    rows = clean(tmp_path)
    assert rows["Dog/phone.jpg"] == ("converted", "turned upright by its EXIF orientation 6")
    assert rows["Dog/plain.jpg"] == ("kept", "")
    with Image.open(tmp_path / "clean/dog/phone.jpg") as image:
        pixels = np.asarray(image.convert("L"), dtype=int)
    assert pixels[:15].mean() > 240 and pixels[-15:].mean() < 15


def test_tiny_images_are_dropped_not_blown_up(tmp_path, pets):
    Image.new("RGB", (1, 1)).save(pets / "Cat/dot.jpg", "JPEG")
    Image.new("RGB", (200, 31)).save(pets / "Cat/strip.jpg", "JPEG")
    Image.new("RGB", (32, 32)).save(pets / "Cat/small_enough.jpg", "JPEG")
    rows = clean(tmp_path, min_side=32)
    assert rows["Cat/dot.jpg"] == (
        "dropped",
        "too small: 1x1 pixels, a side under data.petimages.min_side = 32",
    )
    assert rows["Cat/strip.jpg"] == (
        "dropped",
        "too small: 200x31 pixels, a side under data.petimages.min_side = 32",
    )
    assert rows["Cat/small_enough.jpg"] == ("kept", "")
    assert sorted(path.name for path in (tmp_path / "clean/cat").iterdir()) == [
        "plain.jpg",
        "small_enough.jpg",
    ]


def test_a_file_over_the_byte_cap_is_dropped_unread(tmp_path, pets, monkeypatch):
    (pets / "Cat/huge.jpg").write_bytes(jpeg_bytes() + bytes(5000))
    rows = clean(tmp_path, max_image_bytes=4000)
    assert rows["Cat/huge.jpg"] == (
        "dropped",
        "too big: over data.petimages.max_image_bytes = 4,000 bytes",
    )
    assert rows["Cat/plain.jpg"] == ("kept", "")


# --------------------------------------------------------------------------------- splits


def test_a_split_left_empty_is_refused_before_any_output(tmp_path, pets):
    for class_name in ("Cat", "Dog"):
        for number in range(3):
            Image.new("RGB", (60, 50)).save(pets / class_name / f"{number}.jpg", "JPEG")
    clean(tmp_path)
    split_dirs = {name: tmp_path / "split" / name for name in ("train", "val", "test")}
    with pytest.raises(PetImagesError) as error:
        split_petimages(
            tmp_path / "clean",
            split_dirs,
            tmp_path / "split_manifest.csv",
            3,
            {"train": 0.7, "val": 0.15, "test": 0.15},
            seed=1,
        )
    assert str(error.value) == (
        "3 images per class split by {'train': 0.7, 'val': 0.15, 'test': 0.15} leaves val/cat, val/dog "
        "empty; raise data.petimages.images_per_class or change data.petimages.split"
    )
    assert not any(path.exists() for path in split_dirs.values())
    assert not (tmp_path / "split_manifest.csv").exists()


# ------------------------------------------------------------------ full or read-only disks


@pytest.mark.parametrize(
    "code, advice",
    [
        (
            errno.ENOSPC,
            "is full: free space there (old runs under results/, archives in results/downloads)",
        ),
        (errno.EDQUOT, "your disk quota is used up where"),
        (errno.EROFS, "is on a read-only file system: run the workflow in a writable folder"),
        (errno.EACCES, "make it writable (chmod -R u+w), or run the workflow in a folder you own"),
    ],
    ids=["full-disk", "quota", "read-only", "no-permission"],
)
def test_a_refused_write_names_the_folder_and_what_to_do(tmp_path, code, advice):
    target = tmp_path / "results" / "train.npz"
    with pytest.raises(OutputWriteError) as error, atomic_output(target) as partial:
        partial.write_bytes(b"half")
        raise OSError(code, "the file system said no")  # as a write on a full disk raises
    message = str(error.value)
    assert f"cannot write in {tmp_path / 'results'}: " in message
    assert advice in message
    assert error.value.errno == code
    assert list((tmp_path / "results").iterdir()) == []


def test_a_read_only_results_folder_is_named_by_the_job_that_writes_there(tmp_path, monkeypatch):
    def read_only(source, target):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("cnnlab.jobio.os.replace", read_only)
    with pytest.raises(
        OutputWriteError,
        match=rf"cannot write in {tmp_path / 'data'}: .* is on a read-only file system",
    ):
        save_npz(
            tmp_path / "data" / "val.npz",
            np.zeros((1, 32, 32, 3)),
            [0],
            ["cat"],
            ["data_batch_1.bin#00000"],
        )
    assert not (tmp_path / "data" / "val.npz").exists()
