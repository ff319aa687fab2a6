"""Snakemake entry point: train one model and save model.keras, history.csv and train.json."""

from cnnlab.jobio import log_to
from cnnlab.runtime import use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    from cnnlab.training.jobs import train_job

    train_job(
        architecture=snakemake.params.architecture,
        settings=snakemake.params.settings,
        train_data=snakemake.input.train,
        val_data=snakemake.input.val,
        best_path=snakemake.input.get("best"),
        initial_model_path=snakemake.input.get("initial_model"),
        model_path=snakemake.output.model,
        history_path=snakemake.output.history,
        info_path=snakemake.output.info,
        scratch_dir=snakemake.params.scratch_dir,
        runtime=snakemake.params.runtime,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        code_version=snakemake.params.code,
        checkpoint_every=snakemake.resources.checkpoint_every or None,
    )
