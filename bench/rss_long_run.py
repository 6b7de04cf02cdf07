#!/usr/bin/env python3
"""Memory over a long run: does `simclr train` hold the same RSS at step 2,000 as at step 100?

Runs the real program on a small model and batch (so 2,000 steps take a few minutes on two
cores), reads its resident set size (VmRSS in /proc/<pid>/status) whenever the metrics file
reaches another 100 steps, stops the run with SIGTERM after step 2,000 (it saves and exits),
and writes a table to bench/results/rss-<date>.md. Exits 1 if RSS at step 2,000 is more than
LIMIT_PERCENT (default 5) above RSS at step 100.

  python3 bench/rss_long_run.py [--simclr build/simclr] [--data DIR] [--steps 2000]

The data is the program's default (Fashion-MNIST) unless --data names another folder; a
4,096-image subset is cycled epoch after epoch, so the run also crosses ~8 epoch ends (shuffle,
checkpoint, loader restart).
"""
import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FLAGS = ["--width", "4", "--projection-dim", "16", "--batch-size", "16", "--train-subset", "4096",
         "--test-subset", "64", "--epochs", "1000", "--knn-k", "0", "--threads", "2", "--workers", "2",
         "--quiet"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/%d/status" % pid)


def steps_done(metrics):
    try:
        with open(metrics) as f:
            return sum(1 for line in f if '"type":"step"' in line)
    except FileNotFoundError:
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--simclr", default="build/simclr")
    parser.add_argument("--data", default="")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--limit-percent", type=float, default=float(os.environ.get("LIMIT_PERCENT", 5)))
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.steps < 2 * args.every:
        sys.exit(f"--steps must be at least 2 * --every ({2 * args.every}), got {args.steps}")

    scratch = tempfile.mkdtemp(prefix="sc_rss_")
    run = os.path.join(scratch, "run")
    command = [args.simclr, "train", "--out", run] + FLAGS
    if args.data:
        command += ["--data", args.data]
    log_path = os.path.join(scratch, "train.log")
    started = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    samples = []  # (step, RSS KiB, seconds since start)
    metrics = os.path.join(run, "metrics.jsonl")
    next_step = args.every
    try:
        while next_step <= args.steps:
            if proc.poll() is not None:
                sys.exit(f"simclr exited ({proc.returncode}) before step {next_step}:\n" + open(log_path).read())
            done = steps_done(metrics)
            if done >= next_step:
                samples.append((done, rss_kib(proc.pid), time.time() - started))
                next_step += args.every
            else:
                time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
    shutil.rmtree(scratch, ignore_errors=True)

    first, last = samples[0], samples[-1]
    growth = 100.0 * (last[1] - first[1]) / first[1]
    ok = growth <= args.limit_percent
    date = datetime.datetime.now(datetime.timezone.utc)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    lines = [
        "# Memory over a long training run",
        "",
        f"- date: {date:%Y-%m-%d %H:%M} UTC",
        f"- commit: {commit}",
        f"- command: `{' '.join(command)}`, stopped with SIGTERM after step {args.steps}",
        f"- measured by: `python3 bench/rss_long_run.py` (VmRSS from /proc/<pid>/status, read when"
        f" metrics.jsonl reaches each multiple of {args.every} steps; the step counted may run a few past it)",
        f"- machine: {os.cpu_count()} logical cores, load average {open('/proc/loadavg').read().split()[0]} at the end",
        "",
        f"**RSS at step {first[0]}: {first[1] / 1024:.1f} MiB; at step {last[0]}: {last[1] / 1024:.1f} MiB;"
        f" growth {growth:+.2f}% (limit {args.limit_percent:g}%): {'flat' if ok else 'GROWS'}.**",
        "",
        "| step | RSS MiB | vs first | seconds |",
        "|---:|---:|---:|---:|",
    ]
    for step, kib, seconds in samples:
        lines.append(f"| {step} | {kib / 1024:.1f} | {100.0 * (kib - first[1]) / first[1]:+.2f}% | {seconds:.0f} |")
    text = "\n".join(lines) + "\n"
    out = args.out or f"bench/results/rss-{date:%Y-%m-%d}.md"
    with open(out, "w") as f:
        f.write(text)
    print(text)
    print("wrote", out)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
