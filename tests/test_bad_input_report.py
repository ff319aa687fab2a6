"""Bad input round 4, the report's front page: config values reach it as literal text, never as
reStructuredText or HTML. Rendered the way `snakemake --report` renders report/workflow.rst
(snakemake/report/__init__.py: a Jinja2 Environment(trim_blocks, lstrip_blocks), then docutils'
publish_parts to HTML), without running the workflow."""

import html

import jinja2
import pytest
from conftest import REPO, default_config
from docutils.core import publish_parts

HOSTILE_WEIGHTS = [
    "`w <javascript:alert(1)>`_.h5",
    "w.h5\n\n.. raw:: html\n\n   <img src=x onerror=alert(1)>\n\nx",
    "w.h5\r\n.. raw:: html\u2028<img src=x onerror=alert(1)>",
    "  ``w`` *x* <b>bold</b> \\`.h5",
]


def front_page(config):
    """report/workflow.rst as the report's HTML, for `config`."""

    class Snakemake:
        pass

    Snakemake.config = config
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    text = environment.from_string((REPO / "report" / "workflow.rst").read_text()).render(
        snakemake=Snakemake
    )
    return publish_parts(text, writer="html")["html_body"]


@pytest.mark.parametrize(
    "weights", HOSTILE_WEIGHTS, ids=["rst-link", "raw-html-block", "other-line-breaks", "markup"]
)
def test_config_values_reach_the_front_page_as_literal_text(weights):
    config = default_config()
    config["catsdogs"]["vgg16"]["weights"] = weights
    page = front_page(config)
    assert "javascript:" not in page.replace("javascript:alert(1)&gt;", "")  # only as escaped text
    assert "<img" not in page and "<b>" not in page and "<a " not in page
    assert "system-message" not in page  # docutils found nothing to complain about
    shown = " \u23ce ".join(weights.splitlines())
    assert f"<code>{html.escape(shown)}</code>" in page


def test_the_front_page_still_says_the_configuration():
    config = default_config()
    page = front_page(config)
    assert "seed 1337; cats vs dogs at\n150x150 pixels,\n2000 images per class;" in page
    assert "<code>imagenet</code>" in page
    config["catsdogs"]["vgg16"]["weights"] = None
    assert "VGG16's base from random weights." in front_page(config)
