// Row reductions on the GPU: sum_rows, max_rows and max's backward scatter_rows
// (contracts in kernels/reduce.h; kernels/cpu/reduce.cpp is the reference).
//
// sum and max share one set of kernels, written over a "reducer" that says what a row
// reduces to:
//   Acc        the running value (double for sums, value + index for max)
//   identity() the value of an empty range
//   element(row, c), combine(a, b), shuffle_down(a, delta), store(r, acc)
//
// The work is cut into a fixed partition that depends only on (rows, cols), never on the GPU
// or on timing, and every partial result is combined in a fixed order. A float sum is
// therefore the same bits on every run (no atomics anywhere). The partitions:
//   cols <= 1024     one warp per row: lanes stride along the row, then a shuffle tree.
//   longer rows      one block per (row, chunk): a row is cut into `chunks` pieces when there
//                    are too few rows to fill the GPU; each block writes one partial, and a
//                    second kernel combines a row's partials in chunk order.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/reduce.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = kThreads / kWarpSize;
constexpr unsigned kFullMask = 0xffffffffu;
// Rows up to this long get one warp each (at most 32 elements per lane).
constexpr int64_t kWarpRowMaxCols = 1024;
// Long rows are split until about this many blocks exist, but no chunk is shorter than
// kMinChunk elements (16 per thread), so the second pass stays small.
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMinChunk = 4096;

// ---- the reducers -------------------------------------------------------------------------

// Sum, accumulated in double for float input as on the CPU (float32 sums of many terms
// lose digits otherwise).
template <typename T>
struct SumReducer {
  using Acc = double;
  T* out;
  __device__ Acc identity() const { return 0.0; }
  __device__ Acc element(const T* row, int64_t c) const { return static_cast<double>(row[c]); }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ Acc shuffle_down(Acc a, int delta) const { return __shfl_down_sync(kFullMask, a, delta); }
  __device__ void store(int64_t r, Acc a) const { out[r] = static_cast<T>(a); }
};

// A candidate for a row's max. A plain struct (no constructor) so it can live in __shared__.
template <typename T>
struct ValueIndex {
  T value;
  int64_t index;  // -1: no element seen yet
};

// Max with its index. The row's answer is the first NaN if it has one (NaN counts as the
// max, as on the CPU), else the first element holding the largest value. That is the top
// of a total order (NaN above all numbers, then larger values, then smaller indices), so
// combining candidates in any order gives the same answer.
template <typename T>
struct MaxReducer {
  using Acc = ValueIndex<T>;
  T* values;
  int64_t* indices;
  __device__ Acc identity() const { return Acc{T(0), -1}; }
  __device__ Acc element(const T* row, int64_t c) const { return Acc{row[c], c}; }
  __device__ Acc combine(Acc a, Acc b) const {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool a_nan = isnan(a.value), b_nan = isnan(b.value);
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.value != b.value) return a.value > b.value ? a : b;
    return a.index < b.index ? a : b;  // equal values (or both NaN): the first one
  }
  __device__ Acc shuffle_down(Acc a, int delta) const {
    const long long index = __shfl_down_sync(kFullMask, static_cast<long long>(a.index), delta);
    return Acc{__shfl_down_sync(kFullMask, a.value, delta), static_cast<int64_t>(index)};
  }
  __device__ void store(int64_t r, Acc a) const {
    values[r] = a.value;
    indices[r] = a.index;
  }
};

// ---- warp and block reductions (fixed trees) --------------------------------------------------

// Lane 0 ends with the combination of all 32 lanes' values. Every lane must take part.
template <typename R>
__device__ typename R::Acc warp_reduce(const R& r, typename R::Acc acc) {
#pragma unroll
  for (int delta = kWarpSize / 2; delta > 0; delta /= 2) acc = r.combine(acc, r.shuffle_down(acc, delta));
  return acc;
}

// Thread 0 ends with the combination of the whole block's values: each warp reduces its own,
// warp 0 reduces the warps' results in warp order. Every thread of the block must call it.
template <typename R>
__device__ typename R::Acc block_reduce(const R& r, typename R::Acc acc, typename R::Acc* warp_results) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  acc = warp_reduce(r, acc);
  if (lane == 0) warp_results[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < kWarpsPerBlock ? warp_results[lane] : r.identity();
    acc = warp_reduce(r, acc);
  }
  return acc;
}

// Combines element(row, c) for c = start, start + step, ... < end into a fresh Acc, in that
// order. Four loads are issued before their four combines, so more memory requests are in
// flight per thread; the order of the combines (and so the result) is that of a plain loop.
template <typename T, typename R>
__device__ typename R::Acc accumulate(const R& r, const T* row, int64_t start, int64_t end, int64_t step) {
  typename R::Acc acc = r.identity();
  int64_t c = start;
  for (; c + 3 * step < end; c += 4 * step) {
    const typename R::Acc x0 = r.element(row, c), x1 = r.element(row, c + step);
    const typename R::Acc x2 = r.element(row, c + 2 * step), x3 = r.element(row, c + 3 * step);
    acc = r.combine(acc, x0);
    acc = r.combine(acc, x1);
    acc = r.combine(acc, x2);
    acc = r.combine(acc, x3);
  }
  for (; c < end; c += step) acc = r.combine(acc, r.element(row, c));
  return acc;
}

// ---- the kernels ------------------------------------------------------------------------------

// One warp per row (grid-stride over rows). For rows of up to kWarpRowMaxCols elements.
template <typename T, typename R>
__global__ void reduce_rows_by_warp(const T* in, int64_t rows, int64_t cols, R r) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t first_warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / kWarpSize;
  for (int64_t row = first_warp; row < rows; row += warps) {  // the same row for all lanes
    typename R::Acc acc = accumulate(r, in + row * cols, lane, cols, kWarpSize);
    acc = warp_reduce(r, acc);
    if (lane == 0) r.store(row, acc);
  }
}

// One block per task = (row, chunk); chunk k of a row covers [k * chunk_len, (k+1) * chunk_len).
// With one chunk per row the block stores the row's result; otherwise it writes its partial
// to partials[task] (task = row * chunks + chunk) for combine_partials.
template <typename T, typename R>
__global__ void reduce_chunks_by_block(const T* in, int64_t rows, int64_t cols, int64_t chunks, int64_t chunk_len,
                                       typename R::Acc* partials, R r) {
  __shared__ typename R::Acc warp_results[kWarpsPerBlock];
  const int64_t tasks = rows * chunks;
  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {  // the same task for the whole block
    const int64_t row = task / chunks, chunk = task % chunks;
    const int64_t begin = chunk * chunk_len;
    const int64_t end = begin + chunk_len < cols ? begin + chunk_len : cols;
    typename R::Acc acc = accumulate(r, in + row * cols, begin + threadIdx.x, end, blockDim.x);
    acc = block_reduce(r, acc, warp_results);
    if (threadIdx.x == 0) {
      if (partials != nullptr)
        partials[task] = acc;
      else
        r.store(row, acc);
    }
    __syncthreads();  // warp_results is written again by the next task
  }
}

// Second pass: one thread per row combines the row's partials in chunk order.
template <typename R>
__global__ void combine_partials(const typename R::Acc* partials, int64_t rows, int64_t chunks, R r) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; row < rows; row += step) {
    typename R::Acc acc = r.identity();
    for (int64_t k = 0; k < chunks; ++k) acc = r.combine(acc, partials[row * chunks + k]);
    r.store(row, acc);
  }
}

// Picks the partition for [rows, cols] and launches; the reducer's store() writes the output.
template <typename T, typename R>
void reduce_rows(const T* in, int64_t rows, int64_t cols, const R& r) {
  using Acc = typename R::Acc;
  if (rows == 0) return;
  if (cols <= kWarpRowMaxCols) {
    reduce_rows_by_warp<<<grid_for(rows * kWarpSize, kThreads), kThreads, 0, stream()>>>(in, rows, cols, r);
    check_launch("reduce_rows_by_warp");
    return;
  }
  int64_t chunks = 1;
  if (rows < kTargetBlocks) chunks = std::min(ceil_div(kTargetBlocks, rows), ceil_div(cols, kMinChunk));
  const int64_t chunk_len = ceil_div(cols, chunks);
  chunks = ceil_div(cols, chunk_len);  // no empty chunk at the end
  const int64_t tasks = rows * chunks;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(tasks, static_cast<int64_t>(sm_count()) * 16));
  if (chunks == 1) {
    reduce_chunks_by_block<<<grid, kThreads, 0, stream()>>>(in, rows, cols, chunks, chunk_len,
                                                            static_cast<Acc*>(nullptr), r);
    check_launch("reduce_chunks_by_block");
    return;
  }
  // Freed when this function returns, while the kernels may still be queued: safe, because
  // the caching allocator only hands the block to later work on the same stream.
  DeviceBuffer partials(static_cast<size_t>(tasks) * sizeof(Acc));
  reduce_chunks_by_block<<<grid, kThreads, 0, stream()>>>(in, rows, cols, chunks, chunk_len, partials.as<Acc>(), r);
  check_launch("reduce_chunks_by_block");
  combine_partials<<<grid_for(rows, kThreads), kThreads, 0, stream()>>>(partials.as<Acc>(), rows, chunks, r);
  check_launch("combine_partials");
}

// out[r, c] = grad[r] where c == indices[r], else 0: one thread per output element.
template <typename T>
__global__ void scatter_rows_kernel(const T* grad, const int64_t* indices, int64_t rows, int64_t cols, T* out) {
  const int64_t n = rows * cols;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += step) {
    const int64_t row = i / cols, c = i - row * cols;
    out[i] = indices[row] == c ? grad[row] : T(0);
  }
}

}  // namespace

template <typename T>
void sum_rows(const T* in, int64_t rows, int64_t cols, T* out) {
  reduce_rows(in, rows, cols, SumReducer<T>{out});  // cols == 0 gives 0 (the warp path)
}

template <typename T>
void max_rows(const T* in, int64_t rows, int64_t cols, T* values, int64_t* indices) {
  if (cols == 0) return;  // an empty row has no max; the op refuses it before calling
  reduce_rows(in, rows, cols, MaxReducer<T>{values, indices});
}

template <typename T>
void scatter_rows(const T* grad, const int64_t* indices, int64_t rows, int64_t cols, T* out) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  scatter_rows_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(grad, indices, rows, cols, out);
  check_launch("scatter_rows");
}

template void sum_rows<float>(const float*, int64_t, int64_t, float*);
template void sum_rows<double>(const double*, int64_t, int64_t, double*);
template void max_rows<float>(const float*, int64_t, int64_t, float*, int64_t*);
template void max_rows<double>(const double*, int64_t, int64_t, double*, int64_t*);
template void scatter_rows<float>(const float*, const int64_t*, int64_t, int64_t, float*);
template void scatter_rows<double>(const double*, const int64_t*, int64_t, int64_t, double*);

}  // namespace sc::kernels::cuda
