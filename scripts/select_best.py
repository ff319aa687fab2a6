"""Snakemake entry point: pick the grid cell with the best validation accuracy."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.training.selection import select_best

    select_best(
        history_paths=snakemake.input.histories,
        info_paths=snakemake.input.infos,
        prediction_paths=snakemake.input.predictions,
        out_path=snakemake.output[0],
    )
