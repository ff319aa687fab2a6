"""The floating-point work of the full-scale DAG (config.yaml + fullscale.yaml), job by job:
what one GPU has to get through, and how long that takes at a given sustained rate.

Every training job's FLOPs are counted from the model the workflow builds, with the same
profiler count as `benchmarks.training_throughput` (per image: one training step's forward
pass, loss and gradients; one forward pass for validation and test images), times the
full-scale image counts and epochs:

* a grid cell, a variant, the fine-tuned and the augmented VGG16: epochs x (training images x
  step + validation images x forward), plus the test images' forward pass (evaluate);
* the frozen VGG16: the base's forward pass over the training and validation images once,
  then epochs x the head on features, plus the test images' forward pass of the whole model.

The CIFAR-10 variants and the VGG16 head take the best grid cell's width: the report's best
(`--cifar10-best-filters`, default 256) is assumed. Nothing is timed; it takes a minute.

It also writes `--flops-file` (benchmarks/gpu/fullscale_flops.json, committed): each training
job's FLOPs by model folder (both grid widths for the variants), which the GPU run's report
turns into achieved TFLOP/s on a machine without TensorFlow's profiler. Counts run on
TensorFlow (its graph profiler), whatever backend the workflow trains on: the models are the same.

    python -m benchmarks.fullscale_compute --sustained-tflops 400
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.harness import (
    REPO,
    argument_parser,
    default_config,
    machine,
    print_table,
    write_results,
)

NAME = "fullscale_compute"
# The batch the FLOPs are counted at; FLOPs per image do not depend on it.
COUNT_BATCH = 2


def merged(base: dict, overlay: dict) -> dict:
    """`overlay` on `base`, nested dicts merged key by key, as Snakemake merges configfiles."""
    result = dict(base)
    for key, value in overlay.items():
        result[key] = (
            merged(result[key], value)
            if isinstance(value, dict) and isinstance(result.get(key), dict)
            else value
        )
    return result


def image_counts(config: dict) -> dict:
    """Training, validation and test images per data set at the config's sizes."""
    pets = config["data"]["petimages"]
    per_class = pets["images_per_class"]
    classes = 2
    cifar_train = config["data"]["cifar10"]["synthetic"]["train_images"]
    cifar_val = config["data"]["cifar10"]["validation_size"]
    return {
        "catsdogs": {
            split: round(per_class * pets["split"][split]) * classes
            for split in ("train", "val", "test")
        },
        "cifar10": {
            "train": cifar_train - cifar_val,
            "val": cifar_val,
            "test": config["data"]["cifar10"]["synthetic"]["test_images"],
        },
    }


def main(argv=None):
    import yaml

    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    parser.add_argument("--overlay", default=str(REPO / "fullscale.yaml"))
    parser.add_argument("--cifar10-best-filters", type=int, default=256)
    parser.add_argument(
        "--flops-file",
        type=Path,
        default=REPO / "benchmarks" / "gpu" / "fullscale_flops.json",
        help="where each training job's FLOPs go, for benchmarks.gpu.report",
    )
    parser.add_argument(
        "--sustained-tflops",
        type=float,
        nargs="+",
        default=[100.0, 400.0],
        help="sustained rates (TFLOP/s) to turn the total into minutes",
    )
    args = parser.parse_args(argv)
    with open(args.overlay) as handle:
        config = merged(default_config(), yaml.safe_load(handle))

    from cnnlab.runtime import use_backend

    use_backend("tensorflow")  # the profiler that counts FLOPs is TensorFlow's
    import keras

    from benchmarks.training_throughput import forward_flops_per_image, train_step_flops_per_image
    from cnnlab.models import catsdogs
    from cnnlab.runtime import configure
    from cnnlab.training.jobs import BUILDERS, compile_model

    configure(args.threads, args.seed)
    before = machine()
    counts = image_counts(config)
    image_size = config["data"]["petimages"]["image_size"]
    basic, vgg16 = config["catsdogs"]["basic"], config["catsdogs"]["vgg16"]
    cifar_basic = config["cifar10"]["basic"]

    def per_image(model):
        """(training step, forward pass) FLOPs per image of a model as a job compiles it."""
        compile_model(model, 1e-3, {})
        return train_step_flops_per_image(model, COUNT_BATCH), forward_flops_per_image(
            model, COUNT_BATCH
        )

    # Each training job's FLOPs by model folder under results/, for benchmarks.gpu.report.
    training_jobs = []

    def record_jobs(models, dataset, epochs, training_flops, filters=None):
        n = counts[dataset]
        training_jobs.extend(
            {
                "model": model,
                "filters": filters,
                "n_train": n["train"],
                "n_val": n["val"],
                "epochs": epochs,
                "training_FLOP": training_flops,
            }
            for model in models
        )

    def trained(name, model, dataset, epochs, models, filters=None, in_total=True):
        """The table row of `models` (their folders), each a job training `model`; their
        training FLOPs (validation passes included, evaluation not) go to the FLOPs file."""
        step, forward = per_image(model)
        n = counts[dataset]
        training_flops = epochs * (n["train"] * step + n["val"] * forward)
        record_jobs(models, dataset, epochs, training_flops, filters)
        if not in_total:
            return
        rows.append(
            {
                "job": name,
                "jobs": len(models),
                "epochs": epochs,
                "GFLOP/image (step)": step / 1e9,
                "PFLOP": len(models) * (training_flops + n["test"] * forward) / 1e15,
            }
        )

    def cells(dataset, grid, filters):
        return [
            f"{dataset}/basic/lr{learning_rate:g}_f{filters}"
            for learning_rate in grid["learning_rates"]
        ]

    rows = []
    for filters in basic["filters"]:
        keras.backend.clear_session()
        model = BUILDERS["catsdogs_basic"](
            {**basic, "image_size": image_size, "filters": filters}, 0, None
        )
        trained(
            f"catsdogs basic, {filters} filters",
            model,
            "catsdogs",
            basic["epochs"],
            cells("catsdogs", basic, filters),
            filters,
        )

    keras.backend.clear_session()
    base = catsdogs.vgg16_base(image_size, None)
    head = catsdogs.dense_head(base.output_shape[1:], basic["hidden_units"])
    whole = catsdogs.vgg16_classifier(base, head, vgg16["preprocessing"])
    n = counts["catsdogs"]
    base_forward = forward_flops_per_image(
        catsdogs.vgg16_features(base, vgg16["preprocessing"]), COUNT_BATCH
    )
    head_step, head_forward = per_image(head)
    whole_forward = forward_flops_per_image(whole, COUNT_BATCH)
    frozen_epochs = vgg16["frozen"]["epochs"]
    frozen_training = (n["train"] + n["val"]) * base_forward + frozen_epochs * (
        n["train"] * head_step + n["val"] * head_forward
    )
    record_jobs(["catsdogs/vgg16_frozen"], "catsdogs", frozen_epochs, frozen_training)
    rows.append(
        {
            "job": "VGG16 frozen (features once)",
            "jobs": 1,
            "epochs": frozen_epochs,
            "GFLOP/image (step)": head_step / 1e9,
            "PFLOP": (frozen_training + n["test"] * whole_forward) / 1e15,
        }
    )
    trained(
        "VGG16 fine-tune",
        catsdogs.unfreeze_vgg16_base(whole),
        "catsdogs",
        vgg16["finetune"]["epochs"],
        ["catsdogs/vgg16_finetune"],
    )
    keras.backend.clear_session()
    vgg_hp = {
        **vgg16,
        "image_size": image_size,
        "weights": None,
        "hidden_units": basic["hidden_units"],
        "augmentation": config["catsdogs"]["augmentation"],
    }
    trained(
        "VGG16 frozen + augmentation",
        BUILDERS["vgg16_augmented"](vgg_hp, 0, None),
        "catsdogs",
        vgg16["augmented"]["epochs"],
        ["catsdogs/vgg16_augmented"],
    )

    for filters in cifar_basic["filters"]:
        keras.backend.clear_session()
        model = BUILDERS["cifar10_basic"]({**cifar_basic, "filters": filters}, 0, None)
        trained(
            f"CIFAR-10 basic, {filters} filters",
            model,
            "cifar10",
            cifar_basic["epochs"],
            cells("cifar10", cifar_basic, filters),
            filters,
        )
    for variant in ("inception", "residual"):
        # The variant takes the grid's best width: the FLOPs file has every width, the total the
        # assumed best one.
        for filters in cifar_basic["filters"]:
            keras.backend.clear_session()
            model = BUILDERS[f"cifar10_{variant}"]({**cifar_basic, "filters": filters}, 0, None)
            trained(
                f"CIFAR-10 {variant}, {filters} filters",
                model,
                "cifar10",
                config["cifar10"][variant]["epochs"],
                [f"cifar10/{variant}"],
                filters,
                in_total=filters == args.cifar10_best_filters,
            )

    total = sum(row["PFLOP"] for row in rows)
    minutes = {
        f"{rate:g} TFLOP/s": total * 1e15 / (rate * 1e12) / 60 for rate in args.sustained_tflops
    }
    print_table(
        f"Full-scale DAG ({args.overlay}): training and evaluation FLOPs", rows, list(rows[0])
    )
    print(
        f"\ntotal {total:.2f} PFLOP; at a sustained "
        + ", ".join(f"{rate}: {value:.1f} min" for rate, value in minutes.items())
    )
    write_results(
        args.output,
        NAME,
        args,
        before,
        {"image_counts": counts, "rows": rows, "total_PFLOP": total, "minutes_at": minutes},
    )
    args.flops_file.write_text(
        json.dumps(
            {
                "made_by": f"python -m benchmarks.fullscale_compute --overlay {Path(args.overlay).name}",
                "what": "training FLOPs per job (train steps + validation passes, evaluation not), counted by "
                "TensorFlow's graph profiler",
                "jobs": training_jobs,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {args.flops_file}")


if __name__ == "__main__":
    main()
