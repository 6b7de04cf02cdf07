#!/usr/bin/env python3
"""Turns one GPU check's outputs into one markdown report (bench/gpu_check.sh calls it).

Inputs, all optional (a missing file is reported, not fatal):
  --bench     bench_gpu's JSON lines           --torch      torch_gpu.py's JSON lines
  --tests     the doctest log of the CUDA tests
  --memcheck  / --racecheck  compute-sanitizer logs
  --info      gpu_check.sh's "key<TAB>value" lines: gpu_name, driver, nvcc, commit, date, mode, total_s
  --phases    gpu_check.sh's "name<TAB>status<TAB>seconds<TAB>note" lines, one per phase
Output: --out FILE (and --copy-to FILE, e.g. bench/results/gpu-<date>-<gpu>.md); --summary FILE
gets a few lines (tests, sanitizers, targets met/missed) for the end of the console output.

The targets (from the CUDA issues), each marked met or MISSED with its margin:
  SGEMM 4096: the best exact-FP32 hand-written rung >= 90% of cuBLAS (issue 18; was 80%)
  memory-bound ops (hand-written): >= 75% of the device-to-device copy bandwidth
  conv2d forward (hand-written): >= 80% of cuDNN at every encoder shape (issue 18; was 50%)
  NT-Xent fused forward + backward: faster than PyTorch's eager composition
and the training step's throughput, hand-written / vendor / PyTorch, for the record.
"""
import argparse
import json
import os
import re
import sys

MEMORY_BOUND_GROUPS = ("elementwise", "batch_norm", "max_pool", "softmax")
GEMM_TARGET, MEMORY_TARGET, CONV_TARGET = 0.90, 0.75, 0.80
TRAINER_MARKER = "==== trainer tests"


def read_text(path):
    if not path or not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        return f.read()


def read_json_lines(path):
    """Rows keyed by (group, case, impl), plus the "meta" lines; non-JSON lines are skipped."""
    rows, meta = {}, []
    text = read_text(path)
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("group") == "meta":
            meta.append(row)
        else:
            rows[(row.get("group"), row.get("case"), row.get("impl"))] = row
    return rows, meta, text is not None


def ok(row):
    """A row that ran and has a usable time."""
    return (row is not None and "error" not in row and "skipped" not in row and
            isinstance(row.get("ms"), (int, float)) and row["ms"] > 0)


def val(row, key):
    """row[key] as a number, or None (no row, a failed row, a missing or null value)."""
    v = row.get(key) if ok(row) else None
    return float(v) if isinstance(v, (int, float)) else None


def div(a, b):
    return a / b if a is not None and b else None


def fmt(x, digits=3):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def verdict_ratio(ratio, goal):
    """'met (+4.2 pts)' / 'MISSED (-10.0 pts)' for a ratio against a goal ratio."""
    if ratio is None:
        return "no data"
    margin = 100 * (ratio - goal)
    return f"{'met' if ratio >= goal else 'MISSED'} ({margin:+.1f} pts)"


def row_state(row):
    if row is None:
        return "not run"
    if "error" in row:
        return "error"
    if "skipped" in row:
        return "skipped"
    return None


def cell(row, key, ratio=None):
    """A table cell: the value of `key`, with a ratio in brackets, or why there is none."""
    state = row_state(row)
    if state:
        return state
    text = fmt(row.get(key))
    return f"{text} ({pct(ratio)})" if ratio is not None else text


# ---- test logs -----------------------------------------------------------------------------

def doctest_summary(text):
    """The doctest summary lines, the failed test cases, and a verdict."""
    if text is None:
        return ["(no log)"], [], "no log"
    summary = [l.strip() for l in text.splitlines() if l.startswith("[doctest] test cases") or
               l.startswith("[doctest] assertions") or l.startswith("[doctest] Status")]
    # doctest prints a block per test case that failed or logged something (every case with
    # --duration=true): a failed one holds an ERROR line, or says it failed or threw.
    failed = []
    for block in re.split(r"^={20,}$", text, flags=re.M):
        m = re.search(r"^TEST CASE:\s+(.*)$", block, re.M)
        if m and re.search(r": (FATAL )?ERROR:|TEST CASE FAILED|THREW exception|crashed", block):
            name = m.group(1).strip()
            if name not in failed:
                failed.append(name)
    counts = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", text)
    if counts:
        total, passed, nfailed = map(int, counts.groups())
        verdict = f"{passed}/{total} passed, {nfailed} failed"
    else:
        verdict = "no doctest summary (crashed or timed out?)"
    # SC_SKIP_WITHOUT_CUDA passes a test that found no GPU: say so, or a green run would lie.
    no_gpu = text.count("SKIPPED (no GPU)")
    if no_gpu:
        verdict += f", but {no_gpu} test case(s) found NO GPU and skipped"
    return summary, failed, verdict


def slowest_tests(text, n=5):
    """The n slowest test cases from doctest's --duration=true lines ("0.123 s: name")."""
    times = [(float(m.group(1)), m.group(2).strip())
             for m in re.finditer(r"^(\d+\.\d+) s: (.*)$", text or "", re.M)]
    return sorted(times, reverse=True)[:n]


def sanitizer_summary(text):
    if text is None:
        return ["(no log)"]
    lines = [l.strip() for l in text.splitlines() if "ERROR SUMMARY" in l or "RACECHECK SUMMARY" in l]
    return lines or ["no sanitizer summary line (crashed or timed out?)"]


def first_failures(text, n=16):
    """doctest's ERROR / FATAL ERROR lines, each with its 'values:' line, at most n lines."""
    lines = (text or "").splitlines()
    picked = []
    for k, line in enumerate(lines):
        if ": ERROR:" in line or ": FATAL ERROR:" in line:
            picked.append(line.strip())
            if k + 1 < len(lines) and "values:" in lines[k + 1]:
                picked.append("  " + lines[k + 1].strip())
        if len(picked) >= n:
            break
    return picked


def tail(text, n=20):
    return (text or "").rstrip().splitlines()[-n:]


def code_block(lines, w):
    w("")
    w("```")
    for line in lines:
        w(line[:300])
    w("```")


def read_check(info_path, phases_path):
    """gpu_check.sh's records: {"gpu_name": ..., "notes": [...], "phases": [{name, status, seconds, note}]}."""
    check = {"notes": [], "phases": []}
    for line in (read_text(info_path) or "").splitlines():
        key, _, value = line.partition("\t")
        if key == "note":
            check["notes"].append(value)
        elif key:
            check[key] = value
    for line in (read_text(phases_path) or "").splitlines():
        fields = line.split("\t") + ["", "", "", ""]
        if fields[0]:
            check["phases"].append({"name": fields[0], "status": fields[1], "seconds": to_float(fields[2]),
                                    "note": fields[3]})
    check["total_s"] = to_float(check.get("total_s"))
    return check


def to_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


# ---- the report ------------------------------------------------------------------------------

def build_report(args):
    ours, our_meta, have_ours = read_json_lines(args.bench)
    torch_rows, torch_meta, have_torch = read_json_lines(args.torch)
    check = read_check(args.info, args.phases)
    out = []
    w = out.append
    brief = []  # the few lines for the end of the console output

    gpu = check.get("gpu_name") or next((m["device"] for m in our_meta + torch_meta if m.get("device")),
                                        "unknown GPU")
    w(f"# GPU check: {gpu}, {check.get('date', 'unknown date')}")
    w("")
    w(f"- commit: `{check.get('commit', 'unknown')}`; mode: {check.get('mode', '?')}; "
      f"total {fmt(check.get('total_s'))} s")
    w(f"- GPU: {gpu}; driver {check.get('driver', '?')}; nvcc {check.get('nvcc', '?')}; "
      f"cuDNN headers {check.get('cudnn', '?')}")
    for m in our_meta:
        if m.get("device"):
            w(f"- simclr.cpp sees: {m['device']}")
    for m in torch_meta:
        if m.get("torch"):
            w(f"- PyTorch {m['torch']} (CUDA {m.get('cuda')}, cuDNN {m.get('cudnn')}), TF32 off, "
              f"cudnn.benchmark {m.get('cudnn_benchmark')}")
    if check.get("full_tests"):
        w(f"- trainer tests from: {check['full_tests']}")
    if check.get("notes"):
        for note in check["notes"]:
            w(f"- note: {note}")
    w("")

    # Phases.
    if check.get("phases"):
        w("## Phases")
        w("")
        w("| phase | status | seconds | note |")
        w("| --- | --- | ---: | --- |")
        for p in check["phases"]:
            w(f"| {p.get('name')} | {p.get('status')} | {fmt(p.get('seconds'))} | {p.get('note', '')} |")
        w("")

    # Tests and sanitizers.
    w("## Tests")
    w("")
    tests_text = read_text(args.tests)
    # gpu_check.sh appends the trainer tests (the whole test program, .deps/full) after a marker.
    trainer_text = None
    if tests_text is not None and TRAINER_MARKER in tests_text:
        tests_text, trainer_text = tests_text.split(TRAINER_MARKER, 1)
    summary, failed, verdict = doctest_summary(tests_text)
    brief.append(f"tests: {verdict}" + (f"; failed: {', '.join(failed[:8])}" if failed else ""))
    w(f"CUDA tests (`sc_tests -tc=\"cuda*\"`): **{verdict}**")
    w("")
    for line in summary:
        w(f"    {line}")
    if failed:
        w("")
        w("Failed test cases:")
        for name in failed:
            w(f"- {name}")
        w("")
        w("First failures:")
        code_block(first_failures(tests_text), w)
    slow = slowest_tests(tests_text)
    if slow:
        w("")
        w("Slowest: " + "; ".join(f"{name} {seconds:.2f} s" for seconds, name in slow))
    if tests_text is not None and verdict.startswith("no doctest summary"):
        w("")
        w("The log ends with:")
        code_block(tail(tests_text), w)
    if trainer_text is not None:
        t_summary, t_failed, t_verdict = doctest_summary(trainer_text)
        brief.append(f"trainer tests: {t_verdict}" + (f"; failed: {', '.join(t_failed[:8])}" if t_failed else ""))
        w("")
        w(f"Trainer tests (the whole test program from bench/pack_gpu_tests.sh, `-tc=\"cuda: trainer*\"`): "
          f"**{t_verdict}**")
        w("")
        for line in t_summary:
            w(f"    {line}")
        if t_failed:
            w("")
            w("Failed test cases: " + ", ".join(t_failed))
            code_block(first_failures(trainer_text), w)
        if t_verdict.startswith("no doctest summary"):
            w("")
            w("The log ends with:")
            code_block(tail(trainer_text), w)
    for label, path in (("memcheck", args.memcheck), ("racecheck", args.racecheck)):
        text = read_text(path)
        s, f, v = doctest_summary(text)
        w("")
        w(f"compute-sanitizer {label}: doctest {v}")
        w("")
        for line in sanitizer_summary(text):
            w(f"    {line}")
        brief.append(f"{label}: doctest {v}; " + " / ".join(sanitizer_summary(text)))
        if f:
            w("")
            w(f"Test cases with failures under {label}: " + ", ".join(f))
        if text is not None and (f or v.startswith("no doctest summary") or
                                 not any(" 0 errors" in l or "(0 errors" in l for l in sanitizer_summary(text))):
            w("")
            w(f"The {label} log ends with:")
            code_block(tail(text, 30), w)
    w("")

    if not have_ours and not have_torch:
        w("## Benchmarks")
        w("")
        w("No benchmark output (skipped or failed; see the phases above).")
        brief.append("benchmarks: no output")
        return "\n".join(out) + "\n", "\n".join(brief) + "\n"

    # The copy ceiling.
    copy = ours.get(("copy", "cudaMemcpy D2D 1 GiB", "cuda"))
    copy_torch = torch_rows.get(("copy", "cudaMemcpy D2D 1 GiB", "torch"))
    copy_gbps = val(copy, "gbps") or val(copy_torch, "gbps")

    targets = []  # (target, measured, goal, verdict)

    def ratio(a, b, key):
        return div(val(a, key), val(b, key))

    # GEMM.
    gemm_impls = []
    for (g, c, i) in ours:
        if g == "gemm" and i not in gemm_impls:
            gemm_impls.append(i)
    # The exact-FP32 rungs against cuBLAS FP32; the TF32 pair (our tensor-core rung, cuBLAS
    # allowed TF32) against each other, after them.
    tensor_core = ("tf32", "cublas tf32", "bf16", "cublas bf16")
    tf32_impls = [i for i in tensor_core if i in gemm_impls]
    hand_rungs = [i for i in gemm_impls if i != "cublas" and i not in tensor_core]
    gemm_cases = sorted({c for (g, c, i) in list(ours) + list(torch_rows) if g == "gemm"},
                        key=lambda c: int(re.sub(r"\D", "", c) or 0))
    if gemm_cases:
        w("## SGEMM (GFLOP/s, % of cuBLAS)")
        w("")
        cols = hand_rungs + ["cublas", "torch"] + tf32_impls
        w("| M = N = K | " + " | ".join(cols) + " |")
        w("| --- |" + " ---: |" * len(cols))
        for c in gemm_cases:
            cublas = ours.get(("gemm", c, "cublas"))
            cells = [cell(ours.get(("gemm", c, i)), "gflops", ratio(ours.get(("gemm", c, i)), cublas, "gflops"))
                     for i in hand_rungs]
            cells.append(cell(cublas, "gflops"))
            cells.append(cell(torch_rows.get(("gemm", c, "torch")), "gflops",
                              ratio(torch_rows.get(("gemm", c, "torch")), cublas, "gflops")))
            for impl in tf32_impls:  # ours as a % of cuBLAS with the same input rounding
                row = ours.get(("gemm", c, impl))
                peer = None if impl.startswith("cublas") else ours.get(("gemm", c, "cublas " + impl))
                cells.append(cell(row, "gflops", ratio(row, peer, "gflops") if peer else None))
            w(f"| {c.replace('sgemm ', '')} | " + " | ".join(cells) + " |")
        w("")
        if tf32_impls:
            w("The `tf32` and `bf16` columns (our tensor-core rungs) are given as a % of cuBLAS allowed the same "
              "rounding of the inputs (`cublas tf32`, `cublas bf16`: CUBLAS_COMPUTE_32F_FAST_16BF); the other rungs "
              "are exact FP32 and given as a % of FP32 cuBLAS.")
            w("")
            for impl in ("tf32", "bf16"):
                r = ratio(ours.get(("gemm", "sgemm 4096", impl)), ours.get(("gemm", "sgemm 4096", "cublas " + impl)),
                          "gflops")
                targets.append((f"SGEMM 4096, {impl.upper()} rung vs cuBLAS {impl.upper()}", pct(r), "(recorded)", "–"))
        cublas = ours.get(("gemm", "sgemm 4096", "cublas"))
        best = max((ours.get(("gemm", "sgemm 4096", i)) for i in hand_rungs
                    if val(ours.get(("gemm", "sgemm 4096", i)), "gflops")),
                   key=lambda r: r["gflops"], default=None)
        r = ratio(best, cublas, "gflops")
        targets.append(("SGEMM 4096, best hand-written rung" + (f" ({best['impl']})" if best else "") + " vs cuBLAS",
                        pct(r), f">= {GEMM_TARGET:.0%}", verdict_ratio(r, GEMM_TARGET)))

    # Memory-bound ops.
    mem_cases = []
    for (g, c, i) in list(ours) + list(torch_rows):
        if g in MEMORY_BOUND_GROUPS and (g, c) not in mem_cases:
            mem_cases.append((g, c))
    if mem_cases or copy_gbps:
        w(f"## Memory-bound ops (GB/s, % of the device-to-device copy: {fmt(copy_gbps)} GB/s)")
        w("")
        w("Bytes are the fewest the op must move (each input read once, each output written once; "
          "see bench/bench_gpu.cpp).")
        w("")
        w("| op | hand-written | cuDNN | PyTorch |")
        w("| --- | ---: | ---: | ---: |")
        if ok(copy_torch):
            torch_copy = cell(copy_torch, "gbps", div(val(copy_torch, "gbps"), copy_gbps))
            w(f"| copy 1 GiB (PyTorch copy_) | | | {torch_copy} |")
        for g, c in mem_cases:
            def mem_cell(row):
                return cell(row, "gbps", div(val(row, "gbps"), copy_gbps))
            hand = ours.get((g, c, "handwritten"))
            cudnn = ours.get((g, c, "cudnn"))
            w(f"| {g}: {c} | {mem_cell(hand)} | {mem_cell(cudnn) if cudnn else ''} | "
              f"{mem_cell(torch_rows.get((g, c, 'torch')))} |")
            r = div(val(hand, "gbps"), copy_gbps)
            targets.append((f"{g}: {c} (hand-written) vs copy", pct(r), ">= 75%", verdict_ratio(r, MEMORY_TARGET)))
        w("")

    # Convolution.
    conv_cases = []
    for (g, c, i) in list(ours) + list(torch_rows):
        if g == "conv" and c not in conv_cases:
            conv_cases.append(c)
    if conv_cases:
        w("## conv2d 3x3 pad 1, batch 512 (GFLOP/s, % of cuDNN)")
        w("")
        w("Backward = input gradient + weight gradient (twice the forward's work).")
        w("")
        w("Winograd: the hand-written kernels with Winograd's algorithms (`SC_CUDA_CONV=winograd`: F(2x2, 3x3) "
          "for the forward and the input gradient, F(3x3, 2x2) for the weight gradient), GFLOP/s counted as the direct "
          "convolution's. The target takes the faster of the two hand-written forwards.")
        w("")
        w("| case | hand-written | Winograd | cuDNN | PyTorch |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for c in conv_cases:
            hand, cudnn = ours.get(("conv", c, "handwritten")), ours.get(("conv", c, "cudnn"))
            wino = ours.get(("conv", c, "winograd"))
            pt = torch_rows.get(("conv", c, "torch"))
            wino_cell = cell(wino, 'gflops', ratio(wino, cudnn, 'gflops'))
            w(f"| {c} | {cell(hand, 'gflops', ratio(hand, cudnn, 'gflops'))} | {wino_cell} | {cell(cudnn, 'gflops')} | "
              f"{cell(pt, 'gflops', ratio(pt, cudnn, 'gflops'))} |")
            if c.endswith("forward"):
                options = [(name, row) for name, row in (("implicit GEMM", hand), ("Winograd", wino))
                           if val(row, "gflops")]
                best = max(options, key=lambda o: o[1]["gflops"], default=(None, None))
                r = ratio(best[1], cudnn, "gflops")
                label = f"conv {c} (hand-written{', ' + best[0] if best[0] else ''}) vs cuDNN"
                targets.append((label, pct(r), f">= {CONV_TARGET:.0%}", verdict_ratio(r, CONV_TARGET)))
        w("")

    # NT-Xent.
    nt_cases = []
    for (g, c, i) in list(ours) + list(torch_rows):
        if g == "nt_xent" and c not in nt_cases:
            nt_cases.append(c)
    if nt_cases:
        w("## NT-Xent forward + backward (ms; peak extra memory)")
        w("")
        w("Ours: the fused op (`sc::nt_xent`); peak = the engine's tensors above what was held before "
          "(memory_stats), growth = what the caching allocator had to add (also counts scratch). PyTorch: "
          "the eager composition, torch.cuda.max_memory_allocated above what was allocated before.")
        w("")
        w("| 2N, d | ours ms | PyTorch ms | speed-up | ours peak MiB | ours growth MiB | PyTorch peak MiB |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for c in nt_cases:
            fused, pt = ours.get(("nt_xent", c, "fused")), torch_rows.get(("nt_xent", c, "torch eager"))
            speedup = div(val(pt, "ms"), val(fused, "ms"))
            def mib(row, key):
                v = val(row, key)
                return fmt(v / 2 ** 20) if v is not None else (row_state(row) or "–")
            w(f"| {c} | {cell(fused, 'ms')} | {cell(pt, 'ms')} | {fmt(speedup)}{'×' if speedup else ''} | "
              f"{mib(fused, 'peak_extra_bytes')} | {mib(fused, 'reserved_growth_bytes')} | "
              f"{mib(pt, 'peak_extra_bytes')} |")
            if speedup is None:
                v = "no data"
            else:
                v = f"{'met' if speedup > 1 else 'MISSED'} ({speedup:.2f}× PyTorch's speed)"
            targets.append((f"NT-Xent {c} vs PyTorch eager", f"{fmt(speedup)}×" if speedup else "–", "> 1×", v))
        w("")

    # Training step.
    steps = [(label, src.get(("train_step", c, impl)))
             for label, src, impl in (("hand-written", ours, "handwritten"), ("vendor (cuBLAS/cuDNN)", ours, "vendor"),
                                      ("PyTorch eager", torch_rows, "torch"),
                                      ("PyTorch torch.compile", torch_rows, "torch compile"),
                                      ("PyTorch BF16 autocast", torch_rows, "torch amp bf16"))
             for c in sorted({c for (g, c, i) in list(ours) + list(torch_rows) if g == "train_step"})]
    if steps:
        w("## SimCLR training step (ConvNet w=32 + projection head, 512 views = 256 pairs, NT-Xent, Adam)")
        w("")
        w("| path | ms / step | views/s | pairs/s |")
        w("| --- | ---: | ---: | ---: |")
        for label, row in steps:
            w(f"| {label} | {cell(row, 'ms')} | {cell(row, 'views_per_s')} | {cell(row, 'pairs_per_s')} |")
        w("")
        values = " / ".join(fmt(val(row, "views_per_s")) if ok(row) else (row_state(row) or "–") for _, row in steps)
        targets.append(("training step views/s: hand-written / vendor / PyTorch eager / compile / BF16", values,
                        "(recorded)", "–"))
        # Issue 18's step targets: FP32 at least 2x PyTorch eager and faster than torch.compile;
        # mixed precision at least 2x PyTorch's BF16 autocast (we have no BF16 path yet).
        ours_step = dict(steps).get("hand-written")
        for label, goal, need in (("PyTorch eager", ">= 2×", 2.0), ("PyTorch torch.compile", "> 1×", 1.0)):
            r = div(val(ours_step, "views_per_s"), val(dict(steps).get(label), "views_per_s"))
            verdict = "no data" if r is None else f"{'met' if r >= need else 'MISSED'} ({r:.2f}×)"
            targets.append((f"training step FP32, hand-written vs {label}", f"{fmt(r)}×" if r else "–", goal, verdict))
        amp = dict(steps).get("PyTorch BF16 autocast")
        targets.append(("training step BF16, ours vs PyTorch BF16 autocast", "–", ">= 2×",
                        "MISSED (no BF16 path in simclr.cpp yet)" if ok(amp) else "no data"))

    # Making the views on the GPU (--augment-device cuda), against the CPU runner and the step.
    aug_cases = sorted({c for (g, c, i) in ours if g == "augment"})
    if aug_cases:
        step_row = next((row for (g, c, i), row in ours.items() if g == "train_step" and i == "handwritten"), None)
        w("## Making the views on the GPU (`--augment-device cuda`)")
        w("")
        w("512 views from 256 uint8 images and per-view plans on the host, as the trainer calls it "
          "(the copies of images and plans included). CPU: the reference runner on one thread, what one loader "
          "worker does per batch. Share: GPU time / the hand-written training step's time (1x28x28 only: the "
          "step row is the ConvNet on Fashion-MNIST-sized views).")
        w("")
        w("| views | GPU ms | GPU views/s | CPU runner ms | GPU speed-up | share of the step |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        for c in aug_cases:
            gpu, cpu = ours.get(("augment", c, "cuda")), ours.get(("augment", c, "cpu runner, 1 thread"))
            speedup = div(val(cpu, "ms"), val(gpu, "ms"))
            share = div(val(gpu, "ms"), val(step_row, "ms")) if "1x28x28" in c else None
            w(f"| {c} | {cell(gpu, 'ms')} | {cell(gpu, 'views_per_s')} | {cell(cpu, 'ms')} | "
              f"{fmt(speedup)}{'×' if speedup else ''} | {pct(share) if share is not None else '–'} |")
            if "1x28x28" in c:
                v = "no data" if share is None else ("met" if share <= 0.10 else "MISSED") + f" ({pct(share)} of the step)"
                targets.append(("GPU augmentation of a step's 512 views vs the hand-written step", pct(share) if share else "–",
                                "<= 10% of the step", v))
        w("")

    # Targets first in the reader's eye: insert after the tests.
    if targets:
        block = ["## Targets", "", "| target | measured | goal | verdict |", "| --- | ---: | --- | --- |"]
        block += [f"| {t} | {m} | {g} | {v} |" for t, m, g, v in targets]
        met = sum(v.startswith("met") for _, _, _, v in targets)
        missed = sum(v.startswith("MISSED") for _, _, _, v in targets)
        block += ["", f"{met} met, {missed} missed, {len(targets) - met - missed} without a verdict.", ""]
        brief.append(f"targets: {met} met, {missed} missed")
        brief += [f"  {v}: {t} ({m})" for t, m, g, v in targets if v.startswith("MISSED") or v == "no data"]
        brief += [f"{t}: {m}" for t, m, g, v in targets if g == "(recorded)"]
        at = out.index("## Tests")
        out[at:at] = block

    # Errors and skipped rows, verbatim.
    problems = [(src, row) for src, rows in (("bench_gpu", ours), ("torch_gpu", torch_rows))
                for row in rows.values() if "error" in row or "skipped" in row]
    problems += [(src, m) for src, metas in (("bench_gpu", our_meta), ("torch_gpu", torch_meta))
                 for m in metas if "error" in m]  # the program stopped before its first row
    if problems:
        w("## Rows that failed or were skipped")
        w("")
        for src, row in problems:
            if row.get("group") == "meta":
                w(f"- {src} stopped before its first row: {row.get('error')}")
            else:
                w(f"- {src}: {row.get('group')} / {row.get('case')} [{row.get('impl')}]: "
                  f"{row.get('error') or 'skipped: ' + str(row.get('skipped'))}")
        w("")
    if not have_ours:
        w("bench_gpu produced no output (see the phases).")
    if not have_torch:
        w("torch_gpu.py produced no output (see the phases).")
    if problems:
        brief.append(f"benchmark rows failed or skipped: {len(problems)} (listed at the end of the report)")
    return "\n".join(out).rstrip() + "\n", "\n".join(brief) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("bench", "torch", "tests", "memcheck", "racecheck", "info", "phases", "summary"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--out", required=True)
    parser.add_argument("--copy-to", help="a second copy (bench/results/gpu-<date>-<gpu>.md)")
    args = parser.parse_args()
    report, summary = build_report(args)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(summary)
    for path in filter(None, (args.out, args.copy_to)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(report)
    print(f"make_gpu_report: wrote {args.out}" + (f" and {args.copy_to}" if args.copy_to else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
