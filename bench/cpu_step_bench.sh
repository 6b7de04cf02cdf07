#!/usr/bin/env bash
# Issue 14's instrument: the SimCLR training step of simclr.cpp against the newest PyTorch on
# this CPU. Builds bench_simclr_step and bench_cpu_peak, then writes
# bench/results/cpu-step-<date>.md (bench/make_cpu_step_table.py) with
#   - images/s of the step alone and with the augmentation in the timed region, ours
#     (bench_simclr_step, the trainer's ssl::train_step) and PyTorch's
#     (bench/torch_simclr_step.py) alternating, REPS repetitions, medians, per thread count;
#   - step memory (peak RSS - RSS before the first step), a fresh process per side, model and
#     thread count;
#   - this CPU's FMA peak and copy bandwidth (bench_cpu_peak), and our per-op profile with
#     every row's FLOP/s or bytes/s as a share of them;
#   - `uptime` before and after, the machine, the commit and the peer's version.
# Run it on a quiet machine (nothing else compiling or running); the load is recorded.
#
#   REPS (default 3)   THREADS (default "1 2")   MODELS (default "convnet-w16 convnet-w32 resnet18-w16")
#   MIN_TIME (seconds of timed steps per figure, default 5)   MIN_STEPS (default 3)   WARMUP (default 2)
#   PROFILE_STEPS (default 5)   BATCH (0 = the issue's: 256 images, ResNet-18 128; other values
#   only to test the pipeline)   DATA (auto | generated | fashion-mnist, default auto)
#   PEAK_ARGS (extra flags for bench_cpu_peak, e.g. "--copy-mib 256 --repeats 2")
#   BUILD_DIR (default build-bench)   SKIP_BUILD=1 (use what BUILD_DIR holds)
#   OUT (default bench/results/cpu-step-<date>.md)   WORK (default: a new temporary folder, kept)
#   TORCH_PYTHON (default: the newest PyTorch from PyPI, set up by bench/torch_peer.sh)
# A quick end-to-end test of the pipeline (its numbers mean nothing, and the file says so):
#   REPS=1 MIN_TIME=0 MIN_STEPS=1 WARMUP=1 PROFILE_STEPS=1 BATCH=16 PEAK_ARGS="--copy-mib 64 --repeats 1" \
#     OUT=/tmp/cpu-step-quick.md bash bench/cpu_step_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
MODELS=${MODELS:-"convnet-w16 convnet-w32 resnet18-w16"}
MIN_TIME=${MIN_TIME:-5}
MIN_STEPS=${MIN_STEPS:-3}
WARMUP=${WARMUP:-2}
PROFILE_STEPS=${PROFILE_STEPS:-5}
BATCH=${BATCH:-0}
DATA=${DATA:-auto}
PEAK_ARGS=${PEAK_ARGS:-}
BUILD_DIR=${BUILD_DIR:-build-bench}
OUT=${OUT:-bench/results/cpu-step-$(date -u +%Y-%m-%d).md}
WORK=${WORK:-$(mktemp -d /tmp/cpu-step.XXXXXX)}
# The knobs are checked here, by name; the programs check their ranges again.
whole() {  # name value minimum
  case "$2" in ''|*[!0-9]*) echo "error: $1 must be a whole number >= $3, got '$2'" >&2; exit 1 ;; esac
  [ "$2" -ge "$3" ] || { echo "error: $1 must be a whole number >= $3, got '$2'" >&2; exit 1; }
}
whole REPS "$REPS" 1; whole MIN_STEPS "$MIN_STEPS" 1; whole WARMUP "$WARMUP" 0
whole PROFILE_STEPS "$PROFILE_STEPS" 1; whole BATCH "$BATCH" 0
for t in $THREADS; do whole "THREADS (each of '$THREADS')" "$t" 1; done
[ -n "$THREADS" ] || { echo "error: THREADS is empty" >&2; exit 1; }
[ -n "$MODELS" ] || { echo "error: MODELS is empty" >&2; exit 1; }
[[ "$MIN_TIME" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: MIN_TIME must be a number of seconds >= 0, got '$MIN_TIME'" >&2; exit 1; }
# The peer: the newest PyTorch from PyPI (bench/torch_peer.sh creates its venv, and refuses a
# torch without optimised BLAS/oneDNN). TORCH_PYTHON overrides it, and is checked the same way.
TORCH_PYTHON=$(TORCH_PYTHON=${TORCH_PYTHON:-} bash bench/torch_peer.sh)

if [ -z "${SKIP_BUILD:-}" ]; then
  BUILD_DIR=$BUILD_DIR BUILD_TARGETS="bench_simclr_step bench_cpu_peak" \
    CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=ON ${CMAKE_ARGS:-}" bash scripts/setup.sh
fi
ours="$BUILD_DIR/bench/bench_simclr_step"
peak="$BUILD_DIR/bench/bench_cpu_peak"
for program in "$ours" "$peak"; do
  [ -x "$program" ] || { echo "error: $program is not built (run without SKIP_BUILD, or set BUILD_DIR)" >&2; exit 1; }
done
mkdir -p "$WORK"
echo "== results in $WORK"
# shellcheck disable=SC2086  # THREADS is a word list
thread_list=$(printf '%s,' $THREADS)
# shellcheck disable=SC2086  # MODELS is a word list
model_list=$(printf '"%s",' $MODELS)
cat > "$WORK/knobs.json" <<JSON
{"reps": $REPS, "threads": [${thread_list%,}], "models": [${model_list%,}], "min_time": $MIN_TIME,
 "min_steps": $MIN_STEPS, "warmup": $WARMUP, "profile_steps": $PROFILE_STEPS, "batch": $BATCH, "data": "$DATA"}
JSON
echo "load before: $(uptime)" | tee "$WORK/load.txt"

# Both sides see the same thread count: ours through --threads (OpenMP), PyTorch through
# torch.set_num_threads; OMP_NUM_THREADS is set to it too, so no library starts more.
common=(--data "$DATA" --batch "$BATCH")
speed=(--min-time "$MIN_TIME" --min-steps "$MIN_STEPS" --warmup "$WARMUP")
run_ours() {  # model threads rep
  echo "== ours    $1, $2 threads, repetition $3"
  OMP_NUM_THREADS=$2 "$ours" --mode speed --model "$1" --threads "$2" "${common[@]}" "${speed[@]}" \
    > "$WORK/speed-ours-$1-t$2-r$3.json"
}
run_torch() {
  echo "== PyTorch $1, $2 threads, repetition $3"
  OMP_NUM_THREADS=$2 "$TORCH_PYTHON" bench/torch_simclr_step.py --model "$1" --threads "$2" "${common[@]}" "${speed[@]}" \
    > "$WORK/speed-torch-$1-t$2-r$3.json"
}

# This CPU's ceilings, measured twice: here, and again after the profile. A shared machine's
# speed drifts by tens of percent over minutes; a peak caught in a slow minute would make every
# op look closer to it than it is, so the table takes the better figure of the two.
measure_peak() {  # file
  echo "== this CPU's FMA peak and copy bandwidth"
  # shellcheck disable=SC2086  # PEAK_ARGS and THREADS are word lists
  "$peak" --threads $THREADS $PEAK_ARGS > "$1"
  cat "$1"
}
measure_peak "$WORK/peak-start.json"

# Throughput: ours and PyTorch alternate, the order flipping every repetition, so a drift in
# the machine's speed falls on both sides alike.
for rep in $(seq 1 "$REPS"); do
  for threads in $THREADS; do
    for model in $MODELS; do
      if [ $((rep % 2)) = 1 ]; then
        run_ours "$model" "$threads" "$rep"; run_torch "$model" "$threads" "$rep"
      else
        run_torch "$model" "$threads" "$rep"; run_ours "$model" "$threads" "$rep"
      fi
    done
  done
done

# Step memory: a fresh process per side, model and thread count.
for threads in $THREADS; do
  for model in $MODELS; do
    echo "== step memory, $model, $threads threads"
    OMP_NUM_THREADS=$threads "$ours" --mode memory --model "$model" --threads "$threads" "${common[@]}" \
      > "$WORK/memory-ours-$model-t$threads.json"
    OMP_NUM_THREADS=$threads "$TORCH_PYTHON" bench/torch_simclr_step.py --mode memory --model "$model" \
      --threads "$threads" "${common[@]}" > "$WORK/memory-torch-$model-t$threads.json"
  done
done

# Our per-op profile.
for threads in $THREADS; do
  for model in $MODELS; do
    echo "== per-op profile, $model, $threads threads"
    OMP_NUM_THREADS=$threads "$ours" --mode profile --model "$model" --threads "$threads" "${common[@]}" \
      --profile-steps "$PROFILE_STEPS" > "$WORK/profile-$model-t$threads.json"
  done
done

measure_peak "$WORK/peak-end.json"
/usr/bin/python3 bench/make_cpu_step_table.py --merge-peaks "$WORK/peak-start.json" "$WORK/peak-end.json" \
  > "$WORK/peak.json"

echo "load after: $(uptime)" | tee -a "$WORK/load.txt"
mkdir -p "$(dirname "$OUT")"
/usr/bin/python3 bench/make_cpu_step_table.py "$WORK" "$TORCH_PYTHON" > "$OUT"
echo "== wrote $OUT (raw results in $WORK)"
cat "$OUT"
