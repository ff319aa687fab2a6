"""Training throughput of every architecture on each Keras backend (TensorFlow and JAX), in
images per second and as a fraction of this machine's fp32 matmul peak, measured in one run.

A process's Keras backend is fixed when it first imports Keras, so each backend is measured in
a child process of its own (`cnnlab.runtime.use_backend` before anything imports Keras), one
after the other. In each, every model is built by the workflow's own code
(`cnnlab.training.jobs.BUILDERS`, or the `cnnlab.models.catsdogs` functions the VGG16 stages
use), compiled with `compile_model` as a training job on this CPU compiles it (Adam, float32;
`resolve_speed_switches`: no XLA on TensorFlow without a GPU, always compiled on JAX), and
trained with `train_on_batch` (Keras' compiled train step, the one `fit` runs) on random uint8
images held in memory: the input pipeline is measured apart (`benchmarks.input_pipeline`).
After one untimed step (tracing and compilation), steps run until `--seconds` have passed.

FLOPs per image are counted, not estimated: TensorFlow's graph profiler
(`tf.compat.v1.profiler`, float_operation) sums the floating-point operations of every op in
the graph of one step's loss and gradients for a fixed batch (Conv2D, its two backprop ops,
MatMul, BiasAdd, ... each op has a registered FLOP formula; a multiply-add counts as two), and
the sum is divided by the batch size. Left out: the optimizer's update (a few FLOPs per weight
per step) and ops without a registered formula, such as the augmentation's image transforms.
Counted though the step skips it: the first layer's gradient with respect to the input image
(under 0.5% of a step). A frozen VGG16 base is not differentiated (nothing below it trains),
so it counts as its forward pass only, as the step runs it.

The FLOPs are counted in the TensorFlow process (the profiler is TensorFlow's); the models are
the same on JAX. The peak is a large float32 `keras.ops.matmul` (2 n^3 FLOPs) on each backend,
the best of a few, measured before and after the models; the higher of the two is the peak that
backend's rows divide by.

    python -m benchmarks.training_throughput                        # about four minutes on 2 cores
    python -m benchmarks.training_throughput --backends jax --only CIFAR
    python -m benchmarks.training_throughput --max-batch-size 0 --seconds 30   # the report's batch sizes
"""

from __future__ import annotations

import functools
import json
import sys

import numpy as np

from benchmarks.harness import (
    Stopwatch,
    add_backend_options,
    argument_parser,
    default_config,
    machine,
    print_table,
    run_on_backend,
    write_results,
)

NAME = "training_throughput"
# Float32 on this CPU; xla "auto" is off on TensorFlow without a GPU, and JAX always compiles.
SPEED_SWITCHES = {"mixed_precision": False, "xla": "auto", "deterministic_ops": False}


def matmul_peak(size: int, repeats: int) -> float:
    """FLOP/s of the best of `repeats` float32 matmuls of two size x size matrices."""
    import keras

    rng = np.random.default_rng(1)
    left, right = (
        keras.ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
        for _ in range(2)
    )
    keras.ops.convert_to_numpy(keras.ops.matmul(left, right))  # warm up
    best = float("inf")
    for _ in range(repeats):
        with Stopwatch() as watch:
            keras.ops.convert_to_numpy(keras.ops.matmul(left, right))
        best = min(best, watch.seconds)
    return 2 * size**3 / best


def graph_flops(function, *input_specs) -> int:
    """The floating-point operations TensorFlow's profiler counts in `function`'s graph."""
    import tensorflow as tf

    graph = tf.function(function).get_concrete_function(*input_specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


def takes_images(model) -> bool:
    """Whether the model's input is RGB pixels (fed as uint8, as the pipelines do) rather than
    features (float32)."""
    return model.input_shape[-1] == 3


def input_spec(model, batch_size: int):
    import tensorflow as tf

    return tf.TensorSpec(
        (batch_size, *model.input_shape[1:]), tf.uint8 if takes_images(model) else tf.float32
    )


def label_spec(model, batch_size: int):
    import tensorflow as tf

    return tf.TensorSpec(
        (batch_size, 1) if model.output_shape[-1] == 1 else (batch_size,), tf.float32
    )


def train_step_flops_per_image(model, batch_size: int) -> float:
    """FLOPs of one step's forward pass, loss and gradients, per image."""
    import tensorflow as tf

    def loss_and_gradients(inputs, labels):
        # Only the trainable weights are watched: a frozen base's backward pass, which the
        # step's graph prunes, is then never built, so the profiler does not count it.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([variable.value for variable in model.trainable_variables])
            loss = model.compute_loss(x=inputs, y=labels, y_pred=model(inputs, training=True))
        return tape.gradient(loss, model.trainable_variables)

    spec = input_spec(model, batch_size)
    return graph_flops(loss_and_gradients, spec, label_spec(model, batch_size)) / batch_size


def forward_flops_per_image(model, batch_size: int) -> float:
    return (
        graph_flops(lambda inputs: model(inputs, training=False), input_spec(model, batch_size))
        / batch_size
    )


def random_batch(model, batch_size: int, rng):
    """Random inputs of the model's shape (uint8 pixels for images) and valid labels."""
    shape = (batch_size, *model.input_shape[1:])
    if takes_images(model):
        inputs = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
        inputs = rng.standard_normal(shape).astype(np.float32)
    classes = model.output_shape[-1]
    labels = (
        rng.integers(0, 2, (batch_size, 1))
        if classes == 1
        else rng.integers(0, classes, batch_size)
    )
    return inputs, labels.astype(np.float32)


def timed_steps(step, seconds: float) -> tuple[int, float]:
    """Run `step` once untimed, then until `seconds` have passed (at least twice)."""
    step()
    steps = 0
    with Stopwatch() as watch:
        while True:
            step()
            steps += 1
            if steps >= 2 and watch.elapsed() >= seconds:
                break
    return steps, watch.seconds


def architectures(config: dict, catsdogs_filters: int, cifar10_filters: int):
    """(row name, batch size, build(), kind) of every model the workflow trains; kind is
    "train" (a training step) or "forward" (inference only: the frozen base's features)."""
    from cnnlab.models import catsdogs
    from cnnlab.training.jobs import BUILDERS

    image_size = config["data"]["petimages"]["image_size"]
    basic, vgg16 = config["catsdogs"]["basic"], config["catsdogs"]["vgg16"]
    # The hyper-parameters as the rules pass them: the config section, plus what a rule adds.
    basic_hp = {**basic, "image_size": image_size, "filters": catsdogs_filters}
    vgg_hp = {
        **vgg16,
        "image_size": image_size,
        "weights": None,
        "hidden_units": basic["hidden_units"],
        "augmentation": config["catsdogs"]["augmentation"],
    }
    cifar10_hp = {**config["cifar10"]["basic"], "filters": cifar10_filters}

    def vgg16_parts():
        base = catsdogs.vgg16_base(image_size, None)
        return base, catsdogs.dense_head(base.output_shape[1:], basic["hidden_units"])

    def frozen_features():
        base, _head = vgg16_parts()
        return catsdogs.vgg16_features(base, vgg16["preprocessing"])

    def frozen_head():
        _base, head = vgg16_parts()
        return head

    def finetune():
        base, head = vgg16_parts()
        return catsdogs.unfreeze_vgg16_base(
            catsdogs.vgg16_classifier(base, head, vgg16["preprocessing"])
        )

    return [
        (
            f"catsdogs basic CNN, {catsdogs_filters} filters",
            basic["batch_size"],
            lambda: BUILDERS["catsdogs_basic"](basic_hp, 0, None),
            "train",
        ),
        (
            "VGG16 frozen: base features (once per job)",
            vgg16["batch_size"],
            frozen_features,
            "forward",
        ),
        ("VGG16 frozen: head on features (each epoch)", vgg16["batch_size"], frozen_head, "train"),
        ("VGG16 fine-tune (whole net trains)", vgg16["batch_size"], finetune, "train"),
        (
            "VGG16 frozen + augmentation (end to end)",
            vgg16["batch_size"],
            lambda: BUILDERS["vgg16_augmented"](vgg_hp, 0, None),
            "train",
        ),
        # weights: cifar10, where ImageNet's are out of reach: VGG16 trained from random weights.
        (
            "VGG16 pretraining on CIFAR-10 (whole net trains)",
            vgg16["pretraining"]["batch_size"],
            lambda: BUILDERS["cifar10_vgg16"](vgg_hp, 0, None),
            "train",
        ),
        *[
            (
                f"CIFAR-10 {variant}, {cifar10_filters} filters",
                config["cifar10"][variant]["batch_size"],
                lambda variant=variant: BUILDERS[f"cifar10_{variant}"](cifar10_hp, 0, None),
                "train",
            )
            for variant in ("basic", "inception", "residual")
        ],
    ]


def measure(args, config) -> dict:
    """This process's rows (Keras already on `args.worker`'s backend): images/s of every model,
    FLOPs per image where the backend is TensorFlow, and the matmul peak before and after."""
    import keras

    from cnnlab.runtime import configure, resolve_speed_switches
    from cnnlab.training.jobs import compile_model

    runtime = resolve_speed_switches(SPEED_SWITCHES)
    configure(args.threads, args.seed, runtime)
    peak_before = matmul_peak(args.matmul_size, repeats=3)
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, batch_size, build, kind in architectures(
        config, args.catsdogs_filters, args.cifar10_filters
    ):
        if args.only and not any(part in name for part in args.only):
            continue
        if args.max_batch_size:
            batch_size = min(batch_size, args.max_batch_size)
        keras.backend.clear_session()
        configure(args.threads, args.seed, runtime)
        model = build()
        inputs, labels = random_batch(model, batch_size, rng)
        counting = args.worker == "tensorflow"
        if kind == "train":
            compile_model(model, 1e-4, runtime)
            flops = train_step_flops_per_image(model, batch_size) if counting else None
            train_step = functools.partial(model.train_on_batch, inputs, labels)
            steps, seconds = timed_steps(train_step, args.seconds)
        else:
            flops = forward_flops_per_image(model, batch_size) if counting else None
            # predict_on_batch runs the compiled forward pass on either backend, as the job's
            # feature pass (`compute_features`, predict) does.
            forward_pass = functools.partial(model.predict_on_batch, inputs)
            steps, seconds = timed_steps(forward_pass, args.seconds)
        rows.append(
            {
                "model": name,
                "step": kind,
                "batch": batch_size,
                "steps": steps,
                "seconds": seconds,
                "images_per_second": steps * batch_size / seconds,
                "flops_per_image": flops,
            }
        )
        print(f"{args.worker}: {name}: {rows[-1]['images_per_second']:.1f} images/s", flush=True)
    peak_after = matmul_peak(args.matmul_size, repeats=3)
    return {
        "runtime": runtime,
        "matmul_peak_flops": {"before": peak_before, "after": peak_after},
        "rows": rows,
    }


def main(argv=None):
    config = default_config()
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    add_backend_options(parser)
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="timed seconds per model (after one untimed step)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=64,
        help="cap on config.yaml's batch sizes (CIFAR-10's 1024 is ~20 s a step on 2 cores); 0: no cap",
    )
    parser.add_argument(
        "--catsdogs-filters", type=int, default=32, help="the report's best cats/dogs cell"
    )
    parser.add_argument(
        "--cifar10-filters", type=int, default=256, help="the report's best CIFAR-10 cell"
    )
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument(
        "--only", nargs="*", default=None, help="substrings of the row names to run"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    if args.worker:
        from cnnlab.runtime import use_backend

        use_backend(args.worker)  # before anything imports Keras
        args.worker_output.write_text(json.dumps(measure(args, config)))
        return

    before = machine()
    # TensorFlow first: its process counts the FLOPs both backends' rows use.
    backends = sorted(args.backends, key=lambda name: name != "tensorflow")
    measured = {backend: run_on_backend(NAME, backend, argv) for backend in backends}
    flops = {
        row["model"]: row["flops_per_image"]
        for row in measured.get("tensorflow", {}).get("rows", [])
    }
    peaks = {
        backend: max(result["matmul_peak_flops"].values()) for backend, result in measured.items()
    }
    rows = []
    for backend, result in measured.items():
        for row in result["rows"]:
            per_image = flops.get(row["model"])
            achieved = None if per_image is None else row["images_per_second"] * per_image
            rows.append(
                {
                    "model": row["model"],
                    "backend": backend,
                    "batch": row["batch"],
                    "images_per_second": row["images_per_second"],
                    "GFLOP_per_image": None if per_image is None else per_image / 1e9,
                    "GFLOP_per_second": None if achieved is None else achieved / 1e9,
                    "fraction_of_peak": None if achieved is None else achieved / peaks[backend],
                }
            )
    side_by_side = []
    for model in dict.fromkeys(row["model"] for row in rows):
        speed = {row["backend"]: row["images_per_second"] for row in rows if row["model"] == model}
        if len(speed) == 2:
            side_by_side.append(
                {
                    "model": model,
                    "tensorflow images/s": speed["tensorflow"],
                    "jax images/s": speed["jax"],
                    "jax / tensorflow": speed["jax"] / speed["tensorflow"],
                }
            )

    print_table(
        f"Training throughput on {before['cpu']}, {args.threads} threads; fp32 matmul peak "
        + ", ".join(f"{backend} {peak / 1e9:.1f} GFLOP/s" for backend, peak in peaks.items()),
        rows,
        list(rows[0]),
    )
    if side_by_side:
        print_table("The two backends side by side", side_by_side, list(side_by_side[0]))
    write_results(
        args.output,
        NAME,
        args,
        before,
        {
            "per_backend": {
                backend: {
                    "runtime": result["runtime"],
                    "matmul_peak_flops": result["matmul_peak_flops"],
                }
                for backend, result in measured.items()
            },
            "rows": rows,
            "side_by_side": side_by_side,
        },
    )


if __name__ == "__main__":
    main()
