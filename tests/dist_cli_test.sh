#!/usr/bin/env bash
# The `simclr` program under mpiexec with two ranks (CTest: distributed_cli, with MPI only).
#   dist_cli_test.sh <simclr> <mpiexec>
# 1. 2 ranks x 8 images with --sync-bn: the first step's loss equals one process's with 16;
#    the run folder holds exactly one checkpoint and one metrics record per step.
#    The same run with 1 KiB gradient buckets (SC_DIST_BUCKET_MB, many buckets all-reduced
#    during backward) gives the same losses, to the last digit, as the default buckets.
# 2. Resume on one rank (--sync-bn=false), then on two again: the steps continue.
# 3. Refused on every rank: configs that differ between ranks, a global batch that does not
#    divide by the rank count, bucket sizes that differ between ranks; --sync-bn without
#    mpiexec; a bad SC_DIST_BUCKET_MB.
# 4. A rank killed mid-run (SIGKILL): the job ends non-zero, naming the rank, and any
#    checkpoint on disk is whole.
# 5. A rank that hangs (SIGSTOP): the other gives up after SC_DIST_TIMEOUT and the job ends.
# Prints "dist_cli_test: OK" at the end (CTest's pass condition).
set -uo pipefail
simclr=$1
mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "dist_cli_test: FAILED: $*"
  exit 1
}
common=(--train-subset 64 --test-subset 32 --width 4 --projection-dim 16 --workers 0 --knn-k 0 --threads 1 --quiet
        --seed 5 --lr 0.01 --optimizer sgd)
first_loss() { grep -m1 '"type":"step"' "$1/metrics.jsonl" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }
all_losses() { grep '"type":"step"' "$1/metrics.jsonl" | sed 's/.*"loss":\([^,]*\),.*/\1/' | tr '\n' ' '; }
step_records() { grep -c '"type":"step"' "$1/metrics.jsonl"; }

# ---- 1. two ranks equal one process
"$simclr" train "${common[@]}" --batch-size 16 --steps 2 --out "$work/one" > "$work/one.log" 2>&1 ||
  fail "one process: $(cat "$work/one.log")"
"$mpiexec" -n 2 "$simclr" train "${common[@]}" --batch-size 16 --steps 2 --sync-bn --out "$work/two" \
  > "$work/two.log" 2>&1 || fail "two ranks: $(cat "$work/two.log")"
one=$(first_loss "$work/one")
two=$(first_loss "$work/two")
echo "first-step loss: one process $one, two ranks $two"
awk -v a="$one" -v b="$two" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * (a < 0 ? -a : a)) }' ||
  fail "the two-rank loss $two differs from the one-process loss $one"
[ "$(ls "$work/two"/*.ckpt | wc -l)" -eq 1 ] || fail "expected exactly one checkpoint: $(ls "$work/two")"
[ "$(step_records "$work/two")" -eq 2 ] || fail "expected 2 step records in metrics.jsonl"
grep -q "2 ranks x 8" "$work/two.log" && fail "a --quiet run printed its header"
SC_DIST_BUCKET_MB=0.001 "$mpiexec" -n 2 "$simclr" train "${common[@]}" --batch-size 16 --steps 2 --sync-bn \
  --out "$work/small-buckets" > "$work/small-buckets.log" 2>&1 || fail "1 KiB buckets: $(cat "$work/small-buckets.log")"
echo "losses: default buckets $(all_losses "$work/two"), 1 KiB buckets $(all_losses "$work/small-buckets")"
[ "$(all_losses "$work/two")" = "$(all_losses "$work/small-buckets")" ] ||
  fail "1 KiB buckets changed the losses: $(all_losses "$work/small-buckets") vs $(all_losses "$work/two")"

# ---- 2. resume on one rank, then on two
"$simclr" train --resume "$work/two" --steps 3 --quiet > "$work/resume1.log" 2>&1 &&
  fail "resuming a --sync-bn run alone should be refused: $(cat "$work/resume1.log")"
grep -q -- "--sync-bn needs more than one rank" "$work/resume1.log" || fail "unclear refusal: $(cat "$work/resume1.log")"
"$simclr" train --resume "$work/two" --steps 3 --sync-bn=false --quiet > "$work/resume1.log" 2>&1 ||
  fail "resume on one rank: $(cat "$work/resume1.log")"
"$mpiexec" -n 2 "$simclr" train --resume "$work/two" --steps 4 --sync-bn --quiet > "$work/resume2.log" 2>&1 ||
  fail "resume on two ranks: $(cat "$work/resume2.log")"
[ "$(step_records "$work/two")" -eq 4 ] || fail "expected 4 step records after the resumes"

# ---- 3. refused with clear errors
"$mpiexec" -n 2 bash -c 'exec "$0" train "${@}" --steps 1 --epochs $((1 + ${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}))' \
  "$simclr" "${common[@]}" --batch-size 16 --out "$work/mismatch" > "$work/mismatch.log" 2>&1 &&
  fail "differing configs were not refused"
grep -q "the ranks were started with different configs: rank(s) 1 differ from rank 0" "$work/mismatch.log" ||
  fail "unclear mismatch error: $(cat "$work/mismatch.log")"
"$mpiexec" -n 2 "$simclr" train "${common[@]}" --batch-size 15 --steps 1 --out "$work/odd" > "$work/odd.log" 2>&1 &&
  fail "a batch of 15 on 2 ranks was not refused"
grep -q "batch-size 15 is the global batch and must divide by the number of ranks (2)" "$work/odd.log" ||
  fail "unclear batch error: $(cat "$work/odd.log")"
"$simclr" train "${common[@]}" --batch-size 16 --steps 1 --sync-bn --out "$work/alone" > "$work/alone.log" 2>&1 &&
  fail "--sync-bn without mpiexec was not refused"
grep -q -- "--sync-bn needs more than one rank" "$work/alone.log" || fail "unclear --sync-bn error: $(cat "$work/alone.log")"
"$mpiexec" -n 2 bash -c 'SC_DIST_BUCKET_MB=0.00$((1 + ${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}})) exec "$0" train "${@}"' \
  "$simclr" "${common[@]}" --batch-size 16 --steps 1 --out "$work/buckets" > "$work/buckets.log" 2>&1 &&
  fail "bucket sizes that differ between ranks were not refused"
grep -q "the ranks cut the gradients into different buckets: rank(s) 1 differ from rank 0" "$work/buckets.log" ||
  fail "unclear bucket error: $(cat "$work/buckets.log")"
SC_DIST_BUCKET_MB=lots "$simclr" train "${common[@]}" --batch-size 16 --steps 1 --out "$work/lots" > "$work/lots.log" 2>&1 &&
  fail "SC_DIST_BUCKET_MB=lots was not refused"
grep -q "SC_DIST_BUCKET_MB must be a number of MiB in (0, 4096]" "$work/lots.log" ||
  fail "unclear SC_DIST_BUCKET_MB error: $(cat "$work/lots.log")"

# ---- 4. a rank killed mid-run: rank 1 kills itself (the exec'd simclr) after 3 s
start=$SECONDS
timeout 120 "$mpiexec" -n 2 bash -c \
  'if [ "${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" = 1 ]; then (sleep 3; kill -KILL $$) & fi; exec "$0" train "${@}"' \
  "$simclr" "${common[@]}" --batch-size 16 --epochs 1000 --out "$work/killed" > "$work/killed.log" 2>&1
status=$?
echo "killed rank: the job ended with status $status after $((SECONDS - start)) s"
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "a killed rank did not end the job (status $status): $(cat "$work/killed.log")"
grep -qi "rank 1" "$work/killed.log" || fail "the job's message does not name rank 1: $(cat "$work/killed.log")"
if ls "$work/killed"/checkpoint*.ckpt > /dev/null 2>&1; then
  "$simclr" export --run "$work/killed" --out "$work/killed.safetensors" > "$work/export.log" 2>&1 ||
    fail "the checkpoint left by the killed job does not load: $(cat "$work/export.log")"
fi

# ---- 5. a rank that hangs: rank 1 stops itself after 3 s; rank 0 waits SC_DIST_TIMEOUT=5 s
start=$SECONDS
SC_DIST_TIMEOUT=5 timeout 120 "$mpiexec" -n 2 bash -c \
  'if [ "${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" = 1 ]; then (sleep 3; kill -STOP $$) & fi; exec "$0" train "${@}"' \
  "$simclr" "${common[@]}" --batch-size 16 --epochs 1000 --out "$work/hung" > "$work/hung.log" 2>&1
status=$?
echo "hung rank: the job ended with status $status after $((SECONDS - start)) s"
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "a hung rank did not end the job (status $status): $(cat "$work/hung.log")"
grep -q "rank 0 of 2 waited" "$work/hung.log" || fail "no watchdog message from rank 0: $(cat "$work/hung.log")"

echo "dist_cli_test: OK"
