"""The GPU speed switches (config `training.mixed_precision`, `training.xla`) change how a train
step computes, not what it learns: on a tiny CIFAR-10 model, on the CPU, each switch's losses
and predictions follow the plain float32 path's within the switch's rounding. And the
full-scale overlay that turns them on plans the whole DAG."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, run_snakemake

from cnnlab import runtime as cnnlab_runtime
from cnnlab.models import cifar10
from cnnlab.runtime import configure
from cnnlab.training.jobs import compile_model

SEED = 7
EPOCHS = 3
PLAIN = {"mixed_precision": "float32", "xla": False, "deterministic_ops": False}


@pytest.fixture(scope="module")
def tiny_data():
    """128 CIFAR-sized images whose 4 classes (overall and top-half brightness) can be learnt."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (128, 32, 32, 3), dtype=np.uint8)
    labels = (images.mean(axis=(1, 2, 3)) > 127.5).astype(np.int64) + 2 * (
        images[:, :16].mean(axis=(1, 2, 3)) > 127.5
    )
    return images, labels


def train_tiny(runtime: dict, images, labels):
    """(per-epoch losses, predictions, model) of a small basic CNN trained as a job trains it."""
    configure(threads=2, seed=SEED, runtime=runtime)
    try:
        model = cifar10.basic_cnn(filters=8)
        compile_model(model, learning_rate=1e-3, runtime=runtime)
        history = model.fit(images, labels, batch_size=32, epochs=EPOCHS, shuffle=False, verbose=0)
        predictions = model.predict(images[:32], verbose=0)
    finally:
        # The dtype policy is global: later tests must get float32 back.
        keras.mixed_precision.set_global_policy("float32")
    return np.array(history.history["loss"]), predictions, model


@pytest.fixture(scope="module", autouse=True)
def true_float32():
    """On an Ampere or later GPU, TensorFlow runs float32 matmuls and convolutions in TF32
    (10-bit mantissa); the plain path is compared as true float32. A no-op on the CPU."""
    tf.config.experimental.enable_tensor_float_32_execution(False)
    yield
    tf.config.experimental.enable_tensor_float_32_execution(True)


@pytest.fixture(scope="module")
def plain_run(tiny_data):
    return train_tiny(PLAIN, *tiny_data)


# (switches, tolerance on the losses (relative) and on the predicted probabilities (absolute)).
# XLA fuses and reorders float32 arithmetic: rounding only. float16 compute keeps about three
# significant digits, and the first steps run under dynamic loss scaling; bfloat16 keeps about
# two and a half, with no loss scaling.
CASES = {
    "xla": ({"xla": True}, 1e-4, 1e-4),
    "mixed_float16": ({"mixed_precision": "mixed_float16"}, 1e-2, 1e-2),
    "mixed_float16+xla": ({"mixed_precision": "mixed_float16", "xla": True}, 1e-2, 1e-2),
    "mixed_bfloat16": ({"mixed_precision": "mixed_bfloat16"}, 3e-2, 3e-2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_switch_follows_plain_path(case, tiny_data, plain_run):
    switches, loss_tolerance, prediction_tolerance = CASES[case]
    plain_losses, plain_predictions, _ = plain_run
    losses, predictions, model = train_tiny({**PLAIN, **switches}, *tiny_data)

    # The switch really took effect (else the comparison below would prove nothing).
    assert model.jit_compile == switches.get("xla", False)
    conv_dtype = model.get_layer("block1_conv").compute_dtype
    assert conv_dtype == switches.get("mixed_precision", "float32").removeprefix("mixed_")
    # Probabilities and loss stay float32 under mixed precision.
    assert predictions.dtype == np.float32

    assert plain_losses[-1] < plain_losses[0], (
        "the tiny model should learn, or the comparison is empty"
    )
    np.testing.assert_allclose(losses, plain_losses, rtol=loss_tolerance)
    np.testing.assert_allclose(predictions, plain_predictions, atol=prediction_tolerance)


def test_fullscale_with_three_seeds_plans_every_model_three_times(tmp_path):
    result = run_snakemake(
        tmp_path,
        "--dry-run",
        configfiles=(REPO / "fullscale.yaml", REPO / "replicates.yaml"),
        cores=16,
    )
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)\n\n", result.stdout, re.M | re.S)
    training = [body for rule, body in jobs if rule == "train"]
    assert len(training) == 3 * 13
    seeds = {re.search(r"seed=(\d+)", body).group(1) for body in training}
    assert seeds == {"1337", "1338", "1339"}


def test_fullscale_overlay_plans_the_whole_dag_on_one_gpu(tmp_path):
    """fullscale.yaml validates and plans every job of the DAG, each training job on a GPU."""
    result = run_snakemake(tmp_path, "--dry-run", configfiles=(REPO / "fullscale.yaml",), cores=16)
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)\n\n", result.stdout, re.M | re.S)
    training = [body for rule, body in jobs if rule == "train"]
    # 4 + 4 grid cells, 3 VGG16 stages, 2 CIFAR-10 variants (config.yaml's grids).
    assert len(training) == 13
    assert all(re.search(r"resources: .*\bgpu=1\b", body) for body in training)


AMPERE = {"name": "NVIDIA A100", "compute_capability": (8, 0)}
TURING = {"name": "NVIDIA T4", "compute_capability": (7, 5)}


@pytest.mark.parametrize(
    ("backend", "device", "requested", "expected"),
    [
        # auto: mixed precision only on a GPU, bfloat16 where the GPU runs it fast.
        ("tensorflow", None, {"mixed_precision": "auto", "xla": "auto"}, ("float32", False)),
        (
            "tensorflow",
            AMPERE,
            {"mixed_precision": "auto", "xla": "auto"},
            ("mixed_bfloat16", True),
        ),
        ("tensorflow", TURING, {"mixed_precision": "auto", "xla": "auto"}, ("mixed_float16", True)),
        # true: auto's pick on any device; explicit values win.
        ("tensorflow", None, {"mixed_precision": True, "xla": True}, ("mixed_bfloat16", True)),
        (
            "tensorflow",
            AMPERE,
            {"mixed_precision": "mixed_float16", "xla": False},
            ("mixed_float16", False),
        ),
        ("tensorflow", AMPERE, {"mixed_precision": False, "xla": "auto"}, ("float32", True)),
        # JAX always compiles its train step.
        ("jax", None, {"mixed_precision": "auto", "xla": False}, ("float32", True)),
        ("jax", AMPERE, {"mixed_precision": "auto", "xla": "auto"}, ("mixed_bfloat16", True)),
    ],
)
def test_switches_are_decided_for_the_backend_and_the_device(
    monkeypatch, backend, device, requested, expected
):
    monkeypatch.setattr(cnnlab_runtime, "backend", lambda: backend)
    monkeypatch.setattr(cnnlab_runtime, "gpu", lambda: device)
    resolved = cnnlab_runtime.resolve_speed_switches({**requested, "deterministic_ops": True})
    assert resolved == {
        "backend": backend,
        "mixed_precision": expected[0],
        "xla": expected[1],
        "deterministic_ops": True,
    }


def test_this_machine_is_seen_as_it_is():
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert (cnnlab_runtime.gpu() is not None) == on_gpu
    assert cnnlab_runtime.device_description() == (
        "CPU" if not on_gpu else cnnlab_runtime.gpu()["name"]
    )


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="mixed_precision"):
        cnnlab_runtime.resolve_speed_switches({"mixed_precision": "float8"})
