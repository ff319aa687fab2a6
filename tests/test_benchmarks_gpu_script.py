"""The GPU run's report builder (benchmarks/gpu/report.py) on a fake finished run: per-job wall
times from Snakemake's metadata, images/s from train.json, TFLOP/s only where the counted
full-scale job matches. Nothing is timed; no Keras is imported."""

import csv
import json

from benchmarks.gpu import report

FULLSCALE_JOB = {"model": "cifar10/residual", "filters": 256, "n_train": 45000, "n_val": 5000, "epochs": 60}


def fake_run(run_dir, train_infos):
    """A run folder as Snakemake leaves it: a metadata record per output, train.json and
    benchmark.tsv per trained model."""
    metadata = run_dir / ".snakemake" / "metadata"
    metadata.mkdir(parents=True)
    for index, (model, info, job_seconds) in enumerate(train_infos):
        folder = run_dir / "results" / model
        folder.mkdir(parents=True)
        (folder / "train.json").write_text(json.dumps(info))
        (folder / "benchmark.tsv").write_text(f"s\th:m:s\n{job_seconds}\t0:00:{job_seconds:02.0f}\n")
        record = {"rule": "train", "job_hash": index, "starttime": 1000.0 + 10 * index,
                  "endtime": 1000.0 + 10 * index + job_seconds, "incomplete": False}
        (metadata / f"record{index}").write_text(json.dumps(record))


def train_info(n_train, epochs, seconds, filters):
    return {"n_train": n_train, "n_val": 5000, "epochs_run": epochs, "wall_time_seconds": seconds,
            "device": "NVIDIA H100", "runtime": {"backend": "jax", "mixed_precision": "mixed_bfloat16"},
            "hyperparameters": {"filters": filters}}


def test_report_from_a_fake_run(tmp_path, monkeypatch):
    flops_file = tmp_path / "flops.json"
    flops_file.write_text(json.dumps({"jobs": [{**FULLSCALE_JOB, "training_FLOP": 3.0e15}]}))
    monkeypatch.setattr(report, "FLOPS_FILE", flops_file)
    run_dir = tmp_path / "run"
    fake_run(run_dir, [
        ("cifar10/residual/seed1337", train_info(45000, 60, 30.0, 256), 40.0),  # counted full scale
        ("cifar10/inception/seed1337", train_info(450, 1, 9.0, 8), 12.0),  # rehearsal sizes: no FLOPs
    ])
    log = tmp_path / "snakemake.log"
    log.write_text("1 of 3 steps (33%) done\n2 of 3 steps (67%) done\n")

    result = report.build_report(run_dir, log, tmp_path / "out")

    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "jobs.csv", "report.json", "report.md", "training.csv"]
    rows = {row["model"]: row for row in result["training"]}
    residual = rows["cifar10/residual/seed1337"]
    assert residual["images/s"] == 45000 * 60 / 30.0
    assert residual["TFLOP/s"] == 3.0e15 / 30.0 / 1e12  # the model's count, for any seed
    assert residual["job seconds"] == 40.0
    assert rows["cifar10/inception/seed1337"]["TFLOP"] is None
    assert result["summary"]["progress"] == "2 of 3 steps (67%) done"
    assert result["summary"]["jobs finished"] == 2
    assert result["summary"]["first job start to last job end (s)"] == 40.0
    with open(tmp_path / "out" / "jobs.csv") as handle:
        assert [row["rule"] for row in csv.DictReader(handle)] == ["train"] * 2
