"""Snakemake entry point: test metrics of one trained model, written to metrics.json."""

from cnnlab.jobio import log_to
from cnnlab.runtime import use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    from cnnlab.training.evaluation import evaluate_job

    evaluate_job(
        model_path=snakemake.input.model,
        history_path=snakemake.input.history,
        test_data=snakemake.input.test,
        batch_size=snakemake.params.batch_size,
        out_path=snakemake.output[0],
        threads=snakemake.threads,
    )
