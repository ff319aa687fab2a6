"""Shared fixtures: run the real Snakemake workflow in a scratch folder on generated data."""

from __future__ import annotations

import concurrent.futures
import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "demo.yaml"


def default_config() -> dict:
    """config.yaml as written: the report's protocol (no overlay)."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


def snakemake_command(
    workdir: Path, *args: str, configfiles=(DEMO_CONFIG,), cores: int = 2
) -> list:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        *args,
        # Last: --configfile takes every word after it, so targets must come before it.
        "--configfile",
        *[str(path) for path in configfiles],
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles: tuple[Path, ...] = (DEMO_CONFIG,),
    cores: int = 2,
    env: dict | None = None,
    check: bool = True,
    timeout: float = 1800,
    wrapper: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile with `workdir` as its working directory.

    The output is kept (stdout and stderr together) and printed when the run fails, so a
    failing test shows Snakemake's own explanation. `wrapper` goes in front of the command,
    e.g. ("timeout", "-k", "30", "900"): Snakemake gets SIGTERM first, so it can cancel its
    cluster jobs and say where it was.
    """
    command = [*wrapper, *snakemake_command(workdir, *args, configfiles=configfiles, cores=cores)]
    with subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        RUNNING.add(process)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        finally:
            RUNNING.discard(process)
    result = subprocess.CompletedProcess(command, process.returncode, output)
    if check and result.returncode != 0:
        raise AssertionError(failure_report(workdir, command, result.returncode, result.stdout))
    return result


# The Snakemake processes running now (from any thread), so a session cut short stops them.
RUNNING: set[subprocess.Popen] = set()


def failure_report(workdir: Path, command: list, returncode: int, output: str) -> str:
    """Snakemake's output and the jobs' logs, for the message of a failed run."""
    logs = (
        "\n".join(
            f"--- {log}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted((workdir / "logs").rglob("*.log"))
        )
        if (workdir / "logs").exists()
        else ""
    )
    return (
        f"snakemake failed ({returncode}): {' '.join(map(str, command))}\n"
        f"{output[-8000:]}\n{logs[-12000:]}"
    )


# The whole-DAG runs take most of CI's time. Their jobs keep both cores busy, or wait on SLURM,
# while the other tests, one process running one test at a time, keep one core busy. So as the
# session begins it starts the runs its tests need in the background, and runs their tests last
# (`pytest_collection_modifyitems`): the other tests run beside them, and the tests see the
# same runs, only sooner. A lane is one worker thread; its runs go one after another, in the
# order they were declared, so a run may use an earlier one of its lane (SLURM's runs, its
# cluster). Two lanes: the demo, whose longest job (the VGG16 base's pretraining) sets its pace,
# has one to itself; the tiny runs (JAX, then the SLURM cluster and its runs) share the other.
# (Three lanes starved the tests; lowering the runs' priority cannot work, as each SLURM job is
# its own session, which Linux's autogroup scheduling weighs as much as the whole test session.)
@dataclass(frozen=True)
class BackgroundRun:
    lane: str
    make: Callable  # make(runs: BackgroundRuns) -> what the fixture gives its tests


BACKGROUND_RUNS: dict[str, BackgroundRun] = {}


def background_run(fixture: str, lane: str) -> Callable:
    """Declare `make(runs)` as the background run of the fixture named `fixture`, in `lane` (a
    decorator); that fixture returns `background_runs.result(fixture)`."""

    def declare(make: Callable) -> Callable:
        BACKGROUND_RUNS[fixture] = BackgroundRun(lane, make)
        return make

    return declare


class BackgroundRuns:
    """The background runs this session's tests need, started at once, a thread per lane."""

    def __init__(self, needed: set[str], tmp_path_factory):
        # The session's temporary folder is made (emptied, under --basetemp) on first use: here,
        # not by two lanes at once, each deleting what the other made.
        tmp_path_factory.getbasetemp()
        self.tmp_path_factory = tmp_path_factory
        self._lanes: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._futures: dict[str, concurrent.futures.Future] = {}
        self._cleanups: list[Callable] = []
        for name in BACKGROUND_RUNS:  # in declaration order, so a lane's runs keep theirs
            if name in needed:
                self._start(name)

    def _start(self, name: str) -> None:
        lane = BACKGROUND_RUNS[name].lane
        if lane not in self._lanes:
            self._lanes[lane] = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"{lane}-runs"
            )
        self._futures[name] = self._lanes[lane].submit(BACKGROUND_RUNS[name].make, self)

    def result(self, name: str):
        """The run's result once it has finished; its failure, raised here. A run asked for
        that no collected test declared (`request.getfixturevalue`) starts now."""
        if name not in self._futures:
            self._start(name)
        return self._futures[name].result()

    def add_cleanup(self, cleanup: Callable) -> None:
        """Call `cleanup()` when the session ends, after every run has stopped."""
        self._cleanups.append(cleanup)

    def stop(self) -> None:
        """Cancel the runs not started and stop those running (a session cut short), then
        clean up."""
        for future in self._futures.values():
            future.cancel()
        for process in list(RUNNING):
            process.terminate()
        for lane in self._lanes.values():
            lane.shutdown(wait=True)
        for cleanup in reversed(self._cleanups):
            cleanup()


@pytest.fixture(scope="session", autouse=True)
def background_runs(request, tmp_path_factory):
    needed = {
        name
        for item in request.session.items
        for name in item.fixturenames
        if name in BACKGROUND_RUNS
    }
    runs = BackgroundRuns(needed, tmp_path_factory)
    yield runs
    runs.stop()


def pytest_collection_modifyitems(items):
    """The tests of background runs last, ordered by the last run each uses as declared; every
    other test keeps its place."""
    order = list(BACKGROUND_RUNS)

    def background_run_order(item) -> int:
        used = [order.index(name) for name in item.fixturenames if name in BACKGROUND_RUNS]
        return 1 + max(used) if used else 0

    items.sort(key=background_run_order)


@background_run("demo_run", lane="demo")
def start_demo_run(runs) -> Path:
    """The whole demo DAG, as `snakemake --cores 2 --configfile demo.yaml` runs it."""
    workdir = runs.tmp_path_factory.mktemp("demo")
    run_snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def demo_run(background_runs) -> Path:
    """The whole demo DAG, run once per test session; tests read its results, never change them.

    A test that needs to change something copies it first (`copy_workdir`).
    """
    return background_runs.result("demo_run")


# demo.yaml's DAG at the smallest sizes its jobs take: the same models and grids (so the same
# jobs and the same result files as the demo), few small images, one epoch per model, tiny
# figures. For the real runs that prove something other than learning (the JAX backend without
# TensorFlow, SLURM, several seeds): the demo itself (`demo_run`) is where models must learn.
TINY_RUN = {
    "data": {
        "petimages": {
            "synthetic": {"images_per_class": 24},
            "images_per_class": 20,
            "image_size": [32, 32],
        },
        "cifar10": {"synthetic": {"train_images": 300, "test_images": 100}, "validation_size": 50},
    },
    "catsdogs": {
        "basic": {"epochs": 1, "hidden_units": 8},
        "vgg16": {
            "pretraining": {"epochs": 1},  # demo.yaml's base from CIFAR-10, one epoch
            "frozen": {"epochs": 1},
            "finetune": {"epochs": 1},
            "augmented": {"epochs": 1},
        },
    },
    "cifar10": {
        "basic": {"epochs": 1},
        "inception": {"epochs": 1},
        "residual": {"epochs": 1},
    },
    "figures": {"filter_visualization": {"filters_per_layer": 2, "steps": 2}},
}


def merged(base: dict, overlay: dict) -> dict:
    """`overlay` laid over a copy of `base`, as Snakemake merges its config files."""
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def tiny_overlay(folder: Path, name: str = "tiny.yaml", changes: dict | None = None) -> Path:
    """TINY_RUN with `changes` laid over it, written as an overlay on demo.yaml."""
    path = folder / name
    path.write_text(yaml.safe_dump(merged(TINY_RUN, changes or {})))
    return path


NO_TENSORFLOW = Path(__file__).resolve().parent / "no_tensorflow"


def without_tensorflow(env: dict | None = None) -> dict:
    """Environment variables under which `import tensorflow` fails (in every child process too)."""
    python_path = os.pathsep.join(filter(None, [str(NO_TENSORFLOW), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **(env or {}), "PYTHONPATH": python_path}


# One tiny run serves two kinds of real run, so CI pays for one: every job of the demo's DAG on
# JAX with `import tensorflow` refused (tests/test_backends.py), and two training seeds through
# the DAG (tests/test_replicates.py). Two cells per grid (the fewest that have a runner-up); the
# basic grids train a few epochs of small batches, so their training loss shows the optimiser at
# work on JAX. Learning on the demo's data is the TensorFlow demo's to prove (`demo_run`).
TWO_SEEDS = [11, 12]
JAX_TWO_SEED_RUN = {
    "training": {"backend": "jax", "seeds": TWO_SEEDS},
    "catsdogs": {
        "basic": {"learning_rates": [0.001], "filters": [4, 8], "epochs": 5, "batch_size": 8}
    },
    "cifar10": {"basic": {"learning_rates": [0.003], "filters": [4, 8], "epochs": 3}},
}


@background_run("jax_two_seed_run", lane="tiny")
def start_jax_two_seed_run(runs) -> Path:
    """JAX_TWO_SEED_RUN, with `import tensorflow` refused; its working folder."""
    workdir = runs.tmp_path_factory.mktemp("jax_two_seeds")
    overlay = tiny_overlay(workdir, "jax_two_seeds.yaml", JAX_TWO_SEED_RUN)
    run_snakemake(
        workdir, configfiles=(DEMO_CONFIG, overlay), env=without_tensorflow(), timeout=1800
    )
    return workdir


@pytest.fixture(scope="session")
def jax_two_seed_run(background_runs) -> Path:
    """JAX_TWO_SEED_RUN, run once per test session; its working folder."""
    return background_runs.result("jax_two_seed_run")


def copy_workdir(source: Path, target: Path) -> Path:
    """A copy of a finished run, Snakemake's metadata and file times included."""
    shutil.copytree(source, target, symlinks=True)
    return target


# One small cats/dogs cell of many quick epochs, so a kill or a cancel lands mid-training
# (tests/test_training_workflow.py, tests/test_slurm.py). The demo's one training seed.
ONE_CELL_EPOCHS = 30
ONE_CELL_RUN = "results/catsdogs/basic/lr0.001_f4/seed1337"
ONE_CELL_SCRATCH = "results/checkpoints/catsdogs/basic/lr0.001_f4/seed1337"


def one_cell_overlay(folder: Path, retries: int) -> Path:
    """An overlay on demo.yaml that trains only that cell, with `training.retries`."""
    path = folder / "one_cell.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {
                    "petimages": {
                        "synthetic": {"images_per_class": 24},
                        "images_per_class": 20,
                        "image_size": [32, 32],
                    }
                },
                "training": {"retries": retries},
                "catsdogs": {
                    "basic": {
                        "learning_rates": [0.001],
                        "filters": [4],
                        "hidden_units": 8,
                        "epochs": ONE_CELL_EPOCHS,
                        "batch_size": 8,
                    }
                },
            }
        )
    )
    return path


def checkpointed_epochs(scratch: Path) -> int:
    """The epochs a training job's newest checkpoint holds (0 before its first), read from the
    committed folders' names (cnnlab.training.checkpoints): a folder is renamed into place
    only once it is whole."""
    folders = sorted((scratch / "checkpoints").glob("epoch*-batch*")) if scratch.is_dir() else []
    return int(folders[-1].name[len("epoch") :].split("-")[0]) if folders else 0


def assert_drawn_png(path: Path, size: tuple[int, int] | None = None) -> None:
    """`path` is a PNG with something drawn in it (not one flat colour), `size` pixels if given
    (within a pixel: Matplotlib rounds inches x dpi down)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", path
        if size is not None:
            assert all(abs(got - want) <= 1 for got, want in zip(image.size, size)), (
                path,
                image.size,
                size,
            )
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    # getcolors gives None past maxcolors: a photograph-like panel, certainly drawn.
    assert colours is None or len(colours) > 16, f"{path}: only {len(colours)} colours"
