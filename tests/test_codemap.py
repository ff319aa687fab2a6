"""The code map (cnnlab/codemap.py): each job depends on exactly the script and the modules it
imports, computed from the code, and the version of that code follows contents, not file times."""

from __future__ import annotations

import shutil

import pytest

from cnnlab import codemap

SCRIPTS = sorted(path.name for path in codemap.SCRIPTS.glob("*.py"))


def test_every_script_runs_the_modules_it_imports_and_no_others():
    """A few facts a reader can check by eye: the data stage never runs Keras code, training
    and evaluation run every model, a plot of saved histories runs no model."""
    modules = {script: set(codemap.script_modules(script)) for script in SCRIPTS}
    assert "cnnlab/data/extract.py" in modules["download.py"]
    assert "cnnlab/data/synthetic.py" in modules["download.py"]
    assert modules["prepare_cifar10.py"] == {
        "cnnlab/__init__.py",
        "cnnlab/jobio.py",
        "cnnlab/data/__init__.py",
        "cnnlab/data/cifar10.py",
    }
    for script in ("train.py", "evaluate.py", "plot_filters.py"):
        assert {"cnnlab/models/cifar10.py", "cnnlab/models/catsdogs.py"} <= modules[script]
    assert "cnnlab/training/evaluation.py" in modules["evaluate.py"] - modules["train.py"]
    assert "cnnlab/stats.py" in modules["select_best.py"]
    for script in ("plot_curves.py", "plot_grid.py", "summarize_results.py", "download.py"):
        assert not any(module.startswith("cnnlab/models/") for module in modules[script])
    assert all(modules[script] for script in SCRIPTS)


def test_imports_inside_functions_and_their_imports_count(tmp_path):
    """An import added anywhere in a script (a function body too) counts, with everything that
    module imports in turn."""
    script = tmp_path / "new_figure.py"
    script.write_text(
        "from cnnlab.jobio import log_to\n"
        "def draw():\n"
        "    from cnnlab.visualize.filters import filters_figure\n"
    )
    imported = codemap.imports_of(script)
    assert {"cnnlab/jobio.py", "cnnlab/visualize/filters.py"} <= imported
    # filters.py imports activations.py, which imports the models package lazily.
    assert {"cnnlab/visualize/activations.py", "cnnlab/models/__init__.py"} <= imported
    assert "cnnlab/visualize/__init__.py" in imported and "cnnlab/__init__.py" in imported
    assert "cnnlab/data/extract.py" not in imported


@pytest.fixture
def copied_code(tmp_path, monkeypatch):
    """A copy of cnnlab and scripts/ that the code map reads, so a test may edit them."""
    shutil.copytree(codemap.PACKAGE, tmp_path / "cnnlab")
    shutil.copytree(codemap.SCRIPTS, tmp_path / "scripts")
    monkeypatch.setattr(codemap, "REPOSITORY", tmp_path)
    return tmp_path


def versions():
    return {script: codemap.code_version(script) for script in SCRIPTS}


def append(path, text):
    with open(path, "a") as file:
        file.write(text)


def test_the_version_follows_content_not_file_times(copied_code):
    before = versions()

    (copied_code / "cnnlab" / "plots.py").touch()
    for script in SCRIPTS:
        (copied_code / "scripts" / script).touch()
    assert versions() == before

    append(copied_code / "cnnlab" / "plots.py", "\n# a changed plot\n")
    after = versions()
    changed = {script for script in SCRIPTS if after[script] != before[script]}
    assert changed == {
        script for script in SCRIPTS if "cnnlab/plots.py" in codemap.script_modules(script)
    }
    assert "train.py" not in changed and "plot_curves.py" in changed


def test_the_version_covers_the_script_itself(copied_code):
    """Snakemake's own trigger for a script is its file time (left out by the profiles), so
    the script's content must be in the version: an edit changes that script's only."""
    before = versions()
    append(copied_code / "scripts" / "plot_grid.py", "\n# an edited script\n")
    after = versions()
    assert {script for script in SCRIPTS if after[script] != before[script]} == {"plot_grid.py"}


@pytest.mark.parametrize(
    "statement, package_file",
    [
        ("from .stats import wilson_interval", "cnnlab/plots.py"),
        ("from . import stats", "cnnlab/plots.py"),
        ("from ..stats import wilson_interval", "cnnlab/visualize/images.py"),
        ("from .. import stats", "cnnlab/visualize/images.py"),
        ("import importlib\nimportlib.import_module('cnnlab.stats')", "cnnlab/plots.py"),
        (
            "from importlib import import_module\nimport_module('.stats', package='cnnlab')",
            "cnnlab/plots.py",
        ),
    ],
)
def test_a_relative_or_dynamic_import_added_to_a_module_is_followed(
    copied_code, statement, package_file
):
    plots = "plot_curves.py" if package_file == "cnnlab/plots.py" else "plot_filters.py"
    assert "cnnlab/stats.py" not in codemap.script_modules(plots)
    append(
        copied_code / package_file,
        f"\n\ndef late():\n    {statement.replace(chr(10), chr(10) + '    ')}\n",
    )
    codemap._script_modules.cache_clear()
    assert "cnnlab/stats.py" in codemap.script_modules(plots)
    # And so an edit of stats.py now changes that job's version.
    before = codemap.code_version(plots)
    append(copied_code / "cnnlab" / "stats.py", "\n# a changed statistic\n")
    assert codemap.code_version(plots) != before


@pytest.mark.parametrize(
    "statement",
    [
        "importlib.import_module(name)",
        "__import__(f'cnnlab.{name}')",
        "importlib.import_module('.stats')",
    ],
)
def test_an_import_the_map_cannot_follow_is_refused_with_its_place(copied_code, statement):
    append(copied_code / "cnnlab" / "plots.py", f"\n\ndef late(name):\n    {statement}\n")
    codemap._script_modules.cache_clear()
    with pytest.raises(codemap.CodeMapError, match=r"cnnlab/plots\.py:\d+: "):
        codemap.code_version("plot_curves.py")


def test_a_script_that_does_not_exist_is_named():
    with pytest.raises(codemap.CodeMapError, match=r"plot_nothing\.py"):
        codemap.code_version("plot_nothing.py")


def test_a_real_download_does_not_depend_on_the_synthetic_generator(copied_code):
    real = codemap.code_version("download.py", codemap.SYNTHETIC_ONLY)
    synthetic = codemap.code_version("download.py")
    append(copied_code / "cnnlab" / "data" / "synthetic.py", "\n# a changed generator\n")
    assert codemap.code_version("download.py", codemap.SYNTHETIC_ONLY) == real
    assert codemap.code_version("download.py") != synthetic
