// The fused NT-Xent loss on the GPU (contract in kernels/nt_xent.h). The CPU reference
// (kernels/cpu/nt_xent.cpp) builds the whole rows x rows matrix S = zn zn^T / t; these
// kernels never do: they compute S one 64 x 64 tile at a time, use it, and drop it.
//
// Tiling. Rows are cut into tiles of 64. A block owns one "row tile" I and walks a range
// of 64-row "column tiles" K in a fixed order. For each (I, K) it computes the tile
// S_IK = zn_I zn_K^T / t as a small GEMM:
//   * zn_I and zn_K are staged in shared memory 512 bytes of d at a time (128 floats or 64
//     doubles per row): each tile row is one contiguous line, padded by 16 bytes, filled
//     with 16-byte vector loads (a warp reads 512 contiguous bytes).
//   * The 256 threads form a 16 x 16 grid. Thread (ty, tx) owns rows ty + 16a and columns
//     tx + 16b of the tile (a, b < 4): 16 values of S in registers ("register blocking"),
//     64 float fma for every 8 shared-memory reads of 16 bytes. Neighbouring lines sit 4
//     banks apart thanks to the pad, so the 16 column lines a warp reads at once hit
//     different banks; the 2 row lines it reads are broadcasts.
//   * Each S value is a fixed sequence of fma over d in order 0..d-1, so S_ik and S_ki are
//     the same bits, and the backward recomputes exactly the forward's S.
//
// Forward: for each of its 4 rows a thread keeps a running (max, sum of exp) over the
// columns it has seen: the online softmax, where a larger max rescales the sum by
// exp(old_max - new_max). The sum is kept in double, the exponentials are taken in the
// input's type. The 16 threads sharing a row combine by shuffles, and the block writes one
// (max, sum) per row for its column range. A one-block kernel combines the ranges of each
// row in range order, stores row_max and row_log_sum, and sums lse_i - S_i,pos(i) in
// double in a fixed order for the mean. S_i,pos(i) is taken from the tile that holds it.
//
// Backward: the same S tiles again; from them and the forward's row statistics
//   W_ik = P_ik + P_ki - 2 [k == pos(i)]  (W_ii = 0),   P_ik = exp(S_ik - lse_i),
// and dzn_I += W_IK zn_K, a second small GEMM against the zn_K tile already in shared
// memory (W goes through shared memory too). Then dzn = W zn * grad / (rows * t). A block
// accumulates 128 float (64 double) columns of dzn in registers; for larger d, blocks for
// the other column chunks each recompute S (the d = 128 target needs one). This is
// the CPU's (dS + dS^T) zn / t written out: dS_ik + dS_ki = (P_ik + P_ki - 2[k == pos(i)])
// * g / rows because pos is symmetric (pos(k) == i exactly when k == pos(i)).
//
// Parallelism and memory. One block per row tile is too few blocks for small batches
// (2N = 512 is 8 row tiles), so the column tiles are split into `ranges` when the row tiles
// alone would leave resident block slots empty. Every output is still owned by one thread
// and every sum runs in a fixed order: results are the same bits on every run (they may
// differ from one GPU model to another, as the split follows the SM count). Extra memory:
// forward, (max, sum) per row and range; backward with ranges > 1, one partial dzn per range,
// summed in range order by a second kernel. Ranges are only used while the (row tile, d chunk)
// blocks number fewer than the resident slots, so the partials stay below about
// 1.5 x slots x 64 x 128 values (about 13 MB in float on an H100), whatever rows and d.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/nt_xent.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kTile = 64;                  // rows in a row tile, columns in a column tile
constexpr int kSide = 16;                  // the 16 x 16 thread grid
constexpr int kThreads = kSide * kSide;    // 256
constexpr int kPerThread = kTile / kSide;  // each thread: 4 rows x 4 columns of S
constexpr int kChunkBytes = 512;           // bytes of d staged per row at a time
constexpr int kFinishThreads = 1024;       // the forward's combining block (power of two)
constexpr int kSumThreads = 256;

// Sizes that depend on the element type; every staged line is a whole number of 16-byte vectors.
template <typename T>
struct TileShape {
  static constexpr int kVec = 16 / sizeof(T);             // elements per 16-byte vector
  static constexpr int kChunk = kChunkBytes / sizeof(T);  // d-columns staged at once: 128 float, 64 double
  static constexpr int kChunkVecs = kChunk / kVec;        // 32 vectors per staged line
  static constexpr int kStride = kChunk + kVec;           // staged line + 16-byte pad
  static constexpr int kWStride = kTile + kVec;           // W line + 16-byte pad
  static constexpr int kOutVecs = kChunkVecs / kSide;     // backward: output vectors per thread (2)
  static constexpr size_t kStagedBytes = sizeof(T) * kTile * kStride;
  static constexpr size_t kWBytes = sizeof(T) * kTile * kWStride;
};

__device__ __forceinline__ float exp_of(float x) { return expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }
__device__ __forceinline__ float fma_of(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double fma_of(double a, double b, double c) { return fma(a, b, c); }
__device__ __forceinline__ float max_of(float a, float b) { return fmaxf(a, b); }  // ignores NaN, as std::fmax
__device__ __forceinline__ double max_of(double a, double b) { return fmax(a, b); }
template <typename T>
__device__ __forceinline__ T minus_infinity() {
  return -static_cast<T>(INFINITY);
}

__device__ __forceinline__ int64_t positive_of(int64_t i, int64_t rows) { return (i + rows / 2) % rows; }

// Merges two running (max, sum of exp(x - max)) pairs; an empty pair is (-inf, 0).
// Symmetric in its arguments bit for bit, so shuffle butterflies agree on every lane.
template <typename T>
__device__ __forceinline__ void combine(T& max_so_far, double& sum_so_far, T other_max, double other_sum) {
  const T m = max_of(max_so_far, other_max);
  if (m == minus_infinity<T>()) {  // both empty
    max_so_far = m;
    sum_so_far = 0.0;
    return;
  }
  const double mine = max_so_far == minus_infinity<T>()
                          ? 0.0
                          : sum_so_far * exp(static_cast<double>(max_so_far) - static_cast<double>(m));
  const double theirs =
      other_max == minus_infinity<T>() ? 0.0 : other_sum * exp(static_cast<double>(other_max) - static_cast<double>(m));
  max_so_far = m;
  sum_so_far = mine + theirs;
}

// ---- staging and the S tile ------------------------------------------------------------------

// Copies rows [first_row, first_row + 64) and the d-columns [c0, c0 + nvec * kVec) of zn
// into `tile` (line stride kStride). Rows past `rows` and columns past d are written as
// zeros, so they add nothing to a dot product. `vectors`: d % kVec == 0 and zn is 16-byte
// aligned, so a vector that starts inside a row lies wholly inside it.
template <typename T>
__device__ void stage_tile(const T* __restrict__ zn, int64_t rows, int64_t d, int64_t first_row, int64_t c0, int nvec,
                           bool vectors, T* tile) {
  using S = TileShape<T>;
  for (int e = threadIdx.x; e < kTile * nvec; e += kThreads) {
    const int r = e / nvec, v = e % nvec;  // a warp takes consecutive vectors of one line
    const int64_t row = first_row + r;
    const int64_t col = c0 + static_cast<int64_t>(v) * S::kVec;
    Pack<T, S::kVec> p;
    if (vectors && row < rows && col < d) {
      p = load_pack<T, S::kVec>(zn + row * d + col);
    } else {
#pragma unroll
      for (int q = 0; q < S::kVec; ++q) p.v[q] = (row < rows && col + q < d) ? zn[row * d + col + q] : T(0);
    }
    store_pack<T, S::kVec>(tile + r * S::kStride + v * S::kVec, p);
  }
}

// dot[a][b] = zn_i . zn_k for i = row0 + ty + 16a, k = col0 + tx + 16b (rows past `rows`
// give 0). Stages zn_K (and zn_I unless `a_resident`: then As already holds all of it)
// chunk by chunk; on return Bs holds the last chunk of zn_K, and the block is synchronised.
template <typename T>
__device__ void dot_tile(const T* __restrict__ zn, int64_t rows, int64_t d, int64_t row0, int64_t col0, bool vectors,
                         bool a_resident, T* As, T* Bs, T (&dot)[kPerThread][kPerThread]) {
  using S = TileShape<T>;
  const int ty = threadIdx.x / kSide, tx = threadIdx.x % kSide;
#pragma unroll
  for (int a = 0; a < kPerThread; ++a)
#pragma unroll
    for (int b = 0; b < kPerThread; ++b) dot[a][b] = T(0);
  for (int64_t c0 = 0; c0 < d; c0 += S::kChunk) {
    const int64_t width = d - c0 < S::kChunk ? d - c0 : S::kChunk;
    const int nvec = static_cast<int>((width + S::kVec - 1) / S::kVec);
    if (!a_resident) stage_tile(zn, rows, d, row0, c0, nvec, vectors, As);
    stage_tile(zn, rows, d, col0, c0, nvec, vectors, Bs);
    __syncthreads();
    // Not unrolled: unrolling costs registers (the float forward stays at ~80, so 3 blocks
    // fit on an SM; the backward within the 128 that 2 blocks per SM allow).
#pragma unroll 1
    for (int v = 0; v < nvec; ++v) {
      Pack<T, S::kVec> row_part[kPerThread], col_part[kPerThread];
#pragma unroll
      for (int a = 0; a < kPerThread; ++a)
        row_part[a] = load_pack<T, S::kVec>(As + (ty + kSide * a) * S::kStride + v * S::kVec);
#pragma unroll
      for (int b = 0; b < kPerThread; ++b)
        col_part[b] = load_pack<T, S::kVec>(Bs + (tx + kSide * b) * S::kStride + v * S::kVec);
      // q outermost: each dot[a][b] adds its terms in d order.
#pragma unroll
      for (int q = 0; q < S::kVec; ++q)
#pragma unroll
        for (int a = 0; a < kPerThread; ++a)
#pragma unroll
          for (int b = 0; b < kPerThread; ++b) dot[a][b] = fma_of(row_part[a].v[q], col_part[b].v[q], dot[a][b]);
    }
    __syncthreads();  // the next chunk (or tile) overwrites As and Bs
  }
}

// ---- forward ----------------------------------------------------------------------------------

// Block (row tile blockIdx.x, column range blockIdx.y): writes for each of its rows i the
// pair (max, sum of exp(S_ik - max)) over the range's columns k != i, at [range * rows + i],
// and S_i,pos(i) when pos(i) falls in the range.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    nt_xent_forward_ranges(const T* __restrict__ zn, int64_t rows, int64_t d, T inv_t, int64_t tiles_per_range,
                           bool vectors, T* __restrict__ range_max, double* __restrict__ range_sum,
                           T* __restrict__ positive_sim) {
  using S = TileShape<T>;
  extern __shared__ __align__(16) unsigned char nt_xent_forward_shared[];
  T* As = reinterpret_cast<T*>(nt_xent_forward_shared);
  T* Bs = As + kTile * S::kStride;
  const int ty = threadIdx.x / kSide, tx = threadIdx.x % kSide;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t range = blockIdx.y;
  const int64_t col_tiles = (rows + kTile - 1) / kTile;
  const int64_t first_tile = range * tiles_per_range;
  const int64_t end_tile = first_tile + tiles_per_range < col_tiles ? first_tile + tiles_per_range : col_tiles;
  // d fits one chunk: stage zn_I once for the whole range (dot_tile's first sync orders it).
  const bool a_resident = d <= S::kChunk;
  if (a_resident) stage_tile(zn, rows, d, row0, 0, static_cast<int>((d + S::kVec - 1) / S::kVec), vectors, As);

  T run_max[kPerThread];
  double run_sum[kPerThread];
#pragma unroll
  for (int a = 0; a < kPerThread; ++a) {
    run_max[a] = minus_infinity<T>();
    run_sum[a] = 0.0;
  }
  for (int64_t tile = first_tile; tile < end_tile; ++tile) {
    const int64_t col0 = tile * kTile;
    T s[kPerThread][kPerThread];
    dot_tile(zn, rows, d, row0, col0, vectors, a_resident, As, Bs, s);
#pragma unroll
    for (int a = 0; a < kPerThread; ++a) {
      const int64_t i = row0 + ty + kSide * a;
      const int64_t pos = positive_of(i, rows);
      bool live[kPerThread];
      T tile_max = minus_infinity<T>();
#pragma unroll
      for (int b = 0; b < kPerThread; ++b) {
        const int64_t k = col0 + tx + kSide * b;
        s[a][b] *= inv_t;  // S = (zn_i . zn_k) / t, rounded like the CPU's GEMM alpha
        live[b] = i < rows && k < rows && k != i;
        if (live[b]) tile_max = max_of(tile_max, s[a][b]);
        if (i < rows && k == pos) positive_sim[i] = s[a][b];  // exactly one thread in the grid
      }
      if (tile_max > run_max[a]) {  // rescale the sum to the new max (exp(-inf) = 0 when empty)
        run_sum[a] *= exp(static_cast<double>(run_max[a]) - static_cast<double>(tile_max));
        run_max[a] = tile_max;
      }
#pragma unroll
      for (int b = 0; b < kPerThread; ++b)
        if (live[b]) run_sum[a] += static_cast<double>(exp_of(s[a][b] - run_max[a]));
    }
  }
  // The 16 threads of a row are lanes tx = 0..15 of one half-warp: combine by xor shuffles.
#pragma unroll
  for (int a = 0; a < kPerThread; ++a) {
    T m = run_max[a];
    double sum = run_sum[a];
    for (int offset = kSide / 2; offset > 0; offset /= 2) {
      const T other_max = __shfl_xor_sync(0xffffffffu, m, offset);
      const double other_sum = __shfl_xor_sync(0xffffffffu, sum, offset);
      combine(m, sum, other_max, other_sum);
    }
    const int64_t i = row0 + ty + kSide * a;
    if (tx == 0 && i < rows) {
      range_max[range * rows + i] = m;
      range_sum[range * rows + i] = sum;
    }
  }
}

// One block: each row's ranges combined in range order into row_max / row_log_sum, then
// loss = mean_i (row_max_i - S_i,pos(i)) + row_log_sum_i, in double, in a fixed order
// (each thread a strided slice in sequence, then a tree over threads in index order).
template <typename T>
__global__ void __launch_bounds__(kFinishThreads)
    nt_xent_forward_finish(const T* __restrict__ range_max, const double* __restrict__ range_sum,
                           const T* __restrict__ positive_sim, int64_t rows, int64_t ranges, T* __restrict__ row_max,
                           T* __restrict__ row_log_sum, T* __restrict__ loss) {
  __shared__ double partial[kFinishThreads];
  double mine = 0.0;
  for (int64_t i = threadIdx.x; i < rows; i += kFinishThreads) {
    T m = minus_infinity<T>();
    double sum = 0.0;
    for (int64_t r = 0; r < ranges; ++r) combine(m, sum, range_max[r * rows + i], range_sum[r * rows + i]);
    const T stored_max = m;  // exact: one of the S values
    const T stored_log_sum = static_cast<T>(log(sum));
    row_max[i] = stored_max;
    row_log_sum[i] = stored_log_sum;
    mine += (static_cast<double>(stored_max) - static_cast<double>(positive_sim[i])) +
            static_cast<double>(stored_log_sum);
  }
  partial[threadIdx.x] = mine;
  __syncthreads();
  for (int stride = kFinishThreads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) loss[0] = static_cast<T>(partial[0] / static_cast<double>(rows));
}

// ---- backward ---------------------------------------------------------------------------------

// g / (rows * t): the factor in front of W zn.
template <typename T>
__device__ __forceinline__ T gradient_scale(const T* grad_loss, T inv_t, int64_t rows) {
  return static_cast<T>(static_cast<double>(grad_loss[0]) * static_cast<double>(inv_t) / static_cast<double>(rows));
}

// Block (row tile blockIdx.x, output d-chunk blockIdx.y, column range blockIdx.z):
//   out[range][i][c] = scale * sum over the range's k of W_ik zn_k[c]
// for its 64 rows i and the chunk's columns c. scale = g / (rows t) when there is one range
// (out is dzn), 1 otherwise (out holds per-range partials, summed by sum_ranges).
template <typename T>
__global__ void __launch_bounds__(kThreads, 2)
    nt_xent_backward_ranges(const T* __restrict__ zn, const T* __restrict__ row_max,
                            const T* __restrict__ row_log_sum, int64_t rows, int64_t d, T inv_t,
                            int64_t tiles_per_range, bool vectors, const T* __restrict__ grad_loss, bool scaled,
                            T* __restrict__ out) {
  using S = TileShape<T>;
  extern __shared__ __align__(16) unsigned char nt_xent_backward_shared[];
  T* As = reinterpret_cast<T*>(nt_xent_backward_shared);
  T* Bs = As + kTile * S::kStride;
  T* Ws = Bs + kTile * S::kStride;
  const int ty = threadIdx.x / kSide, tx = threadIdx.x % kSide;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t c_out = static_cast<int64_t>(blockIdx.y) * S::kChunk;  // first output column
  const int64_t range = blockIdx.z;
  const int64_t col_tiles = (rows + kTile - 1) / kTile;
  const int64_t first_tile = range * tiles_per_range;
  const int64_t end_tile = first_tile + tiles_per_range < col_tiles ? first_tile + tiles_per_range : col_tiles;
  const int64_t out_width = d - c_out < S::kChunk ? d - c_out : S::kChunk;
  const int out_nvec = static_cast<int>((out_width + S::kVec - 1) / S::kVec);
  const bool one_chunk = d <= S::kChunk;

  // The W zn product reads whole staged lines of Bs; columns past d may never be staged, so
  // start from zeros (and never read uninitialised shared memory).
  for (int e = threadIdx.x; e < kTile * S::kStride; e += kThreads) Bs[e] = T(0);
  __syncthreads();
  if (one_chunk) stage_tile(zn, rows, d, row0, 0, out_nvec, vectors, As);

  T my_max[kPerThread], my_log_sum[kPerThread];
#pragma unroll
  for (int a = 0; a < kPerThread; ++a) {
    const int64_t i = row0 + ty + kSide * a;
    my_max[a] = i < rows ? row_max[i] : T(0);
    my_log_sum[a] = i < rows ? row_log_sum[i] : T(0);
  }
  // acc[a][h * kVec + p]: row ty + 16a, output column c_out + (tx + 16h) * kVec + p.
  T acc[kPerThread][S::kOutVecs * S::kVec];
#pragma unroll
  for (int a = 0; a < kPerThread; ++a)
#pragma unroll
    for (int c = 0; c < S::kOutVecs * S::kVec; ++c) acc[a][c] = T(0);

  for (int64_t tile = first_tile; tile < end_tile; ++tile) {
    const int64_t col0 = tile * kTile;
    T s[kPerThread][kPerThread];
    dot_tile(zn, rows, d, row0, col0, vectors, one_chunk, As, Bs, s);
    // d spans several chunks: dot_tile left the last one in Bs; stage this block's.
    if (!one_chunk) stage_tile(zn, rows, d, col0, c_out, out_nvec, vectors, Bs);

    T col_max[kPerThread], col_log_sum[kPerThread];
#pragma unroll
    for (int b = 0; b < kPerThread; ++b) {
      const int64_t k = col0 + tx + kSide * b;
      col_max[b] = k < rows ? row_max[k] : T(0);
      col_log_sum[b] = k < rows ? row_log_sum[k] : T(0);
    }
#pragma unroll
    for (int a = 0; a < kPerThread; ++a) {
      const int64_t i = row0 + ty + kSide * a;
      const int64_t pos = positive_of(i, rows);
#pragma unroll
      for (int b = 0; b < kPerThread; ++b) {
        const int64_t k = col0 + tx + kSide * b;
        T w = T(0);
        if (i < rows && k < rows && k != i) {
          const T sik = s[a][b] * inv_t;  // the forward's S, bit for bit
          // P_ik + P_ki, each as exp((S - max) - log_sum) like the CPU
          w = exp_of((sik - my_max[a]) - my_log_sum[a]) + exp_of((sik - col_max[b]) - col_log_sum[b]);
          if (k == pos) w -= T(2);
        }
        Ws[(ty + kSide * a) * S::kWStride + tx + kSide * b] = w;
      }
    }
    __syncthreads();

    // acc += W_IK (64 x 64, Ws) times zn_K's output chunk (64 x kChunk, Bs).
#pragma unroll 2
    for (int kk = 0; kk < kTile; kk += S::kVec) {
      Pack<T, S::kVec> w[kPerThread];
#pragma unroll
      for (int a = 0; a < kPerThread; ++a) w[a] = load_pack<T, S::kVec>(Ws + (ty + kSide * a) * S::kWStride + kk);
#pragma unroll
      for (int q = 0; q < S::kVec; ++q) {
        Pack<T, S::kVec> z[S::kOutVecs];
#pragma unroll
        for (int h = 0; h < S::kOutVecs; ++h)
          z[h] = load_pack<T, S::kVec>(Bs + (kk + q) * S::kStride + (tx + kSide * h) * S::kVec);
#pragma unroll
        for (int a = 0; a < kPerThread; ++a)
#pragma unroll
          for (int h = 0; h < S::kOutVecs; ++h)
#pragma unroll
            for (int p = 0; p < S::kVec; ++p)
              acc[a][h * S::kVec + p] = fma_of(w[a].v[q], z[h].v[p], acc[a][h * S::kVec + p]);
      }
    }
    __syncthreads();  // the next tile rewrites As, Bs and Ws
  }

  const T scale = scaled ? gradient_scale(grad_loss, inv_t, rows) : T(1);
  T* dst = out + range * rows * d;
#pragma unroll
  for (int a = 0; a < kPerThread; ++a) {
    const int64_t i = row0 + ty + kSide * a;
    if (i >= rows) continue;
#pragma unroll
    for (int h = 0; h < S::kOutVecs; ++h)
#pragma unroll
      for (int p = 0; p < S::kVec; ++p) {
        const int64_t c = c_out + static_cast<int64_t>(tx + kSide * h) * S::kVec + p;
        if (c < d) dst[i * d + c] = acc[a][h * S::kVec + p] * scale;
      }
  }
}

// dzn[e] = g / (rows t) * sum over ranges r, in order, of partial[r][e].
template <typename T>
__global__ void __launch_bounds__(kSumThreads)
    sum_ranges(const T* __restrict__ partial, int64_t ranges, int64_t count, const T* __restrict__ grad_loss, T inv_t,
               int64_t rows, T* __restrict__ dzn) {
  const T scale = gradient_scale(grad_loss, inv_t, rows);
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T total = partial[e];
    for (int64_t r = 1; r < ranges; ++r) total += partial[r * count + e];
    dzn[e] = total * scale;
  }
}

// ---- launch planning ---------------------------------------------------------------------------

// How many blocks of `kernel` (with `smem` bytes of dynamic shared memory) fit on one SM.
// Also raises the kernel's dynamic shared memory limit above the default 48 KB.
template <typename Kernel>
int resident_blocks_per_sm(Kernel kernel, size_t smem) {
  SC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  int blocks = 0;
  SC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads, smem));
  SC_CHECK(blocks >= 1, "nt_xent (CUDA): a block of ", kThreads, " threads with ", smem,
           " bytes of shared memory does not fit on this GPU");
  return blocks;
}

struct ColumnRanges {
  int64_t ranges = 1;
  int64_t tiles_per_range = 1;
};

// Splits col_tiles column tiles into ranges so that row_blocks * ranges is about one full
// wave of `slots` resident blocks (no split once the row blocks alone fill the GPU).
ColumnRanges plan_ranges(int64_t row_blocks, int64_t col_tiles, int64_t slots) {
  int64_t ranges = 1;
  if (row_blocks < slots) ranges = std::max<int64_t>(1, std::llround(static_cast<double>(slots) / row_blocks));
  ranges = std::min<int64_t>({ranges, col_tiles, 65535});
  ColumnRanges plan;
  plan.tiles_per_range = ceil_div(col_tiles, ranges);
  plan.ranges = ceil_div(col_tiles, plan.tiles_per_range);  // no empty range
  return plan;
}

void check_shape(int64_t rows, int64_t d, const char* what) {
  SC_CHECK(rows >= 2 && rows % 2 == 0, what, " (CUDA): rows must be even and >= 2 (two views per image), got ", rows);
  SC_CHECK(d >= 1, what, " (CUDA): rows need at least one feature, got d = ", d);
}

}  // namespace

// ---- host wrappers ------------------------------------------------------------------------------

template <typename T>
void nt_xent_forward(const T* zn, int64_t rows, int64_t d, double inv_temperature, T* row_max, T* row_log_sum,
                     T* loss) {
  check_shape(rows, d, "nt_xent_forward");
  using S = TileShape<T>;
  const size_t smem = 2 * S::kStagedBytes;
  static const int per_sm = resident_blocks_per_sm(nt_xent_forward_ranges<T>, smem);
  const int64_t row_tiles = ceil_div(rows, kTile);
  const ColumnRanges plan = plan_ranges(row_tiles, row_tiles, static_cast<int64_t>(per_sm) * sm_count());
  const bool vectors = d % S::kVec == 0 && aligned16(zn);

  DeviceBuffer range_max(static_cast<size_t>(plan.ranges * rows) * sizeof(T));
  DeviceBuffer range_sum(static_cast<size_t>(plan.ranges * rows) * sizeof(double));
  DeviceBuffer positive_sim(static_cast<size_t>(rows) * sizeof(T));
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(plan.ranges));
  nt_xent_forward_ranges<T><<<grid, kThreads, smem, stream()>>>(
      zn, rows, d, static_cast<T>(inv_temperature), plan.tiles_per_range, vectors, range_max.as<T>(),
      range_sum.as<double>(), positive_sim.as<T>());
  check_launch("nt_xent_forward_ranges");
  nt_xent_forward_finish<T><<<1, kFinishThreads, 0, stream()>>>(range_max.as<T>(), range_sum.as<double>(),
                                                                 positive_sim.as<T>(), rows, plan.ranges, row_max,
                                                                 row_log_sum, loss);
  check_launch("nt_xent_forward_finish");
}

template <typename T>
void nt_xent_backward(const T* zn, const T* row_max, const T* row_log_sum, int64_t rows, int64_t d,
                      double inv_temperature, const T* grad_loss, T* dzn) {
  check_shape(rows, d, "nt_xent_backward");
  using S = TileShape<T>;
  const size_t smem = 2 * S::kStagedBytes + S::kWBytes;
  static const int per_sm = resident_blocks_per_sm(nt_xent_backward_ranges<T>, smem);
  const int64_t row_tiles = ceil_div(rows, kTile);
  const int64_t chunks = ceil_div(d, S::kChunk);
  SC_CHECK(chunks <= 65535, "nt_xent_backward (CUDA): d = ", d, " is too large");
  const ColumnRanges plan = plan_ranges(row_tiles * chunks, row_tiles, static_cast<int64_t>(per_sm) * sm_count());
  const bool vectors = d % S::kVec == 0 && aligned16(zn);
  const T inv_t = static_cast<T>(inv_temperature);
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(chunks), static_cast<unsigned>(plan.ranges));

  if (plan.ranges == 1) {
    nt_xent_backward_ranges<T><<<grid, kThreads, smem, stream()>>>(zn, row_max, row_log_sum, rows, d, inv_t,
                                                                   plan.tiles_per_range, vectors, grad_loss,
                                                                   /*scaled=*/true, dzn);
    check_launch("nt_xent_backward_ranges");
    return;
  }
  const int64_t count = rows * d;
  DeviceBuffer partial(static_cast<size_t>(plan.ranges * count) * sizeof(T));
  nt_xent_backward_ranges<T><<<grid, kThreads, smem, stream()>>>(zn, row_max, row_log_sum, rows, d, inv_t,
                                                                 plan.tiles_per_range, vectors, grad_loss,
                                                                 /*scaled=*/false, partial.as<T>());
  check_launch("nt_xent_backward_ranges");
  sum_ranges<T><<<grid_for(count, kSumThreads), kSumThreads, 0, stream()>>>(partial.as<T>(), plan.ranges, count,
                                                                            grad_loss, inv_t, rows, dzn);
  check_launch("sum_ranges");
}

#define SC_INSTANTIATE_NT_XENT(T)                                                                          \
  template void nt_xent_forward<T>(const T*, int64_t, int64_t, double, T*, T*, T*);                        \
  template void nt_xent_backward<T>(const T*, const T*, const T*, int64_t, int64_t, double, const T*, T*);
SC_INSTANTIATE_NT_XENT(float)
SC_INSTANTIATE_NT_XENT(double)
#undef SC_INSTANTIATE_NT_XENT

}  // namespace sc::kernels::cuda
