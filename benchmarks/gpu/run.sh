#!/usr/bin/env bash
# The full-scale DAG (config.yaml + fullscale.yaml) on Keras' JAX backend, on the GPU of a
# borrowed machine, timed job by job, in ONE call of the device tool: the machine is given back
# 30 s after a call ends, so a second call starts bare (no wheels, no results) and nothing
# continues. From the repository root, with the wheels of benchmarks/gpu/fetch_wheels.sh carried:
#
#   command: bash benchmarks/gpu/run.sh      carry: [".whl"]      timeout_s: 600
#
# Everything (install, Snakemake, report) keeps within CALL_SECONDS (default 570, under the
# call's 600): Snakemake gets what is left after the install, less REPORT_SECONDS (default 45)
# for stopping it (SIGTERM to it and its jobs, SIGKILL 20 s later) and writing the report.
# SNAKEMAKE_SECONDS, if set, replaces that share (a CPU rehearsal has no call limit).
# The report says how far Snakemake got ("k of n steps"), the exit status (124: stopped) and
# every job that finished; a job stopped mid-way reports nothing.
# The report goes to $OUT (the device tool brings it back; default results/gpu_run/report):
# jobs.csv, training.csv, report.md, report.json, snakemake.log and estimate.txt / .json (the
# whole run on this GPU, estimated by cnnlab.estimate from the jobs that finished).
# Extra arguments are more overlays, e.g. benchmarks/gpu/rehearsal.yaml for a CPU rehearsal;
# RUN_DIR (default results/gpu_run/workdir) is Snakemake's working folder.
set -uo pipefail
started=$SECONDS
cd "$(dirname "$0")/../.."
out=${OUT:-results/gpu_run/report}
run_dir=${RUN_DIR:-results/gpu_run/workdir}
call_seconds=${CALL_SECONDS:-570}
report_seconds=${REPORT_SECONDS:-45}
# Training jobs declare gpu=1: four at a time share the card (JAX allocates on demand), so one
# job's start-up and XLA compilation overlap another's training.
gpu_slots=${GPU_SLOTS:-4}
mkdir -p "$out" "$run_dir"

# The GPU machine has JAX but neither Keras nor Snakemake: install the carried wheels, offline.
site=${SITE_DIR:-/tmp/site}
if [ -d .whl ] && ! python3 -c "import keras, snakemake" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl \
        || { echo "offline install of .whl/ failed" | tee "$out/snakemake.log"; exit 1; }
    export PYTHONPATH=$site:$PWD
    echo "installed $(ls .whl/*.whl | wc -l) wheels into $site in $((SECONDS - started)) s"
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
snakemake_seconds=${SNAKEMAKE_SECONDS:-$((call_seconds - (SECONDS - started) - report_seconds))}
if [ "$snakemake_seconds" -lt 60 ]; then
    echo "only $snakemake_seconds s left for Snakemake: raise CALL_SECONDS" | tee "$out/snakemake.log"
    exit 1
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
# What the whole full-scale run would take on this GPU, from the jobs that finished (each
# training job's epochs scaled to the full run's): estimate.txt, with the jobs not reached marked.
timeout 60 python3 -m cnnlab.estimate --measured "$run_dir/results" --configfile "${configfiles[@]}" \
    --cores "$(nproc)" --json "$out/estimate.json" > "$out/estimate.txt" 2>&1 \
    || echo "estimate failed: see $out/estimate.txt"
echo "run.sh took $((SECONDS - started)) s in all"
