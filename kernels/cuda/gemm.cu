// GEMM on the GPU, hand-written: a ladder of four kernels in the manner of llm.c's
// dev/cuda files and the well-known "how to optimize a CUDA SGEMM" walk-throughs. Every
// rung is kept, so a reader can step from the obvious kernel to the fast one and see what
// each step buys:
//
//   1. Naive            one thread per element of C, reading A and B from global memory.
//   2. SharedTiled      a block stages 32x32 tiles of A and B in shared memory; each value
//                       fetched from global memory is then used 32 times.
//   3. RegisterBlocked  128x128 block tiles, each thread computes 8x8 outputs from values
//                       held in registers; float4 global loads; A's tile stored transposed.
//   4. WarpTiled        block tile -> warp tiles -> thread tiles, shared-memory reads free of
//                       bank conflicts, and double buffering with asynchronous copies
//                       (cp.async): the next tile is on its way while the current one is
//                       multiplied. Two shapes: 8 x 8 outputs per thread for small problems,
//                       8 x 16 (half the threads, twice the work each) for large ones.
//   5. TensorCoreTF32   the first tensor-core rung, opt-in (SC_GEMM_RUNG=tf32): 128 x 128
//                       block tiles in shared memory, each warp a 64 x 32 tile of 16 x 16
//                       WMMA fragments (m16n16k8, TF32 inputs: a 10-bit mantissa, FP32
//                       accumulation). Not exact FP32: its results differ from the other
//                       rungs by about 2^-11 relative per product (tests/test_cuda_gemm.cpp).
//   6. TensorCoreBF16   the same kernel with BF16 inputs (m16n16k16, an 8-bit mantissa, FP32
//                       accumulation; SC_GEMM_RUNG=bf16): twice TF32's tensor-core rate,
//                       about 2^-9 relative per input.
//
// The contract is the one of kernels/gemm.h: C = alpha * op(A) * op(B) + beta * C on
// row-major matrices, any M, N, K (edges are bounds-checked), all four transpose
// combinations (template flags, so each layout gets its own coalesced loads), batches with
// any strides (0 = one matrix reused), and beta == 0 never reads C. Rungs 1 and 2 are
// templates over the element type (float64 runs rung 2); rungs 3 and 4 are float32 only.
// Every output is summed by one thread over k in increasing order, so the results are the
// same bits from run to run.
//
// Napkin math for 4096^3 in float32: 2 * 4096^3 = 137 GFLOP. An H100 SXM does about 60
// TFLOP/s of plain FP32 FMA (132 SMs x 128 lanes x 2 flops x ~1.8 GHz), so ~2.3 ms is the
// floor; the matrices are 3 x 64 MiB, so memory traffic only matters when every value is
// re-read from memory many times (rungs 1 and 2). Rungs 1-4 are exact FP32; rung 5 and
// cuBLAS with set_allow_tf32 (kernels/gemm.h) use the TF32 tensor cores, about 8x the FMA
// peak on an H100.
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include <cuda_pipeline_primitives.h>
#include <cuda_bf16.h>
#include <mma.h>

#include "kernels/cuda/common.cuh"
#include "kernels/gemm.h"

namespace sc::kernels::cuda {

namespace {

// Everything a GEMM kernel needs, passed by value (it lands in the kernel's constant bank).
template <typename T>
struct GemmArgs {
  int64_t batch, M, N, K;
  T alpha, beta;
  const T* A;
  int64_t lda, stride_a;
  const T* B;
  int64_t ldb, stride_b;
  T* C;
  int64_t ldc, stride_c;
};

// op(A)[i][k] and op(B)[k][j], read through the transpose flags (rungs 1 and 2).
template <bool TransA, typename T>
__device__ __forceinline__ T op_a(const T* A, int64_t lda, int64_t i, int64_t k) {
  return TransA ? A[k * lda + i] : A[i * lda + k];
}
template <bool TransB, typename T>
__device__ __forceinline__ T op_b(const T* B, int64_t ldb, int64_t k, int64_t j) {
  return TransB ? B[j * ldb + k] : B[k * ldb + j];
}

// C = alpha * acc + beta * C for one element; beta == 0 must not read C (it may hold NaN).
template <typename T>
__device__ __forceinline__ void write_c(T* c, T acc, T alpha, T beta) {
  if (beta == T(0))
    *c = alpha * acc;
  else
    *c = alpha * acc + beta * *c;
}

// Tiles of one matrix are spread over blockIdx.y (rows of C) and the batch over
// blockIdx.z; both are capped at 65535 by CUDA, so the kernels loop when there are more.
constexpr int64_t kMaxGridYZ = 65535;

dim3 tile_grid(int64_t tiles_n, int64_t tiles_m, int64_t batch) {
  SC_CHECK(tiles_n <= INT_MAX, "gemm: N is too large for the CUDA grid (", tiles_n, " column tiles)");
  return dim3(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tiles_m < kMaxGridYZ ? tiles_m : kMaxGridYZ),
              static_cast<unsigned>(batch < kMaxGridYZ ? batch : kMaxGridYZ));
}

// Calls f(std::bool_constant<trans_a>, std::bool_constant<trans_b>), turning the two run-time
// flags into template arguments: each layout gets its own kernel, with its own load pattern.
template <typename F>
void with_transposes(bool trans_a, bool trans_b, F&& f) {
  if (!trans_a && !trans_b)
    f(std::false_type{}, std::false_type{});
  else if (!trans_a && trans_b)
    f(std::false_type{}, std::true_type{});
  else if (trans_a && !trans_b)
    f(std::true_type{}, std::false_type{});
  else
    f(std::true_type{}, std::true_type{});
}

// ---- K == 0: C = beta * C ------------------------------------------------------------------
// A grid-stride loop over every element of every C matrix.
template <typename T>
__global__ void gemm_scale_kernel(int64_t batch, int64_t M, int64_t N, T beta, T* C, int64_t ldc, int64_t stride_c) {
  const int64_t per_matrix = M * N;
  const int64_t total = batch * per_matrix;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t b = i / per_matrix, row = (i % per_matrix) / N, col = i % N;
    T* c = C + b * stride_c + row * ldc + col;
    *c = beta == T(0) ? T(0) : beta * *c;
  }
}

// ---- Rung 1: naive ---------------------------------------------------------------------------
// One thread per element of C: it walks k and reads one row of op(A) and one column of
// op(B) straight from global memory. threadIdx.x runs along N, so the 32 threads of a warp
// read 32 neighbouring elements of B (one coalesced load when B is not transposed) and the
// same element of A (a broadcast). Each value of A and B is re-read by every thread that
// needs it: 2 loads per multiply-add, bound by memory and L2 bandwidth, far from the FMA peak.
constexpr int kNaiveCols = 32, kNaiveRows = 8;  // a block covers 8 x 32 elements of C

template <typename T, bool TransA, bool TransB>
__global__ void __launch_bounds__(kNaiveCols * kNaiveRows) gemm_naive_kernel(GemmArgs<T> p) {
  const int64_t tiles_m = (p.M + kNaiveRows - 1) / kNaiveRows;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kNaiveCols + threadIdx.x;
  for (int64_t b = blockIdx.z; b < p.batch; b += gridDim.z) {
    const T* A = p.A + b * p.stride_a;
    const T* B = p.B + b * p.stride_b;
    T* C = p.C + b * p.stride_c;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t row = tile_m * kNaiveRows + threadIdx.y;
      if (row >= p.M || col >= p.N) continue;
      T acc = T(0);
      for (int64_t k = 0; k < p.K; ++k) acc += op_a<TransA>(A, p.lda, row, k) * op_b<TransB>(B, p.ldb, k, col);
      write_c(C + row * p.ldc + col, acc, p.alpha, p.beta);
    }
  }
}

// ---- Rung 2: shared-memory tiling ------------------------------------------------------------
// A block of 32 x 32 threads computes a 32 x 32 tile of C. It walks K in steps of 32: the
// block copies a 32 x 32 tile of op(A) and one of op(B) into shared memory (one element per
// thread), waits, and every thread then does 32 multiply-adds reading only shared memory.
// Each element loaded from global memory now serves 32 threads instead of one, so global
// traffic drops 32x; what limits this rung is the 2 shared-memory reads per multiply-add.
//
// The loads are coalesced for every layout: a tile whose source rows run along k (A not
// transposed, B transposed) is read with threadIdx.x along k; the other layouts are read
// with threadIdx.x along the row of C / column of C and written transposed into shared
// memory. The +1 column of padding makes those transposed writes hit 32 different banks.
constexpr int kSharedTile = 32;

template <typename T, bool TransA, bool TransB>
__global__ void __launch_bounds__(kSharedTile * kSharedTile) gemm_shared_tiled_kernel(GemmArgs<T> p) {
  constexpr int kTile = kSharedTile;
  __shared__ T a_tile[kTile][kTile + 1];  // a_tile[r][c] = op(A)[row0 + r][k0 + c]
  __shared__ T b_tile[kTile][kTile + 1];  // b_tile[r][c] = op(B)[k0 + r][col0 + c]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t tiles_m = (p.M + kTile - 1) / kTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  for (int64_t b = blockIdx.z; b < p.batch; b += gridDim.z) {
    const T* A = p.A + b * p.stride_a;
    const T* B = p.B + b * p.stride_b;
    T* C = p.C + b * p.stride_c;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t row0 = tile_m * kTile;
      T acc = T(0);
      for (int64_t k0 = 0; k0 < p.K; k0 += kTile) {
        if (!TransA) {  // A[i][k]: consecutive threads read consecutive k
          const int64_t i = row0 + ty, k = k0 + tx;
          a_tile[ty][tx] = (i < p.M && k < p.K) ? A[i * p.lda + k] : T(0);
        } else {  // A stored K x M: consecutive threads read consecutive i
          const int64_t i = row0 + tx, k = k0 + ty;
          a_tile[tx][ty] = (i < p.M && k < p.K) ? A[k * p.lda + i] : T(0);
        }
        if (!TransB) {  // B[k][j]: consecutive threads read consecutive j
          const int64_t k = k0 + ty, j = col0 + tx;
          b_tile[ty][tx] = (k < p.K && j < p.N) ? B[k * p.ldb + j] : T(0);
        } else {  // B stored N x K: consecutive threads read consecutive k
          const int64_t k = k0 + tx, j = col0 + ty;
          b_tile[tx][ty] = (k < p.K && j < p.N) ? B[j * p.ldb + k] : T(0);
        }
        __syncthreads();  // the tiles are complete
#pragma unroll
        for (int kk = 0; kk < kTile; ++kk) acc += a_tile[ty][kk] * b_tile[kk][tx];
        __syncthreads();  // everyone is done reading before the next tiles overwrite them
      }
      const int64_t row = row0 + ty, col = col0 + tx;
      if (row < p.M && col < p.N) write_c(C + row * p.ldc + col, acc, p.alpha, p.beta);
    }
  }
}

// ---- Staging tiles for rungs 3 and 4 ------------------------------------------------------------
// Both rungs keep a BK x BX slice of each operand in shared memory laid out "k-major":
//
//   tile[k][x] = op(A)[x0 + x][k0 + k]   (x runs over rows of C),   or
//   tile[k][x] = op(B)[k0 + k][x0 + x]   (x runs over columns of C),
//
// so that a thread's consecutive rows (or columns) at one k are float4 reads. In memory an
// operand has one of two shapes:
//   KContiguous: element (x, k) sits at X[x * ld + k]  (A not transposed, B transposed);
//                consecutive k are neighbours, and land in a column of the tile
//                ("A stored transposed in shared memory").
//   otherwise:   element (x, k) sits at X[k * ld + x]  (A transposed, B not transposed);
//                consecutive x are neighbours, and land in a row of the tile.
// Either way consecutive threads read neighbouring addresses, so a warp's loads coalesce.
//
// A 16-byte (float4) access is only legal when the address is 16-byte aligned and the 4
// elements are all inside the matrix. The host passes vec = true when the base pointer is
// 16-byte aligned and ld and the batch stride are multiples of 4; tile origins and group
// offsets are multiples of 4 too, so every group is then aligned. Groups that stick out of
// the matrix, and all groups when vec is false, take the scalar bounds-checked path, and
// elements outside the matrix are stored as zeros (they add nothing to the sums).
constexpr int kTilePad = 4;  // keeps tile rows 16-byte aligned and spreads the banks

// Where float4 group g of a BK x BX tile sits: its first element is tile[k][x].
template <int BK, int BX, bool KContiguous>
__device__ __forceinline__ void group_position(int g, int& x, int& k) {
  if (KContiguous) {  // groups run along k: BK / 4 of them per x
    x = g / (BK / 4);
    k = (g % (BK / 4)) * 4;
  } else {  // groups run along x: BX / 4 of them per k
    k = g / (BX / 4);
    x = (g % (BX / 4)) * 4;
  }
}

// Rung 3: every thread loads float4 groups into registers and writes them to the tile.
// The caller guarantees x0 < x_end and k0 < K (the tile's first element exists); offsets
// inside the tile are small ints.
template <int BK, int BX, int Threads, bool KContiguous>
__device__ __forceinline__ void load_tile(float (*tile)[BX + kTilePad], const float* X, int64_t ld, int64_t x0,
                                          int64_t x_end, int64_t k0, int64_t K, bool vec, int tid) {
  constexpr int kGroups = BK * BX / 4;
  static_assert(BK % 4 == 0 && BX % 4 == 0 && kGroups % Threads == 0, "whole groups, the same count per thread");
  const float* origin = KContiguous ? X + x0 * ld + k0 : X + k0 * ld + x0;
  const int x_left = x_end - x0 < BX ? static_cast<int>(x_end - x0) : BX;  // tile rows inside the matrix
  const int k_left = K - k0 < BK ? static_cast<int>(K - k0) : BK;
#pragma unroll
  for (int i = 0; i < kGroups / Threads; ++i) {
    int x, k;
    group_position<BK, BX, KContiguous>(tid + i * Threads, x, k);
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (KContiguous) {  // the 4 values run along k
      if (x < x_left) {
        const float* src = origin + x * ld + k;
        if (vec && k + 3 < k_left) {
          v = *reinterpret_cast<const float4*>(src);
        } else {
          if (k + 0 < k_left) v.x = src[0];
          if (k + 1 < k_left) v.y = src[1];
          if (k + 2 < k_left) v.z = src[2];
          if (k + 3 < k_left) v.w = src[3];
        }
      }
      tile[k + 0][x] = v.x;  // a column piece of the k-major tile
      tile[k + 1][x] = v.y;
      tile[k + 2][x] = v.z;
      tile[k + 3][x] = v.w;
    } else {  // the 4 values run along x
      if (k < k_left) {
        const float* src = origin + k * ld + x;
        if (vec && x + 3 < x_left) {
          v = *reinterpret_cast<const float4*>(src);
        } else {
          if (x + 0 < x_left) v.x = src[0];
          if (x + 1 < x_left) v.y = src[1];
          if (x + 2 < x_left) v.z = src[2];
          if (x + 3 < x_left) v.w = src[3];
        }
      }
      *reinterpret_cast<float4*>(&tile[k][x]) = v;
    }
  }
}

// Rung 4: the same tile, written by asynchronous copies (cp.async, sm_80 and newer): the
// data goes from global to shared memory without passing through registers, and the thread
// moves on at once. __pipeline_commit() closes a batch of copies; __pipeline_wait_prior(0)
// waits until this thread's batches have landed (a __syncthreads then shows them to the
// block). A KContiguous operand is copied one element at a time (4-byte copies; its
// elements go to different tile rows), with consecutive threads on consecutive k so each
// warp reads whole 64-byte row pieces; the other layout copies float4 groups (16 bytes) when
// legal. Elements outside the matrix are plain stores of 0.
template <int BK, int BX, int Threads, bool KContiguous>
__device__ __forceinline__ void copy_tile_async(float (*tile)[BX + kTilePad], const float* X, int64_t ld, int64_t x0,
                                                int64_t x_end, int64_t k0, int64_t K, bool vec, int tid) {
  const float* origin = KContiguous ? X + x0 * ld + k0 : X + k0 * ld + x0;
  const int x_left = x_end - x0 < BX ? static_cast<int>(x_end - x0) : BX;
  const int k_left = K - k0 < BK ? static_cast<int>(K - k0) : BK;
  if (KContiguous) {
    static_assert(Threads % BK == 0 && BX % (Threads / BK) == 0, "threads tile the k-contiguous copy evenly");
    constexpr int kRowsPerPass = Threads / BK;
    const int k = tid % BK;
#pragma unroll
    for (int x = tid / BK; x < BX; x += kRowsPerPass) {
      if (x < x_left && k < k_left)
        __pipeline_memcpy_async(&tile[k][x], origin + x * ld + k, sizeof(float));
      else
        tile[k][x] = 0.0f;
    }
  } else {
    constexpr int kGroups = BK * BX / 4;
    static_assert(kGroups % Threads == 0, "the same number of groups per thread");
#pragma unroll
    for (int i = 0; i < kGroups / Threads; ++i) {
      int x, k;
      group_position<BK, BX, KContiguous>(tid + i * Threads, x, k);
      float* dst = &tile[k][x];
      if (k < k_left && vec && x + 3 < x_left) {
        __pipeline_memcpy_async(dst, origin + k * ld + x, 4 * sizeof(float));
        continue;
      }
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        if (k < k_left && x + c < x_left)
          __pipeline_memcpy_async(dst + c, origin + k * ld + x + c, sizeof(float));
        else
          dst[c] = 0.0f;
      }
    }
  }
}

// Writes 4 neighbouring outputs of one row of C: v[c] goes to C[row][col + c]. A float4
// store (and, when beta != 0, a float4 read) when C allows it, else one element at a time,
// each bounds-checked.
__device__ __forceinline__ void store_c_quad(float* C, int64_t ldc, int64_t row, int64_t col, int64_t M, int64_t N,
                                             const float* v, float alpha, float beta, bool vec_c) {
  if (row >= M) return;
  if (vec_c && col + 3 < N) {
    float4* c = reinterpret_cast<float4*>(C + row * ldc + col);
    float4 out = make_float4(alpha * v[0], alpha * v[1], alpha * v[2], alpha * v[3]);
    if (beta != 0.0f) {
      const float4 old = *c;
      out.x += beta * old.x;
      out.y += beta * old.y;
      out.z += beta * old.z;
      out.w += beta * old.w;
    }
    *c = out;
    return;
  }
#pragma unroll
  for (int c = 0; c < 4; ++c)
    if (col + c < N) write_c(C + row * ldc + col + c, v[c], alpha, beta);
}

// ---- Rung 3: 2-D register blocking -------------------------------------------------------------
// Rung 2 does 2 shared-memory reads per multiply-add. Here a block of 256 threads owns a
// 128 x 128 tile of C and each thread an 8 x 8 piece of it. Per step of k a thread reads 8
// values of op(A) (its rows) and 8 of op(B) (its columns) into registers and does all
// 8 x 8 = 64 multiply-adds between them: 16 values read for 64 FMAs, an eighth of rung 2's
// shared traffic per FMA, and the 64 accumulators stay in registers. Because the tiles are
// k-major (A transposed on its way into shared memory), those 8 + 8 values are 4 float4
// reads. Each value fetched from global memory now serves 128 outputs instead of 32.
// Global loads are float4 too. What remains: a warp's B reads (threads 8 floats apart) hit
// the same banks two at a time, and loads and math take turns (the block waits at each
// __syncthreads) - rung 4 fixes both.
constexpr int kRegTile = 128;  // BM = BN
constexpr int kRegBK = 8;
constexpr int kRegThreads = 256;  // a 16 x 16 grid of threads, 8 x 8 outputs each
constexpr int kRegPerThread = 8;

template <bool TransA, bool TransB>
__global__ void __launch_bounds__(kRegThreads)
    gemm_register_blocked_kernel(GemmArgs<float> p, bool vec_a, bool vec_b, bool vec_c) {
  __shared__ __align__(16) float a_tile[kRegBK][kRegTile + kTilePad];  // a_tile[k][i] = op(A)[m0 + i][k0 + k]
  __shared__ __align__(16) float b_tile[kRegBK][kRegTile + kTilePad];  // b_tile[k][j] = op(B)[k0 + k][n0 + j]
  const int tid = threadIdx.x;
  const int thread_row = tid / (kRegTile / kRegPerThread), thread_col = tid % (kRegTile / kRegPerThread);
  const int64_t tiles_m = (p.M + kRegTile - 1) / kRegTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kRegTile;
  for (int64_t b = blockIdx.z; b < p.batch; b += gridDim.z) {
    const float* A = p.A + b * p.stride_a;
    const float* B = p.B + b * p.stride_b;
    float* C = p.C + b * p.stride_c;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t m0 = tile_m * kRegTile;
      float acc[kRegPerThread][kRegPerThread] = {};
      for (int64_t k0 = 0; k0 < p.K; k0 += kRegBK) {
        load_tile<kRegBK, kRegTile, kRegThreads, !TransA>(a_tile, A, p.lda, m0, p.M, k0, p.K, vec_a, tid);
        load_tile<kRegBK, kRegTile, kRegThreads, TransB>(b_tile, B, p.ldb, n0, p.N, k0, p.K, vec_b, tid);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kRegBK; ++k) {
          float a[kRegPerThread], bv[kRegPerThread];
#pragma unroll
          for (int q = 0; q < kRegPerThread; q += 4) {
            const float4 a4 = *reinterpret_cast<const float4*>(&a_tile[k][thread_row * kRegPerThread + q]);
            const float4 b4 = *reinterpret_cast<const float4*>(&b_tile[k][thread_col * kRegPerThread + q]);
            a[q] = a4.x, a[q + 1] = a4.y, a[q + 2] = a4.z, a[q + 3] = a4.w;
            bv[q] = b4.x, bv[q + 1] = b4.y, bv[q + 2] = b4.z, bv[q + 3] = b4.w;
          }
#pragma unroll
          for (int i = 0; i < kRegPerThread; ++i)
#pragma unroll
            for (int j = 0; j < kRegPerThread; ++j) acc[i][j] += a[i] * bv[j];
        }
        __syncthreads();
      }
#pragma unroll
      for (int i = 0; i < kRegPerThread; ++i)
#pragma unroll
        for (int q = 0; q < kRegPerThread; q += 4)
          store_c_quad(C, p.ldc, m0 + thread_row * kRegPerThread + i, n0 + thread_col * kRegPerThread + q, p.M, p.N,
                       &acc[i][q], p.alpha, p.beta, vec_c);
    }
  }
}

// ---- Rung 4: warp tiling + double buffering ---------------------------------------------------
// The same 128 x 128 block tile and 8 x 8 outputs per thread as rung 3, but the tile is now
// split in three levels, each matching a level of the hardware:
//   block tile 128 x 128  (256 threads = 8 warps, as 2 x 4)  -> shared memory
//   warp tile   64 x 32   (one warp)                          -> the warp's shared reads
//   thread tile  8 x 8    (2 x 2 pieces of 4 x 4)             -> registers
// Inside a warp the 32 lanes form an 8 x 4 grid. Lane (lr, lc) owns rows lr*4 + {0..3} and
// 32 + lr*4 + {0..3} of its warp tile, and columns lc*4 + {0..3} and 16 + lc*4 + {0..3}.
// Spreading a thread's outputs in 4-wide pieces, instead of 8 adjacent rows and columns as
// in rung 3, makes the warp's float4 reads at each k one contiguous run of shared memory:
// 8 distinct float4s (128 bytes) of A and 4 (64 bytes) of B, each broadcast to the lanes
// that share it, with no bank conflicts. A warp also only ever touches its own 64 rows and
// 32 columns of the tiles, so fewer distinct addresses are read per instruction.
//
// Double buffering with asynchronous copies: two copies of each tile in shared memory.
// While the warps multiply the tile in buffer t % 2, the copies of tile t + 1 into the
// other buffer are in flight (copy_tile_async: cp.async, no registers needed to hold them).
// The global-memory latency hides behind the math (512 FMAs per thread per step) instead of
// stalling the block as rung 3's load-sync-compute-sync does, and one __syncthreads per
// step is enough. __launch_bounds__(256, 2) keeps the registers at or under 128 per thread
// so two blocks share an SM (16 warps to switch between); with BK = 16 the extra copy
// addresses would no longer fit and the compiler would spill.
// Two shapes of the same kernel (a config struct picks one):
//   WarpTiledSmall: the tile above, 256 threads as 2 x 4 warps of 64 x 32, 8 x 8 outputs per
//                   thread, two blocks per SM. Used when there are too few block tiles to
//                   give every SM one (1024^2 has 64): its 8 warps per block fill an SM better.
//   WarpTiledWide:  the same 128 x 128 block tile with 128 threads as 2 x 2 warps of 64 x 64,
//                   so each thread owns 8 x 16 outputs (2 x 4 pieces). Twice the FMAs per
//                   thread per step (1024 instead of 512) for the same fixed per-step costs
//                   (wait, __syncthreads, loop, copy bookkeeping), so half of them per FMA,
//                   and 6 float4 shared reads per 128 FMAs instead of 4 per 64 (a third fewer
//                   per FMA). Edges are handled exactly as in the small shape (the same copy
//                   and store helpers). The price is registers (128 accumulators;
//                   up to 255 allowed, still two 128-thread blocks per SM) and fewer warps
//                   per SM (8 instead of 16), which the 128 independent FMAs per k of each
//                   thread should make up for (not yet measured against the small shape:
//                   SC_GEMM_WARP_SHAPE=small|wide forces one, for benchmarks).
struct WarpTiledSmall {
  static constexpr int kTileN = 128, kWarpTileN = 32, kThreads = 256, kMinBlocks = 2;
};
struct WarpTiledWide {
  static constexpr int kTileN = 128, kWarpTileN = 64, kThreads = 128, kMinBlocks = 2;
};

constexpr int kWarpTile = 128;  // block tile rows BM (both shapes)
constexpr int kWarpBK = 8;
constexpr int kWarpTileM = 64;                                   // rows of one warp's piece of C
constexpr int kLaneRows = 8, kLaneCols = 4;                      // lanes of a warp, as a grid
constexpr int kPieceRows = 4, kPieceCols = 4;                    // one piece of a thread tile
constexpr int kPiecesM = kWarpTileM / (kLaneRows * kPieceRows);  // 2
constexpr int kThreadRows = kPiecesM * kPieceRows;               // 8
static_assert(kLaneRows * kLaneCols == 32, "a warp is 32 lanes");

template <typename Config, bool TransA, bool TransB>
__global__ void __launch_bounds__(Config::kThreads, Config::kMinBlocks)
    gemm_warp_tiled_kernel(GemmArgs<float> p, bool vec_a, bool vec_b, bool vec_c) {
  constexpr int kTileN = Config::kTileN, kWarpTileN = Config::kWarpTileN, kThreads = Config::kThreads;
  constexpr int kPiecesN = kWarpTileN / (kLaneCols * kPieceCols);  // 2 (small) or 4 (wide)
  constexpr int kThreadCols = kPiecesN * kPieceCols;               // 8 or 16
  static_assert(kWarpTileN % (kLaneCols * kPieceCols) == 0, "whole pieces per warp");
  static_assert((kWarpTile / kWarpTileM) * (kTileN / kWarpTileN) * 32 == kThreads, "warps cover the tile");
  __shared__ __align__(16) float a_tile[2][kWarpBK][kWarpTile + kTilePad];  // [buffer][k][i]
  __shared__ __align__(16) float b_tile[2][kWarpBK][kTileN + kTilePad];     // [buffer][k][j]
  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int warp_row = warp / (kTileN / kWarpTileN), warp_col = warp % (kTileN / kWarpTileN);
  const int lane_row = lane / kLaneCols, lane_col = lane % kLaneCols;
  // This thread's first row / column inside the block tile; piece pm adds pm * 32 rows,
  // piece pn adds pn * 16 columns.
  const int row_base = warp_row * kWarpTileM + lane_row * kPieceRows;
  const int col_base = warp_col * kWarpTileN + lane_col * kPieceCols;
  constexpr int kPieceStrideM = kLaneRows * kPieceRows;  // 32
  constexpr int kPieceStrideN = kLaneCols * kPieceCols;  // 16

  const int64_t tiles_m = (p.M + kWarpTile - 1) / kWarpTile;
  const int64_t k_steps = (p.K + kWarpBK - 1) / kWarpBK;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  for (int64_t b = blockIdx.z; b < p.batch; b += gridDim.z) {
    const float* A = p.A + b * p.stride_a;
    const float* B = p.B + b * p.stride_b;
    float* C = p.C + b * p.stride_c;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t m0 = tile_m * kWarpTile;
      float acc[kThreadRows][kThreadCols] = {};

      // Prologue: start copying the first tiles into buffer 0.
      copy_tile_async<kWarpBK, kWarpTile, kThreads, !TransA>(a_tile[0], A, p.lda, m0, p.M, 0, p.K, vec_a, tid);
      copy_tile_async<kWarpBK, kTileN, kThreads, TransB>(b_tile[0], B, p.ldb, n0, p.N, 0, p.K, vec_b, tid);
      __pipeline_commit();

      for (int64_t step = 0; step < k_steps; ++step) {
        const int cur = static_cast<int>(step & 1);
        __pipeline_wait_prior(0);  // this thread's copies of tile `step` have landed ...
        __syncthreads();           // ... and everyone's. Everyone has also finished the math of
                                   // step - 1, so the other buffer is free to be overwritten.
        if (step + 1 < k_steps) {  // start the next tiles; they land while we multiply this one
          const int64_t k_next = (step + 1) * kWarpBK;
          copy_tile_async<kWarpBK, kWarpTile, kThreads, !TransA>(a_tile[cur ^ 1], A, p.lda, m0, p.M, k_next, p.K,
                                                                 vec_a, tid);
          copy_tile_async<kWarpBK, kTileN, kThreads, TransB>(b_tile[cur ^ 1], B, p.ldb, n0, p.N, k_next, p.K, vec_b,
                                                             tid);
          __pipeline_commit();
        }
#pragma unroll
        for (int k = 0; k < kWarpBK; ++k) {
          float a[kThreadRows], bv[kThreadCols];
#pragma unroll
          for (int pm = 0; pm < kPiecesM; ++pm) {
            const float4 a4 = *reinterpret_cast<const float4*>(&a_tile[cur][k][row_base + pm * kPieceStrideM]);
            a[pm * 4 + 0] = a4.x, a[pm * 4 + 1] = a4.y, a[pm * 4 + 2] = a4.z, a[pm * 4 + 3] = a4.w;
          }
#pragma unroll
          for (int pn = 0; pn < kPiecesN; ++pn) {
            const float4 b4 = *reinterpret_cast<const float4*>(&b_tile[cur][k][col_base + pn * kPieceStrideN]);
            bv[pn * 4 + 0] = b4.x, bv[pn * 4 + 1] = b4.y, bv[pn * 4 + 2] = b4.z, bv[pn * 4 + 3] = b4.w;
          }
#pragma unroll
          for (int i = 0; i < kThreadRows; ++i)
#pragma unroll
            for (int j = 0; j < kThreadCols; ++j) acc[i][j] += a[i] * bv[j];
        }
      }
      __syncthreads();  // all math is done before the next tile's prologue overwrites buffer 0

#pragma unroll
      for (int i = 0; i < kThreadRows; ++i) {
        const int64_t row = m0 + row_base + (i / kPieceRows) * kPieceStrideM + i % kPieceRows;
#pragma unroll
        for (int pn = 0; pn < kPiecesN; ++pn)
          store_c_quad(C, p.ldc, row, n0 + col_base + pn * kPieceStrideN, p.M, p.N, &acc[i][pn * kPieceCols], p.alpha,
                       p.beta, vec_c);
      }
    }
  }
}

// ---- host side -------------------------------------------------------------------------------

// True when float4 access to a matrix (and every matrix of its batch) is aligned: the base
// is 16-byte aligned and the leading dimension and batch stride are multiples of 4 floats.
template <typename T>
bool float4_friendly(const T* p, int64_t ld, int64_t stride, int64_t batch) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 4 == 0 && (batch == 1 || stride % 4 == 0);
}

template <typename T>
void launch_naive(const GemmArgs<T>& args, bool trans_a, bool trans_b) {
  const dim3 grid = tile_grid(ceil_div(args.N, kNaiveCols), ceil_div(args.M, kNaiveRows), args.batch);
  const dim3 block(kNaiveCols, kNaiveRows);
  with_transposes(trans_a, trans_b, [&](auto ta_const, auto tb_const) {
    constexpr bool ta = decltype(ta_const)::value, tb = decltype(tb_const)::value;
    gemm_naive_kernel<T, ta, tb><<<grid, block, 0, stream()>>>(args);
    check_launch("gemm_naive_kernel");
  });
}

template <typename T>
void launch_shared_tiled(const GemmArgs<T>& args, bool trans_a, bool trans_b) {
  const dim3 grid = tile_grid(ceil_div(args.N, kSharedTile), ceil_div(args.M, kSharedTile), args.batch);
  const dim3 block(kSharedTile, kSharedTile);
  with_transposes(trans_a, trans_b, [&](auto ta_const, auto tb_const) {
    constexpr bool ta = decltype(ta_const)::value, tb = decltype(tb_const)::value;
    gemm_shared_tiled_kernel<T, ta, tb><<<grid, block, 0, stream()>>>(args);
    check_launch("gemm_shared_tiled_kernel");
  });
}

void launch_register_blocked(const GemmArgs<float>& args, bool trans_a, bool trans_b) {
  const dim3 grid = tile_grid(ceil_div(args.N, kRegTile), ceil_div(args.M, kRegTile), args.batch);
  const bool vec_a = float4_friendly(args.A, args.lda, args.stride_a, args.batch);
  const bool vec_b = float4_friendly(args.B, args.ldb, args.stride_b, args.batch);
  const bool vec_c = float4_friendly(args.C, args.ldc, args.stride_c, args.batch);
  with_transposes(trans_a, trans_b, [&](auto ta_const, auto tb_const) {
    constexpr bool ta = decltype(ta_const)::value, tb = decltype(tb_const)::value;
    gemm_register_blocked_kernel<ta, tb><<<grid, kRegThreads, 0, stream()>>>(args, vec_a, vec_b, vec_c);
    check_launch("gemm_register_blocked_kernel");
  });
}

template <typename Config>
void launch_warp_tiled_as(const GemmArgs<float>& args, bool trans_a, bool trans_b) {
  const dim3 grid = tile_grid(ceil_div(args.N, Config::kTileN), ceil_div(args.M, kWarpTile), args.batch);
  const bool vec_a = float4_friendly(args.A, args.lda, args.stride_a, args.batch);
  const bool vec_b = float4_friendly(args.B, args.ldb, args.stride_b, args.batch);
  const bool vec_c = float4_friendly(args.C, args.ldc, args.stride_c, args.batch);
  with_transposes(trans_a, trans_b, [&](auto ta_const, auto tb_const) {
    constexpr bool ta = decltype(ta_const)::value, tb = decltype(tb_const)::value;
    gemm_warp_tiled_kernel<Config, ta, tb><<<grid, Config::kThreads, 0, stream()>>>(args, vec_a, vec_b, vec_c);
    check_launch("gemm_warp_tiled_kernel");
  });
}

// Which shape the warp rung runs. Measured on an H200 (bench/results/gpu-2026-11-28-h200.md):
// the wide shape reached 34.5 / 35.0 TFLOP/s at 2048^2 / 4096^2 against the small shape's
// 35.2 / 36.0, so the small one is the default and the wide one stays as an experiment
// (set_gemm_warp_shape("wide") or SC_GEMM_WARP_SHAPE=wide).
bool& warp_shape_is_wide() {
  static bool wide = [] {
    const char* v = std::getenv("SC_GEMM_WARP_SHAPE");
    return v && std::string(v) == "wide";
  }();
  return wide;
}

void launch_warp_tiled(const GemmArgs<float>& args, bool trans_a, bool trans_b) {
  if (warp_shape_is_wide()) return launch_warp_tiled_as<WarpTiledWide>(args, trans_a, trans_b);
  return launch_warp_tiled_as<WarpTiledSmall>(args, trans_a, trans_b);
}

// ---- Rungs 5 and 6: tensor cores through WMMA (TF32, BF16) -----------------------------------
// A block of 8 warps owns a 128 x 128 tile of C and walks K in slices of 32. Each slice of
// op(A) (128 x 32) and op(B) (32 x 128) is copied into shared memory, rounded on the way to the
// tensor cores' input type (TF32: a 10-bit mantissa kept in a float; BF16: an 8-bit one in 16
// bits), with zeros outside the matrix. Each warp then owns a 64 x 32 piece of the tile: 4 x 2
// accumulator fragments of 16 x 16 in FP32, fed by mma_sync calls of depth 8 (TF32) or 16
// (BF16). At the end each warp parks one fragment at a time in shared memory, and its lanes
// write C = alpha * acc + beta * C with bounds checks. A and B stay float32 in memory: the
// rounding is the only difference from the exact rungs (autocast's compute precision, not its
// storage).
//
// What it leaves out, for a later rung: double buffering of the slices (rung 4's cp.async),
// wider loads, and Hopper's wgmma. The rows of both tiles are padded by 16 bytes, which keeps
// every fragment's start 32-byte aligned (WMMA's rule) and spreads the rows over the banks.
constexpr int kTcTile = 128, kTcSlice = 32, kTcThreads = 256;
constexpr int kTcWarpRows = 64, kTcWarpCols = 32;  // one warp's piece of the tile
constexpr int kTcFragsM = kTcWarpRows / 16, kTcFragsN = kTcWarpCols / 16;

struct Tf32Inputs {
  using Stored = float;                         // what shared memory holds
  using Precision = nvcuda::wmma::precision::tf32;  // the fragment's element type
  static constexpr int kDepth = 8;              // k of one mma_sync
  static constexpr int kPad = 4;                // 16 bytes
  static __device__ __forceinline__ Stored convert(float v) { return nvcuda::wmma::__float_to_tf32(v); }
};
struct Bf16Inputs {
  using Stored = __nv_bfloat16;
  using Precision = __nv_bfloat16;
  static constexpr int kDepth = 16;
  static constexpr int kPad = 8;  // 16 bytes
  static __device__ __forceinline__ Stored convert(float v) { return __float2bfloat16_rn(v); }
};

template <class In, bool TransA, bool TransB>
__global__ void __launch_bounds__(kTcThreads) gemm_wmma_kernel(GemmArgs<float> p) {
  namespace wmma = nvcuda::wmma;
  using Stored = typename In::Stored;
  // a_tile[m][k] = op(A)[row0 + m][k0 + k], b_tile[k][n] = op(B)[k0 + k][col0 + n]. The
  // epilogue reuses a_tile as 8 per-warp 16 x 16 float staging squares (8 KiB; a_tile holds
  // 10 KiB in BF16, 18 KiB in TF32).
  __shared__ __align__(32) Stored a_tile[kTcTile][kTcSlice + In::kPad];
  __shared__ __align__(32) Stored b_tile[kTcSlice][kTcTile + In::kPad];
  static_assert(sizeof(a_tile) >= 8 * 256 * sizeof(float), "the epilogue's staging squares must fit in a_tile");
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int warp_row = (warp / (kTcTile / kTcWarpCols)) * kTcWarpRows;  // 2 warp rows
  const int warp_col = (warp % (kTcTile / kTcWarpCols)) * kTcWarpCols;  // 4 warp columns
  const int64_t tiles_m = (p.M + kTcTile - 1) / kTcTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTcTile;
  for (int64_t b = blockIdx.z; b < p.batch; b += gridDim.z) {
    const float* A = p.A + b * p.stride_a;
    const float* B = p.B + b * p.stride_b;
    float* C = p.C + b * p.stride_c;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t row0 = tile_m * kTcTile;
      wmma::fragment<wmma::accumulator, 16, 16, In::kDepth, float> acc[kTcFragsM][kTcFragsN];
#pragma unroll
      for (int i = 0; i < kTcFragsM; ++i)
#pragma unroll
        for (int j = 0; j < kTcFragsN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

      for (int64_t k0 = 0; k0 < p.K; k0 += kTcSlice) {
        // 4096 elements per tile, 16 per thread; consecutive threads read neighbouring
        // addresses in every layout (the index runs along k or along m / n, as memory does).
#pragma unroll 1  // unrolled, the loads take 170+ registers and a block no longer shares its SM
        for (int e = tid; e < kTcTile * kTcSlice; e += kTcThreads) {
          const int m = TransA ? e % kTcTile : e / kTcSlice, k = TransA ? e / kTcTile : e % kTcSlice;
          const int64_t gi = row0 + m, gk = k0 + k;
          const float v = (gi < p.M && gk < p.K) ? (TransA ? A[gk * p.lda + gi] : A[gi * p.lda + gk]) : 0.0f;
          a_tile[m][k] = In::convert(v);
        }
#pragma unroll 1
        for (int e = tid; e < kTcTile * kTcSlice; e += kTcThreads) {
          const int n = TransB ? e / kTcSlice : e % kTcTile, k = TransB ? e % kTcSlice : e / kTcTile;
          const int64_t gk = k0 + k, gj = col0 + n;
          const float v = (gk < p.K && gj < p.N) ? (TransB ? B[gj * p.ldb + gk] : B[gk * p.ldb + gj]) : 0.0f;
          b_tile[k][n] = In::convert(v);
        }
        __syncthreads();  // the slice is complete
#pragma unroll 1  // unrolled, every depth's fragments would be live at once: twice the registers
        for (int kk = 0; kk < kTcSlice; kk += In::kDepth) {
          wmma::fragment<wmma::matrix_a, 16, 16, In::kDepth, typename In::Precision, wmma::row_major> a_frag[kTcFragsM];
          wmma::fragment<wmma::matrix_b, 16, 16, In::kDepth, typename In::Precision, wmma::row_major> b_frag[kTcFragsN];
#pragma unroll
          for (int i = 0; i < kTcFragsM; ++i)
            wmma::load_matrix_sync(a_frag[i], &a_tile[warp_row + 16 * i][kk], kTcSlice + In::kPad);
#pragma unroll
          for (int j = 0; j < kTcFragsN; ++j)
            wmma::load_matrix_sync(b_frag[j], &b_tile[kk][warp_col + 16 * j], kTcTile + In::kPad);
#pragma unroll
          for (int i = 0; i < kTcFragsM; ++i)
#pragma unroll
            for (int j = 0; j < kTcFragsN; ++j) wmma::mma_sync(acc[i][j], a_frag[i], b_frag[j], acc[i][j]);
        }
        __syncthreads();  // every warp is done with the slice before the next overwrites it
      }

      // Epilogue: one 16 x 16 fragment at a time through this warp's staging square.
      float* staging = reinterpret_cast<float*>(&a_tile[0][0]) + warp * 256;
#pragma unroll
      for (int i = 0; i < kTcFragsM; ++i) {
#pragma unroll
        for (int j = 0; j < kTcFragsN; ++j) {
          wmma::store_matrix_sync(staging, acc[i][j], 16, wmma::mem_row_major);
          __syncwarp();
          for (int e = lane; e < 256; e += 32) {
            const int64_t row = row0 + warp_row + 16 * i + e / 16, col = col0 + warp_col + 16 * j + e % 16;
            if (row < p.M && col < p.N) write_c(C + row * p.ldc + col, staging[e], p.alpha, p.beta);
          }
          __syncwarp();  // the square is read before the next fragment overwrites it
        }
      }
      __syncthreads();  // the staging squares (a_tile) are free again before the next tile's loads
    }
  }
}

template <class In>
void launch_wmma(const GemmArgs<float>& args, bool trans_a, bool trans_b) {
  const dim3 grid = tile_grid(ceil_div(args.N, kTcTile), ceil_div(args.M, kTcTile), args.batch);
  with_transposes(trans_a, trans_b, [&](auto ta_const, auto tb_const) {
    constexpr bool ta = decltype(ta_const)::value, tb = decltype(tb_const)::value;
    gemm_wmma_kernel<In, ta, tb><<<grid, kTcThreads, 0, stream()>>>(args);
    check_launch(std::is_same_v<In, Tf32Inputs> ? "gemm_wmma_kernel (tf32)" : "gemm_wmma_kernel (bf16)");
  });
}

// The hand-written path for both element types: checks, the empty cases, then one rung.
template <typename T>
void run_handwritten(GemmRung rung, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                     T alpha, const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b,
                     T beta, T* C, int64_t ldc, int64_t stride_c) {
  SC_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm: negative size (batch ", batch, ", M ", M, ", N ", N,
           ", K ", K, ")");
  if (batch == 0 || M == 0 || N == 0) return;
  if (K == 0) return gemm_path::scale_only<T>(batch, M, N, beta, C, ldc, stride_c);
  const GemmArgs<T> args{batch, M, N, K, alpha, beta, A, lda, stride_a, B, ldb, stride_b, C, ldc, stride_c};
  if constexpr (std::is_same_v<T, float>) {
    switch (rung) {
      case GemmRung::Naive: return launch_naive(args, trans_a, trans_b);
      case GemmRung::SharedTiled: return launch_shared_tiled(args, trans_a, trans_b);
      case GemmRung::RegisterBlocked: return launch_register_blocked(args, trans_a, trans_b);
      case GemmRung::WarpTiled: return launch_warp_tiled(args, trans_a, trans_b);
      case GemmRung::TensorCoreTF32: return launch_wmma<Tf32Inputs>(args, trans_a, trans_b);
      case GemmRung::TensorCoreBF16: return launch_wmma<Bf16Inputs>(args, trans_a, trans_b);
    }
  } else {  // float64: the templated rungs only; the register and warp rungs are float32
    if (rung == GemmRung::Naive) return launch_naive(args, trans_a, trans_b);
    return launch_shared_tiled(args, trans_a, trans_b);
  }
}

GemmRung& rung_slot() {
  static GemmRung rung = [] {
    const char* v = std::getenv("SC_GEMM_RUNG");
    return (v && *v) ? parse_gemm_rung(v) : GemmRung::WarpTiled;
  }();
  return rung;
}

}  // namespace

GemmRung gemm_rung() { return rung_slot(); }
void set_gemm_rung(GemmRung rung) { rung_slot() = rung; }

void set_gemm_warp_shape(const std::string& name) {
  SC_CHECK(name == "small" || name == "wide", "unknown warp-rung shape '", name, "': expected 'small' or 'wide'");
  warp_shape_is_wide() = name == "wide";
}

const char* gemm_rung_name(GemmRung rung) {
  switch (rung) {
    case GemmRung::Naive: return "naive";
    case GemmRung::SharedTiled: return "shared";
    case GemmRung::RegisterBlocked: return "register";
    case GemmRung::WarpTiled: return "warp";
    case GemmRung::TensorCoreTF32: return "tf32";
    case GemmRung::TensorCoreBF16: return "bf16";
  }
  return "unknown";
}

GemmRung parse_gemm_rung(const std::string& name) {
  for (GemmRung r : {GemmRung::Naive, GemmRung::SharedTiled, GemmRung::RegisterBlocked, GemmRung::WarpTiled,
                     GemmRung::TensorCoreTF32, GemmRung::TensorCoreBF16})
    if (name == gemm_rung_name(r)) return r;
  throw Error(detail::concat("unknown GEMM rung '", name,
                             "': expected one of naive, shared, register, warp (slowest to fastest, exact FP32), tf32 "
                             "or bf16 (tensor cores, inputs rounded to TF32 or BF16)"));
}

namespace gemm_path {

void handwritten(GemmRung rung, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                 int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c) {
  run_handwritten<float>(rung, trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C,
                         ldc, stride_c);
}

template <typename T>
void scale_only(int64_t batch, int64_t M, int64_t N, T beta, T* C, int64_t ldc, int64_t stride_c) {
  if (batch <= 0 || M <= 0 || N <= 0 || beta == T(1)) return;  // nothing to write
  constexpr int kThreads = 256;
  gemm_scale_kernel<T><<<grid_for(batch * M * N, kThreads), kThreads, 0, stream()>>>(batch, M, N, beta, C, ldc, stride_c);
  check_launch("gemm_scale_kernel");
}

template void scale_only<float>(int64_t, int64_t, int64_t, float, float*, int64_t, int64_t);
template void scale_only<double>(int64_t, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace gemm_path

template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c) {
  if (kernel_path() == KernelPath::Vendor)
    return gemm_path::cublas<T>(trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C,
                                ldc, stride_c);
  run_handwritten<T>(gemm_rung(), trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C,
                     ldc, stride_c);
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_batched<T>(trans_a, trans_b, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace sc::kernels::cuda
