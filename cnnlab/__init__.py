"""cnnlab: CNN image-classification experiments as a reproducible Snakemake workflow."""
