#pragma once
// Elementwise kernels over strided operands. Broadcasting is expressed by the caller
// as stride 0, so one kernel serves same-shape, broadcast and transposed inputs.
// The CUDA versions (namespace cuda below, kernels/cuda/elementwise.cu) keep the same contracts.
#include <cstdint>

#include "kernels/strided.h"

namespace sc::kernels {

enum class UnaryOp { Neg, Exp, Log, Sqrt, Abs, Relu, Sign, Pow, Clamp };
// ReluGrad: a if b > 0 else 0 (the backward of relu, given the gradient a and relu's output b,
// in one pass instead of a comparison and a multiplication).
enum class BinaryOp { Add, Sub, Mul, Div, Eq, Ne, Lt, Le, Gt, Ge, ReluGrad };

namespace cpu {

// out = op(x), elementwise. `p0`, `p1`: the exponent for Pow, the low/high bounds for Clamp.
// All three layouts have the same sizes; out may be strided too.
template <typename T>
void unary(UnaryOp op, double p0, double p1, const T* x, const Layout& x_layout, T* out, const Layout& out_layout);

// out = a op b. a_layout and b_layout have the output's sizes (stride 0 where broadcast).
template <typename T>
void binary(BinaryOp op, const T* a, const Layout& a_layout, const T* b, const Layout& b_layout, T* out,
            const Layout& out_layout);

// out = (Dst) in, any layouts of the same sizes: contiguous(), to(dtype) and copy_().
template <typename Src, typename Dst>
void copy_cast(const Src* in, const Layout& in_layout, Dst* out, const Layout& out_layout);

template <typename T>
void fill(T* out, const Layout& out_layout, T value);

}  // namespace cpu

// The same kernels on the GPU (kernels/cuda/elementwise.cu): every pointer is device memory,
// the layouts are host structs. They are queued on the CUDA stream and return at once.
// Same semantics as the CPU versions, bit for bit, except that exp/log/pow may differ from
// the CPU's libm in the last bits, and that casting NaN or an out-of-range float to an
// integer (undefined in C++) may give a different integer.
namespace cuda {

template <typename T>
void unary(UnaryOp op, double p0, double p1, const T* x, const Layout& x_layout, T* out, const Layout& out_layout);

template <typename T>
void binary(BinaryOp op, const T* a, const Layout& a_layout, const T* b, const Layout& b_layout, T* out,
            const Layout& out_layout);

template <typename Src, typename Dst>
void copy_cast(const Src* in, const Layout& in_layout, Dst* out, const Layout& out_layout);

template <typename T>
void fill(T* out, const Layout& out_layout, T value);

}  // namespace cuda
}  // namespace sc::kernels
