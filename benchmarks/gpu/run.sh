#!/usr/bin/env bash
# The full-scale DAG (config.yaml + fullscale.yaml) on Keras' JAX backend, on the GPU of a
# borrowed machine, timed job by job. The device tool runs it from the repository root with the
# wheels of benchmarks/gpu/fetch_wheels.sh carried along:
#
#   command: bash benchmarks/gpu/run.sh      carry: [".whl"]      timeout_s: 480
#
# Snakemake gets SNAKEMAKE_SECONDS (default 420) and is then stopped, so the command returns
# within 8 minutes with a report of every job that finished; a second call continues where the
# first stopped (Snakemake resumes; train jobs resume from their per-epoch backups).
# The report goes to $OUT (the device tool brings it back; default results/gpu_run/report):
# jobs.csv, training.csv, report.md, report.json and snakemake.log.
# Extra arguments are more overlays, e.g. benchmarks/gpu/rehearsal.yaml for a CPU rehearsal;
# RUN_DIR (default results/gpu_run/workdir) is Snakemake's working folder.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-results/gpu_run/report}
run_dir=${RUN_DIR:-results/gpu_run/workdir}
snakemake_seconds=${SNAKEMAKE_SECONDS:-420}
# Training jobs declare gpu=1: four at a time share the card (JAX allocates on demand), so one
# job's start-up and XLA compilation overlap another's training.
gpu_slots=${GPU_SLOTS:-4}
mkdir -p "$out" "$run_dir"

# The GPU machine has JAX but neither Keras nor Snakemake: install the carried wheels, offline.
if [ -d .whl ] && ! python3 -c "import keras, snakemake" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

configfiles=("$PWD/fullscale.yaml" "$PWD/benchmarks/gpu/jax.yaml")
for overlay in "$@"; do configfiles+=("$(realpath "$overlay")"); done

# --scheduler greedy: the ILP scheduler needs pulp, left out of the wheels (16 MB).
timeout --signal=TERM --kill-after=20 "$snakemake_seconds" \
    python3 -m snakemake --snakefile "$PWD/Snakefile" --directory "$run_dir" \
        --configfile "${configfiles[@]}" --cores all --resources gpu="$gpu_slots" \
        --scheduler greedy --keep-going > "$out/snakemake.log" 2>&1
status=$?
echo "snakemake exit status $status (124: stopped after ${snakemake_seconds} s)" | tee -a "$out/snakemake.log"

python3 -m benchmarks.gpu.report --run-dir "$run_dir" --snakemake-log "$out/snakemake.log" --out "$out"
