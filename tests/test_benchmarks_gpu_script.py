"""The GPU run's report builder (benchmarks/gpu/report.py) on a fake finished run: per-job wall
times from Snakemake's metadata, images/s from train.json, TFLOP/s only where the counted
full-scale job matches. Nothing is timed; no Keras is imported."""

import base64
import csv
import json

from benchmarks.gpu import report

FULLSCALE_JOB = {
    "model": "cifar10/residual",
    "filters": 256,
    "n_train": 45000,
    "n_val": 5000,
    "epochs": 60,
}


def fake_run(run_dir, train_infos):
    """A run folder as Snakemake leaves it: a metadata record per output, train.json and
    benchmark.tsv per trained model."""
    metadata = run_dir / ".snakemake" / "metadata"
    metadata.mkdir(parents=True)
    for index, (model, info, job_seconds) in enumerate(train_infos):
        folder = run_dir / "results" / model
        folder.mkdir(parents=True)
        (folder / "train.json").write_text(json.dumps(info))
        (folder / "benchmark.tsv").write_text(
            f"s\th:m:s\n{job_seconds}\t0:00:{job_seconds:02.0f}\n"
        )
        record = {
            "rule": "train",
            "job_hash": index,
            "starttime": 1000.0 + 10 * index,
            "endtime": 1000.0 + 10 * index + job_seconds,
            "incomplete": False,
        }
        write_record(metadata, f"results/{model}/train.json", record)


def write_record(metadata, output, record):
    """Snakemake's metadata record of `output`, named as Snakemake names it."""
    (metadata / base64.urlsafe_b64encode(output.encode()).decode()).write_text(json.dumps(record))


def train_info(n_train, epochs, seconds, filters, restored=0):
    return {
        "n_train": n_train,
        "n_val": 5000,
        "epochs_run": epochs,
        "wall_time_seconds": seconds,
        "epochs_restored_from_backup": restored,
        "device": "NVIDIA H100",
        "runtime": {"backend": "jax", "mixed_precision": "mixed_bfloat16"},
        "hyperparameters": {"filters": filters},
    }


def test_report_from_a_fake_run(tmp_path, monkeypatch):
    flops_file = tmp_path / "flops.json"
    flops_file.write_text(json.dumps({"jobs": [{**FULLSCALE_JOB, "training_FLOP": 3.0e15}]}))
    monkeypatch.setattr(report, "FLOPS_FILE", flops_file)
    run_dir = tmp_path / "run"
    fake_run(
        run_dir,
        [
            (
                "cifar10/residual/seed1337",
                train_info(45000, 60, 30.0, 256),
                40.0,
            ),  # counted full scale
            (
                "cifar10/inception/seed1337",
                train_info(450, 1, 9.0, 8),
                12.0,
            ),  # rehearsal sizes: no FLOPs
        ],
    )
    log = tmp_path / "snakemake.log"
    log.write_text("1 of 3 steps (33%) done\n2 of 3 steps (67%) done\n")

    result = report.build_report(run_dir, log, tmp_path / "out")

    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "jobs.csv",
        "report.json",
        "report.md",
        "training.csv",
    ]
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


def test_a_resumed_job_counts_only_the_epochs_it_trained(tmp_path, monkeypatch):
    """7 of 60 epochs restored from the backup: the 30 s trained the other 53."""
    flops_file = tmp_path / "flops.json"
    flops_file.write_text(json.dumps({"jobs": [{**FULLSCALE_JOB, "training_FLOP": 3.0e15}]}))
    monkeypatch.setattr(report, "FLOPS_FILE", flops_file)
    run_dir = tmp_path / "run"
    fake_run(
        run_dir, [("cifar10/residual/seed1337", train_info(45000, 60, 30.0, 256, restored=7), 40.0)]
    )

    (residual,) = report.build_report(run_dir, tmp_path / "no.log", tmp_path / "out")["training"]

    assert residual["epochs"] == 60 and residual["epochs trained here"] == 53
    assert residual["images/s"] == 45000 * 53 / 30.0
    assert residual["TFLOP"] == 3.0e15 * 53 / 60 / 1e12
    assert residual["TFLOP/s"] == 3.0e15 * 53 / 60 / 30.0 / 1e12


def test_a_rate_measured_beside_other_keras_jobs_says_it_shared_the_card(tmp_path):
    run_dir = tmp_path / "run"
    fake_run(
        run_dir,
        [  # job 0 runs 1000-1030 s, job 1 1010-1015 s, job 2 1020-1021 s
            ("cifar10/residual/seed1337", train_info(450, 1, 30.0, 8), 30.0),
            ("cifar10/inception/seed1337", train_info(450, 1, 5.0, 8), 5.0),
            ("cifar10/basic/lr0.001_f8/seed1337", train_info(450, 1, 1.0, 8), 1.0),
        ],
    )
    metadata = run_dir / ".snakemake" / "metadata"
    # An evaluation during job 0 only; a table job (no Keras) during job 1.
    write_record(
        metadata,
        "results/cifar10/residual/seed1337/metrics.json",
        {"rule": "evaluate", "job_hash": 10, "starttime": 1025.0, "endtime": 1029.0},
    )
    write_record(
        metadata,
        "results/summary.csv",
        {"rule": "summarize_results", "job_hash": 11, "starttime": 1011.0, "endtime": 1012.0},
    )

    rows = {
        row["model"]: row
        for row in report.build_report(run_dir, tmp_path / "no.log", tmp_path / "out")["training"]
    }

    assert rows["cifar10/residual/seed1337"]["card shared with"] == 3
    assert rows["cifar10/inception/seed1337"]["card shared with"] == 1
    assert rows["cifar10/basic/lr0.001_f8/seed1337"]["card shared with"] == 1
    assert "card shared with" in (tmp_path / "out" / "report.md").read_text()
