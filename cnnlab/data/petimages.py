"""Microsoft PetImages (cats vs dogs): clean, convert, resize once, then subset and split.

The real archive holds `PetImages/Cat/*.jpg` and `PetImages/Dog/*.jpg`, 12,500 each, and
among them junk: empty files, files that are not images, truncated JPEGs, `Thumbs.db`,
greyscale/CMYK/palette images, and images in other formats behind a .jpg name. Cleaning
keeps an image only when Pillow, the decoder that later turns the split into the arrays
training reads, decodes it fully; it turns the image upright by its EXIF orientation, converts
it to RGB (16-bit greyscale scaled to 8 bits, not clipped), resizes it to the training size and
writes it as a JPEG. Files too big to read and images too small to blow up are dropped. Every
file gets a manifest row saying what happened and why.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import io
import logging
import os
import random
import shutil
import tempfile
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from cnnlab.jobio import ExpectedError, atomic_output

log = logging.getLogger(__name__)

# Archive folder name -> the lower-case class folder training reads.
CLASS_FOLDERS = {"Cat": "cat", "Dog": "dog"}
JPEG_QUALITY = 95
MODE_NAMES = {
    "1": "black-and-white",
    "L": "greyscale",
    "LA": "greyscale with alpha",
    "P": "palette",
    "PA": "palette with alpha",
    "RGBA": "RGBA",
    "CMYK": "CMYK",
    "I;16": "16-bit greyscale",
    "I": "32-bit greyscale",
    "F": "floating-point greyscale",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
}
# Pillow's convert() clips these to 255 instead of scaling them: a photo turns white.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# 32-bit greyscale has no fixed white level to scale from.
UNSCALABLE_MODES = ("I", "F")
# The schema's defaults for data.petimages.min_side and max_image_bytes.
MIN_SIDE = 32
MAX_IMAGE_BYTES = 50_000_000
# An image whose aspect ratio differs from the target's by more than this factor is squashed
# visibly out of shape when resized: kept (as the report's generators did), with a note.
EXTREME_ASPECT_FACTOR = 4
# The folder macOS Finder adds to a zip beside the real content: resource forks ("._1.jpg"),
# never images. It holds its own PetImages/Cat/ and Dog/, which would look like a second copy.
MACOS_METADATA_FOLDER = "__MACOSX"
# Written by the download job beside the extracted folder: what extraction noticed (duplicate
# member names) that the cleaning manifest reports (cnnlab.data.sources).
EXTRACTION_NOTES = "extraction_notes.csv"


class PetImagesError(ExpectedError, ValueError):
    """The PetImages folder is missing or too small for the configured subset."""


def _is_macos_metadata(path, raw_dir):
    return MACOS_METADATA_FOLDER in Path(path).relative_to(raw_dir).parts


def _class_dirs(raw_dir):
    """{"Cat": [folders named Cat under raw_dir], "Dog": [...]}, outside __MACOSX/."""
    return {
        name: sorted(
            path
            for path in raw_dir.rglob(name)
            if path.is_dir() and not _is_macos_metadata(path, raw_dir)
        )
        for name in CLASS_FOLDERS
    }


def layout_problem(raw_dir, subject=None):
    """What keeps `raw_dir` from being an extracted PetImages archive, as a sentence about
    `subject` (default: raw_dir), or None: it needs exactly one folder holding Cat/ and Dog/,
    each with files in it."""
    raw_dir = Path(raw_dir)
    subject = subject or str(raw_dir)
    found = _class_dirs(raw_dir)
    pairs = sorted({cat.parent for cat in found["Cat"]} & {dog.parent for dog in found["Dog"]})

    def shown(path):
        return f"{path.relative_to(raw_dir).as_posix()}/"

    if len(pairs) > 1:
        return f"{subject} holds {len(pairs)} folders with Cat/ and Dog/ ({', '.join(map(shown, pairs))}); expected one"
    if not pairs:
        if not any(raw_dir.iterdir()):
            return f"{subject} is empty: it holds no PetImages/Cat/ or PetImages/Dog/ folder"
        present = [name for name in CLASS_FOLDERS if found[name]]
        missing = [name for name in CLASS_FOLDERS if not found[name]]
        if not present:
            return f"{subject} holds no Cat/ or Dog/ folder (expected PetImages/Cat/ and PetImages/Dog/)"
        if missing:
            return f"{subject} holds no {missing[0]}/ folder (found only {shown(found[present[0]][0])})"
        return (
            f"{subject} holds Cat/ and Dog/ in different folders "
            f"({shown(found['Cat'][0])}, {shown(found['Dog'][0])})"
        )
    for name in CLASS_FOLDERS:
        if not any(path.is_file() for path in (pairs[0] / name).rglob("*")):
            return f"{subject} has an empty class folder: {shown(pairs[0] / name)} holds no files"
    return None


def find_petimages_dir(raw_dir):
    """The folder holding `Cat/` and `Dog/`, anywhere under raw_dir (the real zip has
    `PetImages/` at its top level, beside a licence and a readme)."""
    raw_dir = Path(raw_dir)
    problem = layout_problem(raw_dir)
    if problem:
        raise PetImagesError(
            f"{problem}; rerun the download (snakemake --forcerun download_petimages)"
        )
    (cat_dir,) = (cat for cat in _class_dirs(raw_dir)["Cat"] if (cat.parent / "Dog").is_dir())
    return cat_dir.parent


def _to_8_bit(image):
    """A 16-bit greyscale image scaled (rounded) to 8 bits: 65535 is white, not 255."""
    pixels = np.asarray(image, dtype=np.uint32)
    return Image.fromarray(((pixels * 255 + 32767) // 65535).astype(np.uint8))


def _read_capped(path, max_bytes):
    """The file's bytes, or None when it holds more than `max_bytes` (never reading more)."""
    with open(path, "rb") as file:
        data = file.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def _inspect(path, min_side=MIN_SIDE, max_image_bytes=MAX_IMAGE_BYTES, image_size=None):
    """(action, reason, RGB image or None) for one file, action being kept, converted or dropped.
    With `image_size` (height, width), an image squashed far out of shape by the resize gets a note."""
    if path.name.lower() == "thumbs.db":
        return "dropped", "Thumbs.db: a Windows thumbnail cache", None
    data = _read_capped(path, max_image_bytes)
    if data is None:
        return (
            "dropped",
            f"too big: over data.petimages.max_image_bytes = {max_image_bytes:,} bytes",
            None,
        )
    if not data:
        return "dropped", "zero-byte file", None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every pixel: a truncated file fails here, not at open
            mode, format_name = image.mode, image.format
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
            # A phone stores a photo as the sensor saw it and says in EXIF how to turn it.
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return "dropped", f"decompression bomb: {error}", None
    except UnidentifiedImageError:
        return "dropped", "not an image: Pillow cannot identify it", None
    except (OSError, SyntaxError, ValueError) as error:
        return "dropped", f"truncated or corrupt: {error}", None
    width, height = upright.size
    if min(width, height) < min_side:
        return (
            "dropped",
            f"too small: {width}x{height} pixels, a side under data.petimages.min_side = {min_side}",
            None,
        )
    described = f"{MODE_NAMES.get(mode, mode)} {format_name}"
    if mode in UNSCALABLE_MODES:
        return (
            "dropped",
            f"{described}: no known white level to scale to 8 bits; save it as 8-bit",
            None,
        )
    if mode in SIXTEEN_BIT_MODES:
        rgb, reasons = (
            _to_8_bit(upright).convert("RGB"),
            [f"{described} scaled to 8 bits and converted to RGB"],
        )
    elif mode == "RGB":
        rgb, reasons = (
            upright,
            ([] if format_name == "JPEG" else [f"RGB {format_name} re-encoded as JPEG"]),
        )
    else:
        rgb, reasons = upright.convert("RGB"), [f"{described} converted to RGB"]
    if orientation in range(2, 9):
        reasons.append(f"turned upright by its EXIF orientation {orientation}")
    action = "converted" if reasons else "kept"
    squash = _squash_note(width, height, image_size)
    return action, "; ".join([*reasons, *([squash] if squash else [])]), rgb


def _squash_note(width, height, image_size):
    """A note when resizing width x height to `image_size` (height, width) distorts its shape
    by more than EXTREME_ASPECT_FACTOR, else None."""
    if image_size is None:
        return None
    target_height, target_width = image_size
    distortion = (width / height) / (target_width / target_height)
    if max(distortion, 1 / distortion) <= EXTREME_ASPECT_FACTOR:
        return None
    return (
        f"note: extreme aspect ratio, {width}x{height} squashed to {target_width}x{target_height} "
        f"(its shape distorted {max(distortion, 1 / distortion):.0f} times); drop such files from the "
        f"source if that matters"
    )


def _output_names(names):
    """{source file name: its file name in the clean folder}, one distinct name per file of a
    class folder. .jpg/.jpeg names are kept; others get .jpg appended, and where that is
    another file's name (coll.png and coll.png.jpg), a number before it: coll.png.2.jpg.
    Worked out for the whole folder before any file is written, so no two files share one."""
    names = sorted(names)
    outputs = {name: name for name in names if Path(name).suffix.lower() in (".jpg", ".jpeg")}
    taken = {name.lower() for name in names}  # lower case: case-insensitive disks (macOS, Windows)
    for name in names:
        if name in outputs:
            continue
        candidate, number = f"{name}.jpg", 1
        while candidate.lower() in taken:
            number += 1
            candidate = f"{name}.{number}.jpg"
        outputs[name] = candidate
        taken.add(candidate.lower())
    return outputs


def _clean_one(path, petimages_dir, out_dir, output_name, image_size, min_side, max_image_bytes):
    """Inspect one file, write its resized JPEG as `output_name` if it survives; return its
    manifest row."""
    relative_path = path.relative_to(petimages_dir)
    class_name = CLASS_FOLDERS[relative_path.parts[0]]
    if len(relative_path.parts) != 2:
        action, reason, image = "dropped", "in a subfolder of the class folder", None
    else:
        action, reason, image = _inspect(path, min_side, max_image_bytes, image_size)
    if image is not None:
        height, width = image_size
        resized = image.resize((width, height), Image.Resampling.BILINEAR)
        resized.save(out_dir / class_name / output_name, "JPEG", quality=JPEG_QUALITY)
        if output_name not in (path.name, f"{path.name}.jpg"):
            note = f"written as {output_name}: {path.name}.jpg is another file's name"
            reason = "; ".join(filter(None, [reason, note]))
    return {
        "path": relative_path.as_posix(),
        "class": class_name,
        "action": action,
        "reason": reason,
    }


def _extraction_rows(raw_dir, petimages_dir):
    """Manifest rows for what cleaning never sees as a file: the archive's members that
    extraction overwrote (duplicate names, cnnlab.data.sources) and macOS' __MACOSX/ folder."""
    rows = []
    notes = raw_dir / EXTRACTION_NOTES
    petimages_member = PurePosixPath(petimages_dir.relative_to(raw_dir).as_posix())
    if notes.is_file():
        with open(notes, newline="") as file:
            for note in csv.DictReader(file):
                member = PurePosixPath(note["member"])
                relative = (
                    member.relative_to(petimages_member)
                    if member.is_relative_to(petimages_member)
                    else None
                )
                in_class = (
                    relative is not None
                    and len(relative.parts) > 1
                    and relative.parts[0] in CLASS_FOLDERS
                )
                rows.append(
                    {
                        "path": relative.as_posix() if in_class else f"(archive) {member}",
                        "class": CLASS_FOLDERS[relative.parts[0]] if in_class else "",
                        "action": "dropped",
                        "reason": note["note"],
                    }
                )
    for metadata in sorted(raw_dir.rglob(MACOS_METADATA_FOLDER)):
        rows += [
            {
                "path": f"(archive) {path.relative_to(raw_dir).as_posix()}",
                "class": "",
                "action": "dropped",
                "reason": f"macOS Finder metadata: in {MACOS_METADATA_FOLDER}/, a resource fork, not an image; ignored",
            }
            for path in sorted(metadata.rglob("*"))
            if path.is_file()
        ]
    return rows


def _uncleaned_file_rows(raw_dir, petimages_dir):
    """Manifest rows for the files under `raw_dir` that are in neither PetImages/Cat/ nor Dog/, so
    that the manifest counts every file ("kept + converted + dropped = files"): another class
    folder (Horse/), a lower-case cat/ beside Cat/, a stray readme. __MACOSX/ and the extraction
    notes have rows of their own (_extraction_rows)."""
    class_dirs = [petimages_dir / folder for folder in CLASS_FOLDERS]
    by_lower_case = {folder.lower(): folder for folder in CLASS_FOLDERS}
    rows = []
    for path in sorted(raw_dir.rglob("*")):
        if (
            not path.is_file()
            or path == raw_dir / EXTRACTION_NOTES
            or _is_macos_metadata(path, raw_dir)
            or any(path.is_relative_to(folder) for folder in class_dirs)
        ):
            continue
        in_petimages = path.parent.is_relative_to(petimages_dir) and path.parent != petimages_dir
        folder = path.relative_to(petimages_dir).parts[0] if in_petimages else None
        if folder is not None and folder.lower() in by_lower_case:
            reason = (
                f"in {folder}/, not {by_lower_case[folder.lower()]}/: class folder names are "
                f"case-sensitive, so it was not cleaned; move it into {by_lower_case[folder.lower()]}/ to use it"
            )
        elif folder is not None:
            reason = f"in {folder}/, which is not a class of this workflow ({'/, '.join(CLASS_FOLDERS)}/); ignored"
        else:
            reason = f"not in {petimages_dir.name}/{'/ or '.join(CLASS_FOLDERS)}/, so not an image to clean; ignored"
        rows.append(
            {
                "path": f"(archive) {path.relative_to(raw_dir).as_posix()}",
                "class": "",
                "action": "dropped",
                "reason": reason,
            }
        )
    return rows


def _write_csv(path, fieldnames, rows):
    with atomic_output(path) as partial, open(partial, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _log_counts(title, counter, classes, columns):
    log.info("%s", title)
    log.info("  %-8s %s", "class", " ".join(f"{column:>10}" for column in columns))
    for class_name in classes:
        log.info(
            "  %-8s %s", class_name, " ".join(f"{counter[class_name, c]:>10}" for c in columns)
        )


def clean_petimages(
    raw_dir,
    out_dir,
    manifest_path,
    image_size,
    workers=1,
    min_side=MIN_SIDE,
    max_image_bytes=MAX_IMAGE_BYTES,
):
    """Clean the extracted PetImages under `raw_dir` into `out_dir/cat/` and `out_dir/dog/`.

    Writes `manifest_path` (CSV: path relative to PetImages/, class, action, reason; sorted
    by path) with one row per file found. `image_size` is (height, width). Images with a side
    under `min_side` pixels and files over `max_image_bytes` are dropped. The output is
    byte-identical whatever the number of `workers` threads (decoding releases the GIL).
    """
    raw_dir = Path(raw_dir)
    petimages_dir = find_petimages_dir(raw_dir)
    files = [
        path
        for folder in CLASS_FOLDERS
        for path in (petimages_dir / folder).rglob("*")
        if path.is_file()
    ]
    output_names = {
        petimages_dir / folder / name: output_name
        for folder in CLASS_FOLDERS
        for name, output_name in _output_names(
            path.name for path in (petimages_dir / folder).iterdir() if path.is_file()
        ).items()
    }
    log.info("Cleaning %d files in %s with %d worker(s)", len(files), petimages_dir, workers)
    with atomic_output(out_dir, directory=True) as partial_dir, warnings.catch_warnings():
        # Pillow only warns about an image between one and two times its pixel limit; here
        # that is a reason to drop it, like the bigger ones it refuses outright.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for class_name in CLASS_FOLDERS.values():
            (partial_dir / class_name).mkdir()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            rows = list(
                pool.map(
                    lambda path: _clean_one(
                        path,
                        petimages_dir,
                        partial_dir,
                        output_names.get(path),
                        image_size,
                        min_side,
                        max_image_bytes,
                    ),
                    files,
                )
            )
        rows += _extraction_rows(raw_dir, petimages_dir) + _uncleaned_file_rows(
            raw_dir, petimages_dir
        )
        rows.sort(key=lambda row: row["path"])
        _write_csv(manifest_path, ["path", "class", "action", "reason"], rows)

    counts = collections.Counter((row["class"], row["action"]) for row in rows)
    _log_counts(
        "Files per class and action:",
        counts,
        CLASS_FOLDERS.values(),
        ("kept", "converted", "dropped"),
    )
    reasons = collections.Counter(
        row["reason"].split(":")[0] for row in rows if row["action"] == "dropped"
    )
    for reason, count in sorted(reasons.items()):
        log.info("  dropped, %s: %d", reason, count)
    return rows


def split_petimages(clean_dir, split_dirs, manifest_path, images_per_class, ratios, seed):
    """A seeded choice of `images_per_class` images per class from `clean_dir`, split by
    `splitfolders.ratio` into `split_dirs["train"|"val"|"test"]` (each with cat/ and dog/).

    Writes `manifest_path` (CSV: path as <split>/<class>/<file>, class, split; sorted by
    path): byte-identical for the same clean images and the same config.
    """
    import splitfolders

    clean_dir = Path(clean_dir)
    split_names = ("train", "val", "test")
    chooser = random.Random(seed)
    # Scratch space beside the outputs, so that moving the finished splits is a rename.
    scratch_parent = Path(split_dirs["train"]).parent
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".split-", dir=scratch_parent) as scratch:
        subset, split_root = Path(scratch, "subset"), Path(scratch, "split")
        for class_name in CLASS_FOLDERS.values():
            available = sorted(
                path.name for path in (clean_dir / class_name).iterdir() if path.is_file()
            )
            if len(available) < images_per_class:
                raise PetImagesError(
                    f"class '{class_name}' has {len(available)} clean images, fewer than "
                    f"images_per_class = {images_per_class}; lower data.petimages.images_per_class"
                )
            (subset / class_name).mkdir(parents=True)
            for name in chooser.sample(available, images_per_class):
                shutil.copyfile(clean_dir / class_name / name, subset / class_name / name)
        # splitfolders sorts each class's files by name, then shuffles them after
        # random.seed(seed): the same files and seed give the same split, in any order of
        # listing. Moving (not copying) from the scratch subset saves a copy.
        splitfolders.ratio(
            str(subset),
            output=str(split_root),
            seed=seed,
            ratio=tuple(ratios[name] for name in split_names),
            move=True,
        )
        # check_config refuses sizes that leave a split empty; this is the last word, before
        # training would fail on an empty folder with Keras' "No images found".
        empty = [
            f"{split}/{class_name}"
            for split in split_names
            for class_name in CLASS_FOLDERS.values()
            if not (split_root / split / class_name).is_dir()
            or not any((split_root / split / class_name).iterdir())
        ]
        if empty:
            raise PetImagesError(
                f"{images_per_class} images per class split by {ratios} leaves {', '.join(empty)} "
                f"empty; raise data.petimages.images_per_class or change data.petimages.split"
            )
        rows = []
        for split in split_names:
            with atomic_output(split_dirs[split], directory=True) as partial:
                for class_name in CLASS_FOLDERS.values():
                    # splitfolders makes every split's class folder, even one left empty.
                    source = split_root / split / class_name
                    rows += [
                        {
                            "path": f"{split}/{class_name}/{path.name}",
                            "class": class_name,
                            "split": split,
                        }
                        for path in source.iterdir()
                    ]
                    os.replace(source, partial / class_name)
    rows.sort(key=lambda row: row["path"])
    _write_csv(manifest_path, ["path", "class", "split"], rows)

    counts = collections.Counter((row["class"], row["split"]) for row in rows)
    _log_counts(
        f"{images_per_class} images per class, split by {ratios}:",
        counts,
        CLASS_FOLDERS.values(),
        split_names,
    )
    return rows


def split_to_arrays(split_dir, out_path):
    """Decode one split folder (cat/ and dog/ of training-size JPEGs) into `out_path`, an .npz
    of `images` (N, H, W, 3) uint8, `labels` (N,) uint8 (0 = cat, 1 = dog), `ids` (N,) str and
    `class_names` ("cat", "dog"), class by class and file name by file name, as CIFAR-10's are.

    An image's id is its path as the split manifest names it (`test/cat/1234.jpg`), so
    per-image predictions can be traced back to the file and matched between runs.

    Pillow decodes here, the decoder cleaning checked every image with: an image kept by
    cleaning is an image training can read. Training then never decodes a JPEG again.
    """
    split_dir = Path(split_dir)
    images, labels, ids = [], [], []
    for label, class_name in enumerate(CLASS_FOLDERS.values()):
        class_dir = split_dir / class_name
        if not class_dir.is_dir():
            raise PetImagesError(f"{class_dir} does not exist: rerun the split_petimages job")
        for path in sorted(class_dir.iterdir()):
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            labels.append(label)
            ids.append(f"{split_dir.name}/{class_name}/{path.name}")
    if not images:
        raise PetImagesError(f"{split_dir} holds no images: rerun the split_petimages job")
    shapes = collections.Counter(image.shape for image in images)
    if len(shapes) > 1:
        raise PetImagesError(
            f"{split_dir}: images of several sizes {dict(shapes)}; cleaning resizes every image "
            "to data.petimages.image_size: rerun clean_petimages and split_petimages"
        )
    with atomic_output(out_path) as partial:
        np.savez(
            partial,
            images=np.stack(images),
            labels=np.asarray(labels, dtype=np.uint8),
            ids=np.asarray(ids, dtype=str),
            class_names=np.asarray(list(CLASS_FOLDERS.values()), dtype=str),
        )
    counts = collections.Counter(labels)
    log.info(
        "%s: %d images of %s; per class %s",
        out_path,
        len(images),
        images[0].shape,
        {name: counts[label] for label, name in enumerate(CLASS_FOLDERS.values())},
    )
