// Softmax, log-softmax and cross-entropy on the GPU (contracts in kernels/softmax.h;
// kernels/cpu/softmax.cpp is the reference).
//
// The op views the tensor as [outer, dim, inner]; three kinds of work cover every case:
//   short rows   inner == 1, dim <= 1024: one warp per row, and the row lives in the warp's
//                registers (at most 32 values per lane). x is read from memory once: max,
//                then sum of exp, then the write, all from registers. This is the common
//                case ([batch, classes], attention-like [rows, 1024]) and the one that must
//                run near copy bandwidth: one read and one write per element, loaded as
//                16-byte vectors when the rows are aligned.
//   long rows    inner == 1, dim > 1024: one block per row. Pass 1 keeps a running
//                (max, sum) per thread, the "online softmax": when a larger value arrives
//                the sum so far is rescaled by exp(old_max - new_max), so one read gives
//                both. Pass 2 re-reads the row (mostly from cache) and writes.
//   columns      inner > 1: element (o, j, i) sits at o*dim*inner + j*inner + i. A block
//                takes 32 neighbouring (o, i) columns (neighbouring i are neighbouring
//                addresses, so loads coalesce) and 8 threads share each column's dim.
// Every reduction runs in a fixed order (xor-butterfly shuffles, shared memory read in
// index order), so a result is the same bits on every run. float math stays in float
// (expf, float sums): sums over one row of at most a few thousand terms lose ~1e-6.
//
// Cross-entropy: per-row statistics (rows up to short_row_max_dim as in "short rows", from
// registers; longer ones online in one pass, a warp or a block per row), a per-row loss
// written to a double scratch buffer, and one block that sums it in a fixed order.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/softmax.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kRowThreads = 256;                     // short rows: 8 warps = 8 rows per block
constexpr int kWarpsPerBlock = kRowThreads / kWarpSize;
// Rows up to this long stay in registers: 32 values per lane for float, 16 for double
// (two arrays of 32 doubles per lane in the backward would spill).
template <typename T>
constexpr int64_t short_row_max_dim() {
  return (sizeof(T) == 4 ? 32 : 16) * 32;
}
constexpr int kLongRowThreads = 512;                 // long rows: one block per row
constexpr int kColumnTile = 32;                      // columns: 32 columns x 8 slices of dim
constexpr int kColumnSlices = 8;
constexpr int kMeanThreads = 1024;                   // the loss mean: one block (power of two)

// ---- math in the input's precision --------------------------------------------------------

__device__ __forceinline__ float exp_of(float x) { return expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }
__device__ __forceinline__ float log_of(float x) { return logf(x); }
__device__ __forceinline__ double log_of(double x) { return log(x); }
// fmax ignores NaN, as std::fmax in the CPU kernels does.
__device__ __forceinline__ float max_of(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double max_of(double a, double b) { return fmax(a, b); }
template <typename T>
__device__ __forceinline__ T minus_infinity() {
  return -static_cast<T>(INFINITY);
}

// xor butterflies: every lane ends with the same value, and since a + b == b + a exactly,
// the same bits on every lane.
template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = max_of(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// ---- the online (max, sum) pair -------------------------------------------------------------

// sum = sum_j exp(x_j - max) over the values seen so far. An empty pair is (-inf, 0).
// A plain struct (no constructor) so it can live in __shared__.
template <typename T>
struct MaxSum {
  T max;
  T sum;
};

template <typename T>
__device__ __forceinline__ MaxSum<T> empty_max_sum() {
  return MaxSum<T>{minus_infinity<T>(), T(0)};
}

// Adds one value. A -inf value adds exp(-inf) = 0, so it is skipped (it would otherwise
// give -inf - (-inf) = NaN on an empty pair). NaN falls through to exp(NaN) = NaN, which
// then poisons the row's sum, as on the CPU.
template <typename T>
__device__ __forceinline__ void add_value(MaxSum<T>& acc, T x) {
  if (x > acc.max) {
    acc.sum = acc.sum * exp_of(acc.max - x) + T(1);  // exp(-inf) = 0 when acc was empty
    acc.max = x;
  } else if (x != minus_infinity<T>()) {
    acc.sum += exp_of(x - acc.max);
  }
}

// Merges two pairs; symmetric in a and b bit for bit (so butterflies agree on all lanes).
template <typename T>
__device__ __forceinline__ MaxSum<T> combine(MaxSum<T> a, MaxSum<T> b) {
  const T m = max_of(a.max, b.max);
  if (m == minus_infinity<T>()) return MaxSum<T>{m, T(0)};
  const T from_a = a.max == minus_infinity<T>() ? T(0) : a.sum * exp_of(a.max - m);
  const T from_b = b.max == minus_infinity<T>() ? T(0) : b.sum * exp_of(b.max - m);
  return MaxSum<T>{m, from_a + from_b};
}

template <typename T>
__device__ __forceinline__ MaxSum<T> warp_combine(MaxSum<T> v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const MaxSum<T> other{__shfl_xor_sync(kFullMask, v.max, offset), __shfl_xor_sync(kFullMask, v.sum, offset)};
    v = combine(v, other);
  }
  return v;
}

// Every thread of the block gets the block's pair, combined warp by warp in index order.
// `scratch` holds one pair per warp; all threads must call this (it synchronises).
template <typename T>
__device__ MaxSum<T> block_combine(MaxSum<T> v, MaxSum<T>* scratch) {
  v = warp_combine(v);
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  MaxSum<T> total = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / kWarpSize); ++w) total = combine(total, scratch[w]);
  __syncthreads();  // the scratch may be reused right after
  return total;
}

template <typename T>
__device__ T block_sum(T v, T* scratch) {
  v = warp_sum(v);
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / kWarpSize); ++w) total += scratch[w];
  __syncthreads();
  return total;
}

// log sum_j exp(x_j - max), except when max is infinite (all -inf, or a +inf present):
// then 0, as the CPU's log_sum_exp, so x - max gives NaN / -inf exactly where PyTorch does.
template <typename T>
__device__ __forceinline__ T log_sum_of(MaxSum<T> ms) {
  return isinf(ms.max) ? T(0) : log_of(ms.sum);
}

// 16-byte vectors: Pack, load_pack, store_pack and aligned16 come from kernels/cuda/common.cuh.

// ---- short rows: one warp per row, held in registers ---------------------------------------
//
// Lane `lane` holds vectors lane, lane + 32, lane + 64, ... of its row: kElems values in
// kElems / kVec vectors of kVec. With kVec > 1 the caller guarantees dim % kVec == 0 and
// 16-byte aligned pointers, so a vector is either wholly inside the row or wholly outside.

// The index in the row of element q of a lane's t-th vector.
template <int kVec>
__device__ __forceinline__ int64_t lane_element(int lane, int t, int q) {
  return (static_cast<int64_t>(lane) + static_cast<int64_t>(kWarpSize) * t) * kVec + q;
}

// Loads a lane's share of a row; slots past the end get `fill`.
template <typename T, int kElems, int kVec>
__device__ __forceinline__ void load_row(const T* row, int64_t dim, int lane, T fill, T (&v)[kElems]) {
#pragma unroll
  for (int t = 0; t < kElems / kVec; ++t) {
    const int64_t first = lane_element<kVec>(lane, t, 0);
    if (first < dim) {
      const Pack<T, kVec> p = load_pack<T, kVec>(row + first);
#pragma unroll
      for (int q = 0; q < kVec; ++q) v[t * kVec + q] = p.v[q];
    } else {
#pragma unroll
      for (int q = 0; q < kVec; ++q) v[t * kVec + q] = fill;
    }
  }
}

template <typename T, int kElems, int kVec>
__device__ __forceinline__ void store_row(T* row, int64_t dim, int lane, const T (&v)[kElems]) {
#pragma unroll
  for (int t = 0; t < kElems / kVec; ++t) {
    const int64_t first = lane_element<kVec>(lane, t, 0);
    if (first < dim) {
      Pack<T, kVec> p;
#pragma unroll
      for (int q = 0; q < kVec; ++q) p.v[q] = v[t * kVec + q];
      store_pack<T, kVec>(row + first, p);
    }
  }
}

// Napkin math: each element is read once and written once (like a copy).
template <typename T, int kElems, int kVec>
__global__ void __launch_bounds__(kRowThreads) softmax_forward_short_rows(const T* __restrict__ x, int64_t rows,
                                                                          int64_t dim, bool log, T* __restrict__ y) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize; r < rows;
       r += warps_in_grid) {
    T v[kElems];
    // Padding slots hold -inf: they leave the max alone and are never summed or stored.
    load_row<T, kElems, kVec>(x + r * dim, dim, lane, minus_infinity<T>(), v);
    T m = minus_infinity<T>();
#pragma unroll
    for (int e = 0; e < kElems; ++e) m = max_of(m, v[e]);
    m = warp_max(m);
    T sum = 0;
#pragma unroll
    for (int e = 0; e < kElems; ++e) {
      if (lane_element<kVec>(lane, e / kVec, e % kVec) < dim) {
        const T shifted = v[e] - m;
        const T p = exp_of(shifted);
        sum += p;
        v[e] = log ? shifted : p;  // keep what the output needs
      }
    }
    sum = warp_sum(sum);
    const MaxSum<T> ms{m, sum};
    if (log) {
      const T log_sum = log_sum_of(ms);
#pragma unroll
      for (int e = 0; e < kElems; ++e) v[e] -= log_sum;
    } else {
      const T inv_sum = isinf(m) ? T(1) : T(1) / sum;  // infinite max: exp(x - max) as is, as the CPU
#pragma unroll
      for (int e = 0; e < kElems; ++e) v[e] *= inv_sum;
    }
    store_row<T, kElems, kVec>(y + r * dim, dim, lane, v);
  }
}

// Napkin math: y and dy read once, dx written once.
template <typename T, int kElems, int kVec>
__global__ void __launch_bounds__(kRowThreads)
    softmax_backward_short_rows(const T* __restrict__ y, const T* __restrict__ dy, int64_t rows, int64_t dim,
                                bool log, T* __restrict__ dx) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize; r < rows;
       r += warps_in_grid) {
    T yv[kElems], dyv[kElems];
    // Padding slots hold 0, which adds nothing to either dot product.
    load_row<T, kElems, kVec>(y + r * dim, dim, lane, T(0), yv);
    load_row<T, kElems, kVec>(dy + r * dim, dim, lane, T(0), dyv);
    // softmax: dot = sum_j dy_j y_j;  log_softmax: dot = sum_j dy_j.
    T dot = 0;
#pragma unroll
    for (int e = 0; e < kElems; ++e) dot += log ? dyv[e] : dyv[e] * yv[e];
    dot = warp_sum(dot);
#pragma unroll
    for (int e = 0; e < kElems; ++e) yv[e] = log ? dyv[e] - exp_of(yv[e]) * dot : yv[e] * (dyv[e] - dot);
    store_row<T, kElems, kVec>(dx + r * dim, dim, lane, yv);
  }
}

// Picks the smallest register footprint that holds a row of `dim` (<= short_row_max_dim)
// and calls launch(std::integral_constant<int, kElems>, std::integral_constant<int, kVec>).
template <typename T, typename Launch>
void with_short_row_shape(int64_t dim, bool vectors, Launch&& launch) {
  constexpr int kWide = 16 / sizeof(T);  // elements per 16-byte vector
  constexpr int kMaxElems = static_cast<int>(short_row_max_dim<T>() / kWarpSize);
  auto pick_vec = [&](auto elems) {
    if (vectors)
      launch(elems, std::integral_constant<int, kWide>{});
    else
      launch(elems, std::integral_constant<int, 1>{});
  };
  if (dim <= 4 * kWarpSize)
    pick_vec(std::integral_constant<int, 4>{});
  else if (dim <= 8 * kWarpSize)
    pick_vec(std::integral_constant<int, 8>{});
  else if (dim <= 16 * kWarpSize)
    pick_vec(std::integral_constant<int, 16>{});
  else
    pick_vec(std::integral_constant<int, kMaxElems>{});
}

// ---- long rows: one block per row, online (max, sum) -----------------------------------------

// Napkin math: x read twice (the second time mostly from L2), y written once.
template <typename T>
__global__ void __launch_bounds__(kLongRowThreads)
    softmax_forward_long_rows(const T* __restrict__ x, int64_t rows, int64_t dim, bool log, T* __restrict__ y) {
  __shared__ MaxSum<T> scratch[kLongRowThreads / kWarpSize];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform over the block: the syncs are safe
    const T* in = x + r * dim;
    T* out = y + r * dim;
    MaxSum<T> ms = empty_max_sum<T>();
#pragma unroll 4
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) add_value(ms, in[j]);
    ms = block_combine(ms, scratch);
    const T log_sum = log_sum_of(ms);
#pragma unroll 4
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const T log_p = (in[j] - ms.max) - log_sum;
      out[j] = log ? log_p : exp_of(log_p);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kLongRowThreads)
    softmax_backward_long_rows(const T* __restrict__ y, const T* __restrict__ dy, int64_t rows, int64_t dim, bool log,
                               T* __restrict__ dx) {
  __shared__ T scratch[kLongRowThreads / kWarpSize];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* yr = y + r * dim;
    const T* dyr = dy + r * dim;
    T* out = dx + r * dim;
    T dot = 0;
#pragma unroll 4
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dot += log ? dyr[j] : dyr[j] * yr[j];
    dot = block_sum(dot, scratch);
#pragma unroll 4
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
      out[j] = log ? dyr[j] - exp_of(yr[j]) * dot : yr[j] * (dyr[j] - dot);
  }
}

// ---- columns (inner > 1) ------------------------------------------------------------------------
//
// Block (32, 8): threadIdx.x picks one of 32 neighbouring columns, threadIdx.y one of 8
// slices of dim (j = y, y + 8, ...). Each slice's partial result goes to shared memory and
// every thread combines the 8 of its column in slice order.

// The offset of element (o, 0, i) of column c = o * inner + i.
__device__ __forceinline__ int64_t column_start(int64_t c, int64_t dim, int64_t inner) {
  return (c / inner) * dim * inner + c % inner;
}

template <typename T>
__global__ void __launch_bounds__(kColumnTile* kColumnSlices)
    softmax_forward_columns(const T* __restrict__ x, int64_t columns, int64_t dim, int64_t inner, bool log,
                            T* __restrict__ y) {
  __shared__ MaxSum<T> partial[kColumnSlices][kColumnTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t tiles = (columns + kColumnTile - 1) / kColumnTile;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {  // uniform over the block
    const int64_t c = tile * kColumnTile + tx;
    const bool live = c < columns;
    const int64_t start = live ? column_start(c, dim, inner) : 0;
    MaxSum<T> ms = empty_max_sum<T>();
    if (live)
      for (int64_t j = ty; j < dim; j += kColumnSlices) add_value(ms, x[start + j * inner]);
    partial[ty][tx] = ms;
    __syncthreads();
    MaxSum<T> total = partial[0][tx];
    for (int s = 1; s < kColumnSlices; ++s) total = combine(total, partial[s][tx]);
    __syncthreads();  // partial is rewritten by the next tile
    const T log_sum = log_sum_of(total);
    if (live)
      for (int64_t j = ty; j < dim; j += kColumnSlices) {
        const int64_t at = start + j * inner;
        const T log_p = (x[at] - total.max) - log_sum;
        y[at] = log ? log_p : exp_of(log_p);
      }
  }
}

template <typename T>
__global__ void __launch_bounds__(kColumnTile* kColumnSlices)
    softmax_backward_columns(const T* __restrict__ y, const T* __restrict__ dy, int64_t columns, int64_t dim,
                             int64_t inner, bool log, T* __restrict__ dx) {
  __shared__ T partial[kColumnSlices][kColumnTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t tiles = (columns + kColumnTile - 1) / kColumnTile;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t c = tile * kColumnTile + tx;
    const bool live = c < columns;
    const int64_t start = live ? column_start(c, dim, inner) : 0;
    T dot = 0;
    if (live)
      for (int64_t j = ty; j < dim; j += kColumnSlices) {
        const int64_t at = start + j * inner;
        dot += log ? dy[at] : dy[at] * y[at];
      }
    partial[ty][tx] = dot;
    __syncthreads();
    T total = partial[0][tx];
    for (int s = 1; s < kColumnSlices; ++s) total += partial[s][tx];
    __syncthreads();
    if (live)
      for (int64_t j = ty; j < dim; j += kColumnSlices) {
        const int64_t at = start + j * inner;
        dx[at] = log ? dy[at] - exp_of(y[at]) * total : y[at] * (dy[at] - total);
      }
  }
}

// ---- cross-entropy ------------------------------------------------------------------------------

// One row's statistics and loss. kWholeBlock: the block shares the row (long rows);
// otherwise each warp has its own row. The row loop is uniform over whoever shares a row.
// per_row_loss[r] = (row_max - logits[r, t_r]) + row_log_sum, in double from the stored
// (rounded) row_max and row_log_sum, exactly as the CPU forms it.
template <typename T, bool kWholeBlock>
__global__ void cross_entropy_row_stats(const T* __restrict__ logits, const int64_t* __restrict__ targets, int64_t rows,
                                        int64_t classes, T* __restrict__ row_max, T* __restrict__ row_log_sum,
                                        double* __restrict__ per_row_loss) {
  __shared__ MaxSum<T> scratch[kLongRowThreads / kWarpSize];
  const int lane = threadIdx.x % kWarpSize;
  const int rows_per_block = kWholeBlock ? 1 : static_cast<int>(blockDim.x / kWarpSize);
  const int rank = kWholeBlock ? static_cast<int>(threadIdx.x) : lane;  // position within the row's group
  const int group = kWholeBlock ? static_cast<int>(blockDim.x) : kWarpSize;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * rows_per_block + (kWholeBlock ? 0 : threadIdx.x / kWarpSize);
  for (int64_t r = first; r < rows; r += static_cast<int64_t>(gridDim.x) * rows_per_block) {
    const T* row = logits + r * classes;
    MaxSum<T> ms = empty_max_sum<T>();
#pragma unroll 4
    for (int64_t c = rank; c < classes; c += group) add_value(ms, row[c]);
    ms = kWholeBlock ? block_combine(ms, scratch) : warp_combine(ms);
    if (rank == 0) {
      const T m = ms.max, log_sum = log_sum_of(ms);
      row_max[r] = m;
      row_log_sum[r] = log_sum;
      const int64_t t = targets[r];
      // The op checked the range on the host; a bad index still must not read out of bounds.
      per_row_loss[r] = (t >= 0 && t < classes)
                            ? (static_cast<double>(m) - static_cast<double>(row[t])) + static_cast<double>(log_sum)
                            : static_cast<double>(NAN);
    }
  }
}

// Short rows (classes <= short_row_max_dim): the statistics of cross_entropy_row_stats, but
// with the row held in registers as in softmax_forward_short_rows. The online version above
// keeps one scalar load per lane in flight and a serial, branchy (max, sum) chain; here each
// lane issues all of its (16-byte) loads at once, so a warp has the whole row in flight (4 KiB
// for 1024 floats) and the logits stream at copy speed. Two passes over registers: max, then
// sum of exp(x - max), the CPU's own order of operations.
template <typename T, int kElems, int kVec>
__global__ void __launch_bounds__(kRowThreads)
    cross_entropy_row_stats_short(const T* __restrict__ logits, const int64_t* __restrict__ targets, int64_t rows,
                                  int64_t classes, T* __restrict__ row_max, T* __restrict__ row_log_sum,
                                  double* __restrict__ per_row_loss) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_in_grid = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize; r < rows;
       r += warps_in_grid) {
    const T* row = logits + r * classes;
    T v[kElems];
    // Padding slots hold -inf: they leave the max alone and are skipped by the sum.
    load_row<T, kElems, kVec>(row, classes, lane, minus_infinity<T>(), v);
    T m = minus_infinity<T>();
#pragma unroll
    for (int e = 0; e < kElems; ++e) m = max_of(m, v[e]);
    m = warp_max(m);
    T sum = 0;
#pragma unroll
    for (int e = 0; e < kElems; ++e)
      if (lane_element<kVec>(lane, e / kVec, e % kVec) < classes) sum += exp_of(v[e] - m);
    sum = warp_sum(sum);
    if (lane == 0) {
      const T log_sum = log_sum_of(MaxSum<T>{m, sum});
      row_max[r] = m;
      row_log_sum[r] = log_sum;
      const int64_t t = targets[r];
      // The op checked the range on the host; a bad index still must not read out of bounds.
      per_row_loss[r] = (t >= 0 && t < classes)
                            ? (static_cast<double>(m) - static_cast<double>(row[t])) + static_cast<double>(log_sum)
                            : static_cast<double>(NAN);
    }
  }
}

// loss[0] = mean of `count` values, summed by one block in a fixed order: each thread a
// strided slice in sequence, then a tree over the threads in index order. The slice is
// loaded kMeanBatch values at a time before they are added (in the same order), so one
// block keeps enough loads in flight; one at a time it would wait a memory latency per value.
constexpr int kMeanBatch = 8;
template <typename T>
__global__ void __launch_bounds__(kMeanThreads) mean_in_fixed_order(const double* __restrict__ values, int64_t count,
                                                                     T* __restrict__ loss) {
  __shared__ double partial[kMeanThreads];
  double mine = 0;
  for (int64_t base = threadIdx.x; base < count; base += static_cast<int64_t>(kMeanThreads) * kMeanBatch) {
    double batch[kMeanBatch];
#pragma unroll
    for (int b = 0; b < kMeanBatch; ++b) {
      const int64_t i = base + static_cast<int64_t>(b) * kMeanThreads;
      batch[b] = i < count ? values[i] : 0.0;
    }
#pragma unroll
    for (int b = 0; b < kMeanBatch; ++b)
      if (base + static_cast<int64_t>(b) * kMeanThreads < count) mine += batch[b];
  }
  partial[threadIdx.x] = mine;
  __syncthreads();
  for (int stride = kMeanThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) loss[0] = static_cast<T>(partial[0] / static_cast<double>(count));
}

// dlogits[r, c] = (exp((x - row_max) - row_log_sum) - [c == t_r]) * grad_loss[0] / rows.
// Purely elementwise given the row statistics; a warp (or, for long rows, a block) per row.
template <typename T, bool kWholeBlock>
__global__ void cross_entropy_backward_rows(const T* __restrict__ logits, const int64_t* __restrict__ targets,
                                            const T* __restrict__ row_max, const T* __restrict__ row_log_sum,
                                            int64_t rows, int64_t classes, const T* __restrict__ grad_loss,
                                            T* __restrict__ dlogits) {
  const int lane = threadIdx.x % kWarpSize;
  const int rows_per_block = kWholeBlock ? 1 : static_cast<int>(blockDim.x / kWarpSize);
  const int rank = kWholeBlock ? static_cast<int>(threadIdx.x) : lane;
  const int group = kWholeBlock ? static_cast<int>(blockDim.x) : kWarpSize;
  const T scale = static_cast<T>(static_cast<double>(grad_loss[0]) / static_cast<double>(rows));
  const int64_t first = static_cast<int64_t>(blockIdx.x) * rows_per_block + (kWholeBlock ? 0 : threadIdx.x / kWarpSize);
  for (int64_t r = first; r < rows; r += static_cast<int64_t>(gridDim.x) * rows_per_block) {
    const T* row = logits + r * classes;
    T* out = dlogits + r * classes;
    const T m = row_max[r], log_sum = row_log_sum[r];
    const int64_t t = targets[r];
    for (int64_t c = rank; c < classes; c += group) {
      const T p = exp_of((row[c] - m) - log_sum);
      out[c] = (p - (c == t ? T(1) : T(0))) * scale;
    }
  }
}

// Rows up to this many classes get a warp each; longer ones a block.
constexpr int64_t kCrossEntropyWarpMaxClasses = 2048;

}  // namespace

// ---- host wrappers ------------------------------------------------------------------------------

template <typename T>
void softmax_forward(const T* x, int64_t outer, int64_t dim, int64_t inner, bool log, T* y) {
  if (outer <= 0 || dim <= 0 || inner <= 0) return;  // no elements, nothing to launch
  if (inner == 1 && dim <= short_row_max_dim<T>()) {
    const bool vectors = dim % (16 / sizeof(T)) == 0 && aligned16(x) && aligned16(y);
    const unsigned grid = grid_for(outer * kWarpSize, kRowThreads);
    with_short_row_shape<T>(dim, vectors, [&](auto elems, auto vec) {
      softmax_forward_short_rows<T, decltype(elems)::value, decltype(vec)::value>
          <<<grid, kRowThreads, 0, stream()>>>(x, outer, dim, log, y);
      check_launch("softmax_forward_short_rows");
    });
  } else if (inner == 1) {
    const unsigned grid = grid_for(outer * kLongRowThreads, kLongRowThreads);
    softmax_forward_long_rows<T><<<grid, kLongRowThreads, 0, stream()>>>(x, outer, dim, log, y);
    check_launch("softmax_forward_long_rows");
  } else {
    const int64_t columns = outer * inner;
    const unsigned grid = grid_for(columns * kColumnSlices, kColumnTile * kColumnSlices);  // one block per 32 columns
    softmax_forward_columns<T>
        <<<grid, dim3(kColumnTile, kColumnSlices), 0, stream()>>>(x, columns, dim, inner, log, y);
    check_launch("softmax_forward_columns");
  }
}

template <typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t dim, int64_t inner, bool log, T* dx) {
  if (outer <= 0 || dim <= 0 || inner <= 0) return;
  if (inner == 1 && dim <= short_row_max_dim<T>()) {
    const bool vectors = dim % (16 / sizeof(T)) == 0 && aligned16(y) && aligned16(dy) && aligned16(dx);
    const unsigned grid = grid_for(outer * kWarpSize, kRowThreads);
    with_short_row_shape<T>(dim, vectors, [&](auto elems, auto vec) {
      softmax_backward_short_rows<T, decltype(elems)::value, decltype(vec)::value>
          <<<grid, kRowThreads, 0, stream()>>>(y, dy, outer, dim, log, dx);
      check_launch("softmax_backward_short_rows");
    });
  } else if (inner == 1) {
    const unsigned grid = grid_for(outer * kLongRowThreads, kLongRowThreads);
    softmax_backward_long_rows<T><<<grid, kLongRowThreads, 0, stream()>>>(y, dy, outer, dim, log, dx);
    check_launch("softmax_backward_long_rows");
  } else {
    const int64_t columns = outer * inner;
    const unsigned grid = grid_for(columns * kColumnSlices, kColumnTile * kColumnSlices);
    softmax_backward_columns<T>
        <<<grid, dim3(kColumnTile, kColumnSlices), 0, stream()>>>(y, dy, columns, dim, inner, log, dx);
    check_launch("softmax_backward_columns");
  }
}

template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* targets, int64_t rows, int64_t classes, T* row_max,
                           T* row_log_sum, T* loss) {
  SC_CHECK(rows > 0 && classes > 0, "cross_entropy_forward (CUDA): needs rows > 0 and classes > 0, got rows = ", rows,
           ", classes = ", classes);
  DeviceBuffer per_row_loss(static_cast<size_t>(rows) * sizeof(double));
  if (classes <= short_row_max_dim<T>()) {
    // The common case ([batch, classes]): the row in registers, loaded as 16-byte vectors
    // when every row starts aligned.
    const bool vectors = classes % (16 / sizeof(T)) == 0 && aligned16(logits);
    const unsigned grid = grid_for(rows * kWarpSize, kRowThreads);
    with_short_row_shape<T>(classes, vectors, [&](auto elems, auto vec) {
      cross_entropy_row_stats_short<T, decltype(elems)::value, decltype(vec)::value><<<grid, kRowThreads, 0, stream()>>>(
          logits, targets, rows, classes, row_max, row_log_sum, per_row_loss.as<double>());
    });
  } else if (classes <= kCrossEntropyWarpMaxClasses) {
    const unsigned grid = grid_for(rows * kWarpSize, kRowThreads);
    cross_entropy_row_stats<T, false><<<grid, kRowThreads, 0, stream()>>>(logits, targets, rows, classes, row_max,
                                                                          row_log_sum, per_row_loss.as<double>());
  } else {
    const unsigned grid = grid_for(rows * kLongRowThreads, kLongRowThreads);
    cross_entropy_row_stats<T, true><<<grid, kLongRowThreads, 0, stream()>>>(logits, targets, rows, classes, row_max,
                                                                             row_log_sum, per_row_loss.as<double>());
  }
  check_launch("cross_entropy_row_stats");
  mean_in_fixed_order<T><<<1, kMeanThreads, 0, stream()>>>(per_row_loss.as<double>(), rows, loss);
  check_launch("mean_in_fixed_order");
}

template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* targets, const T* row_max, const T* row_log_sum,
                            int64_t rows, int64_t classes, const T* grad_loss, T* dlogits) {
  if (rows <= 0 || classes <= 0) return;
  if (classes <= kCrossEntropyWarpMaxClasses) {
    const unsigned grid = grid_for(rows * kWarpSize, kRowThreads);
    cross_entropy_backward_rows<T, false><<<grid, kRowThreads, 0, stream()>>>(logits, targets, row_max, row_log_sum,
                                                                              rows, classes, grad_loss, dlogits);
  } else {
    const unsigned grid = grid_for(rows * kLongRowThreads, kLongRowThreads);
    cross_entropy_backward_rows<T, true><<<grid, kLongRowThreads, 0, stream()>>>(
        logits, targets, row_max, row_log_sum, rows, classes, grad_loss, dlogits);
  }
  check_launch("cross_entropy_backward_rows");
}

#define SC_INSTANTIATE_SOFTMAX(T)                                                                                  \
  template void softmax_forward<T>(const T*, int64_t, int64_t, int64_t, bool, T*);                                 \
  template void softmax_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, bool, T*);                      \
  template void cross_entropy_forward<T>(const T*, const int64_t*, int64_t, int64_t, T*, T*, T*);                  \
  template void cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, int64_t, int64_t, const T*, \
                                          T*);
SC_INSTANTIATE_SOFTMAX(float)
SC_INSTANTIATE_SOFTMAX(double)
#undef SC_INSTANTIATE_SOFTMAX

}  // namespace sc::kernels::cuda
