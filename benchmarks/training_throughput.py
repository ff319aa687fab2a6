"""Training throughput of every architecture, in images per second and as a fraction of this
machine's fp32 matmul peak, measured in the same run.

Each model is built by the workflow's own code (`cnnlab.training.jobs.BUILDERS`, or the
`cnnlab.models.catsdogs` functions the VGG16 stages use), compiled with `compile_model` as a
training job compiles it (Adam, float32, no XLA), and trained with `train_on_batch` (Keras'
compiled train step, the one `fit` runs) on random uint8 images held in memory: the input
pipeline is measured apart (`benchmarks.input_pipeline`). After one untimed step (tracing),
steps run until `--seconds` have passed.

FLOPs per image are counted, not estimated: TensorFlow's graph profiler
(`tf.compat.v1.profiler`, float_operation) sums the floating-point operations of every op in
the graph of one step's loss and gradients for a fixed batch (Conv2D, its two backprop ops,
MatMul, BiasAdd, ... each op has a registered FLOP formula; a multiply-add counts as two), and
the sum is divided by the batch size. Left out: the optimizer's update (a few FLOPs per weight
per step) and ops without a registered formula, such as the augmentation's image transforms.
Counted though the step skips it: the first layer's gradient with respect to the input image
(under 0.5% of a step). A frozen VGG16 base is not differentiated (nothing below it trains),
so it counts as its forward pass only, as the step runs it.

The peak is a large float32 `tf.matmul` (2 n^3 FLOPs), the best of a few, measured before and
after the models; the higher of the two is the peak the table divides by.

    python -m benchmarks.training_throughput                        # about two minutes on 2 cores
    python -m benchmarks.training_throughput --max-batch-size 0 --seconds 30   # the report's batch sizes
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import (
    Stopwatch,
    argument_parser,
    default_config,
    machine,
    print_table,
    write_results,
)

NAME = "training_throughput"
RUNTIME = {"mixed_precision": False, "xla": False, "deterministic_ops": False}


def matmul_peak(size: int, repeats: int) -> float:
    """FLOP/s of the best of `repeats` float32 matmuls of two size x size matrices."""
    import tensorflow as tf

    left = tf.random.normal((size, size), seed=1)
    right = tf.random.normal((size, size), seed=2)
    matmul = tf.function(tf.linalg.matmul)
    matmul(left, right).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        with Stopwatch() as watch:
            matmul(left, right).numpy()
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

    return tf.TensorSpec((batch_size, *model.input_shape[1:]), tf.uint8 if takes_images(model) else tf.float32)


def label_spec(model, batch_size: int):
    import tensorflow as tf

    return tf.TensorSpec((batch_size, 1) if model.output_shape[-1] == 1 else (batch_size,), tf.float32)


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
    return graph_flops(lambda inputs: model(inputs, training=False), input_spec(model, batch_size)) / batch_size


def random_batch(model, batch_size: int, rng):
    """Random inputs of the model's shape (uint8 pixels for images) and valid labels."""
    shape = (batch_size, *model.input_shape[1:])
    if takes_images(model):
        inputs = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
        inputs = rng.standard_normal(shape).astype(np.float32)
    classes = model.output_shape[-1]
    labels = rng.integers(0, 2, (batch_size, 1)) if classes == 1 else rng.integers(0, classes, batch_size)
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
        return catsdogs.unfreeze_vgg16_base(catsdogs.vgg16_classifier(base, head, vgg16["preprocessing"]))

    return [
        (f"catsdogs basic CNN, {catsdogs_filters} filters", basic["batch_size"],
         lambda: BUILDERS["catsdogs_basic"](basic_hp, 0, None), "train"),
        ("VGG16 frozen: base features (once per job)", vgg16["batch_size"], frozen_features, "forward"),
        ("VGG16 frozen: head on features (each epoch)", vgg16["batch_size"], frozen_head, "train"),
        ("VGG16 fine-tune (whole net trains)", vgg16["batch_size"], finetune, "train"),
        ("VGG16 frozen + augmentation (end to end)", vgg16["batch_size"],
         lambda: BUILDERS["vgg16_augmented"](vgg_hp, 0, None), "train"),
        *[
            (f"CIFAR-10 {variant}, {cifar10_filters} filters", config["cifar10"][variant]["batch_size"],
             lambda variant=variant: BUILDERS[f"cifar10_{variant}"](cifar10_hp, 0, None), "train")
            for variant in ("basic", "inception", "residual")
        ],
    ]


def main(argv=None):
    config = default_config()
    parser = argument_parser(NAME, __doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per model (after one untimed step)")
    parser.add_argument("--max-batch-size", type=int, default=64,
                        help="cap on config.yaml's batch sizes (CIFAR-10's 1024 is ~20 s a step on 2 cores); 0: no cap")
    parser.add_argument("--catsdogs-filters", type=int, default=32, help="the report's best cats/dogs cell")
    parser.add_argument("--cifar10-filters", type=int, default=256, help="the report's best CIFAR-10 cell")
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of the row names to run")
    args = parser.parse_args(argv)

    import keras

    from cnnlab.runtime import configure_tensorflow
    from cnnlab.training.jobs import compile_model

    configure_tensorflow(args.threads, args.seed, RUNTIME)
    before = machine()
    peak_before = matmul_peak(args.matmul_size, repeats=3)
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, batch_size, build, kind in architectures(config, args.catsdogs_filters, args.cifar10_filters):
        if args.only and not any(part in name for part in args.only):
            continue
        if args.max_batch_size:
            batch_size = min(batch_size, args.max_batch_size)
        keras.backend.clear_session()
        configure_tensorflow(args.threads, args.seed, RUNTIME)
        model = build()
        inputs, labels = random_batch(model, batch_size, rng)
        if kind == "train":
            compile_model(model, 1e-4, RUNTIME)
            flops = train_step_flops_per_image(model, batch_size)
            steps, seconds = timed_steps(lambda: model.train_on_batch(inputs, labels), args.seconds)
        else:
            flops = forward_flops_per_image(model, batch_size)
            predict = keras.ops.convert_to_numpy
            steps, seconds = timed_steps(lambda: predict(model(inputs, training=False)), args.seconds)
        images_per_second = steps * batch_size / seconds
        rows.append({
            "model": name, "step": kind, "batch": batch_size, "steps": steps, "seconds": seconds,
            "images_per_second": images_per_second, "GFLOP_per_image": flops / 1e9,
            "GFLOP_per_second": images_per_second * flops / 1e9,
        })
        print(f"{name}: {images_per_second:.1f} images/s", flush=True)
    peak_after = matmul_peak(args.matmul_size, repeats=3)
    peak = max(peak_before, peak_after)
    for row in rows:
        row["fraction_of_peak"] = row["GFLOP_per_second"] * 1e9 / peak

    print_table(f"Training throughput on {before['cpu']}, {args.threads} threads; fp32 matmul peak "
                f"{peak / 1e9:.1f} GFLOP/s (n={args.matmul_size}: {peak_before / 1e9:.1f} before, "
                f"{peak_after / 1e9:.1f} after)", rows, list(rows[0]))
    write_results(args.output, NAME, args, before, {
        "matmul_peak_flops": {"before": peak_before, "after": peak_after, "used": peak},
        "rows": rows,
    })


if __name__ == "__main__":
    main()
