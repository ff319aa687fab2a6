"""Only stale work is redone: a figure-only change replots and never retrains; a model change
retrains exactly what depends on it; a run folder moved elsewhere has nothing to redo."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import DEMO_CONFIG, REPO, copy_workdir, run_snakemake
from PIL import Image

from cnnlab.provenance import copy_checkout

FIGURE_RULES = {
    "plot_overview",
    "plot_training_curves",
    "plot_grid_comparison",
    "plot_activations",
    "plot_filters",
    "plot_augmentation_samples",
    "plot_confusion_matrices",
    "plot_failure_galleries",
    "plot_gradcam",
}
# The resources table lists every job's measurements: it follows whatever job reran (seconds).
RESOURCES_TABLE = "summarize_resources"
ALLOWED_RULES = FIGURE_RULES | {"summarize_results", RESOURCES_TABLE, "all"}
# Plotting code a user might edit: a rule's script, and a package module the figures import.
PLOTTING_CODE = [REPO / "scripts" / "plot_curves.py", REPO / "cnnlab" / "plots.py"]


def scheduled_rules(snakemake_output: str) -> set[str]:
    """The rules of the jobs Snakemake plans or runs ('rule x:' / 'localrule x:' lines)."""
    return set(re.findall(r"^(?:local)?rule (\w+):", snakemake_output, flags=re.MULTILINE))


class edited:
    """Append a comment to files, as a user's edit does (or replace `old` by `new` in them);
    put the old content and file time back after, so the shared demo run and the developer's
    tree are left as they were."""

    def __init__(self, paths: list[Path], old: str | None = None, new: str | None = None):
        self.saved = {path: (path.read_bytes(), os.stat(path)) for path in paths}
        self.old, self.new = old, new

    def __enter__(self):
        for path in self.saved:
            if self.old is None:
                with open(path, "a") as file:
                    file.write("\n# edited by tests/test_stale.py\n")
                continue
            text = path.read_text()
            assert self.old in text, f"{path} no longer holds {self.old!r}: update the test"
            path.write_text(text.replace(self.old, self.new))

    def __exit__(self, *exc_info):
        for path, (content, status) in self.saved.items():
            path.write_bytes(content)
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def job_counts(snakemake_output: str) -> dict[str, int]:
    """The 'Job stats' table of a run or dry run: {rule: count} (empty when nothing is to do)."""
    if "Job stats:" not in snakemake_output:
        return {}
    table = snakemake_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {
        rule: int(count)
        for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)
        if rule != "total"
    }


@pytest.mark.workflow
def test_a_figure_only_change_reruns_only_figure_and_table_jobs(demo_run, tmp_path):
    workdir = copy_workdir(demo_run, tmp_path / "run")
    curves = workdir / "results" / "figures" / "catsdogs" / "vgg16_frozen" / "curves.png"
    old_dpi = yaml.safe_load(DEMO_CONFIG.read_text())["figures"]["dpi"]
    new_dpi = old_dpi + 17
    overlay = tmp_path / "figures.yaml"
    overlay.write_text(yaml.safe_dump({"figures": {"dpi": new_dpi}}))
    with Image.open(curves) as image:
        old_width, old_height = image.size
    configfiles = (DEMO_CONFIG, overlay)

    with edited(PLOTTING_CODE):
        planned = scheduled_rules(run_snakemake(workdir, "-n", configfiles=configfiles).stdout)
        ran = scheduled_rules(run_snakemake(workdir, configfiles=configfiles).stdout)
        # And now nothing is left to do (while the edit stands: undoing it is another change).
        left = scheduled_rules(run_snakemake(workdir, "-n", configfiles=configfiles).stdout)

    assert planned == ran
    assert ran - ALLOWED_RULES == set(), "a figure-only change retrained or re-evaluated"
    assert FIGURE_RULES <= ran  # every figure took the new dpi
    with Image.open(curves) as image:
        assert image.size == (
            round(old_width * new_dpi / old_dpi),
            round(old_height * new_dpi / old_dpi),
        )
    assert left == set()


@pytest.mark.workflow
def test_new_confusion_matrix_colours_redraw_only_the_prediction_figures(demo_run, tmp_path):
    """The colour map of the confusion matrices changed: the two figure jobs that read the
    predictions files redraw; nothing is re-evaluated, retrained or re-tabulated."""
    workdir = copy_workdir(demo_run, tmp_path / "run")
    matrix = workdir / "results" / "figures" / "catsdogs" / "vgg16_frozen" / "confusion_matrix.png"
    with Image.open(matrix) as image:
        before = np.asarray(image.convert("RGB"), dtype=float)

    with edited([REPO / "cnnlab" / "prediction_plots.py"], '= "Blues"', '= "Greens"'):
        ran = scheduled_rules(run_snakemake(workdir).stdout)
        left = scheduled_rules(run_snakemake(workdir, "-n").stdout)

    assert ran - {"all", RESOURCES_TABLE} == {"plot_confusion_matrices", "plot_failure_galleries"}
    assert left == set()
    with Image.open(matrix) as image:
        after = np.asarray(image.convert("RGB"), dtype=float)
    # Where the cells were blue they are green now: more green than blue in the changed pixels.
    changed = np.any(before != after, axis=2)
    assert changed.mean() > 0.01
    assert after[changed][:, 1].mean() > after[changed][:, 2].mean()
    assert before[changed][:, 2].mean() > before[changed][:, 1].mean()


@pytest.mark.workflow
def test_a_model_change_retrains_exactly_what_depends_on_it(demo_run, tmp_path):
    workdir = copy_workdir(demo_run, tmp_path / "run")
    with edited([REPO / "cnnlab" / "models" / "cifar10.py"]):
        planned = job_counts(run_snakemake(workdir, "-n").stdout)
    # Every training job builds its model through the one registry, which imports both data
    # sets' models; whatever reads a model or a history follows. The data stage does not.
    assert planned == {
        "train": 14,  # demo.yaml's 13 models and the VGG16 base pretrained on CIFAR-10
        "evaluate": 14,
        "select_best": 2,
        "plot_training_curves": 14,
        "plot_grid_comparison": 2,
        "plot_activations": 1,
        "plot_filters": 1,
        "plot_augmentation_samples": 1,
        "plot_confusion_matrices": 1,
        "plot_failure_galleries": 1,
        "plot_gradcam": 1,
        "plot_overview": 2,
        "summarize_results": 1,
        RESOURCES_TABLE: 1,
        "all": 1,
    }


@pytest.mark.workflow
def test_a_run_folder_moved_elsewhere_has_nothing_to_redo(demo_run, tmp_path):
    """A finished run copied to another place (a colleague's disk, a renamed folder) is
    complete there: no job's inputs or code count as changed."""
    moved = copy_workdir(demo_run, tmp_path / "somewhere" / "else")
    assert job_counts(run_snakemake(moved, "-n").stdout) == {}


def checkout_copy(target: Path) -> Path:
    """The workflow's code as a fresh clone has it: every file git would check out (the
    working tree's content, uncommitted edits included), each with a new modification time,
    newer than any result."""
    return copy_checkout(target, keep_times=False)


def planned_in(run_dir: Path, checkout: Path) -> dict[str, int]:
    """What `snakemake -n` plans for `run_dir` with the Snakefile, profile and cnnlab of
    `checkout` (as after `pip install -e` there)."""
    output = run_snakemake(
        run_dir,
        "-n",
        "--snakefile",
        str(checkout / "Snakefile"),
        env={"PYTHONPATH": str(checkout)},
    ).stdout
    assert f"workflow specific profile {checkout / 'profiles' / 'default'}" in output
    return job_counts(output)


@pytest.mark.workflow
def test_a_fresh_clone_or_a_touch_reruns_nothing_and_a_script_edit_only_its_jobs(
    demo_run, tmp_path
):
    """A finished run's results/ and .snakemake/ copied with their times (`cp -a`) beside a
    fresh checkout, whose every file is newer than them: Snakemake's own code trigger would
    rerun all 56 jobs; the content-based code version reruns none. Then every script touched:
    still nothing. Then one script edited: exactly its jobs and what reads their outputs."""
    run_dir = copy_workdir(demo_run, tmp_path / "run")
    checkout = checkout_copy(tmp_path / "clone")
    assert planned_in(run_dir, checkout) == {}

    later = time.time() + 3600
    for script in (checkout / "scripts").glob("*.py"):
        os.utime(script, (later, later))
    assert planned_in(run_dir, checkout) == {}

    with open(checkout / "scripts" / "plot_grid.py", "a") as script:
        script.write("\n# an edited figure script\n")
    assert planned_in(run_dir, checkout) == {
        "plot_grid_comparison": 2,
        RESOURCES_TABLE: 1,
        "all": 1,
    }
