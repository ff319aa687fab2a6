"""Cats vs dogs: what each model of the experiment is trained from.

The grid of the report's basic CNN (one job per learning rate x width), then VGG16 three ways:
frozen base (the head takes the best cell's width and learning rate), fine-tuned from the
frozen model, and frozen with augmentation. The rules themselves are in training.smk.
"""

CATSDOGS_BASIC = config["catsdogs"]["basic"]
CATSDOGS_VGG16 = config["catsdogs"]["vgg16"]
CATSDOGS_IMAGE_SIZE = config["data"]["petimages"]["image_size"]
# The splits as training reads them: decoded uint8 arrays.
PETIMAGES_ARRAYS = {
    split: f"results/data/petimages/{split}.npz" for split in ("train", "val", "test")
}


def catsdogs_training(model, seed):
    """{"architecture", "settings", "inputs"} of results/catsdogs/<model>/seed<seed>."""
    inputs = {"train": PETIMAGES_ARRAYS["train"], "val": PETIMAGES_ARRAYS["val"]}
    if model.startswith("basic/"):
        learning_rate, filters = grid_cell_values(model)
        return {
            "architecture": "catsdogs_basic",
            "settings": {
                "learning_rate": learning_rate,
                "filters": filters,
                "hidden_units": CATSDOGS_BASIC["hidden_units"],
                "epochs": CATSDOGS_BASIC["epochs"],
                "batch_size": CATSDOGS_BASIC["batch_size"],
                "batchnorm_momentum": CATSDOGS_BASIC["batchnorm_momentum"],
                "image_size": CATSDOGS_IMAGE_SIZE,
                # The VGG16 stage's augmentation, when switched on for the basic CNN too.
                "augmentation": (
                    config["catsdogs"]["augmentation"] if CATSDOGS_BASIC["augmented"] else None
                ),
            },
            "inputs": inputs,
        }
    stage = {"batch_size": CATSDOGS_VGG16["batch_size"], "image_size": CATSDOGS_IMAGE_SIZE}
    base = {"weights": CATSDOGS_VGG16["weights"], "preprocessing": CATSDOGS_VGG16["preprocessing"]}
    # The frozen and augmented stages build a new head on the base: they read the best cell's
    # settings, and the base's weights file where this workflow makes it.
    new_head_inputs = inputs | {"best": "results/catsdogs/basic/best.json"}
    if VGG16_BASE_FROM_CIFAR10:
        # The base pretrained on CIFAR-10 with the same seed: a local weights file like any other.
        pretrained = f"results/cifar10/{CIFAR10_VGG16_BASE}/seed{seed}/model.keras"
        base["weights"] = pretrained
        new_head_inputs["base_weights"] = pretrained
    if model == "vgg16_frozen":
        settings = {**base, **stage, "epochs": CATSDOGS_VGG16["frozen"]["epochs"]}
        return {"architecture": model, "settings": settings, "inputs": new_head_inputs}
    if model == "vgg16_finetune":
        finetune = CATSDOGS_VGG16["finetune"]
        settings = {
            **stage,
            "epochs": finetune["epochs"],
            "learning_rate": finetune["learning_rate"],
        }
        # The frozen stage's model of the same seed.
        frozen = {"initial_model": f"results/catsdogs/vgg16_frozen/seed{seed}/model.keras"}
        return {"architecture": model, "settings": settings, "inputs": inputs | frozen}
    if model == "vgg16_augmented":
        settings = {
            **base,
            **stage,
            "epochs": CATSDOGS_VGG16["augmented"]["epochs"],
            "augmentation": config["catsdogs"]["augmentation"],
        }
        return {"architecture": model, "settings": settings, "inputs": new_head_inputs}
    raise ValueError(f"cats vs dogs has no model '{model}': expected one of {CATSDOGS_MODELS}")
