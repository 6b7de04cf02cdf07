#!/usr/bin/env bash
# The one-call GPU check: build, test, sanitize and benchmark the CUDA backend on a GPU
# machine, and write one markdown report. Made for a lent machine with a few minutes of
# device time, no package registry and no Eigen/doctest (they travel in .deps/, made by
# bench/pack_deps.sh):
#
#   run(command="bash bench/gpu_check.sh", carry=[".deps"], timeout_s=600)   everything, <= 9 min
#   run(command="bash bench/gpu_check.sh --quick", carry=[".deps"])    the re-run: fewer repeats
#
# Phases, each timed, each recorded (a failed phase does not stop the ones after it):
#   probe      nvidia-smi, nvcc, cmake, ninja/make, python3 + torch.cuda, compute-sanitizer, cuDNN
#   torch      bench/torch_gpu.py (PyTorch on this GPU: eager, torch.compile, BF16 autocast),
#              first, on the idle machine: nothing of ours is compiling or running yet
#   configure  cmake -DSC_GPU_CHECK=ON -DSC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 (Release)
#   build      sc_tests (core + nn tests) and bench_gpu, all cores
#   tests      sc_tests -tc="cuda*"
#   memcheck   compute-sanitizer memcheck on the "cuda small:" tests
#   racecheck  compute-sanitizer racecheck on the shared-memory families' "cuda small:" tests
#   trainer    the "cuda: trainer" tests of the whole test program, built here beforehand by
#              bench/pack_gpu_tests.sh (.deps/full: this machine cannot build ssl/); their
#              output goes into tests.log after a "==== trainer tests" line
#   bench      bench_gpu (our kernels, CUDA events, L2 flushed between repeats)
#   report     bench/make_gpu_report.py -> $OUT/gpu-report.md (+ bench/results/gpu-<date>-<gpu>.md)
#
# Files under $OUT (the ones that come back): gpu-report.md, build.log, tests.log, memcheck.log,
# racecheck.log, bench.json, torch.json, bench.log.
#
# Environment: SC_CHECK_ONLY_TESTS=1 (no benchmarks), SC_CHECK_SKIP_SANITIZER=1,
# SC_CHECK_TEST_FILTER (default "cuda*"), SC_CHECK_BUDGET_S (whole-script budget in seconds;
# default 540, or 300 with --quick: PyTorch's torch.compile warm-up and the trainer tests need
# the room; the device tool's limit for one call is 600 s), SC_CHECK_BUILD_DIR (default
# build-gpu), JOBS.
set -euo pipefail

MODE=full
for arg in "$@"; do
  case $arg in
    --quick) MODE=quick ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$arg' (expected --quick)" >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUT=${OUT:-$REPO/out/gpu-check}
BUILD=${SC_CHECK_BUILD_DIR:-$REPO/build-gpu}
STATE=$BUILD/check  # phase records for the report; kept out of $OUT, whose file count is limited
JOBS=${JOBS:-$(nproc)}
if [[ $MODE == quick ]]; then BUDGET=${SC_CHECK_BUDGET_S:-300}; else BUDGET=${SC_CHECK_BUDGET_S:-540}; fi
QUICK_FLAG=(); [[ $MODE == quick ]] && QUICK_FLAG=(--quick)
DEADLINE=$((SECONDS + BUDGET))
TEST_FILTER=${SC_CHECK_TEST_FILTER:-cuda*}
# The families whose kernels use shared memory: racecheck looks for hazards there.
RACE_FILTER="cuda small: gemm*,cuda small: conv*,cuda small: reduce*,cuda small: elementwise*,cuda small: softmax_nt_xent*,cuda small: bn_pool*,cuda small: augment*"
ORIGINAL_LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}

mkdir -p "$OUT" "$STATE"
# Logs are appended to phase by phase: start from empty ones (a local re-run reuses $OUT).
rm -f "$OUT"/{gpu-report.md,build.log,tests.log,memcheck.log,racecheck.log,bench.json,torch.json,bench.log}
: >"$STATE/phases.tsv"
: >"$STATE/info.tsv"
FAILED=0

# ---- bookkeeping ------------------------------------------------------------------------------
say() { printf '[%4ds] %s\n' "$SECONDS" "$*"; }
info() { printf '%s\t%s\n' "$1" "$2" >>"$STATE/info.tsv"; }
# record NAME STATUS SECONDS NOTE
record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$STATE/phases.tsv"
  say "$1: $2 ($3 s)${4:+ - $4}"
  [[ $2 == ok || $2 == skipped ]] || FAILED=1
}
# The timeout for a phase: its cap, but never eating into the minimum the later phases need.
phase_timeout() {  # CAP RESERVE_FOR_LATER
  local left=$((DEADLINE - SECONDS - $2))
  ((left < $1)) && echo "$left" || echo "$1"
}
# run_phase NAME CAP RESERVE LOG COMMAND...: runs COMMAND with a timeout, output appended to
# LOG, and records how it went. Never fails (set -e stays out of it); returns the exit code.
run_phase() {
  local name=$1 cap=$2 reserve=$3 log=$4
  shift 4
  local limit rc=0 t0=$SECONDS
  limit=$(phase_timeout "$cap" "$reserve")
  if ((limit < 5)); then
    record "$name" skipped 0 "time budget spent"
    return 0
  fi
  say "$name: starting (timeout ${limit} s, log $(basename "$log"))"
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1 || rc=$?
  if ((rc == 0)); then
    record "$name" ok $((SECONDS - t0))
  elif ((rc == 124 || rc == 137)); then
    record "$name" timeout $((SECONDS - t0)) "stopped after ${limit} s"
  else
    record "$name" failed $((SECONDS - t0)) "exit code $rc"
  fi
  return "$rc"
}

# ---- probe ------------------------------------------------------------------------------------
say "gpu_check ($MODE mode, budget ${BUDGET} s) in $REPO"
t0=$SECONDS
[[ -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null && export PATH=/usr/local/cuda/bin:$PATH
NVCC=$(command -v nvcc || true)
missing=()
[[ -n $NVCC ]] || missing+=(nvcc)
command -v cmake >/dev/null || missing+=(cmake)

if command -v nvidia-smi >/dev/null; then
  nvidia-smi || true
  GPU_LINE=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
else
  GPU_LINE=""
  say "probe: nvidia-smi not found"
fi
GPU_NAME=$(echo "$GPU_LINE" | cut -d, -f1 | sed 's/^ *//; s/ *$//')
DRIVER=$(echo "$GPU_LINE" | cut -d, -f2 | sed 's/^ *//; s/ *$//')
GPU_TAG=$(echo "$GPU_NAME" | grep -oiE 'h[0-9]{3}' | head -1 | tr '[:upper:]' '[:lower:]' || true)
[[ -n $GPU_TAG ]] || GPU_TAG=$(echo "${GPU_NAME:-unknown}" | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')
NVCC_VERSION=$([[ -n $NVCC ]] && "$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1 || echo missing)

# The commit: the COMMIT file that bench/pack_deps.sh writes into .deps/ just before the call
# (the device tool copies the working tree, but the .git it ships can be older than HEAD),
# else git, else "unknown".
COMMIT=unknown
for file in "$REPO/.deps/COMMIT" "$REPO/COMMIT"; do
  if [[ -f $file ]]; then
    COMMIT="$(head -1 "$file") (from ${file#"$REPO"/})"
    break
  fi
done
if [[ $COMMIT == unknown ]] && command -v git >/dev/null && git -C "$REPO" rev-parse --short HEAD >/dev/null 2>&1; then
  COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
  changed=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
  ((changed > 0)) && COMMIT="$COMMIT + $changed uncommitted file(s)"
fi
DATE=$(date -u +%Y-%m-%d)

GENERATOR=(-G Ninja)
command -v ninja >/dev/null || GENERATOR=(-G "Unix Makefiles")
SANITIZER=$(command -v compute-sanitizer || true)
for candidate in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [[ -z $SANITIZER && -x $candidate ]] && SANITIZER=$candidate
done
HAVE_TORCH=0
if command -v python3 >/dev/null &&
  python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  HAVE_TORCH=1
fi

# cuDNN: the toolkit's, the system's, or the one inside the Python package nvidia-cudnn.
CUDNN_INCLUDE="" CUDNN_LIB_DIR=""
PY_CUDNN=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
CUDA_ROOT=$([[ -n $NVCC ]] && dirname "$(dirname "$(readlink -f "$NVCC")")" || echo /usr/local/cuda)
for pair in "$CUDA_ROOT/include:$CUDA_ROOT/lib64" "/usr/local/cuda/include:/usr/local/cuda/lib64" \
  "/usr/include:/usr/lib/x86_64-linux-gnu" "/usr/include/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" \
  ${PY_CUDNN:+"$PY_CUDNN/include:$PY_CUDNN/lib"}; do
  inc=${pair%%:*} lib=${pair##*:}
  if [[ -f $inc/cudnn.h ]] && compgen -G "$lib/libcudnn.so*" >/dev/null; then
    CUDNN_INCLUDE=$inc CUDNN_LIB_DIR=$lib
    break
  fi
done
CUDNN_ARGS=()
if [[ -n $CUDNN_INCLUDE ]]; then
  CUDNN_LIBRARY=$CUDNN_LIB_DIR/libcudnn.so
  if [[ ! -e $CUDNN_LIBRARY ]]; then
    # Only libcudnn.so.9 (the pip package): link through an unversioned name of our own.
    versioned=$(compgen -G "$CUDNN_LIB_DIR/libcudnn.so.*" | sort | head -1)
    mkdir -p "$BUILD/cudnn-lib"
    ln -sf "$versioned" "$BUILD/cudnn-lib/libcudnn.so"
    CUDNN_LIBRARY=$BUILD/cudnn-lib/libcudnn.so
  fi
  CUDNN_ARGS=(-DSC_CUDNN_INCLUDE_DIR="$CUDNN_INCLUDE" -DSC_CUDNN_LIBRARY="$CUDNN_LIBRARY")
  # At run time libcudnn.so.9 loads its engine libraries (and cuBLAS) from these folders.
  export LD_LIBRARY_PATH="$CUDNN_LIB_DIR:$CUDA_ROOT/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  [[ -f $CUDNN_INCLUDE/cudnn_version.h ]] || say "probe: WARNING: $CUDNN_INCLUDE has cudnn.h but no cudnn_version.h"
fi
# cuBLAS must be in the toolkit for CMake's CUDA::cublas.
if ! compgen -G "$CUDA_ROOT/lib64/libcublas.so*" >/dev/null &&
  ! compgen -G "$CUDA_ROOT/targets/x86_64-linux/lib/libcublas.so*" >/dev/null; then
  say "probe: WARNING: no libcublas in $CUDA_ROOT: the configure will not find CUDA::cublas"
  info note "no libcublas in the CUDA toolkit at $CUDA_ROOT"
fi

info gpu_name "${GPU_NAME:-unknown}"
info driver "${DRIVER:-unknown}"
info nvcc "$NVCC_VERSION"
info commit "$COMMIT"
info date "$DATE"
info mode "$MODE"
info cudnn "${CUDNN_INCLUDE:-not found}${CUDNN_LIB_DIR:+ (libraries $CUDNN_LIB_DIR)}"
CMAKE_VERSION=$(cmake --version 2>/dev/null | head -1 | awk '{print $3}')
say "probe: GPU '${GPU_NAME:-none}', driver ${DRIVER:-?}, nvcc $NVCC_VERSION, cmake ${CMAKE_VERSION:-?}" \
  "(${GENERATOR[1]})"
say "probe: compute-sanitizer ${SANITIZER:-MISSING}; python3 + torch.cuda: $([[ $HAVE_TORCH == 1 ]] && echo yes || echo no)"
say "probe: cuDNN headers ${CUDNN_INCLUDE:-NOT FOUND}${CUDNN_LIB_DIR:+, libraries $CUDNN_LIB_DIR}; commit $COMMIT"

write_report() {
  local t_report=$SECONDS
  info total_s "$SECONDS"
  if command -v python3 >/dev/null; then
    # A copy under bench/results/ only where there is a GPU (on the lent machine it is lost
    # anyway: keep $OUT/gpu-report.md under that name).
    local copy_to=()
    [[ -n $GPU_NAME ]] && copy_to=(--copy-to "$REPO/bench/results/gpu-$DATE-$GPU_TAG.md")
    python3 "$REPO/bench/make_gpu_report.py" --bench "$OUT/bench.json" --torch "$OUT/torch.json" \
      --tests "$OUT/tests.log" --memcheck "$OUT/memcheck.log" --racecheck "$OUT/racecheck.log" \
      --phases "$STATE/phases.tsv" --info "$STATE/info.tsv" --out "$OUT/gpu-report.md" \
      --summary "$STATE/summary.txt" "${copy_to[@]}" || say "report: make_gpu_report.py failed"
  else
    {
      echo "# GPU check (no python3 for the full report)"
      echo
      cat "$STATE/info.tsv"
      echo
      cat "$STATE/phases.tsv"
    } >"$OUT/gpu-report.md"
  fi
  say "report: $OUT/gpu-report.md ($((SECONDS - t_report)) s); keep it as bench/results/gpu-$DATE-$GPU_TAG.md"
}

if ((${#missing[@]})); then
  record probe failed $((SECONDS - t0)) "missing: ${missing[*]} (the check needs the CUDA compiler and CMake)"
  write_report
  say "gpu_check: cannot build without ${missing[*]}; stopping"
  exit 1
fi
note=""
[[ -n $CUDNN_INCLUDE ]] || note="cuDNN not found: the configure (SC_CUDA=ON) will fail"
[[ -n $SANITIZER ]] || note="${note:+$note; }compute-sanitizer not found"
if [[ -n $note ]]; then record probe failed $((SECONDS - t0)) "$note"; else record probe ok $((SECONDS - t0)); fi

# ---- PyTorch's numbers, first, on an idle machine ------------------------------------------------
# Before our build, so no compiler shares the CPU with the Python thread that launches PyTorch's
# kernels (the 2026-11-28 H200 report ran them during the build, which made that comparison
# unclean), and before our tests, so the GPU is PyTorch's alone.
if [[ ${SC_CHECK_ONLY_TESTS:-0} == 1 ]]; then
  record torch skipped 0 "SC_CHECK_ONLY_TESTS=1"
elif [[ $HAVE_TORCH != 1 ]]; then
  record torch failed 0 "python3 with torch.cuda not available"
else
  # The budget covers torch.compile's first compilations (tens of seconds on a cold cache).
  if [[ $MODE == quick ]]; then torch_budget=70 torch_cap=110; else torch_budget=120 torch_cap=170; fi
  info note "PyTorch's rows ran first, on the idle machine, before our build, tests and benchmarks"
  # The reserve keeps room for the build (110 s) and the phases after it.
  LD_LIBRARY_PATH=$ORIGINAL_LD_LIBRARY_PATH PYTHONUNBUFFERED=1 run_phase torch "$torch_cap" 220 "$OUT/bench.log" \
    python3 "$REPO/bench/torch_gpu.py" "${QUICK_FLAG[@]}" --budget-s "$torch_budget" --out "$OUT/torch.json" || true
fi

# ---- configure and build -----------------------------------------------------------------------
# What the later phases need at least: tests 30 s, each sanitizer 20 s, bench 30 s, report 10 s.
BUILT=0
TESTS=$BUILD/tests/sc_tests
BENCH=$BUILD/bench/bench_gpu
# A re-run on a warm machine finds the last build: remove its programs, so a program that
# fails to build now is missing rather than stale (relinking costs seconds).
rm -f "$TESTS" "$BENCH"
if run_phase configure 120 110 "$OUT/build.log" cmake -S "$REPO" -B "$BUILD" "${GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DSC_GPU_CHECK=ON -DSC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_COMPILER="$NVCC" "${CUDNN_ARGS[@]}"; then
  keep_going=(-k 0)
  [[ ${GENERATOR[1]} == Ninja ]] || keep_going=(-k)
  # Keep going past a failing file, so one broken test file still leaves bench_gpu (or the
  # other way round); each later phase checks that its program exists.
  run_phase build 330 110 "$OUT/build.log" cmake --build "$BUILD" -j "$JOBS" \
    --target sc_tests bench_gpu -- "${keep_going[@]}" && BUILT=1
  if ((BUILT == 0)); then
    say "build: first errors (full log in build.log):"
    grep -m 15 -E 'error|Error|undefined reference' "$OUT/build.log" | cut -c1-300 || true
  fi
else
  record build skipped 0 "configure failed (see build.log)"
fi

# ---- tests and sanitizers ------------------------------------------------------------------------
if [[ $MODE == quick ]]; then tests_cap=120 sanitizer_cap=60; else tests_cap=150 sanitizer_cap=90; fi
if [[ -x $TESTS ]]; then
  run_phase tests "$tests_cap" 80 "$OUT/tests.log" "$TESTS" -tc="$TEST_FILTER" --duration=true || true
  if [[ ${SC_CHECK_SKIP_SANITIZER:-0} == 1 ]]; then
    record memcheck skipped 0 "SC_CHECK_SKIP_SANITIZER=1"
    record racecheck skipped 0 "SC_CHECK_SKIP_SANITIZER=1"
  elif [[ -z $SANITIZER ]]; then
    record memcheck failed 0 "compute-sanitizer not found"
    record racecheck failed 0 "compute-sanitizer not found"
  else
    run_phase memcheck "$sanitizer_cap" 60 "$OUT/memcheck.log" "$SANITIZER" --tool memcheck --error-exitcode 97 \
      --print-limit 30 "$TESTS" -tc="cuda small:*" || true
    run_phase racecheck "$sanitizer_cap" 40 "$OUT/racecheck.log" "$SANITIZER" --tool racecheck --error-exitcode 97 \
      --print-limit 30 "$TESTS" -tc="$RACE_FILTER" || true
  fi
else
  for phase in tests memcheck racecheck; do record "$phase" skipped 0 "no sc_tests (the build failed)"; done
fi

# ---- the trainer tests, from the whole test program built elsewhere (bench/pack_gpu_tests.sh) --------
FULL_TESTS=$REPO/.deps/full/sc_tests
if [[ -x $FULL_TESTS ]]; then
  info full_tests "$(cat "$REPO/.deps/full/COMMIT" 2>/dev/null || echo '?') (.deps/full/sc_tests, built by bench/pack_gpu_tests.sh)"
  echo "==== trainer tests (.deps/full/sc_tests -tc=\"cuda: trainer*\") ====" >>"$OUT/tests.log"
  LD_LIBRARY_PATH="$REPO/.deps/full/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" run_phase trainer 120 40 "$OUT/tests.log" \
    "$FULL_TESTS" -tc="cuda: trainer*" --duration=true || true
else
  record trainer skipped 0 "no .deps/full/sc_tests (run bench/pack_gpu_tests.sh here first, and carry .deps)"
fi

# ---- our benchmarks --------------------------------------------------------------------------------
if [[ ${SC_CHECK_ONLY_TESTS:-0} == 1 ]]; then
  record bench skipped 0 "SC_CHECK_ONLY_TESTS=1"
elif [[ -x $BENCH ]]; then
  if [[ $MODE == quick ]]; then bench_cap=75; else bench_cap=120; fi
  bench_limit=$(phase_timeout "$bench_cap" 10)
  # bench_gpu starts no new row after --budget-s: 20 s before the timeout, so the row in
  # flight (a few seconds at most) ends and the file is complete.
  run_phase bench "$bench_cap" 10 "$OUT/bench.log" "$BENCH" "${QUICK_FLAG[@]}" \
    --budget-s $((bench_limit > 30 ? bench_limit - 20 : 10)) --out "$OUT/bench.json" || true
else
  record bench skipped 0 "no bench_gpu (the build failed)"
fi

# ---- the report --------------------------------------------------------------------------------------
write_report
# The report, then the short version last (the end of the output is what a caller sees first).
echo
cat "$OUT/gpu-report.md" 2>/dev/null || true
echo
say "gpu_check: done in ${SECONDS} s ($MODE mode); phases:"
column -t -s $'\t' "$STATE/phases.tsv" 2>/dev/null || cat "$STATE/phases.tsv"
cat "$STATE/summary.txt" 2>/dev/null || true
exit "$FAILED"
