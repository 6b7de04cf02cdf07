#!/usr/bin/env python3
"""Tests of bench/make_cpu_step_table.py on a made-up results folder: the ratios, the met/missed
verdicts against issue 14's targets, the step memory and the conv rows' share of the FMA peak.
Plain Python (no torch); CTest runs it as bench_make_cpu_step_table."""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_cpu_step_table  # noqa: E402

CONV_HEAD = "conv2d  float32[2, 32, 28, 28], float32[64, 32, 3, 3], none  cpu"
CONV_FLOPS = 2 * 2 * 64 * 28 * 28 * 32 * 9
PEAK_GFLOPS = 100.0


def speed(side, images_per_s, augmented_per_s):
    return {"side": side, "torch": "9.9", "build": "test", "model": "convnet-w32", "batch": 2, "views": 4,
            "images": "generated", "parameters": 487264,
            "results": {"step": {"images_per_s": images_per_s},
                        "step+augment": {"images_per_s": augmented_per_s, "augment_ms_per_step": 1.0}}}


def write_folder(folder):
    files = {
        "knobs.json": {"reps": 1, "threads": [1], "models": ["convnet-w32"], "min_time": 0, "min_steps": 1, "warmup": 0,
                       "profile_steps": 1, "batch": 2, "data": "generated"},
        "peak.json": {"fma_chains": 12, "copy_mib": 1, "cache_copy_mib": 1, "fma_gflops": {"avx512": {"1": PEAK_GFLOPS}},
                      "copy_gbps": {"1": 10.0}, "cache_copy_gbps": {"1": 20.0}},
        # step: 300 vs 200 images/s = 1.5x, the target exactly; step+augment: 280 vs 200 = 1.4x.
        "speed-ours-convnet-w32-t1-r1.json": speed("ours", 300.0, 280.0),
        "speed-torch-convnet-w32-t1-r1.json": speed("torch", 200.0, 200.0),
        # 60 MiB above the pre-step RSS against 100 MiB: 0.6x.
        "memory-ours-convnet-w32-t1.json": {"memory": {"rss_before_first_step_kb": 1024, "peak_rss_kb": 1024 + 60 * 1024,
                                                       "engine_step_peak_bytes": 50 << 20}},
        "memory-torch-convnet-w32-t1.json": {"memory": {"rss_before_first_step_kb": 4096, "peak_rss_kb": 4096 + 100 * 1024}},
        # The conv runs at 70 GFLOP/s = 70% of the 100 GFLOP/s peak; the relu moves 2 E bytes at 5 GB/s = 50% of copy.
        "profile-convnet-w32-t1.json": {"batch": 2, "views": 4, "profile": {
            "steps": 1, "mean_step_ms": 10.0, "op_table_md": "",
            "rows": [{"head": CONV_HEAD, "calls": 1, "total_ms": CONV_FLOPS / (0.7 * PEAK_GFLOPS * 1e9) * 1e3},
                     {"head": "relu  float32[4, 64, 28, 28]  cpu", "calls": 1,
                      "total_ms": 2 * 4 * 64 * 784 * 4 / 5e9 * 1e3}],
            "graph_nodes": [{"name": "conv2d", "inputs": [[2, 32, 28, 28], [64, 32, 3, 3], None],
                             "needs_grad": [True, True, False], "output": [2, 64, 28, 28], "count": 1}]}},
    }
    for name, content in files.items():
        with open(os.path.join(folder, name), "w") as f:
            json.dump(content, f)
    with open(os.path.join(folder, "load.txt"), "w") as f:
        f.write("load before: test\nload after: test\n")


class Table(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as folder:
            write_folder(folder)
            out = io.StringIO()
            argv = sys.argv
            sys.argv = ["make_cpu_step_table.py", folder, "/test/python"]
            try:
                with contextlib.redirect_stdout(out):
                    make_cpu_step_table.main()
            finally:
                sys.argv = argv
        cls.text = out.getvalue()

    def test_a_quick_run_says_so(self):
        self.assertIn("**Quick run**", self.text)

    def test_throughput_ratio_and_verdicts(self):
        self.assertIn("| convnet-w32 | 1 | step | 300 | 200 | 1.50x | >= 1.5x | met |", self.text)
        self.assertIn("| convnet-w32 | 1 | step+augment | 280 | 200 | 1.40x | >= 1.5x | **missed** |", self.text)

    def test_parameter_counts_compared(self):
        self.assertIn("| convnet-w32 | 487,264 | 487,264 | same |", self.text)

    def test_step_memory_is_peak_minus_pre_step(self):
        self.assertIn("| convnet-w32 | 1 | 60 | 100 | 0.60x | <= 0.8x | met |", self.text)

    def test_rows_as_share_of_the_ceilings(self):
        self.assertIn("70.0 GFLOP/s | 70% of FMA avx512", self.text)
        self.assertIn("5.0 GB/s | 50% of copy (25% in cache)", self.text)
        self.assertIn("| 70% | >= 60% | met |", self.text)


class MergePeaks(unittest.TestCase):
    def test_every_figure_is_the_best_of_the_runs(self):
        slow = {"fma_chains": 12, "fma_gflops": {"avx512": {"1": 176.0, "2": 274.0}}, "copy_gbps": {"1": 24.0}}
        fast = {"fma_chains": 12, "fma_gflops": {"avx512": {"1": 229.0, "2": 250.0}}, "copy_gbps": {"1": 22.0}}
        merged = make_cpu_step_table.merge_peaks([slow, fast])
        self.assertEqual(merged["fma_gflops"]["avx512"], {"1": 229.0, "2": 274.0})
        self.assertEqual(merged["copy_gbps"], {"1": 24.0})
        self.assertEqual(merged["fma_chains"], 12)
        self.assertIn("2 times", merged["measured"])


if __name__ == "__main__":
    unittest.main()
