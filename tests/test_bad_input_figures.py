"""Bad input round 4, figures: `figures.failure_images: 64` on a 6-image test split. The caption
says "up to" and where the count drawn is; the figure's title says how many were drawn."""

import jinja2
import numpy as np
from conftest import REPO
from test_prediction_plots import predictions_of

from cnnlab import prediction_plots


def test_more_failure_images_than_the_split_holds_says_what_was_drawn():
    images = np.zeros((6, 8, 8, 3), dtype=np.uint8)
    predictions = predictions_of([0, 0, 1, 1, 2, 2], [1, 0, 0, 1, 0, 1])  # 4 of 6 wrong
    figure = prediction_plots.failures_figure(predictions, images, predictions.ids, 64, "model")
    assert figure._suptitle.get_text() == "model\n4 of 6 test images wrong; all 4 shown"
    figure = prediction_plots.failures_figure(predictions, images, predictions.ids, 2, "model")
    assert (
        figure._suptitle.get_text() == "model\n4 of 6 test images wrong; the 2 most confident shown"
    )

    class Snakemake:
        class params:
            images = 64

    caption = jinja2.Template((REPO / "report" / "failures.rst").read_text()).render(
        snakemake=Snakemake
    )
    assert caption.startswith("Up to 64 (``figures.failure_images``) test images")
    assert "The figure's title says how many it gets wrong\nand how many are shown" in caption
