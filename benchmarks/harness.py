"""What every benchmark shares: its command line, the machine it ran on, the printed table,
the JSON it writes, and synthetic PetImages made by the workflow's own data stage."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import yaml

from cnnlab.jobio import atomic_output

REPO = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    """config.yaml, the report's protocol: the benchmarks take its sizes and settings."""
    with open(REPO / "config.yaml") as handle:
        return yaml.safe_load(handle)


def argument_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A parser with the options every benchmark has: --output, --threads, --seed, --workdir."""
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("results/benchmarks") / f"{name}.json",
        help="where the JSON of the results goes",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="TensorFlow's intra/inter-op threads (cnnlab.runtime.configure) and the data stage's workers",
    )
    parser.add_argument("--seed", type=int, default=default_config()["seed"])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="scratch folder for generated data (kept); default: a temporary one, removed after",
    )
    return parser


BACKENDS = ("tensorflow", "jax")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backends (which Keras backends to measure, each in a process of its own) and the
    options by which a benchmark runs itself as one backend's worker."""
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="Keras backends to measure, one child process each",
    )
    parser.add_argument("--worker", choices=BACKENDS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-output", type=Path, default=None, help=argparse.SUPPRESS)


def run_on_backend(name: str, backend: str, argv: list[str]) -> dict:
    """Run `python -m benchmarks.<name> <argv>` as the worker of one Keras backend and return
    the JSON it writes. A process's backend is fixed when it first imports Keras, so each
    backend is measured in a fresh process, one after the other."""
    with tempfile.TemporaryDirectory(prefix=f"cnnlab-{name}-{backend}-") as folder:
        output = Path(folder) / "worker.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                f"benchmarks.{name}",
                *argv,
                "--worker",
                backend,
                "--worker-output",
                str(output),
            ],
            check=True,
            env={**os.environ, "KERAS_BACKEND": backend},
        )
        return json.loads(output.read_text())


@contextmanager
def scratch_folder(workdir: Path | None):
    """`workdir` (created, kept), or a temporary folder removed afterwards."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-benchmark-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def machine() -> dict:
    """The machine and its load now: timings on a shared machine mean little without it.

    Imports no framework: a benchmark's parent process stays free to pick each child's Keras
    backend, and the GPU machine has JAX but no TensorFlow."""
    cpu_model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu_model,
        "logical_cores": os.cpu_count(),
        "gpus": gpu_names(),
        "load_average_1_5_15min": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        **installed_versions("keras", "tensorflow", "jax", "jaxlib", "snakemake", "numpy"),
    }


def gpu_names() -> list[str]:
    """The NVIDIA GPUs nvidia-smi lists (none where it is absent)."""
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def installed_versions(*packages: str) -> dict:
    """Each package's installed version, None where it is not installed."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


class Stopwatch:
    """`with Stopwatch() as watch: ...`, then `watch.seconds`; `watch.elapsed()` inside."""

    def __enter__(self):
        self.started = time.perf_counter()
        self.seconds = None
        return self

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def __exit__(self, *exc_info):
        self.seconds = self.elapsed()
        return False


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    """A plain-text table of `rows` (dicts) in the order of `columns`."""
    cells = [[format_value(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)
    ]
    print(f"\n{title}")
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    print("  ".join("-" * width for width in widths))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))


def write_results(path: Path, name: str, arguments, machine_before: dict, results: dict) -> None:
    """The benchmark's JSON: its arguments, the machine (with the load before and after) and
    its results, written atomically."""
    payload = {
        "benchmark": name,
        "arguments": vars(arguments),  # paths are written as strings (default=str below)
        "machine": machine_before,
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
        **results,
    }
    with atomic_output(path) as partial:
        partial.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(
        f"\nload average before {machine_before['load_average_1_5_15min']}, after "
        f"{payload['load_average_after']} (1, 5, 15 min; {machine_before['logical_cores']} cores)"
    )
    print(f"wrote {path}")


def synthetic_petimages(workdir: Path, images_per_class: int, seed: int) -> Path:
    """The demo's PetImages-shaped archive, generated and extracted by the data stage's own
    code (`fetch_and_extract`); returns the raw folder."""
    from cnnlab.data.sources import fetch_and_extract

    raw_dir = workdir / "raw"
    if not raw_dir.exists():
        fetch_and_extract(
            "petimages",
            {"kind": "synthetic", "images_per_class": images_per_class},
            downloads_dir=workdir / "downloads",
            out_dir=raw_dir,
            seed=seed,
        )
    return raw_dir


def cleaned_petimages(raw_dir: Path, out_dir: Path, image_size, workers: int) -> Path:
    """The clean_petimages stage: every image that decodes, as an RGB JPEG resized to
    `image_size` (height, width), in out_dir/cat and out_dir/dog."""
    from cnnlab.data.petimages import clean_petimages

    if not out_dir.exists():
        clean_petimages(
            raw_dir, out_dir, out_dir.with_suffix(".manifest.csv"), image_size, workers=workers
        )
    return out_dir
