# gdb pretty-printers for simclr.cpp: what `print` shows for the engine's types.
#
#   (gdb) p y
#   $1 = sc::Tensor float32[2, 3, 4, 4] on cpu, strides [48, 16, 4, 1], grad_fn "conv2d" = {10, 18, 24, ...}
#   (gdb) p *y.impl_._M_ptr->grad_fn._M_ptr
#   $2 = sc::FunctionNode "conv2d" -> float32[2, 3, 4, 4], inputs [none, AccumulateGrad float32[3, 1, 3, 3], -]
#
# (inputs: "none" for an input that needs no gradient, "-" for one not given, such as a missing
# bias; otherwise the Node that receives that input's gradient.)
#
# Without them, `p x` on a Tensor shows a shared_ptr and an address. Printed here:
#   sc::Tensor, sc::TensorImpl   dtype, shape, device, strides, offset, requires_grad, grad_fn,
#                                whether a grad is held, and the first values (CPU tensors)
#   sc::Storage                  bytes, device, pinned, version, address
#   sc::Node and subclasses      the op's name, its output, and where each input's gradient goes
#   sc::SavedTensor              the tensor and the version it was saved at
#   sc::TensorInfo               dtype[shape]
#   sc::kernels::Conv2dShape, sc::kernels::Pool2dShape, sc::kernels::Layout   the kernels' shape structs
#
# Load them with one line, in gdb or in ~/.gdbinit:
#   source /path/to/simclr.cpp/tools/gdb/simclr_printers.py
# Every program built here also names this file in its .debug_gdb_scripts section, so gdb loads
# it by itself once you trust the folder (again in ~/.gdbinit):
#   add-auto-load-safe-path /path/to/simclr.cpp/tools/gdb
#
# The printers read memory only (no function calls in the debugged program), so they also work
# on a core file and in a Release build: only the types need debug info, not the library.
# They read libstdc++'s members (_M_ptr, _M_impl, ...), which is what g++ on Linux builds with.
import struct

import gdb
import gdb.printing

MAX_VALUES = 8  # how many values a Tensor shows


# ---- reading the C++ standard library's containers ----------------------------------------

def _shared_ptr_target(ptr):
    """The raw pointer inside a std::shared_ptr or std::weak_ptr (0 when empty)."""
    return ptr["_M_ptr"]


def _vector_items(vec):
    start, finish = vec["_M_impl"]["_M_start"], vec["_M_impl"]["_M_finish"]
    return [(start + i).dereference() for i in range(int(finish - start))]


def _string(s):
    try:
        return s["_M_dataplus"]["_M_p"].string(length=int(s["_M_string_length"]))
    except gdb.error:
        return str(s)


def _bool_vector(vec):
    """std::vector<bool> is a bit array: read it bit by bit."""
    impl = vec["_M_impl"]
    start, finish = impl["_M_start"], impl["_M_finish"]
    words = int(finish["_M_p"] - start["_M_p"])
    bits = words * 8 * start["_M_p"].dereference().type.sizeof + int(finish["_M_offset"])
    word_bits = 8 * start["_M_p"].dereference().type.sizeof
    out = []
    for i in range(bits):
        word = int((start["_M_p"] + i // word_bits).dereference())
        out.append(bool((word >> (i % word_bits)) & 1))
    return out


def _enum_name(value):
    """sc::DType::Float32 -> float32, sc::Device::CPU -> cpu (as dtype_name / device_name)."""
    return str(value).split("::")[-1].lower()


def _shape(vec):
    return [int(v) for v in _vector_items(vec)]


def _shape_str(dims):
    return "[" + ", ".join(str(d) for d in dims) + "]"


# ---- the engine's types ------------------------------------------------------------------

_FORMATS = {"float32": ("f", 4), "float64": ("d", 8), "int64": ("q", 8), "int32": ("i", 4)}


def _format_number(v):
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def _first_values(impl, dims, strides, offset, dtype):
    """The first MAX_VALUES elements in row-major order, read from the storage's memory."""
    storage = _shared_ptr_target(impl["storage"])
    if int(storage) == 0 or dtype not in _FORMATS:
        return None
    if _enum_name(storage.dereference()["device_"]) != "cpu":
        return "(on the GPU: copy it with .to(Device::CPU) to see values)"
    code, size = _FORMATS[dtype]
    base = int(storage.dereference()["data_"])
    numel = 1
    for d in dims:
        numel *= d
    inferior = gdb.selected_inferior()
    values = []
    for flat in range(min(numel, MAX_VALUES)):
        # The element's position: its row-major index, then the strides (views are not contiguous).
        rest, position = flat, offset
        for d in reversed(range(len(dims))):
            position += (rest % dims[d]) * strides[d]
            rest //= dims[d]
        raw = inferior.read_memory(base + position * size, size)
        values.append(_format_number(struct.unpack("<" + code, bytes(raw))[0]))
    text = "{" + ", ".join(values) + (", ..." if numel > MAX_VALUES else "") + "}"
    return text


def _describe_impl(impl):
    dtype = _enum_name(impl["dtype"])
    dims = _shape(impl["shape"])
    strides = _shape(impl["strides"])
    offset = int(impl["offset"])
    parts = ["%s%s on %s" % (dtype, _shape_str(dims), _enum_name(impl["device"]))]
    parts.append("strides " + _shape_str(strides))
    if offset:
        parts.append("offset %d" % offset)
    grad_fn = _shared_ptr_target(impl["grad_fn"])
    if bool(impl["requires_grad"]):
        parts.append("requires_grad")
    if int(grad_fn) != 0:
        try:
            parts.append('grad_fn "%s"' % _string(grad_fn.dereference()["name_"]))
        except gdb.error:  # sc::Node has no debug info here (it lives in autograd.cpp's)
            parts.append("grad_fn set")
    if int(_shared_ptr_target(impl["grad"])) != 0:
        parts.append("has grad")
    text = ", ".join(parts)
    try:
        values = _first_values(impl, dims, strides, offset, dtype)
    except gdb.MemoryError:
        values = "(memory not readable)"
    return text + (" = " + values if values else "")


class TensorPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        impl = _shared_ptr_target(self.val["impl_"])
        if int(impl) == 0:
            return "sc::Tensor (undefined)"
        return "sc::Tensor " + _describe_impl(impl.dereference())


class TensorImplPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        return "sc::TensorImpl " + _describe_impl(self.val)


class StoragePrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        text = "sc::Storage %d bytes on %s" % (int(self.val["nbytes_"]), _enum_name(self.val["device_"]))
        if bool(self.val["pinned_"]):
            text += " (pinned)"
        return text + ", version %d, data %s" % (int(self.val["version_"]), hex(int(self.val["data_"])))


def _info_str(info):
    return _enum_name(info["dtype"]) + _shape_str(_shape(info["shape"]))


class TensorInfoPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        return _info_str(self.val)


class SavedTensorPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        impl = _shared_ptr_target(self.val["data_"]["impl_"])
        if int(impl) == 0:
            return "sc::SavedTensor (empty)"
        return "sc::SavedTensor %s, saved at version %d" % (_describe_impl(impl.dereference()),
                                                            int(self.val["version_"]))


def _as(val, type_name):
    """`val` (an sc::Node or subclass object) seen as `type_name`, through its address."""
    return val.address.cast(gdb.lookup_type(type_name).pointer()).dereference()


def _leaf_info(accumulate_grad):
    leaf = _shared_ptr_target(accumulate_grad["leaf_"])
    return _enum_name(leaf["dtype"]) + _shape_str(_shape(leaf["shape"]))


class NodePrinter:
    """sc::Node, sc::FunctionNode, sc::AccumulateGrad. The class is told by the node's name (an
    op's name, or "AccumulateGrad"), not by RTTI, which gdb cannot always find."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        node = _as(self.val, "sc::Node")
        name = _string(node["name_"])
        if name == "AccumulateGrad":
            try:
                return "sc::AccumulateGrad for a leaf %s (adds into its .grad())" % _leaf_info(
                    _as(self.val, "sc::AccumulateGrad"))
            except gdb.error:
                return "sc::AccumulateGrad"
        try:
            defined = _bool_vector(node["input_defined"])
        except gdb.error:
            defined = []
        inputs = []
        for i, edge in enumerate(_vector_items(node["next"])):
            target = _shared_ptr_target(edge)
            if int(target) != 0:
                inputs.append(_describe_next(target.dereference()))
            elif i < len(defined) and not defined[i]:
                inputs.append("-")  # an input that was not given (a conv without bias)
            else:
                inputs.append("none")  # given, but it needs no gradient
        text = 'sc::FunctionNode "%s"' % name
        try:
            text += " -> " + _info_str(node["output"])
        except gdb.error:
            pass
        return text + ", inputs [" + ", ".join(inputs) + "]"


def _describe_next(node):
    """An input edge, as the name of the node that receives that input's gradient."""
    name = _string(_as(node, "sc::Node")["name_"])
    if name == "AccumulateGrad":
        try:
            return "AccumulateGrad " + _leaf_info(_as(node, "sc::AccumulateGrad"))
        except gdb.error:
            pass
    return name


class Conv2dShapePrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        v = {f: int(self.val[f]) for f in ("N", "C", "H", "W", "O", "KH", "KW", "stride_h", "stride_w", "pad_h",
                                            "pad_w", "dilation_h", "dilation_w", "OH", "OW")}
        return ("sc::kernels::Conv2dShape x[N=%(N)d, C=%(C)d, H=%(H)d, W=%(W)d] * w[O=%(O)d, C, KH=%(KH)d, "
                "KW=%(KW)d], stride %(stride_h)dx%(stride_w)d, pad %(pad_h)dx%(pad_w)d, dilation "
                "%(dilation_h)dx%(dilation_w)d -> y[%(N)d, %(O)d, %(OH)d, %(OW)d]" % v
                + ", im2col K=%d x P=%d" % (v["C"] * v["KH"] * v["KW"], v["OH"] * v["OW"]))


class Pool2dShapePrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        v = {f: int(self.val[f]) for f in ("N", "C", "H", "W", "KH", "KW", "stride_h", "stride_w", "pad_h", "pad_w",
                                            "OH", "OW")}
        return ("sc::kernels::Pool2dShape x[N=%(N)d, C=%(C)d, H=%(H)d, W=%(W)d], window %(KH)dx%(KW)d, stride "
                "%(stride_h)dx%(stride_w)d, pad %(pad_h)dx%(pad_w)d -> y[%(N)d, %(C)d, %(OH)d, %(OW)d]" % v)


class LayoutPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        n = int(self.val["ndim"])
        sizes = [int(self.val["sizes"][i]) for i in range(n)]
        strides = [int(self.val["strides"][i]) for i in range(n)]
        return "sc::kernels::Layout sizes %s, strides %s" % (_shape_str(sizes), _shape_str(strides))


def build_printers():
    pp = gdb.printing.RegexpCollectionPrettyPrinter("simclr.cpp")
    pp.add_printer("Tensor", "^sc::Tensor$", TensorPrinter)
    pp.add_printer("TensorImpl", "^sc::TensorImpl$", TensorImplPrinter)
    pp.add_printer("Storage", "^sc::Storage$", StoragePrinter)
    pp.add_printer("TensorInfo", "^sc::TensorInfo$", TensorInfoPrinter)
    pp.add_printer("SavedTensor", "^sc::SavedTensor$", SavedTensorPrinter)
    pp.add_printer("Node", "^sc::(Node|FunctionNode|AccumulateGrad)$", NodePrinter)
    pp.add_printer("Conv2dShape", "^sc::kernels::Conv2dShape$", Conv2dShapePrinter)
    pp.add_printer("Pool2dShape", "^sc::kernels::Pool2dShape$", Pool2dShapePrinter)
    pp.add_printer("Layout", "^sc::kernels::Layout$", LayoutPrinter)
    return pp


# Auto-loaded for a program (.debug_gdb_scripts), gdb.current_objfile() is that program and the
# printers apply to it; sourced by hand, they apply everywhere. replace=True: sourcing the file
# twice, or sourcing it after the auto-load, is harmless.
gdb.printing.register_pretty_printer(gdb.current_objfile(), build_printers(), replace=True)
