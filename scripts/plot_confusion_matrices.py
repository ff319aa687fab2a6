"""Snakemake entry point: a confusion matrix per model, from its runs' test predictions."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.prediction_plots import draw_confusion_matrices

    draw_confusion_matrices(
        runs_of_model=snakemake.params.runs_of_model,
        out_paths=snakemake.params.out_paths,
        titles=snakemake.params.titles,
        dpi=snakemake.params.dpi,
    )
