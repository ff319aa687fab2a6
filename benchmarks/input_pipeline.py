"""Input pipeline, images per second: the report's ImageDataGenerator against our tf.data.

Both sides read the same synthetic cats-vs-dogs JPEGs (made by the workflow's data stage) and
deliver batches at the training size (config `data.petimages.image_size`, 150x150), with and
without the report's augmentation:

* the report's side: `ImageDataGenerator(rescale=1/255[, augmentation]).flow_from_directory`,
  which decodes, resizes and (with scipy) transforms every image again in every epoch;
* our side: `cnnlab.training.datasets.load_split` (tf.data: decode once, cache, shuffle,
  batch, prefetch) plus `cnnlab.models.augmentation.augmentation_layers` applied to each batch,
  as the augmented VGG16 model applies them in training.

Each side reads two copies of the images, both written by `clean_petimages`: resized to
`--full-size` (what the report's generator read: photos of about 500x375) and resized once to
the training size (what our split holds). So the table separates the three sources of the
speed-up: reading pre-resized files, tf.data and Keras layers instead of Python and scipy per
image, and the cache (our first epoch decodes, later ones read decoded images from memory).
Two more rows time our CIFAR-10 pipeline (uint8 arrays from an .npz) at the report's batch of
1024, the rate a GPU training job would be fed at.

    python -m benchmarks.input_pipeline                          # about a minute
    python -m benchmarks.input_pipeline --images-per-class 1000  # closer to the real split
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import (
    Stopwatch,
    argument_parser,
    cleaned_petimages,
    default_config,
    machine,
    print_table,
    scratch_folder,
    synthetic_petimages,
    write_results,
)

NAME = "input_pipeline"


def report_generator(folder, image_size, batch_size, augment: bool, seed: int):
    """The report's generator, with its exact settings."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    augmentation = dict(
        rotation_range=40,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        fill_mode="nearest",
    )
    generator = ImageDataGenerator(rescale=1.0 / 255, **(augmentation if augment else {}))
    return generator.flow_from_directory(
        str(folder), target_size=tuple(image_size), batch_size=batch_size,
        class_mode="binary", shuffle=True, seed=seed,
    )


def time_report_epoch(folder, image_size, batch_size, augment, seed) -> dict:
    """One epoch of the report's generator: every epoch costs the same, nothing is kept."""
    batches = report_generator(folder, image_size, batch_size, augment, seed)
    images = 0
    with Stopwatch() as watch:
        for _ in range(len(batches)):
            image_batch, _labels = next(batches)
            images += len(image_batch)
    return {"epoch": "every", "images": images, "seconds": watch.seconds}


def time_our_epochs(folder, image_size, batch_size, augment, seed, threads, later_epochs) -> list[dict]:
    """Our pipeline's first epoch (decodes and fills the cache) and the mean of `later_epochs`
    more (read the cache)."""
    import tensorflow as tf

    from cnnlab.models.augmentation import augmentation_layers
    from cnnlab.training.datasets import load_split

    dataset, count = load_split(folder, batch_size, image_size, shuffle=True, seed=seed, threads=threads)
    augmentation = augmentation_layers(default_config()["catsdogs"]["augmentation"], seed=seed)

    @tf.function
    def augmented(images):
        # The model's input is float32: the uint8 batch is cast where the model would cast it.
        return augmentation(tf.cast(images, tf.float32), training=True)

    def one_epoch() -> float:
        with Stopwatch() as watch:
            for images, _labels in dataset:
                if augment:
                    images = augmented(images)
                # Wait for the batch to be finished, as a training step would.
                np.asarray(images[0, 0, 0])
        return watch.seconds

    first = one_epoch()
    later = [one_epoch() for _ in range(later_epochs)]
    return [
        {"epoch": "first (decode, fill cache)", "images": count, "seconds": first},
        {"epoch": f"later (cached, mean of {later_epochs})", "images": count, "seconds": float(np.mean(later))},
    ]


def time_cifar10_epochs(workdir, count, batch_size, seed, threads, later_epochs) -> list[dict]:
    """Our CIFAR-10 pipeline (an .npz of uint8 arrays, as prepare_cifar10 writes it) at the
    report's batch size: the first epoch and the mean of `later_epochs` more."""
    from cnnlab.training.datasets import load_split

    rng = np.random.default_rng(seed)
    path = workdir / "cifar10_train.npz"
    np.savez(path, images=rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, count).astype(np.uint8))
    dataset, count = load_split(path, batch_size, shuffle=True, seed=seed, threads=threads)

    def one_epoch() -> float:
        with Stopwatch() as watch:
            for images, _labels in dataset:
                np.asarray(images[0, 0, 0])
        return watch.seconds

    first = one_epoch()
    later = [one_epoch() for _ in range(later_epochs)]
    common = {"pipeline": "ours: tf.data (arrays)", "JPEGs": "CIFAR-10 32x32 .npz", "augmentation": "no",
              "batch": batch_size}
    return [
        {**common, "epoch": "first (fill cache)", "images": count, "seconds": first},
        {**common, "epoch": f"later (cached, mean of {later_epochs})", "images": count, "seconds": float(np.mean(later))},
    ]


def main(argv=None):
    config = default_config()
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    parser.add_argument("--images-per-class", type=int, default=200)
    parser.add_argument(
        "--image-size", type=int, nargs=2, default=config["data"]["petimages"]["image_size"],
        metavar=("HEIGHT", "WIDTH"), help="the training size both pipelines deliver",
    )
    parser.add_argument(
        "--full-size", type=int, nargs=2, default=[375, 500], metavar=("HEIGHT", "WIDTH"),
        help="size of the 'real-size' JPEGs the report's generator decoded (PetImages photos are mostly about 500x375)",
    )
    parser.add_argument("--batch-size", type=int, default=config["catsdogs"]["basic"]["batch_size"])
    parser.add_argument("--later-epochs", type=int, default=3, help="cached epochs of our pipeline to average")
    parser.add_argument("--cifar10-images", type=int, default=45000,
                        help="CIFAR-10 training images for our arrays pipeline (0: skip it)")
    parser.add_argument("--cifar10-batch-size", type=int, default=config["cifar10"]["basic"]["batch_size"])
    args = parser.parse_args(argv)

    from cnnlab.runtime import configure_tensorflow

    configure_tensorflow(args.threads, args.seed)
    before = machine()
    with scratch_folder(args.workdir) as workdir:
        raw_dir = synthetic_petimages(workdir, args.images_per_class, args.seed)
        sources = {
            "{}x{} (as the report read them)".format(*reversed(args.full_size)): cleaned_petimages(
                raw_dir, workdir / "full_size", args.full_size, args.threads
            ),
            "{}x{} (resized once, our split)".format(*reversed(args.image_size)): cleaned_petimages(
                raw_dir, workdir / "resized", args.image_size, args.threads
            ),
        }
        rows = []
        for augment in (False, True):
            for source, folder in sources.items():
                common = {"JPEGs": source, "augmentation": "yes" if augment else "no"}
                rows.append({"pipeline": "report: ImageDataGenerator", **common,
                             **time_report_epoch(folder, args.image_size, args.batch_size, augment, args.seed)})
                for epoch in time_our_epochs(folder, args.image_size, args.batch_size, augment,
                                             args.seed, args.threads, args.later_epochs):
                    rows.append({"pipeline": "ours: tf.data + Keras layers", **common, **epoch})
        if args.cifar10_images:
            rows += time_cifar10_epochs(workdir, args.cifar10_images, args.cifar10_batch_size,
                                        args.seed, args.threads, args.later_epochs)
    for row in rows:
        row.setdefault("batch", args.batch_size)
        row["images_per_second"] = row["images"] / row["seconds"]

    def speed(pipeline, source_index, augment, epoch_prefix):
        source = list(sources)[source_index]
        (match,) = [
            row for row in rows
            if row["pipeline"].startswith(pipeline) and row["JPEGs"] == source
            and row["augmentation"] == augment and row["epoch"].startswith(epoch_prefix)
        ]
        return match["images_per_second"]

    speedups = []
    for augment in ("no", "yes"):
        report_full = speed("report", 0, augment, "every")
        report_resized = speed("report", 1, augment, "every")
        ours_first = speed("ours", 1, augment, "first")
        ours_cached = speed("ours", 1, augment, "later")
        speedups.append({
            "augmentation": augment,
            "total: ours cached / report full-size": ours_cached / report_full,
            "resize once (report's API)": report_resized / report_full,
            "tf.data + layers (1st epoch, same files)": ours_first / report_resized,
            "cache (later / 1st epoch)": ours_cached / ours_first,
        })

    columns = ["pipeline", "JPEGs", "augmentation", "epoch", "batch", "images", "seconds", "images_per_second"]
    print_table(f"Input pipelines, cats/dogs at {args.image_size[0]}x{args.image_size[1]}, {args.threads} threads",
                rows, columns)
    print_table("Speed-up of ours over the report's generator, and where it comes from (factors multiply)",
                speedups, list(speedups[0]))
    write_results(args.output, NAME, args, before, {"rows": rows, "speedups": speedups})


if __name__ == "__main__":
    main()
