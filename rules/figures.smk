"""Figures: read only saved files (histories, metrics, models, best.json), so a figure change
never retrains.

Each rule gets the `figures:` settings it uses as params, and the version of the code its script
runs (`code_version`): editing a plot replots; editing training code does not.
"""

# Matplotlib over a few CSV files takes seconds: not worth a cluster job each.
localrules:
    plot_training_curves,
    plot_grid_comparison,


FIGURE_SETTINGS = config["figures"]
# Report categories, and the data sets' names in figure titles.
DATASET_NAMES = {"catsdogs": "Cats vs dogs", "cifar10": "CIFAR-10"}
GRID_CELLS = {"catsdogs": CATSDOGS_CELLS, "cifar10": CIFAR10_CELLS}
MODEL_NAMES = {
    "vgg16_frozen": "VGG16, frozen base",
    "vgg16_finetune": "VGG16, fine-tuned base",
    "vgg16_augmented": "VGG16, frozen base + augmentation",
    "inception": "CNN + inception block",
    "residual": "CNN + residual blocks",
    "vgg16_base": "VGG16 base pretrained for the cats/dogs stages",
}
# The visualisations show the selected cell's model of the first training seed.
BEST_CATSDOGS_FIGURE_INPUT = {
    "models": expand(
        "results/catsdogs/basic/{cell}/seed{seed}/model.keras", cell=CATSDOGS_CELLS, seed=SEEDS[0]
    ),
    "best": "results/catsdogs/basic/best.json",
}


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
    params:
        code=code_version("plot_curves.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        # "Cats vs dogs: VGG16, frozen base", "CIFAR-10: basic CNN, lr0.001_f32"
        title=lambda wildcards: f"{DATASET_NAMES[wildcards.dataset]}: "
        + MODEL_NAMES.get(wildcards.model, wildcards.model.replace("basic/", "basic CNN, ")),
    log:
        "logs/figures/{dataset}/{model}/curves.log",
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/plot_curves.py"


rule plot_grid_comparison:
    """Every grid cell's validation accuracy (mean and band over the seeds) on one figure, the
    selected cell in red, with the selection's verdict."""
    input:
        histories=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/history.csv",
            dataset=wildcards.dataset, cell=GRID_CELLS[wildcards.dataset], seed=SEEDS,
        ),
        infos=lambda wildcards: expand(
            "results/{dataset}/basic/{cell}/seed{seed}/train.json",
            dataset=wildcards.dataset, cell=GRID_CELLS[wildcards.dataset], seed=SEEDS,
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
    params:
        code=code_version("plot_grid.py"),
        dpi=FIGURE_SETTINGS["dpi"],
        title=lambda wildcards: f"{DATASET_NAMES[wildcards.dataset]}: basic CNN grid, "
        "validation accuracy per cell",
    log:
        "logs/figures/{dataset}/grid_comparison.log",
    conda:
        "../envs/figures.yaml"
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
    params:
        code=code_version("plot_activations.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        image_index=FIGURE_SETTINGS["activation_image_index"],
        title="Cats vs dogs: conv activations of the best basic CNN",
    log:
        "logs/figures/catsdogs/activations.log",
    # A forward pass (activations) or a few gradient steps per filter: one thread is plenty.
    threads: 1
    conda:
        KERAS_ENV
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
    params:
        code=code_version("plot_filters.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        settings=FIGURE_SETTINGS["filter_visualization"],
        seed=SEED,
        title="Cats vs dogs: filter patterns of the best basic CNN",
    log:
        "logs/figures/catsdogs/filters.log",
    # A forward pass (activations) or a few gradient steps per filter: one thread is plenty.
    threads: 1
    conda:
        KERAS_ENV
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
            labels={"figure": "augmentation samples", "model": "VGG16, frozen base + augmentation"},
        ),
    params:
        code=code_version("plot_augmentation.py"),
        backend=KERAS_BACKEND,
        dpi=FIGURE_SETTINGS["dpi"],
        samples=FIGURE_SETTINGS["augmentation_samples"],
        augmentation=config["catsdogs"]["augmentation"],
        seed=SEED,
        title="Cats vs dogs: augmented training samples",
    log:
        "logs/figures/catsdogs/augmentation_samples.log",
    conda:
        KERAS_ENV
    script:
        "../scripts/plot_augmentation.py"


# Every figure the workflow draws; `rule all` asks for these.
FIGURES = (
    expand("results/figures/{model}/curves.png", model=MODELS)
    + expand("results/figures/{dataset}/grid_comparison.png", dataset=DATASET_NAMES)
    + rules.plot_activations.output
    + rules.plot_filters.output
    + rules.plot_augmentation_samples.output
)
