"""Synthetic stand-ins for the real archives, for the offline demo and the tests.

Both writers produce files in exactly the real archive's format, so the demo runs the very
same verify -> extract -> clean -> split/parse code as the full run:

* `write_petimages_zip`: `PetImages/Cat/<n>.jpg` and `PetImages/Dog/<n>.jpg` cartoon faces
  plus one file of every junk kind the real set has (see `PETIMAGES_JUNK`). Cats mostly have
  pointed ears, stripes, slit pupils, whiskers and a small pink nose; dogs mostly floppy ears,
  a muzzle and a big dark nose; but every trait shows up in the other class too
  (`_TRAIT_PROBABILITY`), the slit pupils and whiskers are a pixel or two at 64x64, and
  heads are small, sometimes cut by the border, among coat-coloured distractor shapes, under
  a colour cast and noise. So the demo grid tells its cells apart instead of all reaching
  ~0.98. Measured with the cats/dogs grid of demo.yaml (TensorFlow, 2 CPU cores):
  `snakemake --cores 2 --configfile demo.yaml results/catsdogs/basic/best.json
  results/catsdogs/basic/lr{0.0003,0.001}_f{16,32}/metrics.json`
  gives test accuracy 0.683 (lr 3e-4, 16 filters), 0.700 (3e-4, 32), 0.783 (1e-3, 16),
  0.717 (1e-3, 32); best validation 0.683, 0.650, 0.750, 0.683. Before these changes every
  cell scored 0.983 on the test split.
* `write_cifar10_tar`: `cifar-10-batches-bin/` with five training batches, a test batch,
  `batches.meta.txt` and `readme.html`, 3073-byte records of ten 32x32 shape and texture
  classes.

Everything is drawn from `numpy.random.default_rng(seed)`: the same arguments give
byte-identical archives.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import numpy as np
from PIL import Image, ImageDraw

from cnnlab.data import cifar10

# ---------------------------------------------------------------------------- PetImages

PETIMAGES_CLASSES = ("Cat", "Dog")

# Every kind of junk the real PetImages folders hold, one of each in each class folder.
PETIMAGES_JUNK = (
    "zero_byte",  # an empty .jpg
    "not_an_image",  # text saved as .jpg
    "truncated_jpeg",  # a JPEG cut short
    "thumbs_db",  # Windows' Thumbs.db thumbnail cache
    "greyscale_jpeg",
    "cmyk_jpeg",
    "palette_png",  # a palette PNG named .jpg
    "rgba_png",  # an RGBA PNG named .jpg
    "tiff",  # a TIFF named .jpg: an image, in another format than its name says
)

# Zip entries carry a timestamp; a fixed one keeps the archive byte-identical between runs.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _ellipse_polygon(center, radii, angle, points=24):
    """An ellipse rotated by `angle` radians, as polygon vertices (Pillow draws only upright ones)."""
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    x, y = radii[0] * np.cos(t), radii[1] * np.sin(t)
    cos, sin = np.cos(angle), np.sin(angle)
    return [
        (center[0] + cos * dx - sin * dy, center[1] + sin * dx + cos * dy) for dx, dy in zip(x, y)
    ]


# Coat colours both classes share (orange, brown, black, white, grey, tan), jittered per image.
_FUR_COLOURS = np.array(
    [(205, 125, 55), (100, 65, 40), (45, 40, 38), (232, 226, 215), (150, 150, 155), (195, 165, 115)]
)


def _background_colour(rng, fur, min_distance=150):
    """A muted RGB colour (64-191 per channel) differing from the fur by at least
    `min_distance` (sum of channel differences). Muted, because loud backgrounds drown the
    animal for a small network trained for a few epochs."""
    while True:
        colour = rng.integers(64, 192, 3).astype(np.float32)
        if np.abs(colour - fur).sum() >= min_distance:
            return colour


def _background(rng, width, height, fur):
    """A two-colour gradient in a random direction, both colours far enough from the fur
    for the animal to stand out, as a PIL image."""
    angle = rng.uniform(0, 2 * np.pi)
    corner_x, corner_y = np.array([[0.0, 1.0], [0.0, 1.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])
    mix = np.cos(angle) * corner_x + np.sin(angle) * corner_y
    mix = ((mix - mix.min()) / (mix.max() - mix.min()))[..., None]
    start, end = _background_colour(rng, fur), _background_colour(rng, fur)
    corners = (start * (1 - mix) + end * mix).astype(np.uint8)
    # Bilinear scaling of the 2x2 corner colours draws the gradient in C: fast at 400 px.
    return Image.fromarray(corners).resize((width, height), Image.Resampling.BILINEAR)


# How often each class shows each trait: (P(trait | cat), P(trait | dog)). No trait decides
# the class alone, as in real photographs (folded-ear cats, prick-eared and brindle dogs), so a
# network must combine several cues, some a few pixels wide at the demo's 64x64, to do well.
_TRAIT_PROBABILITY = {
    "pointed_ears": (0.9, 0.1),
    "stripes": (0.7, 0.2),
    "slit_pupils": (0.9, 0.1),
    "muzzle": (0.1, 0.9),  # a pale snout patch under the eyes
    "dark_nose": (0.1, 0.9),  # a big black nose; else a small pink triangle
    "whiskers": (0.85, 0.2),
}


def _distractors(rng, draw, width, height):
    """Shapes scattered behind the animal, some ear-like triangles and whisker-like lines in
    coat colours, so that neither a shape nor a colour anywhere in the picture gives the class."""
    side = min(width, height)
    for _ in range(int(rng.integers(1, 5))):
        colour = tuple(
            int(c)
            for c in np.clip(
                _FUR_COLOURS[rng.integers(len(_FUR_COLOURS))] + rng.integers(-40, 41, 3), 0, 255
            )
        )
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        size = rng.uniform(0.05, 0.18) * side
        kind = rng.integers(3)
        if kind == 0:
            draw.polygon(
                [
                    (x - size, y + size),
                    (x + size, y + size),
                    (x + rng.uniform(-size, size), y - size),
                ],
                fill=colour,
            )
        elif kind == 1:
            draw.ellipse(
                [x - size, y - size * rng.uniform(0.4, 1.0), x + size, y + size], fill=colour
            )
        else:
            draw.line(
                [(x, y), (x + rng.uniform(-3, 3) * size, y + rng.uniform(-1, 1) * size)],
                fill=colour,
                width=max(1, int(side / 60)),
            )


def _draw_pet(rng, pet_class):
    """One cat or dog face as a PIL RGB image with photo-like proportions: 120-400 px a
    side, between 3:4 and 4:3."""
    width = int(rng.integers(120, 401))
    height = int(np.clip(width * rng.uniform(0.75, 1.34), 120, 400))
    class_index = PETIMAGES_CLASSES.index(pet_class)
    has = {
        trait: rng.random() < chance[class_index] for trait, chance in _TRAIT_PROBABILITY.items()
    }
    fur_colour = _FUR_COLOURS[rng.integers(len(_FUR_COLOURS))] + rng.integers(-25, 26, 3)
    fur = tuple(int(c) for c in np.clip(fur_colour, 0, 255))
    # Markings (stripes, floppy ears) contrast with the coat: darker, or lighter on a black coat.
    marking = tuple(int(c * 0.4) if sum(fur) > 240 else min(255, c + 100) for c in fur)
    image = _background(rng, width, height, np.array(fur))
    draw = ImageDraw.Draw(image)
    _distractors(rng, draw, width, height)

    # A small head, sometimes partly out of the picture: the face's cues are then few pixels.
    radius = rng.uniform(0.24, 0.33) * min(width, height)
    cx = rng.uniform(radius * 0.8, width - radius * 0.8)
    cy = rng.uniform(radius * 1.2, height - radius * 0.7)
    line_width = max(2, int(radius / 12))

    if has["pointed_ears"]:
        # Pointed ears standing up from the top of the head, pink inside.
        for side in (-1, 1):
            base_outer = (cx + side * radius * 0.98, cy - radius * 0.25)
            base_inner = (cx + side * radius * 0.1, cy - radius * 0.85)
            tip = (cx + side * radius * rng.uniform(0.8, 1.05), cy - radius * rng.uniform(1.3, 1.6))
            draw.polygon([base_outer, base_inner, tip], fill=fur)
            inner = [
                (0.6 * x + 0.4 * tip[0], 0.6 * y + 0.4 * tip[1])
                for x, y in (base_outer, base_inner)
            ]
            draw.polygon([*inner, tip], fill=(235, 150, 165))
    else:
        # Long floppy ears hanging down beside the head.
        for side in (-1, 1):
            ear = _ellipse_polygon(
                center=(cx + side * radius * 0.95, cy + radius * 0.2),
                radii=(radius * 0.35, radius * rng.uniform(0.7, 1.0)),
                angle=side * rng.uniform(0.1, 0.35),
            )
            draw.polygon(ear, fill=marking)
    draw.ellipse([cx - radius, cy - radius * 0.9, cx + radius, cy + radius * 0.9], fill=fur)

    if has["stripes"]:
        # Tabby (or brindle): stripes over the whole face, at a random slant.
        xx, yy = np.meshgrid(np.arange(width) - cx, np.arange(height) - cy)
        slant = rng.uniform(-0.35, 0.35)
        across = xx * np.cos(slant) + yy * np.sin(slant)
        stripes = (across + rng.uniform(0, radius)) % (radius * 0.42) < radius * 0.16
        face = (xx / radius) ** 2 + (yy / (radius * 0.9)) ** 2 < 1
        image.paste(marking, mask=Image.fromarray(((stripes & face) * 255).astype(np.uint8)))

    if has["muzzle"]:
        draw.ellipse(
            [cx - radius * 0.45, cy + radius * 0.05, cx + radius * 0.45, cy + radius * 0.75],
            fill=tuple(min(255, c + 70) for c in fur),
        )

    eye = radius * 0.14
    for side in (-1, 1):
        ex, ey = cx + side * radius * 0.4, cy - radius * 0.2
        draw.ellipse([ex - eye, ey - eye, ex + eye, ey + eye], fill=(250, 250, 240))
        pupil_width = eye * (0.3 if has["slit_pupils"] else 0.65)
        draw.ellipse(
            [ex - pupil_width, ey - eye * 0.9, ex + pupil_width, ey + eye * 0.9], fill=(10, 10, 10)
        )

    if has["dark_nose"]:
        nose = radius * 0.22
        draw.ellipse(
            [cx - nose, cy + radius * 0.08, cx + nose, cy + radius * 0.34], fill=(20, 15, 15)
        )
    else:
        nose = radius * 0.1
        draw.polygon(
            [
                (cx - nose, cy + radius * 0.15),
                (cx + nose, cy + radius * 0.15),
                (cx, cy + radius * 0.28),
            ],
            fill=(235, 120, 140),
        )
    if has["whiskers"]:
        for side in (-1, 1):
            for lift in (-0.12, 0.0, 0.12):
                draw.line(
                    [
                        (cx + side * radius * 0.2, cy + radius * 0.3),
                        (cx + side * radius * 1.3, cy + radius * (0.3 + lift)),
                    ],
                    fill=marking,
                    width=max(1, line_width // 2),
                )

    # A colour cast and sensor noise, as under varied light.
    cast = rng.uniform(0.75, 1.2, 3)
    pixels = np.asarray(image, dtype=np.float32) * cast + rng.integers(-20, 21, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _encoded(image, file_format, **options):
    buffer = io.BytesIO()
    image.save(buffer, file_format, **options)
    return buffer.getvalue()


def _junk_bytes(kind, image):
    """The file content of one junk kind; images are real pets, in the wrong mode or format."""
    if kind == "zero_byte":
        return b""
    if kind == "not_an_image":
        return b"<html><body>404: this is not an image</body></html>\n"
    if kind == "truncated_jpeg":
        jpeg = _encoded(image, "JPEG", quality=90)
        return jpeg[: len(jpeg) * 3 // 5]
    if kind == "thumbs_db":
        # The OLE2 compound-file signature that starts every real Thumbs.db.
        return bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)
    if kind == "greyscale_jpeg":
        return _encoded(image.convert("L"), "JPEG", quality=90)
    if kind == "cmyk_jpeg":
        return _encoded(image.convert("CMYK"), "JPEG", quality=90)
    if kind == "palette_png":
        return _encoded(image.convert("P"), "PNG")  # the fixed web palette: no slow quantising
    if kind == "rgba_png":
        rgba = image.convert("RGBA")
        rgba.putalpha(200)
        return _encoded(rgba, "PNG")
    if kind == "tiff":
        return _encoded(image, "TIFF")
    raise ValueError(f"unknown junk kind '{kind}'")


def write_petimages_zip(path, images_per_class, seed):
    """Write a PetImages-shaped zip to `path`; return {member path under PetImages/: junk kind}.

    Each class folder holds `images_per_class` good JPEGs named 0.jpg, 1.jpg, ... and after
    them one file of each kind in `PETIMAGES_JUNK` (named <n>.jpg, except Thumbs.db).
    """
    rng = np.random.default_rng(seed)
    junk = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for pet_class in PETIMAGES_CLASSES:
            for number in range(images_per_class):
                jpeg = _encoded(
                    _draw_pet(rng, pet_class), "JPEG", quality=int(rng.integers(75, 96))
                )
                archive.writestr(
                    zipfile.ZipInfo(f"PetImages/{pet_class}/{number}.jpg", _ZIP_DATE), jpeg
                )
            for offset, kind in enumerate(PETIMAGES_JUNK):
                name = "Thumbs.db" if kind == "thumbs_db" else f"{images_per_class + offset}.jpg"
                content = _junk_bytes(kind, _draw_pet(rng, pet_class))
                archive.writestr(
                    zipfile.ZipInfo(f"PetImages/{pet_class}/{name}", _ZIP_DATE), content
                )
                junk[f"{pet_class}/{name}"] = kind
    return junk


# ----------------------------------------------------------------------------- CIFAR-10

CIFAR10_CLASSES = (
    "disc",
    "square",
    "triangle",
    "ring",
    "cross",
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checkerboard",
    "dots",
)
_SIDE = 32


def _shape_masks(rng, class_index, count):
    """Boolean (count, 32, 32) masks of one class: a shape, or a texture inside a rectangle."""
    yy, xx = np.mgrid[0:_SIDE, 0:_SIDE].astype(np.float32)
    name = CIFAR10_CLASSES[class_index]

    def per_image(low, high):
        return rng.uniform(low, high, (count, 1, 1)).astype(np.float32)

    if class_index < 5:  # a solid shape of random size and position
        radius = per_image(6, 13)
        dx = xx - per_image(10, 22)
        dy = yy - per_image(10, 22)
        distance = np.hypot(dx, dy)
        if name == "disc":
            return distance < radius
        if name == "square":
            return np.maximum(np.abs(dx), np.abs(dy)) < radius * 0.85
        if name == "triangle":  # apex up, base at the bottom
            return (dy < radius) & (np.abs(dx) < (dy + radius) * 0.6)
        if name == "ring":
            return (distance < radius) & (distance > radius * 0.55)
        arm = radius * 0.3  # cross
        return ((np.abs(dx) < arm) & (np.abs(dy) < radius)) | (
            (np.abs(dy) < arm) & (np.abs(dx) < radius)
        )

    # A texture filling a random rectangle of at least half the image in each direction.
    period = per_image(4, 8)
    phase = per_image(0, 8)
    if name == "horizontal_stripes":
        texture = (yy + phase) % period < period / 2
    elif name == "vertical_stripes":
        texture = (xx + phase) % period < period / 2
    elif name == "diagonal_stripes":
        direction = np.where(rng.random((count, 1, 1)) < 0.5, 1.0, -1.0).astype(np.float32)
        texture = (xx + direction * yy + phase) % (period * 1.4) < period * 0.7
    elif name == "checkerboard":
        texture = ((np.floor((xx + phase) / period) + np.floor((yy + phase) / period)) % 2) == 0
    else:  # dots
        cell_x = (xx + phase) % period - period / 2
        cell_y = (yy + phase) % period - period / 2
        texture = np.hypot(cell_x, cell_y) < period * 0.28
    left, top = per_image(0, 12), per_image(0, 12)
    right, bottom = left + per_image(16, 32), top + per_image(16, 32)
    inside = (xx >= left) & (xx < right) & (yy >= top) & (yy < bottom)
    return texture & inside


def _cifar_like_images(rng, count):
    """`count` balanced, shuffled images (uint8 N,32,32,3) and labels (uint8 N)."""
    labels = rng.permutation(np.arange(count) % len(CIFAR10_CLASSES)).astype(np.uint8)
    images = np.empty((count, _SIDE, _SIDE, 3), dtype=np.float32)
    yy, xx = np.mgrid[0:_SIDE, 0:_SIDE].astype(np.float32) / _SIDE
    for class_index in range(len(CIFAR10_CLASSES)):
        where = np.flatnonzero(labels == class_index)
        mask = _shape_masks(rng, class_index, len(where))[..., None]
        background = rng.integers(0, 256, (len(where), 1, 1, 3)).astype(np.float32)
        foreground = rng.integers(0, 256, (len(where), 1, 1, 3)).astype(np.float32)
        # Too little contrast makes an image unlearnable: use the complementary colour then.
        too_close = np.abs(foreground - background).sum(axis=-1, keepdims=True) < 150
        foreground = np.where(too_close, 255 - background, foreground)
        gradient = rng.uniform(-40, 40, (len(where), 1, 1, 2)).astype(np.float32)
        shading = gradient[..., :1] * (xx[..., None] - 0.5) + gradient[..., 1:] * (
            yy[..., None] - 0.5
        )
        images[where] = np.where(mask, foreground, background) + shading
    images += 10 * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_cifar10_tar(path, train_images, test_images, seed):
    """Write a CIFAR-10-binary-shaped tar.gz to `path`: the same member names and records
    as cifar-10-binary.tar.gz, with `train_images` spread over data_batch_1..5."""
    rng = np.random.default_rng(seed)
    train, test = _cifar_like_images(rng, train_images), _cifar_like_images(rng, test_images)
    members = {
        name: cifar10.encode_records(train[0][index], train[1][index])
        for name, index in zip(
            cifar10.TRAIN_BATCHES,
            np.array_split(np.arange(train_images), len(cifar10.TRAIN_BATCHES)),
        )
    }
    members[cifar10.TEST_BATCH] = cifar10.encode_records(*test)
    members[cifar10.META_FILE] = ("\n".join(CIFAR10_CLASSES) + "\n\n").encode()
    members["readme.html"] = (
        b"<html><body><p>Synthetic CIFAR-10-shaped data written by cnnlab.data.synthetic "
        b"(shapes and textures, not photographs).</p></body></html>\n"
    )
    # gzip stamps the time and file name into its header unless told otherwise; level 1
    # because the archive is regenerated on every run and noisy pixels hardly compress.
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=1) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as archive,
    ):
        folder = tarfile.TarInfo("cifar-10-batches-bin")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(folder)
        for name, content in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size, info.mode = (
                len(content),
                0o644,
            )  # mtime, uid, gid stay 0: same bytes every run
            archive.addfile(info, io.BytesIO(content))
