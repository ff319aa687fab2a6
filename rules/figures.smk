"""Figures: read only saved files (histories, metrics, models, best.json), so a figure change
never retrains.

Each rule gets the `figures:` settings it uses as params, and the version of the code its script
runs (`code_version`): editing a plot replots; editing training code does not.
"""


# Matplotlib over a few CSV files takes seconds: not worth a cluster job each.
localrules:
    plot_overview,
    plot_training_curves,
    plot_grid_comparison,
    plot_confusion_matrices,
    plot_failure_galleries,


FIGURE_SETTINGS = config["figures"]


# The visualisations show the selected cell's model of the first training seed.
BEST_CATSDOGS_FIGURE_INPUT = {
    "models": expand(
        "results/catsdogs/basic/{cell}/seed{seed}/model.keras", cell=CATSDOGS_CELLS, seed=SEEDS[0]
    ),
    "best": "results/catsdogs/basic/best.json",
}


rule plot_overview:
    """A data set's results at a glance: each model's test accuracy and interval beside the
    report's number and its interval, chance, the best grid cell and each verdict (a forest
    plot, from the same rows as the results table)."""
    input:
        metrics=lambda wildcards: expand(
            "results/{dataset}/{run}/metrics.json",
            dataset=wildcards.dataset,
            run=dataset_runs(wildcards),
        ),
        infos=lambda wildcards: expand(
            "results/{dataset}/{run}/train.json",
            dataset=wildcards.dataset,
            run=dataset_runs(wildcards),
        ),
        best="results/{dataset}/basic/best.json",
    output:
        report(
            "results/figures/{dataset}/overview.png",
            caption="../report/overview.rst",
            category="Results",
            # Subcategories are listed alphabetically: the picture comes before the tables.
            subcategory="At a glance",
            labels=lambda wildcards: {
                "data set": DATASET_NAMES[wildcards.dataset],
                "figure": "test accuracy beside the report's numbers",
            },
        ),
    log:
        "logs/figures/{dataset}/overview.log",
    benchmark:
        "results/resources/figures/{dataset}/overview.tsv"
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("plot_overview.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        grid=lambda wildcards: f"{wildcards.dataset}/basic",
        models=lambda wildcards: [
            f"{wildcards.dataset}/{model}" for model in MODELS_OF_DATASET[wildcards.dataset]
        ],
        runs=lambda wildcards: [f"{wildcards.dataset}/{run}" for run in dataset_runs(wildcards)],
        report_numbers=config["report_numbers"],
        report_test_images=config["report_test_images"],
        title=lambda wildcards: f"{DATASET_NAMES[wildcards.dataset]}: test accuracy beside "
        "the report's numbers",
    script:
        "../scripts/plot_overview.py"


rule plot_training_curves:
    """Training and validation accuracy and loss of one model per epoch, over its seeds."""
    input:
        histories=lambda wildcards: expand(
            "results/{dataset}/{model}/seed{seed}/history.csv", **wildcards, seed=SEEDS
        ),
    output:
        report(
            "results/figures/{dataset}/{model}/curves.png",
            caption="../report/curves.rst",
            category=lambda wildcards: DATASET_NAMES[wildcards.dataset],
            subcategory="Training curves",
            labels={"model": "{model}", "figure": "training curves"},
        ),
    log:
        "logs/figures/{dataset}/{model}/curves.log",
    benchmark:
        "results/resources/figures/{dataset}/{model}/curves.tsv"
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("plot_curves.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        title=lambda wildcards: model_title(wildcards.dataset, wildcards.model),
    script:
        "../scripts/plot_curves.py"


rule plot_grid_comparison:
    """Every grid cell's validation accuracy (mean and band over the seeds) on one figure, the
    selected cell in red, with the selection's verdict."""
    input:
        histories=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/history.csv",
            dataset=wildcards.dataset,
            cell=GRID_CELLS[wildcards.dataset],
            seed=SEEDS,
        ),
        infos=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/train.json",
            dataset=wildcards.dataset,
            cell=GRID_CELLS[wildcards.dataset],
            seed=SEEDS,
        ),
        best="results/{dataset}/basic/best.json",
    output:
        report(
            "results/figures/{dataset}/grid_comparison.png",
            caption="../report/grid_comparison.rst",
            category=lambda wildcards: DATASET_NAMES[wildcards.dataset],
            subcategory="Grid search",
            labels={"model": "basic CNN, every grid cell", "figure": "validation accuracy"},
        ),
    log:
        "logs/figures/{dataset}/grid_comparison.log",
    benchmark:
        "results/resources/figures/{dataset}/grid_comparison.tsv"
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("plot_grid.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        title=lambda wildcards: f"{DATASET_NAMES[wildcards.dataset]}: basic CNN grid, "
        "validation accuracy per cell",
    script:
        "../scripts/plot_grid.py"


# Report labels: the first one names the result. (The report turns a later label with exactly
# two values, each on half the results, into a toggle that hides one of them.)


rule plot_activations:
    """The best cats/dogs basic CNN's conv activations for one test image (index from config).

    Every grid cell's model is an input, so the DAG is fixed before training; the script
    picks the one best.json names.
    """
    input:
        **BEST_CATSDOGS_FIGURE_INPUT,
        test=rules.split_petimages.output.test,
    output:
        report(
            "results/figures/catsdogs/activations.png",
            caption="../report/activations.rst",
            category=DATASET_NAMES["catsdogs"],
            subcategory="Visualisations",
            labels={"figure": "intermediate activations", "model": "basic CNN, best grid cell"},
        ),
    log:
        "logs/figures/catsdogs/activations.log",
    benchmark:
        "results/resources/figures/catsdogs/activations.tsv"
    conda:
        KERAS_ENV
    # A forward pass (activations) or a few gradient steps per filter: one thread is plenty.
    threads: 1
    params:
        code=code_version("plot_activations.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        image_index=FIGURE_SETTINGS["activation_image_index"],
        title="Cats vs dogs: conv activations of the best basic CNN",
    script:
        "../scripts/plot_activations.py"


rule plot_filters:
    """The patterns the best cats/dogs basic CNN's conv filters respond to, by gradient ascent."""
    input:
        **BEST_CATSDOGS_FIGURE_INPUT,
    output:
        report(
            "results/figures/catsdogs/filters.png",
            caption="../report/filters.rst",
            category=DATASET_NAMES["catsdogs"],
            subcategory="Visualisations",
            labels={"figure": "filter patterns", "model": "basic CNN, best grid cell"},
        ),
    log:
        "logs/figures/catsdogs/filters.log",
    benchmark:
        "results/resources/figures/catsdogs/filters.tsv"
    conda:
        KERAS_ENV
    # A forward pass (activations) or a few gradient steps per filter: one thread is plenty.
    threads: 1
    params:
        code=code_version("plot_filters.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        settings=FIGURE_SETTINGS["filter_visualization"],
        seed=SEED,
        title="Cats vs dogs: filter patterns of the best basic CNN",
    script:
        "../scripts/plot_filters.py"


rule plot_augmentation_samples:
    """One training image through the augmentation layers the augmented VGG16 stage trains with."""
    input:
        train=rules.split_petimages.output.train,
    output:
        report(
            "results/figures/catsdogs/augmentation_samples.png",
            caption="../report/augmentation_samples.rst",
            category="Data",
            labels={
                "figure": "augmentation samples",
                "model": "VGG16, frozen base + augmentation",
            },
        ),
    log:
        "logs/figures/catsdogs/augmentation_samples.log",
    benchmark:
        "results/resources/figures/catsdogs/augmentation_samples.tsv"
    conda:
        KERAS_ENV
    params:
        code=code_version("plot_augmentation.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        samples=FIGURE_SETTINGS["augmentation_samples"],
        augmentation=config["catsdogs"]["augmentation"],
        seed=SEED,
        title="Cats vs dogs: augmented training samples",
    script:
        "../scripts/plot_augmentation.py"


rule plot_confusion_matrices:
    """A confusion matrix per model (counts and row-normalised, summed over the seeds), from
    the test predictions alone: one job for every model, so the DAG stays small."""
    input:
        predictions=expand("results/{run}/test_predictions.npz", run=RUNS),
    output:
        [
            report(
                f"results/figures/{dataset}/{model}/confusion_matrix.png",
                caption="../report/confusion_matrix.rst",
                category=DATASET_NAMES[dataset],
                subcategory="Confusion matrices",
                labels={"model": model, "figure": "confusion matrix"},
            )
            for dataset, models in MODELS_OF_DATASET.items()
            for model in models
        ],
    log:
        "logs/figures/confusion_matrices.log",
    benchmark:
        "results/resources/figures/confusion_matrices.tsv"
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("plot_confusion_matrices.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        runs_of_model={
            model: expand("results/{run}/test_predictions.npz", run=runs(model))
            for model in MODELS
        },
        out_paths={model: f"results/figures/{model}/confusion_matrix.png" for model in MODELS},
        titles={
            f"{dataset}/{model}": model_title(dataset, model)
            for dataset, models in MODELS_OF_DATASET.items()
            for model in models
        },
    script:
        "../scripts/plot_confusion_matrices.py"


# The models whose failures are shown: each grid's best cell (chosen by best.json among every
# cell's first-seed predictions), each VGG16 stage and each CIFAR-10 variant (first seed).
FAILURE_GALLERIES = [
    {
        "dataset": dataset,
        "predictions": expand(
            "results/{dataset}/basic/{cell}/seed{seed}/test_predictions.npz",
            dataset=dataset,
            cell=GRID_CELLS[dataset],
            seed=SEEDS[0],
        ),
        "best": f"results/{dataset}/basic/best.json",
        "out": f"results/figures/{dataset}/basic/failures.png",
        "title": f"{DATASET_NAMES[dataset]}: basic CNN, seed {SEEDS[0]}",
        "label": "basic CNN, best grid cell",
    }
    for dataset in DATASET_NAMES
] + [
    {
        "dataset": dataset,
        "predictions": [f"results/{dataset}/{model}/seed{SEEDS[0]}/test_predictions.npz"],
        "out": f"results/figures/{dataset}/{model}/failures.png",
        "title": f"{model_title(dataset, model)}, seed {SEEDS[0]}",
        "label": model,
    }
    for dataset, models in {"catsdogs": CATSDOGS_VGG16_STAGES, "cifar10": CIFAR10_VARIANTS}.items()
    for model in models
]


rule plot_failure_galleries:
    """The test images each selected model gets most confidently wrong, from its test
    predictions and the test split's images."""
    input:
        predictions=[path for gallery in FAILURE_GALLERIES for path in gallery["predictions"]],
        best=expand("results/{dataset}/basic/best.json", dataset=DATASET_NAMES),
        test=list(TEST_DATA.values()),
    output:
        [
            report(
                gallery["out"],
                caption="../report/failures.rst",
                category=DATASET_NAMES[gallery["dataset"]],
                subcategory="Failures",
                labels={"model": gallery["label"], "figure": "most confident failures"},
            )
            for gallery in FAILURE_GALLERIES
        ],
    log:
        "logs/figures/failure_galleries.log",
    benchmark:
        "results/resources/figures/failure_galleries.tsv"
    conda:
        "../envs/figures.yaml"
    params:
        code=code_version("plot_failures.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        images=FIGURE_SETTINGS["failure_images"],
        galleries=FAILURE_GALLERIES,
        test_data={dataset: str(path) for dataset, path in TEST_DATA.items()},
    script:
        "../scripts/plot_failures.py"


rule plot_gradcam:
    """Grad-CAM heat maps over a few test images, for the best cats/dogs basic CNN and each
    VGG16 stage (first seed)."""
    input:
        **BEST_CATSDOGS_FIGURE_INPUT,
        stages=expand(
            "results/catsdogs/{stage}/seed{seed}/model.keras",
            stage=CATSDOGS_VGG16_STAGES,
            seed=SEEDS[0],
        ),
        test=TEST_DATA["catsdogs"],
    output:
        report(
            "results/figures/catsdogs/gradcam.png",
            caption="../report/gradcam.rst",
            category=DATASET_NAMES["catsdogs"],
            subcategory="Visualisations",
            labels={"figure": "Grad-CAM", "model": "basic CNN (best cell) and VGG16 stages"},
        ),
    log:
        "logs/figures/catsdogs/gradcam.log",
    benchmark:
        "results/resources/figures/catsdogs/gradcam.tsv"
    conda:
        KERAS_ENV
    # A forward and a backward pass over a few images per model: one thread is plenty.
    threads: 1
    params:
        code=code_version("plot_gradcam.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        images=FIGURE_SETTINGS["gradcam_images"],
        stage_names=[MODEL_NAMES[stage] for stage in CATSDOGS_VGG16_STAGES],
        title=f"Cats vs dogs: where the models look (seed {SEEDS[0]})",
    script:
        "../scripts/plot_gradcam.py"


# Every figure the workflow draws; `rule all` asks for these.
OVERVIEWS = expand("results/figures/{dataset}/overview.png", dataset=DATASET_NAMES)
FIGURES = (
    OVERVIEWS
    + expand("results/figures/{model}/curves.png", model=MODELS)
    + expand("results/figures/{dataset}/grid_comparison.png", dataset=DATASET_NAMES)
    + rules.plot_activations.output
    + rules.plot_filters.output
    + rules.plot_augmentation_samples.output
    + rules.plot_confusion_matrices.output
    + rules.plot_failure_galleries.output
    + rules.plot_gradcam.output
)
