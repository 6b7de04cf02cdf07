#!/usr/bin/env bash
# Data-parallel throughput on one machine: 1 rank x 2 threads against 2 ranks x 1 thread,
# the same global batch, run alternately (so a load that changes over time hits all alike).
# The 2-rank runs come twice: with the default gradient buckets, all-reduced while backward
# runs (GradientReducer, ssl/distributed.h), and with one bucket of every gradient
# (SC_DIST_BUCKET_MB=4096), which can start only when backward has finished the last gradient:
# the schedule of the all-reduce after backward.
#   bench/dist_train.sh [build dir] [rounds] [steps]
# Prints, per run, the mean images/s of steps 3.. (global images: the whole batch per step)
# and, for the multi-rank runs, the share of the step spent in collectives (communication_s
# in metrics.jsonl: moving data plus waiting for the slower rank).
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
steps=${3:-12}
simclr=$(realpath "$build/simclr")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
common=(--train-subset 4096 --batch-size 128 --steps "$steps" --knn-k 0 --workers 1 --quiet)
summary() {  # mean images/s and communication share over steps 3..
  awk -v run="$2" '/"type":"step"/ {
      n++; if (n < 3) next
      match($0, /"images_per_s":[0-9.e+-]+/); ips = substr($0, RSTART + 15, RLENGTH - 15)
      comm = 0; if (match($0, /"communication_s":[0-9.e+-]+/)) comm = substr($0, RSTART + 18, RLENGTH - 18)
      sum += ips; k++; step_s += 128 / ips; comm_s += comm }
    END { printf "| %s | %d | %.1f | %.0f%% |\n", run, k, sum / k, 100 * comm_s / step_s }' "$1/metrics.jsonl"
}
echo "| run | steps averaged | images/s | time in collectives |"
echo "|---|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
  "$simclr" train "${common[@]}" --threads 2 --out "$work/one-$round" > /dev/null
  summary "$work/one-$round" "round $round: 1 rank x 2 threads"
  mpiexec -n 2 "$simclr" train "${common[@]}" --threads 1 --sync-bn --out "$work/two-$round" > /dev/null
  summary "$work/two-$round" "round $round: 2 ranks x 1 thread, --sync-bn, buckets during backward"
  SC_DIST_BUCKET_MB=4096 mpiexec -n 2 "$simclr" train "${common[@]}" --threads 1 --sync-bn --out "$work/end-$round" \
    > /dev/null
  summary "$work/end-$round" "round $round: 2 ranks x 1 thread, --sync-bn, one bucket after backward"
done
