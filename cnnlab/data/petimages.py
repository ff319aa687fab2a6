"""Microsoft PetImages (cats vs dogs): clean, convert, resize once, then subset and split.

The real archive holds `PetImages/Cat/*.jpg` and `PetImages/Dog/*.jpg`, 12,500 each, and
among them junk: empty files, files that are not images, truncated JPEGs, `Thumbs.db`,
greyscale/CMYK/palette images, and images in other formats behind a .jpg name. Cleaning
keeps an image only when Pillow, the decoder that later turns the split into the arrays
training reads, decodes it fully; it converts the image to RGB, resizes it to the training
size and writes it as a JPEG. Every file gets a manifest row saying what happened and why.
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
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnlab.jobio import atomic_output

log = logging.getLogger(__name__)

# Archive folder name -> the lower-case class folder training reads.
CLASS_FOLDERS = {"Cat": "cat", "Dog": "dog"}
JPEG_QUALITY = 95
MODE_NAMES = {
    "1": "black-and-white", "L": "greyscale", "LA": "greyscale with alpha", "P": "palette",
    "PA": "palette with alpha", "RGBA": "RGBA", "CMYK": "CMYK", "I;16": "16-bit greyscale",
    "I": "32-bit greyscale", "F": "floating-point greyscale", "YCbCr": "YCbCr", "LAB": "Lab",
}


class PetImagesError(ValueError):
    """The PetImages folder is missing or too small for the configured subset."""


def find_petimages_dir(raw_dir):
    """The folder holding `Cat/` and `Dog/`, anywhere under raw_dir (the real zip has
    `PetImages/` at its top level, beside a licence and a readme)."""
    raw_dir = Path(raw_dir)
    found = sorted({
        cat.parent for cat in raw_dir.rglob("Cat") if cat.is_dir() and (cat.parent / "Dog").is_dir()
    })
    if len(found) != 1:
        raise PetImagesError(
            f"{raw_dir}: expected one folder holding Cat/ and Dog/ (PetImages/), found "
            f"{len(found)}: {[str(path) for path in found]}"
        )
    return found[0]


def _inspect(path):
    """(action, reason, RGB image or None) for one file, action being kept, converted or dropped."""
    if path.name.lower() == "thumbs.db":
        return "dropped", "Thumbs.db: a Windows thumbnail cache", None
    data = path.read_bytes()
    if not data:
        return "dropped", "zero-byte file", None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every pixel: a truncated file fails here, not at open
            mode, format_name = image.mode, image.format
            rgb = image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return "dropped", f"decompression bomb: {error}", None
    except UnidentifiedImageError:
        return "dropped", "not an image: Pillow cannot identify it", None
    except (OSError, SyntaxError, ValueError) as error:
        return "dropped", f"truncated or corrupt: {error}", None
    if mode == "RGB" and format_name == "JPEG":
        return "kept", "", rgb
    if mode == "RGB":
        return "converted", f"RGB {format_name} re-encoded as JPEG", rgb
    return "converted", f"{MODE_NAMES.get(mode, mode)} {format_name} converted to RGB", rgb


def _output_name(path):
    """A survivor's file name in the clean folder: .jpg/.jpeg names are kept, others get .jpg."""
    return path.name if path.suffix.lower() in (".jpg", ".jpeg") else f"{path.name}.jpg"


def _clean_one(path, petimages_dir, out_dir, image_size):
    """Inspect one file, write its resized JPEG if it survives; return its manifest row."""
    relative_path = path.relative_to(petimages_dir)
    class_name = CLASS_FOLDERS[relative_path.parts[0]]
    if len(relative_path.parts) != 2:
        action, reason, image = "dropped", "in a subfolder of the class folder", None
    else:
        action, reason, image = _inspect(path)
    if image is not None:
        height, width = image_size
        resized = image.resize((width, height), Image.Resampling.BILINEAR)
        resized.save(out_dir / class_name / _output_name(path), "JPEG", quality=JPEG_QUALITY)
    return {"path": relative_path.as_posix(), "class": class_name, "action": action, "reason": reason}


def _write_csv(path, fieldnames, rows):
    with atomic_output(path) as partial, open(partial, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _log_counts(title, counter, classes, columns):
    log.info("%s", title)
    log.info("  %-8s %s", "class", " ".join(f"{column:>10}" for column in columns))
    for class_name in classes:
        log.info("  %-8s %s", class_name, " ".join(f"{counter[class_name, c]:>10}" for c in columns))


def clean_petimages(raw_dir, out_dir, manifest_path, image_size, workers=1):
    """Clean the extracted PetImages under `raw_dir` into `out_dir/cat/` and `out_dir/dog/`.

    Writes `manifest_path` (CSV: path relative to PetImages/, class, action, reason; sorted
    by path) with one row per file found. `image_size` is (height, width). The output is
    byte-identical whatever the number of `workers` threads (decoding releases the GIL).
    """
    petimages_dir = find_petimages_dir(raw_dir)
    files = [
        path for folder in CLASS_FOLDERS for path in (petimages_dir / folder).rglob("*") if path.is_file()
    ]
    log.info("Cleaning %d files in %s with %d worker(s)", len(files), petimages_dir, workers)
    with atomic_output(out_dir, directory=True) as partial_dir, warnings.catch_warnings():
        # Pillow only warns about an image between one and two times its pixel limit; here
        # that is a reason to drop it, like the bigger ones it refuses outright.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for class_name in CLASS_FOLDERS.values():
            (partial_dir / class_name).mkdir()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            rows = list(pool.map(
                lambda path: _clean_one(path, petimages_dir, partial_dir, image_size), files
            ))
        rows.sort(key=lambda row: row["path"])
        _write_csv(manifest_path, ["path", "class", "action", "reason"], rows)

    counts = collections.Counter((row["class"], row["action"]) for row in rows)
    _log_counts("Files per class and action:", counts, CLASS_FOLDERS.values(), ("kept", "converted", "dropped"))
    reasons = collections.Counter(row["reason"].split(":")[0] for row in rows if row["action"] == "dropped")
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
            available = sorted(path.name for path in (clean_dir / class_name).iterdir() if path.is_file())
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
            str(subset), output=str(split_root), seed=seed,
            ratio=tuple(ratios[name] for name in split_names), move=True,
        )
        rows = []
        for split in split_names:
            with atomic_output(split_dirs[split], directory=True) as partial:
                for class_name in CLASS_FOLDERS.values():
                    # splitfolders makes every split's class folder, even one left empty.
                    source = split_root / split / class_name
                    rows += [
                        {"path": f"{split}/{class_name}/{path.name}", "class": class_name, "split": split}
                        for path in source.iterdir()
                    ]
                    os.replace(source, partial / class_name)
    rows.sort(key=lambda row: row["path"])
    _write_csv(manifest_path, ["path", "class", "split"], rows)

    counts = collections.Counter((row["class"], row["split"]) for row in rows)
    _log_counts(
        f"{images_per_class} images per class, split by {ratios}:", counts, CLASS_FOLDERS.values(), split_names
    )
    return rows


def split_to_arrays(split_dir, out_path):
    """Decode one split folder (cat/ and dog/ of training-size JPEGs) into `out_path`, an .npz
    of `images` (N, H, W, 3) uint8 and `labels` (N,) uint8 (0 = cat, 1 = dog), class by class
    and file name by file name.

    Pillow decodes here, the decoder cleaning checked every image with: an image kept by
    cleaning is an image training can read. Training then never decodes a JPEG again.
    """
    split_dir = Path(split_dir)
    images, labels = [], []
    for label, class_name in enumerate(CLASS_FOLDERS.values()):
        class_dir = split_dir / class_name
        if not class_dir.is_dir():
            raise PetImagesError(f"{class_dir} does not exist: rerun the split_petimages job")
        for path in sorted(class_dir.iterdir()):
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    if not images:
        raise PetImagesError(f"{split_dir} holds no images: rerun the split_petimages job")
    shapes = collections.Counter(image.shape for image in images)
    if len(shapes) > 1:
        raise PetImagesError(
            f"{split_dir}: images of several sizes {dict(shapes)}; cleaning resizes every image "
            "to data.petimages.image_size: rerun clean_petimages and split_petimages"
        )
    with atomic_output(out_path) as partial:
        np.savez(partial, images=np.stack(images), labels=np.asarray(labels, dtype=np.uint8))
    counts = collections.Counter(labels)
    log.info(
        "%s: %d images of %s; per class %s", out_path, len(images), images[0].shape,
        {name: counts[label] for label, name in enumerate(CLASS_FOLDERS.values())},
    )
