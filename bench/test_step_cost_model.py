#!/usr/bin/env python3
"""Tests of bench/step_cost_model.py, the FLOP and byte counts behind the % of peak table of
bench/cpu_step_bench.sh. Plain Python (no torch); CTest runs it as bench_step_cost_model."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from step_cost_model import parse_head, row_cost  # noqa: E402


def conv_node(x, w, out, needs=(True, True, False), count=1):
    return {"name": "conv2d", "inputs": [x, w, None], "needs_grad": list(needs), "output": out, "count": count}


class ParseHead(unittest.TestCase):
    def test_forward_op_with_a_missing_input(self):
        kind, name, inputs = parse_head("conv2d  float32[512, 1, 28, 28], float32[32, 1, 3, 3], none  cpu")
        self.assertEqual((kind, name), ("op", "conv2d"))
        self.assertEqual(inputs, [("float32", [512, 1, 28, 28]), ("float32", [32, 1, 3, 3]), None])

    def test_backward_node_and_scalars(self):
        self.assertEqual(parse_head("backward conv2d  float32[4, 8, 2, 2]  cpu"),
                         ("backward", "conv2d", [("float32", [4, 8, 2, 2])]))
        self.assertEqual(parse_head("mul  float64[2, 3], 0.5  cpu"), ("op", "mul", [("float64", [2, 3])]))
        self.assertEqual(parse_head("backward nt_xent_normalized  float32[]  cpu"),
                         ("backward", "nt_xent_normalized", [("float32", [])]))


class Flops(unittest.TestCase):
    X, W, OUT = [512, 32, 28, 28], [64, 32, 3, 3], [512, 64, 28, 28]
    FORWARD = 2 * 512 * 64 * 28 * 28 * 32 * 9

    def test_conv_forward_counts_the_output_from_the_graph(self):
        cost = row_cost("conv2d  float32[512, 32, 28, 28], float32[64, 32, 3, 3], none  cpu",
                        [conv_node(self.X, self.W, self.OUT)])
        self.assertEqual((cost["bound"], cost["amount"]), ("flops", self.FORWARD))

    def test_strided_conv_has_a_quarter_of_the_outputs(self):
        cost = row_cost("conv2d  float32[8, 16, 32, 32], float32[32, 16, 3, 3], none  cpu",
                        [conv_node([8, 16, 32, 32], [32, 16, 3, 3], [8, 32, 16, 16])])
        self.assertEqual(cost["amount"], 2 * 8 * 32 * 16 * 16 * 16 * 9)

    def test_conv_without_its_graph_node_is_unknown_not_guessed(self):
        self.assertEqual(row_cost("conv2d  float32[1, 2, 4, 4], float32[3, 2, 3, 3], none  cpu", [])["bound"], "unknown")

    def test_conv_backward_counts_only_the_gradients_needed(self):
        head = "backward conv2d  float32[512, 64, 28, 28]  cpu"
        both = row_cost(head, [conv_node(self.X, self.W, self.OUT)])
        weight_only = row_cost(head, [conv_node(self.X, self.W, self.OUT, needs=(False, True, False))])
        self.assertEqual(both["amount"], 2 * self.FORWARD)
        self.assertEqual(weight_only["amount"], self.FORWARD)

    def test_backward_row_averages_the_nodes_with_its_gradient_shape(self):
        # ResNet: a 3x3 stride-2 conv, its 1x1 downsample and a 3x3 conv all make [8, 32, 16, 16].
        graph = [conv_node([8, 16, 32, 32], [32, 16, 3, 3], [8, 32, 16, 16]),
                 conv_node([8, 16, 32, 32], [32, 16, 1, 1], [8, 32, 16, 16]),
                 conv_node([8, 32, 16, 16], [32, 32, 3, 3], [8, 32, 16, 16], count=2)]
        outputs = 8 * 32 * 16 * 16
        total = 2 * (2 * outputs * 16 * 9) + 2 * (2 * outputs * 16) + 2 * 2 * (2 * outputs * 32 * 9)
        cost = row_cost("backward conv2d  float32[8, 32, 16, 16]  cpu", graph, calls_per_step=4)
        self.assertEqual(cost["amount"], total / 4)
        self.assertNotIn("such nodes", cost["formula"])
        mismatch = row_cost("backward conv2d  float32[8, 32, 16, 16]  cpu", graph, calls_per_step=3)
        self.assertIn("the graph has 4 such nodes", mismatch["formula"])

    def test_matmul_and_nt_xent(self):
        self.assertEqual(row_cost("matmul  float32[512, 128], float32[128, 64]  cpu", [])["amount"], 2 * 512 * 128 * 64)
        graph = [{"name": "matmul", "inputs": [[512, 128], [128, 64]], "needs_grad": [False, True], "output": [512, 64]}]
        self.assertEqual(row_cost("backward matmul  float32[512, 64]  cpu", graph)["amount"], 2 * 512 * 128 * 64)
        self.assertEqual(row_cost("nt_xent  float32[512, 128]  cpu", [])["amount"], 2 * 512 * 512 * 128)


class Bytes(unittest.TestCase):
    E = 512 * 32 * 28 * 28

    def test_elementwise_and_batch_norm(self):
        self.assertEqual(row_cost("relu  float32[512, 32, 28, 28]  cpu", [])["amount"], 2 * self.E * 4)
        self.assertEqual(row_cost("relu  float64[512, 32, 28, 28]  cpu", [])["amount"], 2 * self.E * 8)
        bn = "batch_norm  float32[512, 32, 28, 28], float32[32], float32[32], float32[32], float32[32]  cpu"
        self.assertEqual(row_cost(bn, [])["amount"], 3 * self.E * 4)
        self.assertEqual(row_cost("add  float32[64, 128], float32[128]  cpu", [])["amount"], (2 * 64 * 128 + 128) * 4)

    def test_backward_elementwise_and_batch_norm(self):
        graph = [{"name": "relu", "inputs": [[512, 32, 28, 28]], "needs_grad": [True], "output": [512, 32, 28, 28]},
                 {"name": "batch_norm", "inputs": [[512, 32, 28, 28], [32], [32]], "needs_grad": [True] * 3,
                  "output": [512, 32, 28, 28]}]
        self.assertEqual(row_cost("backward relu  float32[512, 32, 28, 28]  cpu", graph)["amount"], 3 * self.E * 4)
        self.assertEqual(row_cost("backward batch_norm  float32[512, 32, 28, 28]  cpu", graph)["amount"], 5 * self.E * 4)

    def test_max_pool_reads_the_input_and_writes_the_output(self):
        graph = [{"name": "max_pool2d", "inputs": [[512, 32, 28, 28]], "needs_grad": [True], "output": [512, 32, 14, 14]}]
        expected = (self.E + self.E // 4) * 4
        self.assertEqual(row_cost("max_pool2d  float32[512, 32, 28, 28]  cpu", graph)["amount"], expected)
        self.assertEqual(row_cost("backward max_pool2d  float32[512, 32, 14, 14]  cpu", graph)["amount"], expected)

    def test_optimizer_gradient_sums_and_views(self):
        self.assertEqual(row_cost("adam_step_  float32[64, 32, 3, 3], float32[64, 32, 3, 3]  cpu", [])["amount"],
                         7 * 64 * 32 * 9 * 4)
        self.assertEqual(row_cost("backward (gradient sums)  float32[8, 4], float32[8, 4]  cpu", [])["amount"], 3 * 32 * 4)
        self.assertEqual(row_cost("backward AccumulateGrad  float32[8, 4]  cpu", [])["amount"], 2 * 32 * 4)
        self.assertEqual(row_cost("transpose  float32[128, 128]  cpu", [])["bound"], "none")

    def test_backward_node_missing_from_the_graph_is_unknown(self):
        self.assertEqual(row_cost("backward relu  float32[3, 3]  cpu", [])["bound"], "unknown")


if __name__ == "__main__":
    unittest.main()
