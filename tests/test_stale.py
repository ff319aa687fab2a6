"""Only stale work is redone: a figure-only change replots, and never retrains or re-evaluates."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import DEMO_CONFIG, REPO, copy_workdir, run_snakemake

FIGURE_RULES = {
    "plot_training_curves", "plot_grid_comparison", "plot_activations", "plot_filters",
    "plot_augmentation_samples",
}
ALLOWED_RULES = FIGURE_RULES | {"summarize_results", "all"}
# Plotting code a user might edit: a rule's script, and a package module the figures import.
PLOTTING_CODE = [REPO / "scripts" / "plot_curves.py", REPO / "cnnlab" / "plots.py"]


def scheduled_rules(snakemake_output: str) -> set[str]:
    """The rules of the jobs Snakemake plans or runs ('rule x:' / 'localrule x:' lines)."""
    return set(re.findall(r"^(?:local)?rule (\w+):", snakemake_output, flags=re.MULTILINE))


class touched:
    """Give files a new modification time, as an editor's save does; put the old one back after,
    so the shared demo run and the developer's tree are left as they were."""

    def __init__(self, paths: list[Path]):
        self.saved = {path: os.stat(path) for path in paths}

    def __enter__(self):
        for path in self.saved:
            path.touch()

    def __exit__(self, *exc_info):
        for path, status in self.saved.items():
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


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

    with touched(PLOTTING_CODE):
        planned = scheduled_rules(run_snakemake(workdir, "-n", configfiles=configfiles).stdout)
        ran = scheduled_rules(run_snakemake(workdir, configfiles=configfiles).stdout)

    assert planned == ran
    assert ran - ALLOWED_RULES == set(), "a figure-only change retrained or re-evaluated"
    assert FIGURE_RULES <= ran  # every figure took the new dpi
    with Image.open(curves) as image:
        assert image.size == (
            round(old_width * new_dpi / old_dpi), round(old_height * new_dpi / old_dpi)
        )
    # And now nothing is left to do.
    assert scheduled_rules(run_snakemake(workdir, "-n", configfiles=configfiles).stdout) == set()
