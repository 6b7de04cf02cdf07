// Pooling on the GPU (the contract is in kernels/pool.h; the CPU reference is kernels/cpu/pool.cpp).
//
// Forwards: one thread per output element walks its window, in the CPU's order, so max and
// average pooling give the CPU's bits.
//
// Backwards without atomics: where the CPU scatters each output's gradient into its window,
// here one thread per input element gathers from the few windows that cover it,
//   rows oh with oh*sh - ph <= ih <= oh*sh - ph + KH - 1, i.e. ceil((ih + ph - KH + 1) / sh) .. (ih + ph) / sh
// (and likewise for columns), visiting them in increasing (oh, ow). That is the order in which
// the CPU's scatter adds into this element, starting from the same zero, so the sums are
// bit-for-bit the CPU's, and the same every run. Max pooling with non-overlapping windows
// (stride == kernel, no padding: the usual 2x2) skips the gather: each window's thread writes
// its whole tile of the input gradient (max_pool_backward_tiles).
//
// Global average pooling sums each plane in double with a fixed group of threads (a warp, or
// a whole block for large planes), reduced in a fixed tree.
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/pool.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kThreads = 256;  // every launch of this file; a multiple of 32

// Pool2dShape in the index type the kernel computes with (int32 when everything fits), with
// a Divider for every size the kernels divide by. The divisions need n >= 0: every one here
// divides an index or a non-negative row number.
template <typename Index>
struct Geometry {
  Index H, W, KH, KW, stride_h, stride_w, pad_h, pad_w, OH, OW;
  Divider<Index> by_H, by_W, by_OH, by_OW, by_stride_h, by_stride_w;
};

template <typename Index>
Geometry<Index> geometry_of(const Pool2dShape& s) {
  Geometry<Index> g;
  auto i = [](int64_t v) { return static_cast<Index>(v); };
  g.H = i(s.H), g.W = i(s.W), g.KH = i(s.KH), g.KW = i(s.KW);
  g.stride_h = i(s.stride_h), g.stride_w = i(s.stride_w), g.pad_h = i(s.pad_h), g.pad_w = i(s.pad_w);
  g.OH = i(s.OH), g.OW = i(s.OW);
  // A zero size only occurs with nothing to launch; 1 keeps the divider well defined.
  auto divider = [](int64_t v) { return Divider<Index>(v < 1 ? 1 : v); };
  g.by_H = divider(s.H), g.by_W = divider(s.W), g.by_OH = divider(s.OH), g.by_OW = divider(s.OW);
  g.by_stride_h = divider(s.stride_h), g.by_stride_w = divider(s.stride_w);
  return g;
}

// Index of the first grid-stride step of this thread, and the step.
template <typename Index>
__device__ __forceinline__ Index first_index() {
  return static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
}
template <typename Index>
__device__ __forceinline__ Index grid_stride() {
  return static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
}

// Output element o of [planes, OH, OW] -> its plane, its window's first row and column
// (negative inside the padding), and the part of the window inside the input, [begin, end).
template <typename Index>
struct Window {
  Index plane, h_begin, h_end, w_begin, w_end;
};
template <typename Index>
__device__ __forceinline__ Window<Index> window_of(Index o, const Geometry<Index>& g) {
  const Index rest = g.by_OW.div(o);  // plane * OH + oh
  const Index ow = o - rest * g.OW;
  Window<Index> w;
  w.plane = g.by_OH.div(rest);
  const Index oh = rest - w.plane * g.OH;
  const Index h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  w.h_begin = max(h0, Index(0));
  w.h_end = min(h0 + g.KH, g.H);
  w.w_begin = max(w0, Index(0));
  w.w_end = min(w0 + g.KW, g.W);
  return w;
}

// The output rows (or columns) whose windows cover input row i: [first, last], possibly empty.
template <typename Index>
__device__ __forceinline__ void covering(Index i, Index kernel, Index stride, const Divider<Index>& by_stride,
                                         Index pad, Index out_size, Index& first, Index& last) {
  const Index lowest = i + pad - kernel + 1;  // window o starts at o*stride - pad: it reaches i when o*stride >= lowest
  first = lowest <= 0 ? Index(0) : by_stride.div(lowest + stride - 1);  // ceil(lowest / stride)
  last = min(by_stride.div(i + pad), out_size - 1);
}

// Input element e of [planes, H, W] -> plane, row, column.
template <typename Index>
__device__ __forceinline__ void input_position(Index e, const Geometry<Index>& g, Index& plane, Index& ih, Index& iw) {
  const Index rest = g.by_W.div(e);  // plane * H + ih
  iw = e - rest * g.W;
  plane = g.by_H.div(rest);
  ih = rest - plane * g.H;
}

// ---- max ---------------------------------------------------------------------------------------

template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
    max_pool_forward(const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ argmax, Geometry<Index> g,
                     Index outputs) {
  for (Index o = first_index<Index>(); o < outputs; o += grid_stride<Index>()) {
    const Window<Index> w = window_of(o, g);
    const T* in = x + w.plane * g.H * g.W;
    // The same scan as the CPU: start at the window's first element inside the input,
    // replace on a strictly larger value (so the first of equal maxima stays) or on NaN.
    Index best = w.h_begin * g.W + w.w_begin;
    T best_value = in[best];
    for (Index ih = w.h_begin; ih < w.h_end; ++ih) {
      for (Index iw = w.w_begin; iw < w.w_end; ++iw) {
        const T v = in[ih * g.W + iw];
        if (v > best_value || isnan(v)) {
          best = ih * g.W + iw;
          best_value = v;
        }
      }
    }
    y[o] = best_value;
    argmax[o] = static_cast<int32_t>(best);  // a plane has fewer than 2^31 elements (the op checks)
  }
}

template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
    max_pool_backward(const T* __restrict__ grad_y, const int32_t* __restrict__ argmax, T* __restrict__ grad_x,
                      Geometry<Index> g, Index inputs) {
  for (Index e = first_index<Index>(); e < inputs; e += grid_stride<Index>()) {
    Index plane, ih, iw;
    input_position(e, g, plane, ih, iw);
    Index oh_first, oh_last, ow_first, ow_last;
    covering(ih, g.KH, g.stride_h, g.by_stride_h, g.pad_h, g.OH, oh_first, oh_last);
    covering(iw, g.KW, g.stride_w, g.by_stride_w, g.pad_w, g.OW, ow_first, ow_last);
    const int32_t me = static_cast<int32_t>(ih * g.W + iw);
    const Index out_plane = plane * g.OH * g.OW;
    T sum = T(0);
    for (Index oh = oh_first; oh <= oh_last; ++oh) {
      for (Index ow = ow_first; ow <= ow_last; ++ow) {
        const Index o = out_plane + oh * g.OW + ow;
        if (argmax[o] == me) sum += grad_y[o];
      }
    }
    grad_x[e] = sum;
  }
}

// Non-overlapping windows (stride == kernel, no padding): every input element lies in at most
// one window, so instead of a gather, one thread per output element writes its whole tile of
// grad_x: grad_y at the argmax, 0 elsewhere. Each thread reads one gradient and one argmax
// (8 bytes for float) and writes KH * KW values, with no division per input element and no
// re-reading of argmax by the KH * KW elements that share it. Rows and columns past the last
// window (H % KH, W % KW) belong to the tile of the last window of their row / column, so
// every element is written exactly once, by one thread: deterministic by construction.
// The value is T(0) + g, as the gather (and the CPU's scatter into zeros) forms it (-0 -> +0).
// kPairs: KW == 2, W == 2 * OW and grad_x 2-element aligned, so each row of a tile is one
// 2-element store (8 bytes for float) at an even offset; neighbouring threads write
// neighbouring pairs.
template <typename T>
struct alignas(2 * sizeof(T)) PairOf {
  T first, second;
};

template <typename T, typename Index, bool kPairs>
__global__ void __launch_bounds__(kThreads)
    max_pool_backward_tiles(const T* __restrict__ grad_y, const int32_t* __restrict__ argmax, T* __restrict__ grad_x,
                            Geometry<Index> g, Index outputs) {
  for (Index o = first_index<Index>(); o < outputs; o += grid_stride<Index>()) {
    const Index rest = g.by_OW.div(o);  // plane * OH + oh
    const Index ow = o - rest * g.OW;
    const Index plane = g.by_OH.div(rest);
    const Index oh = rest - plane * g.OH;
    const Index h0 = oh * g.KH, w0 = ow * g.KW;  // the window: [h0, h0 + KH) x [w0, w0 + KW)
    const Index h_end = oh == g.OH - 1 ? g.H : h0 + g.KH;  // the tile: the window plus any leftover
    const Index w_end = ow == g.OW - 1 ? g.W : w0 + g.KW;
    const T value = T(0) + grad_y[o];
    const int64_t target = argmax[o];  // widened: compared with 64-bit positions below
    T* out = grad_x + plane * g.H * g.W;
    for (Index ih = h0; ih < h_end; ++ih) {
      const bool row_in_window = ih < h0 + g.KH;
      if constexpr (kPairs) {
        const int64_t at = static_cast<int64_t>(ih * g.W + w0);
        PairOf<T> pair;
        pair.first = row_in_window && at == target ? value : T(0);
        pair.second = row_in_window && at + 1 == target ? value : T(0);
        *reinterpret_cast<PairOf<T>*>(out + ih * g.W + w0) = pair;
      } else {
        for (Index iw = w0; iw < w_end; ++iw) {
          const int64_t at = static_cast<int64_t>(ih * g.W + iw);
          out[ih * g.W + iw] = row_in_window && iw < w0 + g.KW && at == target ? value : T(0);
        }
      }
    }
  }
}

// ---- average (padding counts: the divisor is always KH * KW) ---------------------------------

template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
    avg_pool_forward(const T* __restrict__ x, T* __restrict__ y, Geometry<Index> g, Index outputs) {
  const T divisor = static_cast<T>(g.KH * g.KW);
  for (Index o = first_index<Index>(); o < outputs; o += grid_stride<Index>()) {
    const Window<Index> w = window_of(o, g);
    const T* in = x + w.plane * g.H * g.W;
    T sum = T(0);
    for (Index ih = w.h_begin; ih < w.h_end; ++ih)
      for (Index iw = w.w_begin; iw < w.w_end; ++iw) sum += in[ih * g.W + iw];
    y[o] = sum / divisor;
  }
}

template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
    avg_pool_backward(const T* __restrict__ grad_y, T* __restrict__ grad_x, Geometry<Index> g, Index inputs) {
  const T divisor = static_cast<T>(g.KH * g.KW);
  for (Index e = first_index<Index>(); e < inputs; e += grid_stride<Index>()) {
    Index plane, ih, iw;
    input_position(e, g, plane, ih, iw);
    Index oh_first, oh_last, ow_first, ow_last;
    covering(ih, g.KH, g.stride_h, g.by_stride_h, g.pad_h, g.OH, oh_first, oh_last);
    covering(iw, g.KW, g.stride_w, g.by_stride_w, g.pad_w, g.OW, ow_first, ow_last);
    const Index out_plane = plane * g.OH * g.OW;
    T sum = T(0);
    for (Index oh = oh_first; oh <= oh_last; ++oh)
      for (Index ow = ow_first; ow <= ow_last; ++ow) sum += grad_y[out_plane + oh * g.OW + ow] / divisor;
    grad_x[e] = sum;
  }
}

// ---- global average --------------------------------------------------------------------------------

// Sum over groups of `width` lanes (a power of two <= 32) of a warp, in a fixed tree; the
// group's first lane gets it. Every lane of the warp must take part.
__device__ __forceinline__ double group_sum(double v, int width) {
  for (int offset = width / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset, width);
  return v;
}

// kGroup threads per plane (8 or 32: part of a warp; kThreads: the whole block); y[plane] =
// the plane's mean, summed in double. Neighbouring lanes read neighbouring elements, so small
// planes still load whole sectors. With kGroup == kThreads the plane is the same for the
// whole block, so every thread reaches the __syncthreads.
template <typename T, typename Index, int kGroup>
__global__ void __launch_bounds__(kThreads)
    global_avg_forward(const T* __restrict__ x, T* __restrict__ y, Index planes, Index plane_size) {
  constexpr int kGroupsPerBlock = kThreads / kGroup;
  const Index plane = static_cast<Index>(blockIdx.x) * kGroupsPerBlock + static_cast<Index>(threadIdx.x / kGroup);
  const int rank = threadIdx.x % kGroup;
  double sum = 0;
  if (plane < planes) {
    const T* in = x + plane * plane_size;
    for (Index i = rank; i < plane_size; i += kGroup) sum += static_cast<double>(in[i]);
  }
  sum = group_sum(sum, kGroup < 32 ? kGroup : 32);
  if constexpr (kGroup > 32) {
    __shared__ double per_warp[kThreads / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) per_warp[warp] = sum;
    __syncthreads();
    sum = 0;
    if (warp == 0) sum = group_sum(lane < kThreads / 32 ? per_warp[lane] : 0.0, 32);
  }
  if (rank == 0 && plane < planes) y[plane] = static_cast<T>(sum / static_cast<double>(plane_size));
}

template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
    global_avg_backward(const T* __restrict__ grad_y, T* __restrict__ grad_x, Index total, Index plane_size,
                        Divider<Index> by_plane_size) {
  for (Index e = first_index<Index>(); e < total; e += grid_stride<Index>())
    grad_x[e] = static_cast<T>(static_cast<double>(grad_y[by_plane_size.div(e)]) / static_cast<double>(plane_size));
}

// ---- host side -----------------------------------------------------------------------------------

// Same margin as in batch_norm.cu: indices and index + grid stride stay below 2^31.
bool fits_int32(int64_t count) { return count <= (int64_t{1} << 30); }

// The kernels trust the shape: check here what the op checks, so a bad direct call is an
// sc::Error rather than a read outside the input.
void check_shape(const Pool2dShape& s, const char* what) {
  SC_CHECK(s.N >= 0 && s.C >= 0 && s.H >= 0 && s.W >= 0, what, " (CUDA): negative input size");
  SC_CHECK(s.KH >= 1 && s.KW >= 1 && s.stride_h >= 1 && s.stride_w >= 1, what,
           " (CUDA): kernel and stride must be >= 1");
  SC_CHECK(s.pad_h >= 0 && s.pad_w >= 0 && s.pad_h <= s.KH / 2 && s.pad_w <= s.KW / 2, what,
           " (CUDA): padding must be between 0 and half the kernel size");
  // With padding <= kernel / 2 and these output sizes, every window holds an input element.
  const int64_t room_h = s.H + 2 * s.pad_h - s.KH, room_w = s.W + 2 * s.pad_w - s.KW;
  const bool fits = s.H >= 1 && s.W >= 1 && room_h >= 0 && room_w >= 0;
  SC_CHECK(fits ? (s.OH == room_h / s.stride_h + 1 && s.OW == room_w / s.stride_w + 1) : (s.OH == 0 || s.OW == 0),
           what, " (CUDA): output size [", s.OH, ", ", s.OW, "] does not match the input and window");
}

bool pool_fits_int32(const Pool2dShape& s) {
  // Window arithmetic adds kernel, stride and padding to indices: they must be small too.
  const bool small_window = s.KH + s.KW + s.stride_h + s.stride_w + s.pad_h + s.pad_w <= (int64_t{1} << 28);
  return fits_int32(s.planes() * s.H * s.W) && fits_int32(s.planes() * s.OH * s.OW) && small_window;
}

template <typename T, typename Index>
void max_forward_impl(const T* x, T* y, int32_t* argmax, const Pool2dShape& s) {
  const int64_t outputs = s.planes() * s.OH * s.OW;
  max_pool_forward<T, Index><<<grid_for(outputs, kThreads), kThreads, 0, stream()>>>(
      x, y, argmax, geometry_of<Index>(s), static_cast<Index>(outputs));
  check_launch("max_pool_forward");
}

// The tiled backward covers windows that tile the input without overlap or padding, with at
// least one window per plane (every leftover row / column then has a tile to join).
bool windows_tile_the_input(const Pool2dShape& s) {
  return s.stride_h == s.KH && s.stride_w == s.KW && s.pad_h == 0 && s.pad_w == 0 && s.OH >= 1 && s.OW >= 1 &&
         s.OH * s.KH <= s.H && s.OW * s.KW <= s.W;
}

template <typename T, typename Index>
void max_backward_impl(const T* grad_y, const int32_t* argmax, T* grad_x, const Pool2dShape& s) {
  if (windows_tile_the_input(s)) {
    const int64_t outputs = s.planes() * s.OH * s.OW;
    const bool pairs = s.KW == 2 && s.W == 2 * s.OW && reinterpret_cast<uintptr_t>(grad_x) % (2 * sizeof(T)) == 0;
    const unsigned grid = grid_for(outputs, kThreads);
    if (pairs)
      max_pool_backward_tiles<T, Index, true><<<grid, kThreads, 0, stream()>>>(
          grad_y, argmax, grad_x, geometry_of<Index>(s), static_cast<Index>(outputs));
    else
      max_pool_backward_tiles<T, Index, false><<<grid, kThreads, 0, stream()>>>(
          grad_y, argmax, grad_x, geometry_of<Index>(s), static_cast<Index>(outputs));
    check_launch("max_pool_backward_tiles");
    return;
  }
  const int64_t inputs = s.planes() * s.H * s.W;
  max_pool_backward<T, Index><<<grid_for(inputs, kThreads), kThreads, 0, stream()>>>(
      grad_y, argmax, grad_x, geometry_of<Index>(s), static_cast<Index>(inputs));
  check_launch("max_pool_backward");
}

template <typename T, typename Index>
void avg_forward_impl(const T* x, T* y, const Pool2dShape& s) {
  const int64_t outputs = s.planes() * s.OH * s.OW;
  avg_pool_forward<T, Index><<<grid_for(outputs, kThreads), kThreads, 0, stream()>>>(x, y, geometry_of<Index>(s),
                                                                                     static_cast<Index>(outputs));
  check_launch("avg_pool_forward");
}

template <typename T, typename Index>
void avg_backward_impl(const T* grad_y, T* grad_x, const Pool2dShape& s) {
  const int64_t inputs = s.planes() * s.H * s.W;
  avg_pool_backward<T, Index><<<grid_for(inputs, kThreads), kThreads, 0, stream()>>>(
      grad_y, grad_x, geometry_of<Index>(s), static_cast<Index>(inputs));
  check_launch("avg_pool_backward");
}

template <typename T, typename Index>
void global_avg_forward_impl(const T* x, T* y, int64_t planes, int64_t plane_size) {
  // As many threads per plane as keep them busy: 8 for small feature maps (4x4, 7x7), a
  // warp up to 2048 values, the whole block beyond.
  const Index n = static_cast<Index>(planes), size = static_cast<Index>(plane_size);
  if (plane_size >= 2048) {
    global_avg_forward<T, Index, kThreads><<<static_cast<unsigned>(planes), kThreads, 0, stream()>>>(x, y, n, size);
  } else if (plane_size >= 64) {
    global_avg_forward<T, Index, 32><<<static_cast<unsigned>(ceil_div(planes, kThreads / 32)), kThreads, 0, stream()>>>(
        x, y, n, size);
  } else {
    global_avg_forward<T, Index, 8><<<static_cast<unsigned>(ceil_div(planes, kThreads / 8)), kThreads, 0, stream()>>>(
        x, y, n, size);
  }
  check_launch("global_avg_forward");
}

}  // namespace

template <typename T>
void max_pool2d_forward(const T* x, T* y, int32_t* argmax, const Pool2dShape& s) {
  check_shape(s, "max_pool2d_forward");
  if (s.planes() * s.OH * s.OW == 0) return;
  if (pool_fits_int32(s))
    max_forward_impl<T, int32_t>(x, y, argmax, s);
  else
    max_forward_impl<T, int64_t>(x, y, argmax, s);
}

template <typename T>
void max_pool2d_backward(const T* grad_y, const int32_t* argmax, T* grad_x, const Pool2dShape& s) {
  check_shape(s, "max_pool2d_backward");
  if (s.planes() * s.H * s.W == 0) return;
  if (pool_fits_int32(s))
    max_backward_impl<T, int32_t>(grad_y, argmax, grad_x, s);
  else
    max_backward_impl<T, int64_t>(grad_y, argmax, grad_x, s);
}

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s) {
  check_shape(s, "avg_pool2d_forward");
  if (s.planes() * s.OH * s.OW == 0) return;
  if (pool_fits_int32(s))
    avg_forward_impl<T, int32_t>(x, y, s);
  else
    avg_forward_impl<T, int64_t>(x, y, s);
}

template <typename T>
void avg_pool2d_backward(const T* grad_y, T* grad_x, const Pool2dShape& s) {
  check_shape(s, "avg_pool2d_backward");
  if (s.planes() * s.H * s.W == 0) return;
  if (pool_fits_int32(s))
    avg_backward_impl<T, int32_t>(grad_y, grad_x, s);
  else
    avg_backward_impl<T, int64_t>(grad_y, grad_x, s);
}

template <typename T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t plane_size) {
  SC_CHECK(planes >= 0 && plane_size >= 1, "global_avg_pool2d_forward (CUDA): needs planes >= 0 and plane_size >= 1, got ",
           planes, " and ", plane_size);
  if (planes == 0) return;
  if (fits_int32(planes * plane_size))
    global_avg_forward_impl<T, int32_t>(x, y, planes, plane_size);
  else
    global_avg_forward_impl<T, int64_t>(x, y, planes, plane_size);
}

template <typename T>
void global_avg_pool2d_backward(const T* grad_y, T* grad_x, int64_t planes, int64_t plane_size) {
  SC_CHECK(planes >= 0 && plane_size >= 0, "global_avg_pool2d_backward (CUDA): negative size");
  const int64_t total = planes * plane_size;
  if (total == 0) return;
  if (fits_int32(total)) {
    global_avg_backward<T, int32_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        grad_y, grad_x, static_cast<int32_t>(total), static_cast<int32_t>(plane_size), Divider<int32_t>(plane_size));
  } else {
    global_avg_backward<T, int64_t><<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        grad_y, grad_x, total, plane_size, Divider<int64_t>(plane_size));
  }
  check_launch("global_avg_backward");
}

#define SC_INSTANTIATE_POOL(T)                                                                    \
  template void max_pool2d_forward<T>(const T*, T*, int32_t*, const Pool2dShape&);                \
  template void max_pool2d_backward<T>(const T*, const int32_t*, T*, const Pool2dShape&);         \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&);                          \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&);                         \
  template void global_avg_pool2d_forward<T>(const T*, T*, int64_t, int64_t);                     \
  template void global_avg_pool2d_backward<T>(const T*, T*, int64_t, int64_t);
SC_INSTANTIATE_POOL(float)
SC_INSTANTIATE_POOL(double)
#undef SC_INSTANTIATE_POOL

}  // namespace sc::kernels::cuda
