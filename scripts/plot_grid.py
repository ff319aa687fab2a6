"""Snakemake entry point: every grid cell's validation accuracy, the selected cell in red."""

from cnnlab.jobio import log_to

with log_to(snakemake.log[0]):
    from cnnlab.plots import grid_comparison_figure, save_figure

    save_figure(
        grid_comparison_figure(
            history_paths=snakemake.input.histories,
            info_paths=snakemake.input.infos,
            best_path=snakemake.input.best,
            title=snakemake.params.title,
        ),
        snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
