"""Snakemake entry point: test metrics of one trained model (metrics.json), and its per-image
predictions on the test and validation splits."""

from cnnlab.jobio import log_to
from cnnlab.runtime import use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    from cnnlab.training.evaluation import evaluate_job

    evaluate_job(
        model_path=snakemake.input.model,
        history_path=snakemake.input.history,
        test_data=snakemake.input.test,
        val_data=snakemake.input.val,
        batch_size=snakemake.params.batch_size,
        out_path=snakemake.output.metrics,
        test_predictions_path=snakemake.output.test_predictions,
        val_predictions_path=snakemake.output.val_predictions,
        threads=snakemake.threads,
    )
