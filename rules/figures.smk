"""Figures: read only saved files (histories, metrics, models, best.json), so a figure change
never retrains."""

# Every figure the workflow draws; `rule all` asks for these.
FIGURES = []
