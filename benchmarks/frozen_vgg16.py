"""The frozen-VGG16 stage two ways, same data, seed and epochs: wall time and the head's accuracy.

* the report's way: the whole network (preprocessing, frozen VGG16 base, dense head) trained
  end to end on images, so every epoch runs every training and validation image through the
  base again;
* ours (`cnnlab.training.jobs.train_frozen_vgg16`, what the workflow runs): the base's
  features of each split are computed once and the head trains on them.

With the base frozen both train the same head from the same initial weights on the same
batches in the same order, so their histories should agree to float rounding: the table shows
the wall-time ratio and the largest per-epoch difference in validation accuracy and loss. The
base's forward passes, nearly all the compute, differ by the number of epochs; the wall-time
ratio is lower by the fixed costs both pay once (building VGG16, reading the images).
VGG16's weights are random (`weights=None`, seeded), as in the demo: the compute is the same as
with the ImageNet weights, and nothing is downloaded.

    python -m benchmarks.frozen_vgg16                     # about a minute on 2 cores (64x64)
    python -m benchmarks.frozen_vgg16 --images-per-class 140 --image-size 150 150   # ~200 training images at 150x150, ~4 min
"""

from __future__ import annotations

from pathlib import Path

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

NAME = "frozen_vgg16"
# Plain float32, no XLA: the CPU path on TensorFlow.
RUNTIME = {"mixed_precision": "float32", "xla": False, "deterministic_ops": False}


def split_arrays(
    workdir: Path, clean_dir: Path, images_per_class: int, ratios: dict, seed: int
) -> dict:
    """The split_petimages and decode_petimages_split stages: a seeded subset split into
    train/val/test folders, each decoded into the .npz training reads."""
    from cnnlab.data.petimages import split_petimages, split_to_arrays

    splits = ("train", "val", "test")
    split_dirs = {split: workdir / "split" / split for split in splits}
    arrays = {split: workdir / "arrays" / f"{split}.npz" for split in splits}
    if not arrays["test"].exists():
        split_petimages(
            clean_dir, split_dirs, workdir / "split_manifest.csv", images_per_class, ratios, seed
        )
        for split in splits:
            split_to_arrays(split_dirs[split], arrays[split])
    return arrays


def end_to_end(hp: dict, arrays: dict, scratch_dir: Path, seed: int, threads: int):
    """The report's way, built from the workflow's own model functions and `fit`."""
    from cnnlab.models import catsdogs
    from cnnlab.runtime import configure
    from cnnlab.training.datasets import load_split
    from cnnlab.training.jobs import compile_model, fit

    configure(threads, seed, RUNTIME)
    # The same draws, in the same order, as train_frozen_vgg16: the base, then the head.
    base = catsdogs.vgg16_base(hp["image_size"], hp["weights"])
    head = catsdogs.dense_head(base.output_shape[1:], hp["hidden_units"])
    model = catsdogs.vgg16_classifier(base, head, hp["preprocessing"], name="vgg16_end_to_end")
    compile_model(model, hp["learning_rate"], RUNTIME)
    # The same seeded order per epoch as ours draws over the features.
    train = load_split(arrays["train"], hp["batch_size"], shuffle=True, seed=seed)
    val = load_split(arrays["val"], hp["batch_size"])
    fit(model, train, val, hp["epochs"], scratch_dir)


def cached_features(hp: dict, arrays: dict, scratch_dir: Path, seed: int, threads: int):
    """Ours: the workflow's own frozen stage, fed the split arrays as train_job feeds it."""
    from cnnlab.runtime import configure
    from cnnlab.training.datasets import read_arrays
    from cnnlab.training.jobs import train_frozen_vgg16

    configure(threads, seed, RUNTIME)
    train_frozen_vgg16(
        hp, read_arrays(arrays["train"]), read_arrays(arrays["val"]), scratch_dir, RUNTIME, seed
    )


def main(argv=None):
    config = default_config()
    vgg16 = config["catsdogs"]["vgg16"]
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    parser.add_argument(
        "--images-per-class",
        type=int,
        default=70,
        help="images per class before the train/val/test split (config's ratios)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=[64, 64],
        metavar=("HEIGHT", "WIDTH"),
        help="config.yaml's is 150 150",
    )
    parser.add_argument("--epochs", type=int, default=vgg16["frozen"]["epochs"])
    parser.add_argument("--batch-size", type=int, default=vgg16["batch_size"])
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=1e-3,
        help="the head's; the workflow takes it from the basic grid's best cell",
    )
    parser.add_argument(
        "--hidden-units", type=int, default=config["catsdogs"]["basic"]["hidden_units"]
    )
    parser.add_argument(
        "--preprocessing", choices=["vgg", "rescale"], default=vgg16["preprocessing"]
    )
    args = parser.parse_args(argv)

    from cnnlab.runtime import configure, use_backend

    use_backend("tensorflow")  # the CPU path this comparison was first measured on
    from cnnlab.history import read_history
    from cnnlab.training.datasets import read_arrays

    # TensorFlow's thread counts are fixed at its first use.
    configure(args.threads)

    hp = {
        "image_size": args.image_size,
        "weights": None,
        "preprocessing": args.preprocessing,
        "hidden_units": args.hidden_units,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
    }
    before = machine()
    with scratch_folder(args.workdir) as workdir:
        raw_dir = synthetic_petimages(workdir, args.images_per_class, args.seed)
        clean_dir = cleaned_petimages(
            raw_dir,
            workdir / f"clean_{args.image_size[0]}x{args.image_size[1]}",
            args.image_size,
            args.threads,
        )
        arrays = split_arrays(
            workdir,
            clean_dir,
            args.images_per_class,
            config["data"]["petimages"]["split"],
            args.seed,
        )
        counts = {split: len(read_arrays(arrays[split])[1]) for split in ("train", "val")}
        histories, rows = {}, []
        images_through_base = counts["train"] + counts["val"]
        for way, train, base_passes in (
            ("report: base recomputed every epoch", end_to_end, args.epochs * images_through_base),
            ("ours: features once, head on them", cached_features, images_through_base),
        ):
            scratch_dir = workdir / "runs" / train.__name__
            scratch_dir.mkdir(parents=True)
            with Stopwatch() as watch:
                train(hp, arrays, scratch_dir, args.seed, args.threads)
            histories[way] = read_history(scratch_dir / "history.csv")
            last = histories[way][-1]
            rows.append(
                {
                    "way": way,
                    "seconds": watch.seconds,
                    "epochs": len(histories[way]),
                    "images through the base": base_passes,
                    "final val_accuracy": last["val_accuracy"],
                    "final val_loss": last["val_loss"],
                }
            )

    slow, fast = histories.values()
    comparison = {
        "training_images": counts["train"],
        "validation_images": counts["val"],
        "wall_time_ratio": rows[0]["seconds"] / rows[1]["seconds"],
        "final_val_accuracy_difference": rows[1]["final val_accuracy"]
        - rows[0]["final val_accuracy"],
        "max_epoch_val_accuracy_difference": max(
            abs(a["val_accuracy"] - b["val_accuracy"]) for a, b in zip(slow, fast)
        ),
        "max_epoch_val_loss_difference": max(
            abs(a["val_loss"] - b["val_loss"]) for a, b in zip(slow, fast)
        ),
        "max_epoch_train_loss_difference": max(
            abs(a["loss"] - b["loss"]) for a, b in zip(slow, fast)
        ),
    }
    print_table(
        f"Frozen VGG16 at {args.image_size[0]}x{args.image_size[1]}: {counts['train']} training, "
        f"{counts['val']} validation images, {args.epochs} epochs, batch {args.batch_size}, "
        f"{args.threads} threads",
        rows,
        list(rows[0]),
    )
    print_table("Ours against the report's way", [comparison], list(comparison))
    write_results(
        args.output,
        NAME,
        args,
        before,
        {"rows": rows, "comparison": comparison, "histories": histories},
    )


if __name__ == "__main__":
    main()
