"""The code map (cnnlab/codemap.py): each job depends on exactly the modules its script imports,
and the version of that code follows the modules' contents, not their file times."""

from __future__ import annotations

import shutil

import pytest

from cnnlab import codemap

SCRIPTS = sorted(path.name for path in codemap.SCRIPTS.glob("*.py"))


def test_every_script_has_an_entry():
    assert set(codemap.SCRIPT_MODULES) == set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_map_lists_exactly_what_the_script_imports(script):
    imported = codemap.imports_of(codemap.SCRIPTS / script)
    listed = set(codemap.SCRIPT_MODULES[script])
    assert imported - listed == set(), f"add to SCRIPT_MODULES['{script}']"
    assert listed - imported == set(), f"SCRIPT_MODULES['{script}'] lists what it never imports"


def test_imports_inside_functions_and_their_imports_count(tmp_path):
    """An import added anywhere in a script (a function body too) reaches the map check,
    with everything that module imports in turn."""
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
    # The check above would now fail for this script: the map has no such entry.
    assert imported != set(codemap.SCRIPT_MODULES["plot_curves.py"])


@pytest.fixture
def copied_package(tmp_path, monkeypatch):
    """A copy of cnnlab that code_version reads, so a test may edit modules."""
    shutil.copytree(codemap.PACKAGE, tmp_path / "cnnlab")
    monkeypatch.setattr(codemap, "REPOSITORY", tmp_path)
    return tmp_path / "cnnlab"


def test_the_version_follows_content_not_file_times(copied_package):
    before = {script: codemap.code_version(script) for script in SCRIPTS}

    (copied_package / "plots.py").touch()
    assert {script: codemap.code_version(script) for script in SCRIPTS} == before

    with open(copied_package / "plots.py", "a") as module:
        module.write("\n# a changed plot\n")
    after = {script: codemap.code_version(script) for script in SCRIPTS}
    changed = {script for script in SCRIPTS if after[script] != before[script]}
    assert changed == {
        script for script in SCRIPTS if "cnnlab/plots.py" in codemap.SCRIPT_MODULES[script]
    }
    assert "train.py" not in changed and "plot_curves.py" in changed


def test_a_real_download_does_not_depend_on_the_synthetic_generator(copied_package):
    real = codemap.code_version("download.py", codemap.SYNTHETIC_ONLY)
    synthetic = codemap.code_version("download.py")
    with open(copied_package / "data" / "synthetic.py", "a") as module:
        module.write("\n# a changed generator\n")
    assert codemap.code_version("download.py", codemap.SYNTHETIC_ONLY) == real
    assert codemap.code_version("download.py") != synthetic
