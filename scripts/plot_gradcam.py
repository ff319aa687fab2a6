"""Snakemake entry point: Grad-CAM heat maps of the best basic CNN and each VGG16 stage."""

from cnnlab.jobio import log_to
from cnnlab.runtime import configure, use_backend

with log_to(snakemake.log[0]):
    use_backend(snakemake.params.backend)  # before anything imports Keras
    configure(snakemake.threads)
    from cnnlab.plots import save_figure
    from cnnlab.visualize.gradcam import selected_models_gradcam_figure

    save_figure(
        selected_models_gradcam_figure(
            cell_model_paths=snakemake.input.models,
            best_path=snakemake.input.best,
            stage_models=list(zip(snakemake.params.stage_names, snakemake.input.stages)),
            test_data=snakemake.input.test,
            count=snakemake.params.images,
            title=snakemake.params.title,
        ),
        snakemake.output[0],
        dpi=snakemake.params.dpi,
    )
