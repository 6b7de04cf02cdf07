"""The work each row of bench_simclr_step's profile must do, counted from its shapes.

A row is one op or backward Node with one set of input shapes, as the op trace prints it
(core/trace.h): "conv2d  float32[512, 32, 28, 28], float32[64, 32, 3, 3], none  cpu" or
"backward conv2d  float32[512, 64, 28, 28]  cpu". Each row is either

  compute-bound  FLOPs (a multiply-add is 2): convolutions, matrix products, NT-Xent's
                 similarity matrix; compared with the FMA peak;
  memory-bound   bytes that must be read and written at least once, with the tensors in
                 their dtype (float32: 4 bytes); compared with the copy bandwidth, which
                 counts a copy's bytes the same way (read + written);
  no data        views, transposes, no-op copies, scalar fills: no figure.

A backward Node's trace line shows only the gradient arriving at it, so its work is taken
from the autograd graph (bench_simclr_step's "graph_nodes": every node's input shapes,
output shape and which inputs need a gradient): the nodes of the same name whose output has
the gradient's shape, summed. Each formula is written beside the row in the table, so a reader
can check it; they are lower bounds of what an op of that kind must move, not what ours does.
"""
import re

DTYPE_BYTES = {"float32": 4, "float64": 8, "int64": 8, "int32": 4, "uint8": 1, "bool": 1, "float16": 2, "bfloat16": 2}
_TENSOR = re.compile(r"([a-z0-9]+)\[([0-9, ]*)\]|\bnone\b")


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def parse_head(head):
    """'backward conv2d  float32[2, 3], none  cpu' -> ('backward', 'conv2d', [('float32', [2, 3]), None])."""
    parts = head.split("  ")
    name = parts[0]
    kind = "op"
    if name.startswith("backward "):
        kind, name = "backward", name[len("backward "):]
    inputs = []
    if len(parts) >= 3:
        for m in _TENSOR.finditer(parts[1]):
            if m.group(0) == "none":
                inputs.append(None)
            else:
                dims = [int(d) for d in m.group(2).split(",") if d.strip()]
                inputs.append((m.group(1), dims))
    return kind, name, inputs


def conv_flops(x, w, out):
    """2 * N * K * P * Q * (C / groups) * R * S for x [N, C, H, W], w [K, C/g, R, S], out [N, K, P, Q]."""
    return 2 * out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]


def matmul_flops(a, b):
    """2 * M * K * N (times any batch dims of a) for a [..., M, K] @ b [K, N]."""
    return 2 * numel(a[:-1]) * a[-1] * b[-1]


def broadcast_numel(shapes):
    dims = max(len(s) for s in shapes)
    out = []
    for i in range(dims):
        sizes = [s[len(s) - dims + i] for s in shapes if len(s) - dims + i >= 0]
        out.append(max(sizes))
    return numel(out)


NO_DATA = {"view", "flatten", "transpose", "reshape", "permute", "expand", "unsqueeze", "squeeze", "to_device",
           "contiguous", "detach", "select", "slice", "narrow"}
UNARY = {"relu", "sqrt", "exp", "log", "neg", "clamp", "abs", "sigmoid", "tanh", "pow", "square", "rsqrt",
         "leaky_relu", "gelu"}
BINARY = {"add", "sub", "mul", "div", "maximum", "minimum"}
REDUCTIONS = {"sum", "mean", "max", "min", "var", "std", "sum_to"}


def _result(kind, amount, formula):
    return {"bound": kind, "amount": amount, "formula": formula}


def forward_cost(name, inputs, graph):
    """FLOPs or bytes of one forward call of `name` on `inputs` (parsed trace inputs)."""
    tensors = [t for t in inputs if t is not None]
    shapes = [t[1] for t in tensors]
    es = DTYPE_BYTES.get(tensors[0][0], 4) if tensors else 4
    if name in NO_DATA:
        return _result("none", 0, "no data moved (a view, or a no-op when already contiguous / on the device)")
    if name == "conv2d":
        x, w = shapes[0], shapes[1]
        outs = [n["output"] for n in graph if n["name"] == "conv2d" and n["inputs"][0] == x and n["inputs"][1] == w]
        if not outs:
            return _result("unknown", 0, "conv2d without a graph node of these shapes: output size unknown")
        return _result("flops", conv_flops(x, w, outs[0]), "2 N K P Q C R S")
    if name == "matmul":
        return _result("flops", matmul_flops(shapes[0], shapes[1]), "2 M K N")
    if name == "linear":
        x, w = shapes[0], shapes[1]
        return _result("flops", 2 * numel(x[:-1]) * x[-1] * w[0], "2 M K N")
    if name in ("nt_xent", "nt_xent_normalized"):
        n, d = shapes[0]
        return _result("flops", 2 * n * n * d, "2 n^2 d (the similarity matrix)")
    if name == "batch_norm":
        return _result("bytes", 3 * numel(shapes[0]) * es, "3 E (read x for the statistics, read x, write y)")
    if name == "max_pool2d" or name in ("global_avg_pool2d", "adaptive_avg_pool2d") or name in REDUCTIONS:
        outs = [n["output"] for n in graph if n["name"] == name and n["inputs"] and n["inputs"][0] == shapes[0]]
        if not outs:
            return _result("bytes", numel(shapes[0]) * es, "E_in (read x; the output's size is not in the graph)")
        return _result("bytes", (numel(shapes[0]) + numel(outs[0])) * es, "E_in + E_out (read x, write y)")
    if name in UNARY:
        return _result("bytes", 2 * numel(shapes[0]) * es, "2 E (read x, write y)")
    if name in BINARY:
        return _result("bytes", (sum(numel(s) for s in shapes) + broadcast_numel(shapes)) * es,
                       "E_a + E_b + E_out")
    if name == "to_dtype":
        return _result("bytes", numel(shapes[0]) * (es + 8), "E (es_in + es_out), float32 -> float64")
    if name == "fill_":
        return _result("none", 0, "a scalar fill") if numel(shapes[0]) <= 1 else \
            _result("bytes", numel(shapes[0]) * es, "E (write)")
    if name in ("adam_step_", "adamw_step_"):
        return _result("bytes", 7 * numel(shapes[0]) * es, "7 E (read p, g, m, v; write p, m, v)")
    if name in ("sgd_step_", "lars_step_"):
        return _result("bytes", 5 * numel(shapes[0]) * es, "5 E (read p, g, buf; write p, buf)")
    if not shapes:
        return _result("none", 0, "no tensor inputs")
    return _result("bytes", 2 * sum(numel(s) for s in shapes) * es, "generic: 2 x the inputs (read, write as much)")


def backward_node_cost(node, grad_es):
    """FLOPs or bytes of one backward call of graph node `node` (name, inputs, needs_grad, output)."""
    name, ins, needs, out = node["name"], node["inputs"], node["needs_grad"], node["output"]
    g = numel(out)
    if name == "conv2d":
        per_grad = conv_flops(ins[0], ins[1], out)
        grads = int(needs[0]) + int(needs[1])
        bias = g if len(ins) > 2 and ins[2] is not None and needs[2] else 0
        return _result("flops", grads * per_grad + bias, "2 N K P Q C R S per input that needs a gradient")
    if name == "matmul":
        return _result("flops", (int(needs[0]) + int(needs[1])) * matmul_flops(ins[0], ins[1]),
                       "2 M K N per input that needs a gradient")
    if name in ("nt_xent", "nt_xent_normalized"):
        n, d = ins[0]
        return _result("flops", 4 * n * n * d, "4 n^2 d (dS z, both sides of the symmetric S)")
    if name in NO_DATA:
        return _result("none", 0, "no data moved (a view of the gradient)")
    if name == "batch_norm":
        return _result("bytes", 5 * g * grad_es, "5 E (read g, x for the sums; read g, x, write dx)")
    if name in UNARY:
        return _result("bytes", 3 * g * grad_es, "3 E (read g, read the saved tensor, write dx)")
    if name == "max_pool2d":
        return _result("bytes", (numel(ins[0]) + g) * grad_es, "E_in + E_out (read g, write dx)")
    if name in ("global_avg_pool2d", "adaptive_avg_pool2d", "sum", "mean", "sum_to"):
        return _result("bytes", (numel(ins[0]) + g) * grad_es, "E_in + E_out (read g, write dx)")
    if name in BINARY:
        moved = g  # the gradient, read
        for shape, need in zip(ins, needs):
            if need and shape is not None:
                moved += numel(shape) + (0 if name in ("add", "sub") else g)  # write d(input); mul/div read the other
        return _result("bytes", moved * grad_es, "E_g + per input needing a gradient: its E (+ E_g for mul, div)")
    return _result("bytes", 2 * (g + sum(numel(s) for s in ins if s is not None)) * grad_es,
                   "generic: read g and the inputs, write as much")


def backward_cost(name, inputs, graph, calls_per_step):
    """Work of one call of the backward row `name` with gradient `inputs`, averaged over the
    graph nodes it stands for (their outputs have the gradient's shape)."""
    tensors = [t for t in inputs if t is not None]
    es = DTYPE_BYTES.get(tensors[0][0], 4) if tensors else 4
    if name == "AccumulateGrad":
        return _result("bytes", 2 * numel(tensors[0][1]) * es, "2 E (read g, write .grad)")
    if name == "(gradient sums)":
        return _result("bytes", 3 * numel(tensors[0][1]) * es, "3 E (read both, write the sum)")
    shape = tensors[0][1] if tensors else []
    nodes = [n for n in graph if n["name"] == name and n["output"] == shape]
    count = sum(n.get("count", 1) for n in nodes)
    if not nodes:
        return _result("unknown", 0, f"no graph node '{name}' with output {shape}")
    costs = [(backward_node_cost(n, es), n.get("count", 1)) for n in nodes]
    bounds = {c["bound"] for c, _ in costs}
    total = sum(c["amount"] * k for c, k in costs)
    formula = costs[0][0]["formula"]
    if count != calls_per_step:
        formula += f" (the graph has {count} such nodes, the row {calls_per_step:g} calls per step)"
    return _result(bounds.pop() if len(bounds) == 1 else "mixed", total / count, formula)


def row_cost(head, graph, calls_per_step=1):
    kind, name, inputs = parse_head(head)
    if kind == "backward":
        return backward_cost(name, inputs, graph, calls_per_step)
    return forward_cost(name, inputs, graph)
