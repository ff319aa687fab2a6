"""The Keras backend of a job and its runtime settings."""

from __future__ import annotations

import logging


def configure_tensorflow(
    threads: int, seed: int | None = None, runtime: dict | None = None
) -> None:
    """Set TensorFlow up for one training or evaluation job; call it before building a model.

    * `threads` (Snakemake's `threads:`) sizes TensorFlow's op thread pools, so jobs that
      Snakemake runs side by side do not fight over the cores;
    * GPU memory grows on demand instead of one job taking the whole card;
    * `seed`, when given, seeds Python, NumPy and TensorFlow (`keras.utils.set_random_seed`);
    * `runtime`, when given, holds config `training`'s switches: `deterministic_ops` (bitwise
      repeatable kernels, slower), `mixed_precision` (float16 compute where it is safe; worth
      it on a GPU only). `xla` is applied when the model is compiled (`jit_compile`).
    """
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        # TensorFlow fixes these when it starts: a job calls this first, but a Python session
        # that already ran TensorFlow (tests, notebooks) keeps what it has.
        logging.getLogger(__name__).warning(
            "TensorFlow is already running: its thread pools and GPU memory settings stay"
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    runtime = runtime or {}
    if runtime.get("deterministic_ops"):
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if runtime.get("mixed_precision") else "float32"
    )


def resolve_speed_switches(runtime: dict) -> dict:
    """config `training`'s switches with `auto` decided where the job runs: mixed precision
    and XLA pay off on a GPU and cost time on a CPU, so `auto` turns them on only when
    TensorFlow sees a GPU. `true`/`false` force them either way."""
    import tensorflow as tf

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    return {key: on_gpu if value == "auto" else value for key, value in runtime.items()}


def device_description() -> str:
    """The name of the GPU TensorFlow trains on (the first one it sees), or "CPU"."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", gpus[0].name)
