"""Put on PYTHONPATH by tests/test_backends.py: makes `import tensorflow` fail in this process
and in every process it starts (Snakemake's jobs inherit the variable), as on a machine where
TensorFlow is not installed. A job on the JAX path that needed TensorFlow would fail."""

import sys


class RefuseTensorFlow:
    """A meta-path finder that refuses tensorflow and its submodules."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(
                "No module named 'tensorflow' (refused by tests/no_tensorflow)", name=name
            )
        return None


sys.meta_path.insert(0, RefuseTensorFlow())
