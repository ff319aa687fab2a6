"""Input pipeline, images per second: the arrays pipeline against the tf.data one it replaced.

All sides read the same synthetic cats-vs-dogs JPEGs (made by the workflow's data stage) and
deliver shuffled batches at the training size (config `data.petimages.image_size`, 150x150):

* the report's baseline: `ImageDataGenerator(rescale=1/255).flow_from_directory`, which decodes
  and resizes every image again in every epoch, on JPEGs of `--full-size` (what the report
  read: photos of about 500x375) and on the JPEGs resized once (our split);
* before (the baseline of this change, rebuilt here from the package as it was before it,
  `git show HEAD~3:cnnlab/training/datasets.py`): `keras.utils.image_dataset_from_directory`
  then tf.data cache, shuffle, batch, prefetch. Its first epoch decodes and fills the cache;
  later epochs read the cache;
* after: `cnnlab.data.petimages.split_to_arrays` decodes the split once into an .npz (the data
  rule; counted in the first epoch here) and `ArrayBatches` (a `keras.utils.PyDataset`) cuts
  batches from the arrays, with and without the seeded reshuffle, read through Keras' own
  adapter: a tf.data dataset made by `from_generator` on TensorFlow, a JAX iterator on JAX (in a
  child process: a process's backend is fixed at Keras' first import). JAX's `fit` reads that;
* now, on TensorFlow: `ArrayBatches.for_fit(epochs)`, what `fit` reads there, one tf.data
  pipeline over the same arrays in the same seeded order that serves every epoch of the fit (one
  gather per batch, no Python per batch), drawn as fit draws it (steps per epoch, one iterator).

The same for CIFAR-10's arrays at the report's batch of 1024 (before: the .npz through tf.data;
after: ArrayBatches). Beside the rates, what a model consumes: training images/s on this CPU
(from `benchmarks.training_throughput`'s JSON, when it has been run) and, as an ESTIMATE, on a
GPU: `--gpu-sustained-tflops` divided by the model's counted FLOPs per image.

    python -m benchmarks.input_pipeline                          # about two minutes
    python -m benchmarks.input_pipeline --images-per-class 1000  # closer to the real split
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.harness import (
    Stopwatch,
    add_backend_options,
    argument_parser,
    cleaned_petimages,
    default_config,
    machine,
    print_table,
    run_on_backend,
    scratch_folder,
    synthetic_petimages,
    write_results,
)

NAME = "input_pipeline"
CONSUMPTION_FROM = Path("results/benchmarks/training_throughput.json")


def report_generator_epoch(folder, image_size, batch_size, seed) -> dict:
    """One epoch of the report's generator (rescale only): every epoch costs the same."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    batches = ImageDataGenerator(rescale=1.0 / 255).flow_from_directory(
        str(folder),
        target_size=tuple(image_size),
        batch_size=batch_size,
        class_mode="binary",
        shuffle=True,
        seed=seed,
    )
    images = 0
    with Stopwatch() as watch:
        for _ in range(len(batches)):
            image_batch, _labels = next(batches)
            images += len(image_batch)
    return {"epoch": "every", "images": images, "seconds": watch.seconds}


def tf_data_before(source, batch_size, image_size, seed, threads):
    """The tf.data pipeline of the package before this change (HEAD~3's `load_split`), rebuilt
    as it was: a split folder (image_dataset_from_directory, cast to uint8) or an .npz, then
    cache, shuffle (reshuffled each epoch), batch, prefetch, on a private thread pool."""
    import keras
    import tensorflow as tf

    if Path(source).is_dir():
        examples = keras.utils.image_dataset_from_directory(
            source,
            labels="inferred",
            label_mode="binary",
            class_names=["cat", "dog"],
            image_size=tuple(image_size),
            batch_size=None,
            shuffle=False,
        )
        count = len(examples.file_paths)
        examples = examples.map(lambda image, label: (tf.cast(tf.round(image), tf.uint8), label))
    else:
        with np.load(source) as arrays:
            examples = tf.data.Dataset.from_tensor_slices((arrays["images"], arrays["labels"]))
            count = len(arrays["labels"])
    examples = examples.cache().shuffle(count, seed=seed, reshuffle_each_iteration=True)
    examples = examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    return examples.with_options(options), count


def timed_epoch(batches, steps: int | None = None) -> tuple[int, float]:
    """(images, seconds) of drawing every batch of an iterable (or its next `steps`), each one
    finished as a training step would need it: a tensor of the backend (JAX's adapter yields
    NumPy arrays, which the trainer copies to the device), its first pixel read back."""
    import keras

    images = 0
    with Stopwatch() as watch:
        for image_batch, _labels in itertools.islice(batches, steps):
            keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(image_batch)[0, 0, 0])
            images += len(image_batch)
    return images, watch.seconds


def epoch_rows(
    first: tuple[int, float], later: list[tuple[int, float]], first_label: str, later_label: str
):
    return [
        {"epoch": first_label, "images": first[0], "seconds": first[1]},
        {
            "epoch": f"{later_label}, mean of {len(later)}",
            "images": int(np.mean([n for n, _ in later])),
            "seconds": float(np.mean([seconds for _, seconds in later])),
        },
    ]


def time_before(source, batch_size, image_size, seed, threads, later_epochs) -> list[dict]:
    dataset, _count = tf_data_before(source, batch_size, image_size, seed, threads)
    first = timed_epoch(dataset)
    later = [timed_epoch(dataset) for _ in range(later_epochs)]
    return epoch_rows(first, later, "first (decode, fill cache)", "later (cached)")


def time_array_batches(
    path, batch_size, seed, later_epochs, shuffle, pipeline="PyDataset"
) -> list[dict]:
    """ArrayBatches of an .npz as `fit` draws them: the first epoch (loading the .npz included)
    and later ones. `pipeline` "PyDataset": through Keras' PyDataset adapter for this process's
    backend (a tf.data dataset made by from_generator on TensorFlow, a JAX iterator on JAX), an
    iterator per epoch; "for_fit": what cnnlab's `fit` reads on TensorFlow
    (`ArrayBatches.for_fit(epochs)`, one tf.data pipeline for every epoch), drawn as Keras' fit
    draws it there: the callback's train and epoch begins, one iterator made after the first."""
    import keras
    from keras.src.trainers.data_adapters import PyDatasetAdapter

    from cnnlab.training.datasets import load_split

    epochs, iterator = 1 + later_epochs, None
    with Stopwatch() as load:
        batches = load_split(path, batch_size, shuffle=shuffle, seed=seed)
        if pipeline == "PyDataset":
            adapter = PyDatasetAdapter(batches, shuffle=False)
        else:
            fit_input = batches.for_fit(epochs)  # made once per job, before the first epoch
            fit_input.callback.on_train_begin()

    def one_epoch(epoch):
        nonlocal iterator
        if pipeline == "for_fit":
            fit_input.callback.on_epoch_begin(epoch)
            with Stopwatch() as making:
                iterator = iterator or iter(fit_input.data)
            images, seconds = timed_epoch(iterator, fit_input.steps_per_epoch)
            return images, making.seconds + seconds
        # As fit's epoch iterator does: the dataset's epoch, then the adapter's hooks.
        batches.set_epoch(epoch)
        adapter.on_epoch_begin()
        draw = (
            adapter.get_jax_iterator()
            if keras.backend.backend() == "jax"
            else adapter.get_tf_dataset()
        )
        timed = timed_epoch(draw)
        adapter.on_epoch_end()
        return timed

    images, seconds = one_epoch(0)
    later = [one_epoch(epoch) for epoch in range(1, epochs)]
    return epoch_rows((images, load.seconds + seconds), later, "first (load .npz)", "later")


def array_rows(args, arrays: dict) -> list[dict]:
    """This process's ArrayBatches rows, on its backend: through Keras' PyDataset adapter and,
    on TensorFlow, through the tf.data pipeline `fit` reads there (`for_fit`)."""
    import keras

    backend = keras.backend.backend()
    pipelines = {"PyDataset": f"after: ArrayBatches (PyDataset) on {backend}"}
    if backend == "tensorflow":
        pipelines["for_fit"] = "now: ArrayBatches.for_fit(epochs) (tf.data) on tensorflow"
    rows = []
    for data, path, batch_size in (
        ("cats/dogs", arrays["catsdogs"], args.batch_size),
        ("CIFAR-10", arrays["cifar10"], args.cifar10_batch_size),
    ):
        if path is None:
            continue
        for shuffle in (True, False):
            for pipeline, label in pipelines.items():
                for row in time_array_batches(
                    path, batch_size, args.seed, args.later_epochs, shuffle, pipeline
                ):
                    rows.append(
                        {
                            "data": data,
                            "pipeline": label,
                            "shuffle": "yes" if shuffle else "no",
                            "batch": batch_size,
                            **row,
                        }
                    )
    return rows


def consumption(gpu_sustained_tflops: float) -> list[dict]:
    """Per model: training images/s on this CPU per backend (training_throughput's JSON) and the
    GPU ESTIMATE, sustained FLOP/s over counted FLOPs per image."""
    if not CONSUMPTION_FROM.exists():
        return []
    measured = json.loads(CONSUMPTION_FROM.read_text())
    rows = {}
    for row in measured["rows"]:
        entry = rows.setdefault(row["model"], {"model": row["model"], "batch (CPU)": row["batch"]})
        entry[f"CPU {row['backend']} images/s (measured)"] = row["images_per_second"]
        if row["GFLOP_per_image"]:
            entry[f"GPU images/s at {gpu_sustained_tflops:g} TFLOP/s (ESTIMATE)"] = (
                gpu_sustained_tflops * 1e3 / row["GFLOP_per_image"]
            )
    return list(rows.values())


def main(argv=None):
    config = default_config()
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    add_backend_options(parser)
    parser.add_argument("--images-per-class", type=int, default=200)
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=config["data"]["petimages"]["image_size"],
        metavar=("HEIGHT", "WIDTH"),
        help="the training size every pipeline delivers",
    )
    parser.add_argument(
        "--full-size",
        type=int,
        nargs=2,
        default=[375, 500],
        metavar=("HEIGHT", "WIDTH"),
        help="size of the 'real-size' JPEGs the report's generator decoded (PetImages photos are mostly about 500x375)",
    )
    parser.add_argument("--batch-size", type=int, default=config["catsdogs"]["basic"]["batch_size"])
    parser.add_argument("--later-epochs", type=int, default=3, help="later epochs to average")
    parser.add_argument(
        "--cifar10-images",
        type=int,
        default=45000,
        help="CIFAR-10 training images (random uint8 arrays; 0: skip them)",
    )
    parser.add_argument(
        "--cifar10-batch-size", type=int, default=config["cifar10"]["basic"]["batch_size"]
    )
    parser.add_argument(
        "--gpu-sustained-tflops",
        type=float,
        default=150.0,
        help="the sustained rate of the GPU ESTIMATE of what a model consumes",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    from cnnlab.runtime import configure, use_backend

    use_backend(args.worker or "tensorflow")  # the baselines are TensorFlow's
    configure(args.threads, args.seed)
    with scratch_folder(args.workdir) as workdir:
        arrays = {
            "catsdogs": workdir / "arrays" / "train.npz",
            "cifar10": workdir / "arrays" / "cifar10_train.npz" if args.cifar10_images else None,
        }
        arrays["catsdogs"].parent.mkdir(exist_ok=True)
        if args.worker:
            args.worker_output.write_text(json.dumps(array_rows(args, arrays)))
            return
        before = machine()
        raw_dir = synthetic_petimages(workdir, args.images_per_class, args.seed)
        full_size = cleaned_petimages(raw_dir, workdir / "full_size", args.full_size, args.threads)
        resized = cleaned_petimages(raw_dir, workdir / "resized", args.image_size, args.threads)
        size = "{}x{}".format(*reversed(args.image_size))
        rows = [
            {
                "data": "cats/dogs",
                "pipeline": "report: ImageDataGenerator, JPEGs of "
                + "{}x{}".format(*reversed(args.full_size)),
                "shuffle": "yes",
                **report_generator_epoch(full_size, args.image_size, args.batch_size, args.seed),
            },
            {
                "data": "cats/dogs",
                "pipeline": f"report: ImageDataGenerator, JPEGs of {size}",
                "shuffle": "yes",
                **report_generator_epoch(resized, args.image_size, args.batch_size, args.seed),
            },
        ]
        rows += [
            {"data": "cats/dogs", "pipeline": "before: tf.data (HEAD~3)", "shuffle": "yes", **row}
            for row in time_before(
                resized,
                args.batch_size,
                args.image_size,
                args.seed,
                args.threads,
                args.later_epochs,
            )
        ]
        from cnnlab.data.petimages import split_to_arrays

        with Stopwatch() as decode:
            split_to_arrays(resized, arrays["catsdogs"])
        if arrays["cifar10"]:
            rng = np.random.default_rng(args.seed)
            np.savez(
                arrays["cifar10"],
                images=rng.integers(0, 256, (args.cifar10_images, 32, 32, 3), dtype=np.uint8),
                labels=rng.integers(0, 10, args.cifar10_images).astype(np.uint8),
            )
            rows += [
                {
                    "data": "CIFAR-10",
                    "pipeline": "before: tf.data (HEAD~3)",
                    "shuffle": "yes",
                    "batch": args.cifar10_batch_size,
                    **row,
                }
                for row in time_before(
                    arrays["cifar10"],
                    args.cifar10_batch_size,
                    None,
                    args.seed,
                    args.threads,
                    args.later_epochs,
                )
            ]
        after = []
        for backend in args.backends:
            if backend == "tensorflow":
                after += array_rows(args, arrays)
            else:
                after += run_on_backend(NAME, backend, [*argv, "--workdir", str(workdir)])
        for row in after:
            if row["data"] == "cats/dogs" and row["epoch"].startswith("first"):
                # The split decoded once into its .npz: the data rule's work, which the
                # tf.data pipeline did in its first epoch.
                row["epoch"] = "first (split_to_arrays decode + load .npz)"
                row["seconds"] += decode.seconds
        rows += after

    for row in rows:
        row.setdefault("batch", args.batch_size)
        row["images_per_second"] = row["images"] / row["seconds"]
    consumers = consumption(args.gpu_sustained_tflops)
    columns = [
        "data",
        "pipeline",
        "shuffle",
        "epoch",
        "batch",
        "images",
        "seconds",
        "images_per_second",
    ]
    print_table(
        f"Input pipelines at {size} (cats/dogs) and 32x32 (CIFAR-10), {args.threads} threads",
        rows,
        columns,
    )
    if consumers:
        print_table(
            f"What a training step consumes (CPU: measured, {CONSUMPTION_FROM}; GPU: ESTIMATE)",
            consumers,
            list(dict.fromkeys(key for row in consumers for key in row)),
        )
    else:
        print(
            f"\n(no {CONSUMPTION_FROM}: run python -m benchmarks.training_throughput for the consumption table)"
        )
    write_results(args.output, NAME, args, before, {"rows": rows, "consumption": consumers})


if __name__ == "__main__":
    main()
