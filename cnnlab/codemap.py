"""Which code each Snakemake job's results depend on, and a version of that code.

Snakemake reruns a job when its `script:` changes, but not when a module the script imports
does. So every rule passes `code_version(script)` as a param: a hash of the *contents* of the
cnnlab modules that script runs. Editing a model retrains, editing a plot only replots, and
nothing reruns for a new modification time alone (a copied or moved run folder, a fresh
clone, `git checkout`).

`SCRIPT_MODULES` is written out by hand, so that a reader sees what each job depends on;
tests/test_codemap.py checks it against the scripts' real imports (`imports_of`), so an
import added without its entry here fails the tests.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPOSITORY = PACKAGE.parent
SCRIPTS = REPOSITORY / "scripts"

_JOBIO = ["cnnlab/__init__.py", "cnnlab/jobio.py"]
_DATA = [*_JOBIO, "cnnlab/data/__init__.py"]
_KERAS = [*_JOBIO, "cnnlab/runtime.py"]
_MODELS = [
    "cnnlab/models/__init__.py",
    "cnnlab/models/augmentation.py",
    "cnnlab/models/blocks.py",
    "cnnlab/models/catsdogs.py",
    "cnnlab/models/cifar10.py",
]
_PLOTS = ["cnnlab/plots.py", "cnnlab/history.py"]
_VISUALIZE = [*_KERAS, *_PLOTS, "cnnlab/visualize/__init__.py", "cnnlab/visualize/images.py"]

# Script (in scripts/) -> every cnnlab module its job runs, its own imports and theirs.
SCRIPT_MODULES: dict[str, list[str]] = {
    "download.py": [
        *_DATA,
        "cnnlab/data/cifar10.py",
        "cnnlab/data/extract.py",
        "cnnlab/data/petimages.py",
        "cnnlab/data/sources.py",
        "cnnlab/data/synthetic.py",
    ],
    "clean_petimages.py": [*_DATA, "cnnlab/data/petimages.py"],
    "split_petimages.py": [*_DATA, "cnnlab/data/petimages.py"],
    "decode_petimages_split.py": [*_DATA, "cnnlab/data/petimages.py"],
    "prepare_cifar10.py": [*_DATA, "cnnlab/data/cifar10.py"],
    "train.py": [
        *_KERAS,
        *_MODELS,
        "cnnlab/history.py",
        "cnnlab/provenance.py",
        "cnnlab/training/__init__.py",
        "cnnlab/training/callbacks.py",
        "cnnlab/training/datasets.py",
        "cnnlab/training/jobs.py",
    ],
    "evaluate.py": [
        *_KERAS,
        *_MODELS,
        "cnnlab/history.py",
        "cnnlab/predictions.py",
        "cnnlab/training/__init__.py",
        "cnnlab/training/datasets.py",
        "cnnlab/training/evaluation.py",
    ],
    "select_best.py": [
        *_JOBIO,
        "cnnlab/history.py",
        "cnnlab/predictions.py",
        "cnnlab/stats.py",
        "cnnlab/training/__init__.py",
        "cnnlab/training/selection.py",
    ],
    "plot_curves.py": [*_JOBIO, *_PLOTS],
    "plot_grid.py": [*_JOBIO, *_PLOTS],
    "plot_activations.py": [*_VISUALIZE, *_MODELS, "cnnlab/visualize/activations.py"],
    "plot_filters.py": [
        *_VISUALIZE,
        *_MODELS,
        "cnnlab/visualize/activations.py",
        "cnnlab/visualize/filters.py",
    ],
    "plot_augmentation.py": [
        *_VISUALIZE,
        *_MODELS,
        "cnnlab/visualize/augmentation.py",
    ],
    "plot_confusion_matrices.py": [*_JOBIO, *_PLOTS, "cnnlab/prediction_plots.py", "cnnlab/predictions.py"],
    "plot_failures.py": [*_JOBIO, *_PLOTS, "cnnlab/prediction_plots.py", "cnnlab/predictions.py"],
    "plot_gradcam.py": [
        *_KERAS,
        *_PLOTS,
        *_MODELS,
        "cnnlab/visualize/__init__.py",
        "cnnlab/visualize/gradcam.py",
    ],
    "summarize_results.py": [*_JOBIO, "cnnlab/stats.py", "cnnlab/summary.py"],
}

# Modules a job may skip for some configs, with the reason: the real (url or path) download
# never generates synthetic archives, so editing the generator must not re-extract 825 MB.
SYNTHETIC_ONLY = ["cnnlab/data/synthetic.py"]


def code_version(script: str, leave_out: list[str] | tuple[str, ...] = ()) -> str:
    """A short hash of the contents of the modules `script`'s job runs (less `leave_out`)."""
    digest = hashlib.sha256()
    for module in sorted(set(SCRIPT_MODULES[script]) - set(leave_out)):
        digest.update(module.encode() + b"\0" + (REPOSITORY / module).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def imports_of(path: Path) -> set[str]:
    """Every cnnlab module `path` runs: its `import cnnlab...` / `from cnnlab... import`
    statements anywhere in the file (functions too), then theirs, with the packages' __init__
    files, as paths relative to the repository."""
    found: set[str] = set()
    pending = [Path(path)]
    while pending:
        for module in _direct_imports(pending.pop()):
            if module not in found:
                found.add(module)
                pending.append(REPOSITORY / module)
    return found


def _direct_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from cnnlab.data import petimages` imports a module; `from cnnlab.jobio import
            # log_to` a name: try each as a module.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "cnnlab" or name.startswith("cnnlab."):
                modules |= _files_of(name)
    return modules


def _files_of(dotted: str) -> set[str]:
    """The files importing `dotted` runs: each package's __init__.py on the way, and the module
    (nothing when `dotted` names an attribute, not a module)."""
    parts = dotted.split(".")
    files = set()
    for depth in range(1, len(parts) + 1):
        folder = REPOSITORY.joinpath(*parts[:depth])
        if (folder / "__init__.py").is_file():
            files.add(f"{'/'.join(parts[:depth])}/__init__.py")
        elif folder.with_suffix(".py").is_file():
            files.add(f"{'/'.join(parts[:depth])}.py")
            break
        else:
            break
    return files
