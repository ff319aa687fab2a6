"""The Keras backend of a job, and its runtime settings on that backend.

Keras 3 runs the same models on TensorFlow or JAX (config `training.backend`). Keras reads its
backend once, when it is first imported, so a script calls `use_backend` before anything
imports Keras; `configure` then sets the job up on that backend (threads, GPU memory, seeds,
determinism, mixed precision). Nothing here imports TensorFlow unless it is the backend: the
JAX path must run where TensorFlow is not installed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import sys
from pathlib import Path

log = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax")
MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")
# bfloat16 has float32's exponent range (no loss scaling needed) and runs at full tensor-core
# speed from Ampere (compute capability 8.0) on; older GPUs only have fast float16.
BFLOAT16_MIN_COMPUTE_CAPABILITY = (8, 0)


def use_backend(name: str) -> None:
    """Make Keras run on `name` (tensorflow or jax) in this process. Call it before anything
    imports Keras; calling it again with the same name is harmless."""
    if name not in BACKENDS:
        raise ValueError(
            f"unknown Keras backend '{name}': set training.backend to one of {BACKENDS}"
        )
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise RuntimeError(
                f"Keras was already imported with the {current} backend; use_backend('{name}') "
                "must run before anything imports Keras"
            )
        return
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(
            f"training.backend is '{name}', but {name} is not installed in this environment: "
            f"pip install -e '.[{name}]' (or use envs/keras-{name}.yaml), or set "
            f"training.backend to the other one of {BACKENDS}"
        )
    os.environ["KERAS_BACKEND"] = name
    if name == "jax":
        # JAX takes 75% of a GPU's memory when it starts: jobs sharing a card (and the
        # TensorFlow data work beside them) would starve. Allocate on demand instead.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        # Each job is a new process that would compile its programs again, the same ones as its
        # other seeds' and the training job's before it: loading a model alone compiles an
        # initializer per weight shape (4 s of a 6-s evaluation). JAX's persistent cache keeps
        # every compiled program, small ones included, keyed by the program, the device and
        # JAX's version, so a hit runs exactly what a fresh compile would.
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(jax_cache_folder()))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def jax_cache_folder() -> Path:
    """Where JAX keeps compiled programs between jobs, unless JAX_COMPILATION_CACHE_DIR says
    otherwise (an empty value turns the cache off): the user's cache folder, shared by runs."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "cnnlab" / "jax"


def backend() -> str:
    """The backend Keras runs on in this process."""
    import keras

    return keras.backend.backend()


def gpu() -> dict | None:
    """The first GPU the backend sees, as {"name", "compute_capability": (major, minor)}, or
    None on a CPU."""
    if backend() == "jax":
        import jax

        devices = [device for device in jax.devices() if device.platform == "gpu"]
        if not devices:
            return None
        capability = getattr(devices[0], "compute_capability", None) or "0.0"
        return {
            "name": devices[0].device_kind,
            "compute_capability": tuple(int(part) for part in str(capability).split(".")[:2]),
        }
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return {
        "name": details.get("device_name", gpus[0].name),
        "compute_capability": tuple(details.get("compute_capability", (0, 0))),
    }


def device_description() -> str:
    """The name of the GPU the job trains on (the first one the backend sees), or "CPU"."""
    found = gpu()
    return found["name"] if found else "CPU"


def mixed_policy_for(found_gpu: dict | None) -> str:
    """The mixed-precision policy that suits a device: bfloat16 on Ampere or later GPUs and on
    CPUs, float16 on older GPUs."""
    if found_gpu and tuple(found_gpu["compute_capability"]) < BFLOAT16_MIN_COMPUTE_CAPABILITY:
        return "mixed_float16"
    return "mixed_bfloat16"


def resolve_speed_switches(runtime: dict) -> dict:
    """config `training`'s switches, decided for the device the job runs on (train.json
    records the result, so it says what really ran):

    * `mixed_precision`: the Keras dtype policy. `auto` is mixed precision only where a GPU is
      seen (`mixed_policy_for` picks float16 or bfloat16); `true` is that pick on any device;
      `false` is float32; a policy name is taken as it is.
    * `xla`: compile the train step. On JAX always (an uncompiled JAX step is about ten times
      slower); on TensorFlow `auto` means where a GPU is seen.
    * `deterministic_ops` as given.
    """
    found_gpu = gpu()
    requested = runtime.get("mixed_precision", "auto")
    if requested == "auto":
        policy = mixed_policy_for(found_gpu) if found_gpu else "float32"
    elif requested is True:
        policy = mixed_policy_for(found_gpu)
    elif requested is False:
        policy = "float32"
    elif requested in MIXED_POLICIES:
        policy = requested
    else:
        raise ValueError(
            f"training.mixed_precision is '{requested}': expected auto, true, false or one of "
            f"{MIXED_POLICIES}"
        )
    xla = runtime.get("xla", "auto")
    return {
        "backend": backend(),
        "mixed_precision": policy,
        "xla": True if backend() == "jax" else (bool(found_gpu) if xla == "auto" else bool(xla)),
        "deterministic_ops": bool(runtime.get("deterministic_ops", False)),
    }


def configure(threads: int, seed: int | None = None, runtime: dict | None = None) -> None:
    """Set the backend up for one training, evaluation or figure job, before any model is built.

    * `threads` (Snakemake's `threads:`) sizes TensorFlow's op thread pools, so jobs that run
      side by side do not fight over the cores. JAX's CPU pool follows the cores the process
      may use (a SLURM allocation limits it); XLA has no flag to size it.
    * GPU memory: TensorFlow grows it on demand; JAX does so through `use_backend`.
    * `seed`, when given, seeds Python, NumPy and the backend (`keras.utils.set_random_seed`).
    * `runtime`, resolved by `resolve_speed_switches`: `deterministic_ops` (bitwise repeatable
      kernels, slower) and `mixed_precision` (the dtype policy). `xla` is applied when the
      model is compiled.
    """
    import keras

    runtime = runtime or {}
    if keras.backend.backend() == "tensorflow":
        _configure_tensorflow(threads, bool(runtime.get("deterministic_ops")))
    elif runtime.get("deterministic_ops"):
        # Read when JAX first touches a device, which no job does before this call.
        flags = os.environ.get("XLA_FLAGS", "")
        if "--xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(runtime.get("mixed_precision") or "float32")


def _configure_tensorflow(threads: int, deterministic_ops: bool) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        for device in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(device, True)
    except RuntimeError:
        # TensorFlow fixes these when it starts: a job calls this first, but a Python session
        # that already ran TensorFlow (tests, notebooks) keeps what it has.
        log.warning("TensorFlow is already running: its thread pools and GPU memory settings stay")
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


def versions() -> dict:
    """The versions that decide a job's numbers: Keras, its backend, NumPy and Python."""
    import keras
    import numpy

    name = keras.backend.backend()
    backend_module = sys.modules[name]  # Keras has imported its backend already
    return {
        "keras": keras.__version__,
        "backend": name,
        name: backend_module.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }
