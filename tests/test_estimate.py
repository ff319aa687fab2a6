"""resources.csv and the estimate of a run from it: benchmark files read, epochs scaled, the DAG
scheduled on N cores, SLURM's asks derived. Plumbing and arithmetic on made-up numbers; no
test here times anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO

from cnnlab import estimate, resources
from cnnlab.estimate import JobEstimate, Measurements, PlannedJob

BENCHMARK_HEADER = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
)


def write_benchmark(path: Path, wall: float, rss="812.5", cpu: float | None = None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        BENCHMARK_HEADER + f"{wall}\t0:00:00\t{rss}\t900\t800\t800\t0\t0\t50\t{cpu or wall}\n"
    )
    return str(path)


def write_history(path: Path, epoch_seconds: list[float]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{epoch},0.5,{seconds},0.7,0.5,0.7" for epoch, seconds in enumerate(epoch_seconds)]
    path.write_text(
        "epoch,accuracy,epoch_seconds,loss,val_accuracy,val_loss\n" + "\n".join(rows) + "\n"
    )
    return str(path)


def test_a_benchmark_file_gives_wall_cpu_and_memory_and_na_is_not_a_number(tmp_path):
    measured = resources.read_benchmark(
        write_benchmark(tmp_path / "a.tsv", 12.5, rss="NA", cpu=20.0)
    )
    assert measured == {"wall_s": 12.5, "cpu_s": 20.0, "max_rss_mb": None}
    assert resources.read_benchmark(tmp_path / "never_ran.tsv") is None
    (tmp_path / "empty.tsv").write_text(BENCHMARK_HEADER)
    with pytest.raises(ValueError, match=r"empty\.tsv has no measurement"):
        resources.read_benchmark(tmp_path / "empty.tsv")


def test_a_training_row_splits_its_time_into_first_epoch_later_epochs_and_fixed_part(tmp_path):
    row = resources.job_row(
        "train",
        {"seed": "1", "dataset": "cifar10", "model": "inception"},
        2,
        write_benchmark(tmp_path / "b.tsv", 100.0),
        write_history(tmp_path / "history.csv", [30.0, 10.0, 12.0, 11.0]),
    )
    assert row["wildcards"] == "dataset=cifar10 model=inception seed=1"  # sorted: a stable key
    assert row["epochs"] == 4
    assert row["first_epoch_s"] == 30.0
    assert row["seconds_per_epoch"] == 11.0  # the median of the later epochs, not of all four
    assert row["fixed_s"] == pytest.approx(100.0 - 63.0)


def test_resources_csv_round_trips_and_a_job_that_never_ran_is_a_row_without_numbers(tmp_path):
    jobs = [
        {
            "rule": "prepare_cifar10",
            "wildcards": {},
            "threads": 1,
            "benchmark": write_benchmark(tmp_path / "p.tsv", 3.25),
            "history": None,
        },
        {
            "rule": "train",
            "wildcards": {"dataset": "cifar10", "model": "residual", "seed": "7"},
            "threads": 2,
            "benchmark": str(tmp_path / "missing.tsv"),
            "history": None,
        },
    ]
    resources.summarize_resources(jobs, tmp_path / "resources.csv", tmp_path / "resources.html")
    rows = resources.read_resources(tmp_path / "resources.csv")
    assert [row["rule"] for row in rows] == ["prepare_cifar10", "train"]
    assert rows[0]["wall_s"] == 3.25 and rows[0]["threads"] == 1
    assert rows[1]["wall_s"] is None
    page = (tmp_path / "resources.html").read_text()
    assert "not measured" in page and "1 of 2 jobs measured" in page


class FakeMeasurements(Measurements):
    """Measurements from rows in memory, with the training jobs' batch sizes given."""

    def __init__(self, rows, batch_sizes=None):
        self.rows = rows
        self.by_key = {(row["rule"], row["wildcards"]): row for row in rows}
        self.batch_sizes = batch_sizes or {}

    def batch_size(self, row):
        return self.batch_sizes.get(row["wildcards"])


def training_row(wildcards, wall, epochs, per_epoch, rss=2000.0):
    return {
        "rule": "train",
        "wildcards": wildcards,
        "threads": 2.0,
        "wall_s": wall,
        "cpu_s": wall,
        "max_rss_mb": rss,
        "epochs": epochs,
        "first_epoch_s": per_epoch * 2,
        "seconds_per_epoch": per_epoch,
        "fixed_s": 5.0,
    }


def test_a_training_job_scales_its_later_epochs_and_pays_start_up_once():
    measured = FakeMeasurements(
        [training_row("dataset=cifar10 model=residual seed=1", 50.0, 2, 10.0)]
    )
    job = PlannedJob(
        "train", {"dataset": "cifar10", "model": "residual", "seed": "1"}, 2, epochs=60
    )
    assert estimate.estimate_job(job, measured).seconds == pytest.approx(50.0 + 58 * 10.0)
    fewer = PlannedJob("train", job.wildcards, 2, epochs=1)
    assert estimate.estimate_job(fewer, measured).seconds == pytest.approx(40.0)


def test_a_grid_cell_of_the_same_width_stands_in_and_a_new_model_is_not_guessed():
    measured = FakeMeasurements(
        [training_row("dataset=cifar10 model=basic/lr0.001_f256 seed=1", 40.0, 1, 30.0)],
        batch_sizes={"dataset=cifar10 model=basic/lr0.001_f256 seed=1": 1024},
    )
    other_rate = PlannedJob(
        "train",
        {"dataset": "cifar10", "model": "basic/lr1e-05_f256", "seed": "2"},
        2,
        epochs=3,
        batch_size=1024,
    )
    result = estimate.estimate_job(other_rate, measured)
    assert result.basis == "a grid cell of the same width" and result.seconds == pytest.approx(
        100.0
    )
    assert result.notes == []
    other_batch = PlannedJob("train", other_rate.wildcards, 2, epochs=3, batch_size=64)
    assert (
        "measured at batch size 1024, planned 64"
        in estimate.estimate_job(other_batch, measured).notes[0]
    )
    narrower = PlannedJob(
        "train", {"dataset": "cifar10", "model": "basic/lr0.001_f128", "seed": "1"}, 2, epochs=3
    )
    assert estimate.estimate_job(narrower, measured).seconds is None


def test_other_rules_cost_what_they_cost_or_their_rule_median():
    measured = FakeMeasurements(
        [
            {"rule": "evaluate", "wildcards": f"model=m{n}", "wall_s": wall, "max_rss_mb": 100.0}
            for n, wall in enumerate([4.0, 6.0, 20.0])
        ]
    )
    assert (
        estimate.estimate_job(PlannedJob("evaluate", {"model": "m2"}, 1), measured).seconds == 20.0
    )
    unseen = estimate.estimate_job(PlannedJob("evaluate", {"model": "new"}, 1), measured)
    assert unseen.seconds == 6.0 and "median" in unseen.basis


# A diamond: a (10 s) feeds b (20 s) and c (30 s), which both feed d (5 s).
DIAMOND = [
    PlannedJob("a", {}, 1),
    PlannedJob("b", {}, 1, dependencies=[0]),
    PlannedJob("c", {}, 1, dependencies=[0]),
    PlannedJob("d", {}, 1, dependencies=[1, 2]),
]
DIAMOND_SECONDS = [10.0, 20.0, 30.0, 5.0]


def test_the_critical_path_is_the_longest_chain():
    length, chain = estimate.critical_path(DIAMOND, DIAMOND_SECONDS)
    assert length == 45.0 and chain == [0, 2, 3]


@pytest.mark.parametrize("cores, wall", [(1, 65.0), (2, 45.0), (8, 45.0)])
def test_the_dag_on_n_cores_takes_the_sum_on_one_and_the_critical_path_on_enough(cores, wall):
    assert estimate.simulate(DIAMOND, DIAMOND_SECONDS, cores) == wall


def test_a_job_with_more_threads_holds_that_many_cores():
    jobs = [
        PlannedJob("wide", {}, 2),
        PlannedJob("narrow", {}, 1),
        PlannedJob("narrow", {"n": 2}, 1),
    ]
    # On 2 cores the 2-thread job runs alone; the two 1-thread jobs then share the cores.
    assert estimate.simulate(jobs, [10.0, 10.0, 10.0], 2) == 20.0
    # A job never waits for more cores than the run has: 2 threads on 1 core take 1.
    assert estimate.simulate(jobs, [10.0, 10.0, 10.0], 1) == 30.0


def test_slurm_asks_for_the_largest_job_of_each_rule_with_the_margin_rounded_up():
    jobs = [PlannedJob("train", {"n": n}, 2) for n in range(2)] + [PlannedJob("evaluate", {}, 1)]
    estimates = [
        JobEstimate(600.0, "measured"),
        JobEstimate(3000.0, "measured"),
        JobEstimate(30.0, "measured"),
    ]
    measured = FakeMeasurements(
        [
            {"rule": "train", "wildcards": "", "max_rss_mb": 3100.0},
            {"rule": "evaluate", "wildcards": "", "max_rss_mb": None},
        ]
    )
    asks = estimate.slurm_resources(jobs, estimates, measured, margin=1.5)
    assert asks == {
        "evaluate": {"runtime": 10, "mem_mb": 1000},
        "train": {"runtime": 75, "mem_mb": 5000},
    }
    fragment = estimate.slurm_fragment(asks, 1.5, "results/resources.csv")
    assert "set-resources:\n  evaluate:\n    runtime: 10\n    mem_mb: 1000\n  train:" in fragment


def test_the_plan_is_the_workflows_own_dag_with_epochs_threads_and_dependencies():
    """Snakemake's DAG object is not a public interface: this catches an upgrade that moves it."""
    jobs = estimate.plan([REPO / "demo.yaml"], cores=2)
    rules = {job.rule for job in jobs}
    assert {"download", "train", "evaluate", "summarize_results", "summarize_resources"} <= rules
    assert "all" not in rules
    by_key = {job.key: position for position, job in enumerate(jobs)}
    cell = ("train", "dataset=catsdogs model=basic/lr0.001_f16 seed=1337")
    train = jobs[by_key[cell]]
    assert train.epochs == 8 and train.batch_size == 16 and train.threads == 1  # demo.yaml's values
    assert train.benchmark == "results/catsdogs/basic/lr0.001_f16/seed1337/benchmark.tsv"
    assert train.history == "results/catsdogs/basic/lr0.001_f16/seed1337/history.csv"
    evaluation = by_key["evaluate", cell[1]]
    assert by_key[cell] in jobs[evaluation].dependencies
    assert jobs[by_key["clean_petimages", ""]].priority == 10


def test_the_estimate_refuses_a_folder_without_measurements(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        estimate, "plan", lambda configfiles, cores: [PlannedJob("a", {}, 1, benchmark="a.tsv")]
    )
    assert estimate.main(["--measured", str(tmp_path)]) == 2
    assert "resources.csv does not exist: finish a run first" in capsys.readouterr().err
    assert estimate.main(["--measured", str(tmp_path / "nowhere")]) == 2
    assert "nowhere is not a folder" in capsys.readouterr().err


def test_a_run_stopped_before_its_table_is_measured_from_the_jobs_that_finished(tmp_path):
    """A GPU lease ends before the last job writes resources.csv: the finished jobs' files."""
    write_benchmark(tmp_path / "results" / "cifar10" / "residual" / "benchmark.tsv", 50.0)
    write_history(tmp_path / "results" / "cifar10" / "residual" / "history.csv", [20.0, 10.0])
    planned = [
        PlannedJob(
            "train",
            {"dataset": "cifar10", "model": "residual", "seed": "1"},
            2,
            epochs=5,
            benchmark="results/cifar10/residual/benchmark.tsv",
            history="results/cifar10/residual/history.csv",
        ),
        PlannedJob(
            "train",
            {"dataset": "cifar10", "model": "inception", "seed": "1"},
            2,
            epochs=5,
            benchmark="results/cifar10/inception/benchmark.tsv",
            history="results/cifar10/inception/history.csv",
        ),
    ]
    measured = Measurements(tmp_path / "results", planned)
    assert [row["wildcards"] for row in measured.rows] == ["dataset=cifar10 model=residual seed=1"]
    assert estimate.estimate_job(planned[0], measured).seconds == pytest.approx(80.0)
    assert estimate.estimate_job(planned[1], measured).seconds is None


def test_the_json_holds_every_job(tmp_path, monkeypatch):
    """The command end to end on a two-job plan (the DAG stubbed: planning is tested above)."""
    results = tmp_path / "results"
    jobs = [
        {
            "rule": "prepare_cifar10",
            "wildcards": {},
            "threads": 1,
            "benchmark": write_benchmark(tmp_path / "p.tsv", 3.0),
            "history": None,
        },
        {
            "rule": "train",
            "wildcards": {"dataset": "cifar10", "model": "residual", "seed": "1"},
            "threads": 2,
            "benchmark": write_benchmark(tmp_path / "t.tsv", 50.0),
            "history": write_history(tmp_path / "h.csv", [20.0, 10.0]),
        },
    ]
    results.mkdir()
    resources.summarize_resources(jobs, results / "resources.csv", results / "resources.html")
    plan = [
        PlannedJob("prepare_cifar10", {}, 1),
        PlannedJob(
            "train",
            {"dataset": "cifar10", "model": "residual", "seed": "1"},
            2,
            epochs=4,
            dependencies=[0],
        ),
    ]
    monkeypatch.setattr(estimate, "plan", lambda configfiles, cores: plan)
    out = tmp_path / "estimate.json"
    assert (
        estimate.main(["--measured", str(results), "--check", str(results), "--json", str(out)])
        == 0
    )
    written = json.loads(out.read_text())
    assert [job["estimate_s"] for job in written["jobs"]] == [3.0, 70.0]
    assert [job["actual_s"] for job in written["jobs"]] == [3.0, 50.0]
    assert written["wall_s"] == 73.0 and written["critical_path_s"] == 73.0
    assert written["slurm"]["train"]["runtime"] == 10


def test_the_markdown_tables_list_every_job_and_sum_each_rule(tmp_path):
    jobs = [
        {
            "rule": "evaluate",
            "wildcards": {"model": f"m{n}"},
            "threads": 1,
            "benchmark": write_benchmark(tmp_path / f"e{n}.tsv", wall, rss=str(rss)),
            "history": None,
        }
        for n, (wall, rss) in enumerate([(30.0, 900), (90.0, 1500)])
    ]
    rows = resources.summarize_resources(jobs, tmp_path / "r.csv", tmp_path / "r.html")
    markdown = resources.to_markdown(rows)
    assert "| evaluate | model=m1 | 1 | 90 s | 90 s | 1,500 MiB |" in markdown
    assert "| evaluate | 2 | 2.0 min | 90 s | 1,500 MiB |" in markdown


def test_a_gpu_estimate_takes_each_epoch_from_its_flops_at_the_assumed_rate(tmp_path):
    flops = tmp_path / "flops.json"
    flops.write_text(
        json.dumps({"jobs": [{"model": "cifar10/residual", "epochs": 60, "training_FLOP": 6e15}]})
    )
    per_epoch = estimate.gpu_epochs(flops, tflops=100)
    assert per_epoch == {"cifar10/residual": pytest.approx(1.0)}  # 1e14 FLOP at 1e14 FLOP/s
    measured = FakeMeasurements(
        [training_row("dataset=cifar10 model=residual seed=1", 50.0, 2, 10.0)]
    )
    job = PlannedJob(
        "train", {"dataset": "cifar10", "model": "residual", "seed": "1"}, 2, epochs=60
    )
    gpu = estimate.estimate_job(job, measured, per_epoch)
    assert gpu.seconds == pytest.approx(5.0 + 60 * 1.0)  # the measured fixed part, then FLOPs
    assert "assumed rate" in gpu.basis
