#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (see tests/fuzz/README.md). For each target it
# first replays the committed corpus (tests/fuzz/corpus/<target>/: the seeds and every input
# that once found a bug), then fuzzes for a fixed time, starting from that corpus plus what
# earlier runs on this machine found (kept in $OUT/<target>/corpus/).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]     default 10; CI uses 45
#   TARGETS="idx config"   only these targets (names without fuzz_)
#   REPORT=FILE            write the results table there too, e.g.
#                          REPORT=bench/results/fuzz-$(date +%F).md
#   OUT (default out/fuzz), BUILD_DIR (default build-sanitize, shared with sanitize.sh), JOBS
# Exits 1 when a replay or a fuzzing run found a problem; the input is saved in
# $OUT/<target>/artifacts/ and the report is in $OUT/<target>/fuzz.log.
#
# Executions add up over runs on one machine: $OUT/<target>/total_runs keeps the sum of every
# run's count (the life of that corpus), shown in the table beside the goal of 10 million per
# target. Each target also prints one line for scripts to read:
#   FUZZ_RESULT target=idx seconds=60 runs=123456 runs_per_s=2057 total_runs=987654 crashes=0
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
BUILD_DIR=${BUILD_DIR:-build-sanitize}
OUT=${OUT:-out/fuzz}
export BUILD_DIR

start=$(date +%s)
bash scripts/build_sanitized.sh fuzz_all
build_seconds=$(( $(date +%s) - start ))

if [ -n "${TARGETS:-}" ]; then
  targets=$TARGETS
else
  targets=$(for f in tests/fuzz/fuzz_*.cpp; do f=${f##*/fuzz_}; echo "${f%.cpp}"; done)
fi
# Readable stacks in the reports.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

rows=""
failed=""
for t in $targets; do
  bin=$BUILD_DIR/tests/fuzz/fuzz_$t
  seeds=tests/fuzz/corpus/$t
  work=$OUT/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  replayed=$(find "$seeds" -type f | wc -l)
  echo "== fuzz_$t: replaying the $replayed files of $seeds"
  replay="ok"
  if ! "$bin" -runs=0 "$seeds" > "$work/replay.log" 2>&1; then
    replay="FAILED"
    failed="$failed $t(replay)"
    tail -30 "$work/replay.log"
  fi
  echo "== fuzz_$t: fuzzing for ${seconds}s"
  status=0
  # -timeout: an input that runs 10 s is a hang; -rss_limit_mb: and one that needs 2 GiB a bug.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" > "$work/fuzz.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -1 || true)
  coverage=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<< "$last")
  corpus=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$last")
  # The life of this machine's corpus: add this run's count to the target's ledger.
  total=$(( $(cat "$work/total_runs" 2>/dev/null || echo 0) + ${execs:-0} ))
  echo "$total" > "$work/total_runs"
  crashes=0
  result="0 crashes"
  if [ "$status" -ne 0 ]; then
    crashes=1
    result="FOUND A PROBLEM (exit $status): $(ls "$work/artifacts" | head -1)"
    failed="$failed $t"
    grep -E 'ERROR|runtime error|SUMMARY|what\(\)' "$work/fuzz.log" | head -10 || true
  fi
  echo "   ${execs:-0} runs, ${per_second:-0}/s, coverage ${coverage:-?}, corpus ${corpus:-?}: $result"
  echo "FUZZ_RESULT target=$t seconds=$seconds runs=${execs:-0} runs_per_s=${per_second:-0} total_runs=$total crashes=$crashes"
  rows="$rows| fuzz_$t | $replayed, $replay | $seconds | ${execs:-0} | ${per_second:-0} | $total | $(awk "BEGIN { printf \"%.2f\", $total / 1e5 }")% | ${coverage:-?} | ${corpus:-?} | $result |"$'\n'
done

total_seconds=$(( $(date +%s) - start ))
report="$OUT/report.md"
{
  echo "# Fuzzing run, $(date +%F)"
  echo
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(clang++ --version | head -1);"
  echo "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)); AddressSanitizer +"
  echo "UndefinedBehaviorSanitizer; one process per target, one after the other."
  echo "Build ${build_seconds} s, whole script ${total_seconds} s (\`bash scripts/fuzz.sh $seconds\`)."
  echo
  echo "'runs so far' adds up every run of this script on this machine (\$OUT/<target>/total_runs);"
  echo "the goal is 10 million per target over the life of the corpus."
  echo
  echo "| target | corpus replayed | seconds | runs | runs/s | runs so far | of 10 M | coverage (edges) | corpus after | result |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s' "$rows"
} > "$report"
[ -n "${REPORT:-}" ] && cp "$report" "$REPORT"
echo "== report: $report${REPORT:+ and $REPORT}"
if [ -n "$failed" ]; then
  echo "== fuzzing found problems in:$failed"
  exit 1
fi
