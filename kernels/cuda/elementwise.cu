// Elementwise CUDA kernels: unary and binary math, casts and fills over strided operands
// (the contracts are in kernels/elementwise.h; kernels/cpu/elementwise.cpp is the reference).
//
// Every function here is one "map": out[i] = f(in_0[i], ..., in_k[i]) for every index i of
// the output's shape, with k = 0 inputs (fill), 1 (unary ops, casts) or 2 (binary ops).
// f is a small functor (NegOp, AddOp, CastOp, ...). One launcher, launch_map, simplifies
// the layouts on the host and picks the cheapest of three kernels:
//
//   map_vector   all operands contiguous (an input may also be a broadcast scalar) and
//                16-byte aligned: each thread loads and stores 16 bytes at a time. A training
//                step almost always lands here; it should run close to the bandwidth of a
//                device-to-device copy ("each element: one read per input + one write").
//   map_linear   the layouts reduce to a single dim with any strides (a misaligned view,
//                a strided slice, a scalar broadcast into a misaligned output).
//   map_strided  anything else (transposes, broadcasts along inner dims): the linear index
//                is split into coordinates once, and each operand's offset is the dot product
//                of those coordinates with its strides.
#include <algorithm>
#include <array>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/elementwise.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// ---- operands --------------------------------------------------------------------------

// An input as the host sees it (and map_strided): a pointer and its layout.
template <typename T>
struct Operand {
  const T* data;
  Layout layout;
};

// An input of map_linear: element i lives at data[i * stride] (stride 0 = broadcast).
template <typename T>
struct LinearInput {
  const T* data;
  int64_t stride;
};

// An input of map_vector: contiguous, or one value broadcast to every element.
template <typename T>
struct VectorInput {
  const T* data;
  bool broadcast;
};

// W consecutive elements moved with 16-byte memory instructions (W * sizeof(T) is 16 or 32).
template <typename T, int W>
struct alignas(16) Chunk {
  T v[W];
};

// Elements per chunk: 16 bytes of the narrowest operand, so that every operand moves whole
// 16-byte words (a float -> double cast reads 16 bytes and writes 32 per chunk).
template <typename Out, typename... In>
constexpr int chunk_width() {
  size_t narrowest = sizeof(Out);
  for (size_t s : {sizeof(Out), sizeof(In)...}) narrowest = std::min(narrowest, s);
  return static_cast<int>(16 / narrowest);
}

template <int W, typename T>
__device__ __forceinline__ Chunk<T, W> load_chunk(const VectorInput<T>& in, int64_t chunk) {
  if (in.broadcast) {
    Chunk<T, W> c;
    const T value = in.data[0];
#pragma unroll
    for (int k = 0; k < W; ++k) c.v[k] = value;
    return c;
  }
  return reinterpret_cast<const Chunk<T, W>*>(in.data)[chunk];
}

template <typename T>
__device__ __forceinline__ T element(const VectorInput<T>& in, int64_t i) {
  return in.data[in.broadcast ? 0 : i];
}

// f applied lane by lane to chunks of the inputs (no inputs: f() for a fill).
template <int W, typename Out, typename F, typename... In>
__device__ __forceinline__ Chunk<Out, W> apply_chunk(const F& f, const Chunk<In, W>&... x) {
  Chunk<Out, W> r;
#pragma unroll
  for (int k = 0; k < W; ++k) r.v[k] = f(x.v[k]...);
  return r;
}

// ---- coordinates of a strided walk -------------------------------------------------------

// Splits the row-major linear index i of `shape` into one coordinate per dim. The loops run
// over all kMaxDims dims, unrolled, with a guard: array indices are then compile-time
// constants and coords stays in registers (a loop up to ndim would index it dynamically).
template <typename Index>
__device__ __forceinline__ void split_index(Index i, const Layout& shape, Index (&coords)[kMaxDims]) {
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    coords[d] = 0;
    if (d < shape.ndim) {
      const Index size = static_cast<Index>(shape.sizes[d]);
      coords[d] = i % size;
      i /= size;
    }
  }
}

template <typename Index>
__device__ __forceinline__ int64_t offset_of(const Index (&coords)[kMaxDims], const Layout& l) {
  int64_t off = 0;
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d)
    if (d < l.ndim) off += static_cast<int64_t>(coords[d]) * l.strides[d];
  return off;
}

// ---- the three kernels (grid-stride loops) ------------------------------------------------

template <int W, typename Out, typename F, typename... In>
__global__ void map_vector(int64_t n, F f, Out* out, VectorInput<In>... in) {
  const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t chunks = n / W;
  Chunk<Out, W>* out_chunks = reinterpret_cast<Chunk<Out, W>*>(out);
  for (int64_t c = first; c < chunks; c += step) out_chunks[c] = apply_chunk<W, Out>(f, load_chunk<W>(in, c)...);
  // The last n % W elements, one per thread.
  for (int64_t i = chunks * W + first; i < n; i += step) out[i] = f(element(in, i)...);
}

template <typename Out, typename F, typename... In>
__global__ void map_linear(int64_t n, F f, Out* out, int64_t out_stride, LinearInput<In>... in) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += step)
    out[i * out_stride] = f(in.data[i * in.stride]...);
}

// Index is uint32_t when n fits: 32-bit division is several times cheaper than 64-bit.
template <typename Index, typename Out, typename F, typename... In>
__global__ void map_strided(int64_t n, F f, Out* out, Layout out_layout, Operand<In>... in) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += step) {
    Index coords[kMaxDims];
    split_index<Index>(static_cast<Index>(i), out_layout, coords);
    out[offset_of(coords, out_layout)] = f(in.data[offset_of(coords, in.layout)]...);
  }
}

// ---- the launcher ---------------------------------------------------------------------------

// Drops the dims of size 1 (their strides never matter, and a view may carry any stride
// there), then merges the dims that every operand walks contiguously (kernels/strided.h).
// A contiguous tensor of any shape becomes one dim of stride 1.
template <int K>
void simplify(std::array<Layout*, K> ls) {
  const Layout& shape = *ls[0];
  const int ndim = shape.ndim;
  int kept = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape.sizes[d] == 1) continue;  // read before any write to index d (kept <= d)
    for (Layout* l : ls) {
      l->sizes[kept] = l->sizes[d];
      l->strides[kept] = l->strides[d];
    }
    ++kept;
  }
  for (Layout* l : ls) l->ndim = kept;
  coalesce<K>(ls);
}


// The stride of a layout that simplify() left with at most one dim. A 0-dim layout holds a
// single element at offset 0, which stride 1 also reaches (i is always 0 then).
int64_t single_stride(const Layout& l) { return l.ndim == 0 ? 1 : l.strides[0]; }

template <typename T>
bool vector_ready(const Operand<T>& in) {
  const int64_t s = single_stride(in.layout);
  return s == 0 || (s == 1 && aligned16(in.data));
}

template <typename Out, typename F, typename... In>
void launch_map(F f, Out* out, Layout out_layout, Operand<In>... in) {
  const int64_t n = out_layout.numel();
  if (n == 0) return;  // nothing to do, and no zero-sized grid
  constexpr int K = 1 + static_cast<int>(sizeof...(In));
  simplify<K>(std::array<Layout*, K>{&out_layout, &in.layout...});

  if (out_layout.ndim <= 1) {
    if (single_stride(out_layout) == 1 && aligned16(out) && (vector_ready(in) && ...)) {
      constexpr int W = chunk_width<Out, In...>();
      const int64_t chunks = std::max<int64_t>(n / W, 1);  // >= 1 keeps a block for the tail
      map_vector<W><<<grid_for(chunks, kThreads), kThreads, 0, stream()>>>(
          n, f, out, VectorInput<In>{in.data, single_stride(in.layout) == 0}...);
      check_launch("elementwise map_vector");
    } else {
      map_linear<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
          n, f, out, single_stride(out_layout), LinearInput<In>{in.data, single_stride(in.layout)}...);
      check_launch("elementwise map_linear");
    }
    return;
  }
  if (n <= INT32_MAX) {
    map_strided<uint32_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(n, f, out, out_layout, in...);
  } else {
    map_strided<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(n, f, out, out_layout, in...);
  }
  check_launch("elementwise map_strided");
}

// ---- the functors ---------------------------------------------------------------------------
// Float and double overloads of the math functions, spelled out so that float stays float
// (expf, not a double exp) in device code.
__device__ __forceinline__ float dev_exp(float x) { return expf(x); }
__device__ __forceinline__ double dev_exp(double x) { return exp(x); }
__device__ __forceinline__ float dev_log(float x) { return logf(x); }
__device__ __forceinline__ double dev_log(double x) { return log(x); }
__device__ __forceinline__ float dev_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dev_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float dev_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double dev_abs(double x) { return fabs(x); }
__device__ __forceinline__ float dev_pow(float x, float e) { return powf(x, e); }
__device__ __forceinline__ double dev_pow(double x, double e) { return pow(x, e); }

template <typename T> struct NegOp  { __device__ T operator()(T x) const { return -x; } };
template <typename T> struct ExpOp  { __device__ T operator()(T x) const { return dev_exp(x); } };
template <typename T> struct LogOp  { __device__ T operator()(T x) const { return dev_log(x); } };
template <typename T> struct SqrtOp { __device__ T operator()(T x) const { return dev_sqrt(x); } };
template <typename T> struct AbsOp  { __device__ T operator()(T x) const { return dev_abs(x); } };
// NaN fails the comparison and becomes 0, as on the CPU.
template <typename T> struct ReluOp { __device__ T operator()(T x) const { return x > T(0) ? x : T(0); } };
// -1, 0 or 1; NaN gives 0 (both comparisons are false), as on the CPU.
template <typename T> struct SignOp {
  __device__ T operator()(T x) const { return static_cast<T>((x > T(0)) - (x < T(0))); }
};
template <typename T> struct PowOp {
  T exponent;
  __device__ T operator()(T x) const { return dev_pow(x, exponent); }
};
// NaN stays NaN (both comparisons are false), as in PyTorch.
template <typename T> struct ClampOp {
  T low, high;
  __device__ T operator()(T x) const { return x < low ? low : (x > high ? high : x); }
};

template <typename T> struct AddOp { __device__ T operator()(T a, T b) const { return a + b; } };
template <typename T> struct SubOp { __device__ T operator()(T a, T b) const { return a - b; } };
template <typename T> struct MulOp { __device__ T operator()(T a, T b) const { return a * b; } };
template <typename T> struct DivOp { __device__ T operator()(T a, T b) const { return a / b; } };
// Comparisons give 1 or 0 in the operands' dtype.
template <typename T> struct EqOp { __device__ T operator()(T a, T b) const { return static_cast<T>(a == b); } };
template <typename T> struct NeOp { __device__ T operator()(T a, T b) const { return static_cast<T>(a != b); } };
template <typename T> struct LtOp { __device__ T operator()(T a, T b) const { return static_cast<T>(a < b); } };
template <typename T> struct LeOp { __device__ T operator()(T a, T b) const { return static_cast<T>(a <= b); } };
template <typename T> struct GtOp { __device__ T operator()(T a, T b) const { return static_cast<T>(a > b); } };
template <typename T> struct GeOp { __device__ T operator()(T a, T b) const { return static_cast<T>(a >= b); } };
// relu's backward: the gradient a passes where relu's output b is positive.
template <typename T> struct ReluGradOp {
  __device__ T operator()(T a, T b) const { return b > T(0) ? a : T(0); }
};

template <typename Src, typename Dst> struct CastOp {
  __device__ Dst operator()(Src x) const { return static_cast<Dst>(x); }
};
template <typename T> struct FillOp {
  T value;
  __device__ T operator()() const { return value; }
};

}  // namespace

// ---- the kernels of kernels/elementwise.h ------------------------------------------------------

template <typename T>
void unary(UnaryOp op, double p0, double p1, const T* x, const Layout& x_layout, T* out, const Layout& out_layout) {
  const Operand<T> in{x, x_layout};
  switch (op) {
    case UnaryOp::Neg: launch_map(NegOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Exp: launch_map(ExpOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Log: launch_map(LogOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Sqrt: launch_map(SqrtOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Abs: launch_map(AbsOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Relu: launch_map(ReluOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Sign: launch_map(SignOp<T>{}, out, out_layout, in); break;
    case UnaryOp::Pow: launch_map(PowOp<T>{static_cast<T>(p0)}, out, out_layout, in); break;
    case UnaryOp::Clamp: launch_map(ClampOp<T>{static_cast<T>(p0), static_cast<T>(p1)}, out, out_layout, in); break;
  }
}

template <typename T>
void binary(BinaryOp op, const T* a, const Layout& a_layout, const T* b, const Layout& b_layout, T* out,
            const Layout& out_layout) {
  const Operand<T> x{a, a_layout}, y{b, b_layout};
  switch (op) {
    case BinaryOp::Add: launch_map(AddOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Sub: launch_map(SubOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Mul: launch_map(MulOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Div: launch_map(DivOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Eq: launch_map(EqOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Ne: launch_map(NeOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Lt: launch_map(LtOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Le: launch_map(LeOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Gt: launch_map(GtOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::Ge: launch_map(GeOp<T>{}, out, out_layout, x, y); break;
    case BinaryOp::ReluGrad: launch_map(ReluGradOp<T>{}, out, out_layout, x, y); break;
  }
}

template <typename Src, typename Dst>
void copy_cast(const Src* in, const Layout& in_layout, Dst* out, const Layout& out_layout) {
  launch_map(CastOp<Src, Dst>{}, out, out_layout, Operand<Src>{in, in_layout});
}

template <typename T>
void fill(T* out, const Layout& out_layout, T value) {
  launch_map(FillOp<T>{value}, out, out_layout);
}

#define SC_INSTANTIATE_FLOAT(T)                                                                       \
  template void unary<T>(UnaryOp, double, double, const T*, const Layout&, T*, const Layout&);        \
  template void binary<T>(BinaryOp, const T*, const Layout&, const T*, const Layout&, T*, const Layout&);
SC_INSTANTIATE_FLOAT(float)
SC_INSTANTIATE_FLOAT(double)
#undef SC_INSTANTIATE_FLOAT

#define SC_INSTANTIATE_COPY(S, D) template void copy_cast<S, D>(const S*, const Layout&, D*, const Layout&);
#define SC_INSTANTIATE_COPY_FROM(S)                                                           \
  SC_INSTANTIATE_COPY(S, float) SC_INSTANTIATE_COPY(S, double) SC_INSTANTIATE_COPY(S, int64_t) \
  SC_INSTANTIATE_COPY(S, int32_t)
SC_INSTANTIATE_COPY_FROM(float)
SC_INSTANTIATE_COPY_FROM(double)
SC_INSTANTIATE_COPY_FROM(int64_t)
SC_INSTANTIATE_COPY_FROM(int32_t)
#undef SC_INSTANTIATE_COPY_FROM
#undef SC_INSTANTIATE_COPY

template void fill<float>(float*, const Layout&, float);
template void fill<double>(double*, const Layout&, double);
template void fill<int64_t>(int64_t*, const Layout&, int64_t);
template void fill<int32_t>(int32_t*, const Layout&, int32_t);

}  // namespace sc::kernels::cuda
