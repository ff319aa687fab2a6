"""One workflow, two Keras backends.

A process's backend is fixed when it first imports Keras, so the JAX side runs in subprocesses
(tests/backend_worker.py), and always with tests/no_tensorflow on PYTHONPATH: there `import
tensorflow` fails, as on a GPU machine or cluster image without TensorFlow. So every JAX check
here also proves that the JAX path needs no TensorFlow.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TWO_SEEDS, assert_drawn_png, without_tensorflow
from test_tf_input import BATCH, SEED, arrays, expected_batches

from cnnlab.history import read_history
from cnnlab.training.datasets import ArrayBatches

TESTS = Path(__file__).resolve().parent


def worker(backend: str, command: str, folder: Path) -> dict:
    """Run backend_worker.py; TensorFlow is refused whenever the backend is JAX."""
    env = without_tensorflow() if backend == "jax" else dict(os.environ)
    result = subprocess.run(
        [sys.executable, str(TESTS / "backend_worker.py"), backend, command, str(folder)],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    findings = json.loads(result.stdout.strip().splitlines()[-1])
    assert findings["backend"] == backend
    if backend == "jax":
        assert not findings["tensorflow_imported"]
    return findings


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every architecture saved once under each backend (with predictions beside each)."""
    root = tmp_path_factory.mktemp("backends")
    for backend in ("tensorflow", "jax"):
        worker(backend, "save", root / backend)
    return root


def test_the_tensorflow_blocker_blocks():
    result = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        env=without_tensorflow(),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "refused by tests/no_tensorflow" in result.stderr


# A jitted program and a model load: load_model compiles an initializer per weight shape.
COMPILING_JOB = """
import json, sys
from cnnlab.runtime import use_backend
use_backend("jax")
import jax, jax.numpy as jnp, keras
keras.utils.set_random_seed(7)
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Dense(3)])
model.save(sys.argv[1])
loaded = keras.models.load_model(sys.argv[1])
out = jax.jit(lambda x: loaded(x) * 2 + 1)(jnp.ones((2, 6)))
print(json.dumps(jnp.asarray(out).tolist()))
"""


def test_jax_jobs_keep_their_compiled_programs_for_the_next_job(tmp_path):
    """use_backend("jax") points JAX's persistent compilation cache at the user's cache folder,
    small programs included: a second job finds every program the first compiled, and computes
    the same numbers from them."""
    cache = tmp_path / "xdg-cache" / "cnnlab" / "jax"
    env = without_tensorflow({"XDG_CACHE_HOME": str(tmp_path / "xdg-cache")})
    env.pop("JAX_COMPILATION_CACHE_DIR", None)

    def run_job() -> tuple[list, set[str]]:
        result = subprocess.run(
            [sys.executable, "-c", COMPILING_JOB, str(tmp_path / "model.keras")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        entries = {path.name for path in cache.iterdir()} if cache.is_dir() else set()
        return json.loads(result.stdout.strip().splitlines()[-1]), entries

    first, compiled = run_job()
    # Each initializer, the layers' calls and the jitted function: many programs, not one.
    assert len(compiled) > 3, compiled
    second, after = run_job()
    assert after == compiled, "the second job compiled programs the first had cached"
    assert second == first


@pytest.mark.parametrize(("saved_by", "loaded_by"), [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_every_architecture_crosses_backends(saved, saved_by, loaded_by):
    """A .keras saved under one backend loads under the other and predicts the same."""
    differences = worker(loaded_by, "check", saved / saved_by)["max_abs_difference"]
    assert set(differences) == {
        "catsdogs_basic",
        "vgg16_frozen",
        "vgg16_finetune",
        "vgg16_augmented",
        "cifar10_basic",
        "cifar10_inception",
        "cifar10_residual",
    }
    for architecture, difference in differences.items():
        assert difference < 1e-5, (architecture, difference)


def test_augmentation_runs_compiled_on_jax_with_the_uncompiled_result(tmp_path):
    findings = worker("jax", "augment", tmp_path)
    # Keras marks the geometric layers as not compilable; on JAX the workflow lifts that.
    assert all(findings["supports_jit"].values()), findings["supports_jit"]
    # The transformation really happened (else equal outputs would prove nothing) ...
    assert findings["changed_pixels"] > 0.5
    # ... and compiled and uncompiled draw and resample alike (pixels in 0..255).
    assert findings["max_abs_difference"] < 1e-2


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_models_built_with_augmentation_augment_their_training_input(tmp_path, backend):
    """Inside the models (not only the standalone block): in training the layer after the
    augmentation sees transformed images; at inference, the images as they are."""
    changed = worker(backend, "augmented_models", tmp_path)["changed_pixels"]
    assert set(changed) == {"catsdogs_basic", "vgg16_augmented"}
    for model, fractions in changed.items():
        assert fractions["training"] > 0.5, (model, fractions)
        assert fractions["inference"] == 0, (model, fractions)


def test_filter_ascent_gives_the_same_pictures_on_both_backends(saved):
    folder = saved / "tensorflow"  # tiny.keras, saved under TensorFlow
    on_tensorflow = worker("tensorflow", "ascent", folder)["activation_before_after"]
    on_jax = worker("jax", "ascent", folder)["activation_before_after"]
    raised = 0
    for index, (before, after) in on_jax.items():
        np.testing.assert_allclose(on_tensorflow[index], [before, after], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            np.load(folder / f"ascent-jax-{index}.npy"),
            np.load(folder / f"ascent-tensorflow-{index}.npy"),
            rtol=1e-4,
            atol=1e-3,
        )
        if before > 0:
            assert after > 1.5 * before, (index, before, after)
            raised += 1
    assert raised >= 2, "too few live filters to compare the ascents"


def test_gradcam_gives_the_same_heat_maps_on_both_backends(saved):
    """The basic CNN and two VGG16 stages (last conv layer inside the nested base), saved under
    TensorFlow: the same maps on both backends, and maps that show something."""
    folder = saved / "tensorflow"
    on_tensorflow = worker("tensorflow", "gradcam", folder)["gradcam"]
    on_jax = worker("jax", "gradcam", folder)["gradcam"]
    assert (
        set(on_jax) == set(on_tensorflow) == {"catsdogs_basic", "vgg16_frozen", "vgg16_augmented"}
    )
    for name, found in on_jax.items():
        assert found["classes"] == on_tensorflow[name]["classes"], name
        maps = np.load(folder / f"gradcam-jax-{name}.npy")
        np.testing.assert_allclose(
            maps, np.load(folder / f"gradcam-tensorflow-{name}.npy"), atol=2e-3, err_msg=name
        )
        assert maps.shape == (4, 48, 48), name
        # Neither empty nor constant: some pixels hot, some cold, in every image's map.
        assert found["max"] > 0.5 and found["std"] > 0.05, (name, found)
        assert np.all(maps.max(axis=(1, 2)) - maps.min(axis=(1, 2)) > 0.2), name


@pytest.mark.workflow
def test_the_demo_dag_runs_on_jax_without_tensorflow(jax_two_seed_run):
    """Every job of the demo DAG (data, training, evaluation, figures, summary) on the JAX
    backend, in processes where `import tensorflow` fails (conftest's JAX_TWO_SEED_RUN)."""
    results = jax_two_seed_run / "results"
    infos = sorted(results.rglob("train.json"))
    # Two seeds of 2 + 3 cats/dogs models, and of 2 + 2 CIFAR-10 ones and the VGG16 base
    # pretrained on CIFAR-10.
    assert len(infos) == 10 * len(TWO_SEEDS)
    for path in infos:
        info = json.loads(path.read_text())
        assert info["runtime"]["backend"] == "jax" and info["versions"]["backend"] == "jax"
        assert "tensorflow" not in info["versions"]
        # JAX's train step is always compiled.
        assert info["runtime"]["xla"] is True
    with open(results / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {row["backend"] for row in rows} == {"jax"}
    # The optimiser works on JAX: every basic cell's training loss fell from its first epoch to
    # its last (a broken gradient or update step leaves it flat or rising).
    histories = sorted(results.glob("*/basic/*/seed*/history.csv"))
    assert len(histories) == 4 * len(TWO_SEEDS)
    for path in histories:
        losses = [row["loss"] for row in read_history(path)]
        assert losses[-1] < losses[0], (path, losses)
    for figure in ("activations.png", "filters.png", "augmentation_samples.png"):
        assert_drawn_png(results / "figures" / "catsdogs" / figure)


def test_a_resumed_fit_on_jax_draws_what_an_uninterrupted_one_draws(tmp_path):
    """tests/test_tf_input.py's resume guarantee on JAX, where fit reads the PyDataset itself:
    a job killed after epoch 0 and rerun draws epochs 1 and 2 as an uninterrupted one does."""
    drawn = worker("jax", "resume", tmp_path)["labels_per_epoch"]
    reference = ArrayBatches(*arrays(), BATCH, shuffle=True, seed=SEED)
    expected = [
        np.concatenate([labels for _, labels in expected_batches(reference, epoch)]).tolist()
        for epoch in range(3)
    ]
    assert drawn["uninterrupted"] == expected
    assert drawn["killed"] == expected[:1]
    assert drawn["resumed"] == expected[1:]
