"""CIFAR-10: what each model of the experiment is trained from.

The basic CNN's grid (one job per learning rate x width), then the best cell's width and
learning rate with an inception block, or with residual connections; and, when the cats/dogs
VGG16 stages take their base from CIFAR-10 (catsdogs.vgg16.weights: cifar10), that VGG16 base. The rules themselves are
in training.smk.
"""

CIFAR10_BASIC = config["cifar10"]["basic"]


def cifar10_training(model, seed):
    """{"architecture", "settings", "inputs"} of results/cifar10/<model>/seed<seed>."""
    inputs = {"train": rules.prepare_cifar10.output.train, "val": rules.prepare_cifar10.output.val}
    if model.startswith("basic/"):
        learning_rate, filters = grid_cell_values(model)
        settings = {
            "learning_rate": learning_rate,
            "filters": filters,
            "epochs": CIFAR10_BASIC["epochs"],
            "batch_size": CIFAR10_BASIC["batch_size"],
            "batchnorm_momentum": CIFAR10_BASIC["batchnorm_momentum"],
        }
        return {"architecture": "cifar10_basic", "settings": settings, "inputs": inputs}
    if model in CIFAR10_VARIANTS:
        settings = {
            "epochs": config["cifar10"][model]["epochs"],
            "batch_size": config["cifar10"][model]["batch_size"],
            # The basic net's, as the variant is that net with one more block.
            "batchnorm_momentum": CIFAR10_BASIC["batchnorm_momentum"],
        }
        best = {"best": "results/cifar10/basic/best.json"}
        return {"architecture": f"cifar10_{model}", "settings": settings, "inputs": inputs | best}
    if model == CIFAR10_VGG16_BASE:
        settings = {
            **config["catsdogs"]["vgg16"]["pretraining"],
            # The cats/dogs stages feed the base this preprocessing; it must learn on the same.
            "preprocessing": config["catsdogs"]["vgg16"]["preprocessing"],
        }
        return {"architecture": "cifar10_vgg16", "settings": settings, "inputs": inputs}
    raise ValueError(f"CIFAR-10 has no model '{model}': expected one of {CIFAR10_MODELS}")
