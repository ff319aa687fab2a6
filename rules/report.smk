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
    log:
        "logs/summarize_results.log",
    benchmark:
        "results/resources/summarize_results.tsv"
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("summarize_results.py"),
        models=MODELS,
        runs=RUNS,
        grids=GRIDS,
        datasets=list(DATASET_NAMES),
        report_numbers=config["report_numbers"],
        report_test_images=config["report_test_images"],
    script:
        "../scripts/summarize_results.py"


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
    log:
        "logs/summarize_resources.log",
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("summarize_resources.py"),
        jobs=measured_jobs(),
    script:
        "../scripts/summarize_resources.py"
