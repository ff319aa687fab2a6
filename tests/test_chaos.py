"""Chaos (issue 24): a tiny grid cell's training and evaluation jobs SIGKILLed at seeded random
instants, many of them inside a checkpoint write, then rerun until done, end with the very
metrics.json and test_predictions.npz of a run never interrupted (CPU, one thread each).

Exact equality holds because a resumed job restores every variable training changes (weights,
optimizer, seed generators, within an epoch the metrics' running sums) and draws the batches
an uninterrupted job draws at the same position; the same ops on the same CPU and thread count
then give the same bits. The jobs run in children forked from one process that has imported
TensorFlow (tests/chaos_worker.py): a fresh interpreter per attempt would spend seconds on the
import alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

KILLS = 8
SEED = 24


def test_jobs_killed_at_random_instants_end_with_an_uninterrupted_runs_results(tmp_path):
    worker = Path(__file__).with_name("chaos_worker.py")
    result = subprocess.run(
        [sys.executable, str(worker), str(tmp_path), str(SEED), str(KILLS)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    landed = report["landed"]
    print(report)
    # Every kill lands (one meant for the training lands as the evaluation begins if the
    # training has ended). The first three wait for a write to begin; on a loaded machine one
    # may land just after it ends.
    assert len(landed) == KILLS, report
    assert landed.count("write begins") >= KILLS // 4, report
    assert "evaluation step" in landed, report

    reference, killed = tmp_path / "reference" / "cell", tmp_path / "killed" / "cell"
    assert json.loads((killed / "metrics.json").read_text()) == json.loads(
        (reference / "metrics.json").read_text()
    )
    with (
        np.load(reference / "test_predictions.npz") as wanted,
        np.load(killed / "test_predictions.npz") as got,
    ):
        assert sorted(got.files) == sorted(wanted.files)
        for key in wanted.files:
            np.testing.assert_array_equal(got[key], wanted[key], err_msg=key)
    assert not (tmp_path / "killed" / "scratch").exists(), (
        "the finished job removed its checkpoints"
    )
