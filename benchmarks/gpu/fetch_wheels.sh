#!/usr/bin/env bash
# Download into .whl/ (git-ignored) the wheels benchmarks/gpu/run.sh installs on the GPU
# machine, which has JAX but no Keras, Snakemake or internet: exactly those in wheels.txt,
# built for CPython 3.12 on x86-64, without their dependencies (wheels.txt is the closure).
# Run it from anywhere on a machine with internet; it prints the total size, which must leave
# room for the working tree in the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.whl
mkdir -p "$dest"
platform=(--only-binary=:all: --python-version 3.12 --implementation cp
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download --quiet --no-deps "${platform[@]}" -d "$dest" -r benchmarks/gpu/wheels.txt
# Published as an sdist only; its wheel is pure Python, so building it here serves 3.12 there.
python3 -m pip wheel --quiet --no-deps -w "$dest" connection_pool==0.0.3
echo "$(ls "$dest"/*.whl | wc -l) wheels, $(du -ch "$dest"/*.whl | tail -1 | cut -f1) in all, in $dest/"
