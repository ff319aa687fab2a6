"""Bad input round 3, data side: a local folder source gets the archive's safeguards, no image
is lost to a name (in the archive or in the clean folder), and what extraction or cleaning
cannot keep as it was is a manifest row. Fixtures are built here, fed to the functions the
data rules call."""

import csv
import errno
import os
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.data import extract
from cnnlab.data.extract import ArchiveTooLargeError, UnsafeArchiveError
from cnnlab.data.petimages import clean_petimages
from cnnlab.data.sources import fetch_and_extract
from cnnlab.jobio import OutputWriteError

IMAGE_SIZE = (40, 48)  # height, width


def fetch(tmp_path, source, **options):
    fetch_and_extract(
        "petimages", source, tmp_path / "downloads", tmp_path / "raw", seed=3, **options
    )
    return tmp_path / "raw"


def manifest_rows(tmp_path, raw=None):
    """The cleaning manifest's rows as (path, class, action, reason), as written to disk."""
    clean_petimages(
        raw or tmp_path / "raw", tmp_path / "clean", tmp_path / "manifest.csv", IMAGE_SIZE
    )
    with open(tmp_path / "manifest.csv", newline="") as file:
        return [
            (row["path"], row["class"], row["action"], row["reason"])
            for row in csv.DictReader(file)
        ]


def clean(tmp_path, raw=None):
    rows = manifest_rows(tmp_path, raw)
    by_path = {path: rest for path, *rest in rows}
    assert len(by_path) == len(rows), rows
    return {path: tuple(rest) for path, rest in by_path.items()}


def save_image(path, size=(60, 50), colour=(120, 80, 40), image_format="JPEG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, image_format)
    return path


@pytest.fixture
def folder(tmp_path):
    """An extracted PetImages folder (a local `path:` source) with one image per class."""
    root = tmp_path / "copy"
    for class_name in ("Cat", "Dog"):
        save_image(root / "PetImages" / class_name / "1.jpg")
    return root


# --------------------------------------------------- a folder source: the archive's safeguards


def test_a_good_folder_source_is_copied_whole(tmp_path, folder):
    (folder / "PetImages/Cat/2.jpg").symlink_to(
        "1.jpg"
    )  # a link to a file inside: its bytes are copied
    raw = fetch(tmp_path, {"kind": "path", "path": str(folder)})
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()) == [
        "PetImages/Cat/1.jpg",
        "PetImages/Cat/2.jpg",
        "PetImages/Dog/1.jpg",
    ]
    assert not any(p.is_symlink() for p in raw.rglob("*"))


@pytest.mark.parametrize(
    "make_link, problem",
    [
        (
            lambda root: (root / "PetImages/Cat/passwd.jpg").symlink_to("/etc/passwd"),
            "'PetImages/Cat/passwd.jpg' is a link out of the folder (to /etc/passwd)",
        ),
        (
            lambda root: (root / "PetImages/Cat/loop").symlink_to(root / "PetImages"),
            "'PetImages/Cat/loop' is a link to a folder",
        ),
        (
            lambda root: (
                (root / "PetImages/Dog/a.jpg").symlink_to("b.jpg")
                or (root / "PetImages/Dog/b.jpg").symlink_to("a.jpg")
            ),
            "'PetImages/Dog/a.jpg' is a link that leads nowhere or into a loop (b.jpg)",
        ),
        (
            lambda root: os.mkfifo(root / "PetImages/Dog/pipe.jpg"),
            "'PetImages/Dog/pipe.jpg' is a special file (a FIFO, socket or device)",
        ),
    ],
    ids=["link-out-of-the-folder", "link-loop-to-a-folder", "loop-of-file-links", "fifo"],
)
def test_a_folder_source_follows_no_link_out_or_round(tmp_path, folder, make_link, problem):
    make_link(folder)
    with pytest.raises(UnsafeArchiveError) as error:
        fetch(tmp_path, {"kind": "path", "path": str(folder)})
    message = str(error.value)
    assert message.startswith(f"{folder}: ") and problem in message, message
    assert (
        "Refusing to copy the folder: fix each of these first (replace a link by the file itself, cp -L)"
        in message
    )
    assert not (tmp_path / "raw").exists()


def test_an_unreadable_file_in_a_folder_source_is_named_before_copying(
    tmp_path, folder, monkeypatch
):
    save_image(folder / "PetImages/Dog/secret.jpg")
    readable = os.access
    # The tests may run as root, who reads everything: the permission check is what is faked.
    monkeypatch.setattr(
        extract.os,
        "access",
        lambda path, mode: Path(path).name != "secret.jpg" and readable(path, mode),
    )
    with pytest.raises(
        UnsafeArchiveError,
        match=r"'PetImages/Dog/secret\.jpg' cannot be read \(no permission\); chmod u\+r it",
    ):
        fetch(tmp_path, {"kind": "path", "path": str(folder)})
    assert not (tmp_path / "raw").exists()


def test_a_folder_that_cannot_be_listed_is_named_not_skipped(tmp_path, folder, monkeypatch):
    save_image(folder / "PetImages/Dog/locked/2.jpg")
    walk = os.walk

    def walk_refusing_locked(top, onerror=None, **options):
        # As os.walk does for a folder without read permission (root reads everything, so faked).
        for parent, dir_names, file_names in walk(top, onerror=onerror, **options):
            if Path(parent).name == "locked":
                onerror(PermissionError(13, "Permission denied", parent))
                continue
            yield parent, dir_names, file_names

    monkeypatch.setattr(extract.os, "walk", walk_refusing_locked)
    with pytest.raises(
        UnsafeArchiveError, match=r"'PetImages/Dog/locked' cannot be listed \(Permission denied\)"
    ):
        fetch(tmp_path, {"kind": "path", "path": str(folder)})
    assert not (tmp_path / "raw").exists()


def test_a_folder_over_the_byte_cap_is_refused_before_copying(tmp_path, folder):
    with pytest.raises(ArchiveTooLargeError) as error:
        fetch(
            tmp_path,
            {"kind": "path", "path": str(folder)},
            extract_limits={"max_bytes": 500, "max_ratio": 100},
        )
    assert (
        "more than data.extract.max_bytes = 500; refusing to copy. If the folder is genuine, raise "
        "data.extract.max_bytes." in str(error.value)
    )
    assert not (tmp_path / "raw").exists()


def test_a_folder_larger_than_the_free_space_is_refused(tmp_path, folder, monkeypatch):
    DiskUsage = namedtuple("DiskUsage", "total used free")
    monkeypatch.setattr(
        extract.shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9 - 100, 100)
    )
    with pytest.raises(
        ArchiveTooLargeError, match=r"but only 100 bytes are free in .*; free space there"
    ):
        fetch(tmp_path, {"kind": "path", "path": str(folder)})
    assert not (tmp_path / "raw").exists()


def test_a_disk_filling_up_while_a_folder_is_copied_says_cannot_write_in(
    tmp_path, folder, monkeypatch
):
    def full_disk(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(extract.shutil, "copyfile", full_disk)
    with pytest.raises(OutputWriteError) as error:
        fetch(tmp_path, {"kind": "path", "path": str(folder)})
    assert f"cannot write in {tmp_path}: the disk holding {tmp_path} is full" in str(error.value)
    assert not (tmp_path / "raw").exists()


# ----------------------------------------------------------------- no image lost to a name


def test_two_members_with_one_name_are_a_manifest_row(tmp_path):
    archive = tmp_path / "pets.zip"
    with (
        zipfile.ZipFile(archive, "w") as zip_file,
        pytest.warns(UserWarning, match="Duplicate name"),
    ):
        for colour in (0, 255):
            buffer = save_image(tmp_path / f"c{colour}.jpg", colour=(colour,) * 3)
            zip_file.write(buffer, "PetImages/Cat/1.jpg")
        zip_file.write(buffer, "PetImages/Dog/1.jpg")
    rows = manifest_rows(tmp_path, fetch(tmp_path, {"kind": "path", "path": str(archive)}))
    # One row per member: the one extraction overwrote, and the one it kept.
    assert [row for row in rows if row[0] == "Cat/1.jpg"] == [
        ("Cat/1.jpg", "cat", "kept", ""),
        (
            "Cat/1.jpg",
            "cat",
            "dropped",
            "duplicate member name in the archive: 2 members are named "
            "PetImages/Cat/1.jpg; only the last was extracted, the other 1 lost; "
            "rename them in the archive to keep all",
        ),
    ]
    with Image.open(tmp_path / "clean/cat/1.jpg") as kept:
        assert kept.convert("L").getpixel((5, 5)) > 200  # the last member: white


def test_a_converted_name_never_overwrites_a_real_one(tmp_path):
    pets = tmp_path / "raw/PetImages"
    save_image(pets / "Cat/coll.png", colour=(255, 0, 0), image_format="PNG")
    save_image(pets / "Cat/coll.png.jpg", colour=(0, 0, 255))
    save_image(pets / "Dog/1.jpg")
    rows = clean(tmp_path)
    assert rows["Cat/coll.png.jpg"] == ("cat", "kept", "")
    assert rows["Cat/coll.png"] == (
        "cat",
        "converted",
        "RGB PNG re-encoded as JPEG; written as coll.png.2.jpg: coll.png.jpg is another file's name",
    )
    outputs = {
        path.name: Image.open(path).convert("RGB").getpixel((5, 5))
        for path in (tmp_path / "clean/cat").iterdir()
    }
    assert set(outputs) == {"coll.png.jpg", "coll.png.2.jpg"}
    assert (
        outputs["coll.png.jpg"][2] > 200 and outputs["coll.png.2.jpg"][0] > 200
    )  # blue stays blue, red red


def test_an_extreme_aspect_ratio_is_noted_in_the_manifest(tmp_path):
    pets = tmp_path / "raw/PetImages"
    save_image(pets / "Cat/strip.jpg", size=(5000, 32))
    save_image(pets / "Cat/wide.jpg", size=(120, 50))  # 2.4:1 against 48:40: an ordinary photo
    save_image(pets / "Dog/1.jpg")
    rows = clean(tmp_path)
    assert rows["Cat/strip.jpg"] == (
        "cat",
        "kept",
        "note: extreme aspect ratio, 5000x32 squashed to 48x40 (its shape distorted 130 times); "
        "drop such files from the source if that matters",
    )
    assert rows["Cat/wide.jpg"] == ("cat", "kept", "")


def test_a_macos_finder_zip_is_accepted_and_its_metadata_noted(tmp_path):
    archive = tmp_path / "pets.zip"
    image = save_image(tmp_path / "1.jpg")
    with zipfile.ZipFile(archive, "w") as zip_file:
        for class_name in ("Cat", "Dog"):
            zip_file.write(image, f"PetImages/{class_name}/1.jpg")
            # Finder's AppleDouble resource fork: not an image, in a parallel tree.
            zip_file.writestr(
                f"__MACOSX/PetImages/{class_name}/._1.jpg", b"\x00\x05\x16\x07" + bytes(80)
            )
    rows = clean(tmp_path, fetch(tmp_path, {"kind": "path", "path": str(archive)}))
    finder_note = (
        "",
        "dropped",
        "macOS Finder metadata: in __MACOSX/, a resource fork, not an image; ignored",
    )
    assert (
        rows["(archive) __MACOSX/PetImages/Cat/._1.jpg"]
        == rows["(archive) __MACOSX/PetImages/Dog/._1.jpg"]
        == finder_note
    )
    assert len(rows) == 4  # one row per file in the archive
    assert rows["Cat/1.jpg"] == ("cat", "kept", "") and rows["Dog/1.jpg"] == ("dog", "kept", "")
    assert sorted(path.name for path in (tmp_path / "clean").rglob("*") if path.is_file()) == [
        "1.jpg",
        "1.jpg",
    ]


@pytest.mark.parametrize("source_kind", ["folder", "zip"])
def test_every_file_outside_cat_and_dog_is_a_manifest_row(tmp_path, source_kind):
    """Bad input round 4: an extra class folder, a lower-case cat/ beside Cat/ and stray text
    files are never cleaned; each is a row, so kept + converted + dropped counts every file."""
    root = tmp_path / "copy"
    image = save_image(tmp_path / "1.jpg")
    members = [
        "PetImages/Cat/1.jpg",
        "PetImages/Dog/1.jpg",
        "PetImages/Horse/1.jpg",
        "PetImages/cat/2.jpg",
    ]
    for member in members:
        (root / member).parent.mkdir(parents=True, exist_ok=True)
        (root / member).write_bytes(image.read_bytes())
    (root / "PetImages" / "readme.txt").write_text("stray\n")
    (root / "readme[1].txt").write_text("beside PetImages/, as in the real zip\n")
    source = root
    if source_kind == "zip":
        source = tmp_path / "pets.zip"
        with zipfile.ZipFile(source, "w") as zip_file:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zip_file.write(path, path.relative_to(root).as_posix())
    rows = clean(tmp_path, fetch(tmp_path, {"kind": "path", "path": str(source)}))
    files = [path for path in (tmp_path / "raw").rglob("*") if path.is_file()]
    assert len(rows) == len(files) == 6
    assert rows["(archive) PetImages/Horse/1.jpg"] == (
        "",
        "dropped",
        "in Horse/, which is not a class of this workflow (Cat/, Dog/); ignored",
    )
    assert rows["(archive) PetImages/cat/2.jpg"] == (
        "",
        "dropped",
        "in cat/, not Cat/: class folder names are case-sensitive, so it was not cleaned; "
        "move it into Cat/ to use it",
    )
    not_an_image = (
        "",
        "dropped",
        "not in PetImages/Cat/ or Dog/, so not an image to clean; ignored",
    )
    assert rows["(archive) PetImages/readme.txt"] == rows["(archive) readme[1].txt"] == not_an_image
    assert rows["Cat/1.jpg"] == ("cat", "kept", "") and rows["Dog/1.jpg"] == ("dog", "kept", "")
