"""The results table beside the report's numbers, and the `snakemake --report` page."""

# Reading a few small files: not worth a cluster job.
localrules:
    summarize_results,
    summarize_resources,


# The hyper-parameter grids; each has a best.json naming its best cell.
GRIDS = ["catsdogs/basic", "cifar10/basic"]


rule summarize_results:
    """One row per model: final accuracies, test metrics, epochs, wall time, device, report's number."""
    input:
        metrics=expand("results/{run}/metrics.json", run=RUNS),
        infos=expand("results/{run}/train.json", run=RUNS),
        best=expand("results/{grid}/best.json", grid=GRIDS),
        # Shown above the table (embedded in the HTML): drawn from the same saved files.
        overviews=OVERVIEWS,
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Results",
            subcategory="Tables",
            labels={"table": "results (CSV)"},
        ),
        markdown="results/summary.md",
        html=report(
            "results/summary.html",
            caption="../report/summary.rst",
            category="Results",
            subcategory="Tables",
            labels={"table": "results"},
        ),
    params:
        code=code_version("summarize_results.py"),
        models=MODELS,
        runs=RUNS,
        grids=GRIDS,
        datasets=list(DATASET_NAMES),
        report_numbers=config["report_numbers"],
        report_test_images=config["report_test_images"],
    log:
        "logs/summarize_results.log",
    benchmark:
        "results/resources/summarize_results.tsv"
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/summarize_results.py"


def measured_job(rule, threads=1, history=None, **wildcards):
    """A job of this run as resources.csv lists it: its rule, wildcards, threads, and where
    its benchmark file (and for training, its history) lies."""
    return {
        "rule": rule,
        "wildcards": wildcards,
        "threads": threads,
        "benchmark": str(getattr(rules, rule).benchmark).format(**wildcards),
        "history": history,
    }


def measured_jobs():
    """Every job of this config's run that costs anything (every rule but `all`)."""
    training_threads = config["training"]["threads"]
    jobs = [measured_job("download", archive=archive) for archive in ("petimages", "cifar10")]
    jobs += [
        measured_job("clean_petimages", config["data"]["petimages"]["clean_threads"]),
        measured_job("split_petimages"),
        *[measured_job("decode_petimages_split", split=split) for split in ("train", "val", "test")],
        measured_job("prepare_cifar10"),
    ]
    for run in RUNS:
        dataset, model_and_seed = run.split("/", 1)
        model, seed = model_and_seed.rsplit("/seed", 1)
        wildcards = {"dataset": dataset, "model": model, "seed": seed}
        history = f"results/{run}/history.csv"
        jobs.append(measured_job("train", training_threads, history, **wildcards))
        jobs.append(measured_job("evaluate", **wildcards))
    jobs += [measured_job("select_best", dataset=grid.split("/")[0]) for grid in GRIDS]
    for model in MODELS:
        dataset, model_path = model.split("/", 1)
        jobs.append(measured_job("plot_training_curves", dataset=dataset, model=model_path))
    jobs += [
        measured_job(rule, dataset=dataset)
        for rule in ("plot_grid_comparison", "plot_overview")
        for dataset in DATASET_NAMES
    ]
    jobs += [
        measured_job(rule)
        for rule in (
            "plot_activations",
            "plot_filters",
            "plot_augmentation_samples",
            "plot_confusion_matrices",
            "plot_failure_galleries",
            "plot_gradcam",
            "summarize_results",
        )
    ]
    return jobs


rule summarize_resources:
    """What each job of the run cost (time, CPU, memory, seconds per epoch): the measurements
    `python -m cnnlab.estimate` predicts a longer run from. It runs last, after every job it
    lists; a job that has not run since benchmarks were kept is a row marked not measured."""
    input:
        rules.summarize_results.output,
        FIGURES,
    output:
        csv=report(
            "results/resources.csv",
            caption="../report/resources.rst",
            category="Resources",
            labels={"table": "time and memory per job (CSV)"},
        ),
        html=report(
            "results/resources.html",
            caption="../report/resources.rst",
            category="Resources",
            labels={"table": "time and memory per job"},
        ),
    params:
        code=code_version("summarize_resources.py"),
        jobs=measured_jobs(),
    log:
        "logs/summarize_resources.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/summarize_resources.py"
