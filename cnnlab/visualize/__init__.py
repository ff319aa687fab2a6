"""Figures that need a trained model or the augmentation layers: activations, filters, samples."""
