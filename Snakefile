"""cnnlab: CNN image-classification experiments, from raw downloads to a report.

snakemake --cores all                          # the full experiments (config.yaml)
snakemake --cores all --configfile demo.yaml   # the same DAG on synthetic data, in minutes
snakemake --report report.html                 # one self-contained HTML page
"""

from pathlib import Path

from snakemake.utils import min_version

# Before anything else: an older Snakemake would fail on the config below with a less clear error.
min_version("9.0")


# The defaults sit beside this file, so the workflow also runs with --directory elsewhere.
configfile: Path(workflow.basedir) / "config.yaml"


# The front page of `snakemake --report`: what the workflow does, and where the figures are.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/catsdogs.smk"
include: "rules/cifar10.smk"
include: "rules/training.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        rules.summarize_results.output,
        FIGURES,
        rules.summarize_resources.output,
