"""The results table beside the report's numbers, and the `snakemake --report` page."""


rule summarize_results:
    """One row per model: final accuracies, test metrics, epochs, wall time, device, report's number."""
    input:
        metrics=expand("results/{model}/metrics.json", model=MODELS),
        infos=expand("results/{model}/train.json", model=MODELS),
        code=CODE["summary"],
    output:
        csv="results/summary.csv",
        markdown="results/summary.md",
    params:
        models=MODELS,
        report_numbers=config["report_numbers"],
    log:
        "logs/summarize_results.log",
    script:
        "../scripts/summarize_results.py"
