// The float32 GEMMs for CPUs with AVX2 + FMA and with AVX-512 (gemm_path::avx2 and
// gemm_path::avx512 in kernels/gemm.h).
//
// gemm<float>() picks it at run time, so the build needs no -march flag and still runs
// on any x86-64: a build without -march flags (SC_NATIVE=OFF, where Eigen only gets
// SSE2) is as fast as a native one. Measured on the dev machine (Zen 4, one thread, the
// encoder's conv shapes, forward + both backward GEMMs): Eigen SSE2 ~31 GFLOP/s, Eigen
// built for AVX-512 ~68, this GEMM ~72-84.
//
// It is the classic blocked GEMM (Goto / BLIS):
//   for each KC-deep slice of K:     pack that slice of op(B) into NR-wide column strips
//     for each MC-tall block of rows: pack op(A) into MR-tall row strips
//       for each pair of strips:      the micro-kernel adds an MR x NR tile of C
// Packing puts the numbers a micro-kernel reads next to each other (and pads ragged
// edges with zeros), so the micro-kernel streams both strips from cache.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "kernels/gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SC_GEMM_HAS_AVX2 1
#endif

namespace sc::kernels::cpu::gemm_path {

#ifdef SC_GEMM_HAS_AVX2

namespace {

// Two micro-kernels share the blocking below: AVX2 (a 6 x 16 tile in 12 ymm accumulators)
// and AVX-512 (an 8 x 32 tile in 16 zmm accumulators, twice the multiply-adds per
// instruction). Each element of C is the same chain of fused multiply-adds over k in both,
// and the K slices are the same, so the two give the same bits.
// A B strip (KC x NR floats) is reused by every row strip of an A block, so it should stay in
// L1: 256 x 32 floats of the AVX-512 kernel are 32 KiB of the 48. At 384 (48 KiB) the strip
// spilled to L2; 256 measured 7-10% faster on the conv shapes at one thread (128 to 1152 deep).
constexpr int64_t KC_MAX = 256;

// Below this many multiply-adds a GEMM runs on one thread: waking the pool costs more.
constexpr int64_t kThreadedWork = int64_t(1) << 21;

// A matrix read through strides: element (i, j) is at data[i * row_stride + j * col_stride].
// op(A), op(B) and C are all described this way, so a transpose is just swapped strides.
struct Strided {
  const float* data;
  int64_t row_stride, col_stride;
  float at(int64_t i, int64_t j) const { return data[i * row_stride + j * col_stride]; }
  Strided transposed() const { return {data, col_stride, row_stride}; }
};

// A[0:mc, 0:kc] into strips of MR rows, each laid out k-major: strip[k * MR + r].
// Both packers walk the source along its contiguous direction where it has one (reading
// a row of A along k, or a column of a transposed B along k), writing the strip with a
// stride instead: a strided write stays in the strip (in L1), a strided read misses cache.
template <int64_t MR>
void pack_a(Strided a, int64_t mc, int64_t kc, float* out) {
  for (int64_t i = 0; i < mc; i += MR, out += MR * kc) {
    const int64_t rows = std::min(MR, mc - i);
    if (a.col_stride == 1) {  // each row of A is contiguous along k
      for (int64_t r = 0; r < MR; ++r) {
        if (r >= rows) {
          for (int64_t k = 0; k < kc; ++k) out[k * MR + r] = 0.0f;
          continue;
        }
        const float* src = a.data + (i + r) * a.row_stride;
        for (int64_t k = 0; k < kc; ++k) out[k * MR + r] = src[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t r = 0; r < MR; ++r) out[k * MR + r] = r < rows ? a.at(i + r, k) : 0.0f;
    }
  }
}

// B[0:kc, 0:nc] into strips of NR columns, each laid out k-major: strip[k * NR + c].
template <int64_t NR>
void pack_b(Strided b, int64_t kc, int64_t nc, float* out) {
  for (int64_t j = 0; j < nc; j += NR) {
    const int64_t cols = std::min(NR, nc - j);
    if (b.row_stride == 1) {  // a transposed B: each column is contiguous along k
      for (int64_t c = 0; c < NR; ++c) {
        if (c >= cols) {
          for (int64_t k = 0; k < kc; ++k) out[k * NR + c] = 0.0f;
          continue;
        }
        const float* src = b.data + (j + c) * b.col_stride;
        for (int64_t k = 0; k < kc; ++k) out[k * NR + c] = src[k];
      }
      out += NR * kc;
      continue;
    }
    for (int64_t k = 0; k < kc; ++k, out += NR) {
      if (cols == NR && b.col_stride == 1) {
        std::memcpy(out, b.data + k * b.row_stride + j, NR * sizeof(float));
      } else {
        for (int64_t c = 0; c < NR; ++c) out[c] = c < cols ? b.at(k, j + c) : 0.0f;
      }
    }
  }
}

// C[0:rows, 0:cols] = alpha * (packed A strip * B strip), or += when `accumulate`. The B strip
// is NR floats per k, b_step floats apart: NR when packed, B's row stride when read in place;
// or, with kRowOffsets, row k of the strip starts at b + b_offsets[k] (gemm_path::*_rows).
// Twelve named accumulators rather than an array: GCC keeps named __m256 values in
// registers, but spills an array of them to the stack on every iteration.
// The part of a finished tile (values, rows of `ld` floats) that lies inside C, written element
// by element: the path for a ragged edge or a transposed C, shared by both micro-kernels.
void store_tile_elementwise(const float* values, int64_t ld, float alpha, float* c, int64_t c_row_stride,
                            int64_t c_col_stride, int64_t rows, int64_t cols, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      float& dst = c[r * c_row_stride + j * c_col_stride];
      const float product = alpha * values[r * ld + j];  // rounded as in the full-tile path
      dst = accumulate ? dst + product : product;
    }
  }
}

struct Avx2Kernel {
  static constexpr int64_t MR = 6, NR = 16;
  static constexpr int64_t MC = 72;  // an A block (MC x KC floats) stays in L2
  template <bool kRowOffsets>
  static void run(int64_t kc, const float* a, const float* b, int64_t b_step, const int64_t* b_offsets, float alpha,
                  float* c, int64_t c_row_stride, int64_t c_col_stride, int64_t rows, int64_t cols, bool accumulate);
};

template <bool kRowOffsets>
__attribute__((target("avx2,fma"))) void Avx2Kernel::run(int64_t kc, const float* a, const float* b, int64_t b_step,
                                                          const int64_t* b_offsets, float alpha, float* c,
                                                          int64_t c_row_stride, int64_t c_col_stride, int64_t rows,
                                                          int64_t cols, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k, a += MR) {
    const float* bk = kRowOffsets ? b + b_offsets[k] : b + k * b_step;
    const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00), c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10), c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20), c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30), c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40), c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50), c51 = _mm256_fmadd_ps(ai, b1, c51);
  }
  const __m256 tile[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows == MR && cols == NR && c_col_stride == 1) {  // a full tile of a row-major C
    const __m256 scale = _mm256_set1_ps(alpha);
    for (int64_t r = 0; r < MR; ++r) {
      float* dst = c + r * c_row_stride;
      __m256 lo = _mm256_mul_ps(scale, tile[r][0]), hi = _mm256_mul_ps(scale, tile[r][1]);
      if (accumulate) lo = _mm256_add_ps(lo, _mm256_loadu_ps(dst)), hi = _mm256_add_ps(hi, _mm256_loadu_ps(dst + 8));
      _mm256_storeu_ps(dst, lo);
      _mm256_storeu_ps(dst + 8, hi);
    }
    return;
  }
  alignas(32) float values[MR][NR];  // a ragged edge, or a transposed C: element by element
  for (int64_t r = 0; r < MR; ++r) {
    _mm256_store_ps(values[r], tile[r][0]);
    _mm256_store_ps(values[r] + 8, tile[r][1]);
  }
  store_tile_elementwise(&values[0][0], NR, alpha, c, c_row_stride, c_col_stride, rows, cols, accumulate);
}

// The AVX-512 tile: 8 rows x 32 columns, 16 zmm accumulators (8 rows x 2 halves of 16),
// named for the same reason as above. Per k: 2 loads of B, 8 broadcasts of A, 16 FMAs.
struct Avx512Kernel {
  static constexpr int64_t MR = 8, NR = 32;
  static constexpr int64_t MC = 96;
  template <bool kRowOffsets>
  static void run(int64_t kc, const float* a, const float* b, int64_t b_step, const int64_t* b_offsets, float alpha,
                  float* c, int64_t c_row_stride, int64_t c_col_stride, int64_t rows, int64_t cols, bool accumulate);
};

template <bool kRowOffsets>
__attribute__((target("avx512f"))) void Avx512Kernel::run(int64_t kc, const float* a, const float* b,
                                                           int64_t b_step, const int64_t* b_offsets, float alpha,
                                                           float* c, int64_t c_row_stride, int64_t c_col_stride,
                                                           int64_t rows, int64_t cols, bool accumulate) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  for (int64_t k = 0; k < kc; ++k, a += MR) {
    const float* bk = kRowOffsets ? b + b_offsets[k] : b + k * b_step;
    const __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + 16);
    __m512 ai = _mm512_set1_ps(a[0]);
    c00 = _mm512_fmadd_ps(ai, b0, c00), c01 = _mm512_fmadd_ps(ai, b1, c01);
    ai = _mm512_set1_ps(a[1]);
    c10 = _mm512_fmadd_ps(ai, b0, c10), c11 = _mm512_fmadd_ps(ai, b1, c11);
    ai = _mm512_set1_ps(a[2]);
    c20 = _mm512_fmadd_ps(ai, b0, c20), c21 = _mm512_fmadd_ps(ai, b1, c21);
    ai = _mm512_set1_ps(a[3]);
    c30 = _mm512_fmadd_ps(ai, b0, c30), c31 = _mm512_fmadd_ps(ai, b1, c31);
    ai = _mm512_set1_ps(a[4]);
    c40 = _mm512_fmadd_ps(ai, b0, c40), c41 = _mm512_fmadd_ps(ai, b1, c41);
    ai = _mm512_set1_ps(a[5]);
    c50 = _mm512_fmadd_ps(ai, b0, c50), c51 = _mm512_fmadd_ps(ai, b1, c51);
    ai = _mm512_set1_ps(a[6]);
    c60 = _mm512_fmadd_ps(ai, b0, c60), c61 = _mm512_fmadd_ps(ai, b1, c61);
    ai = _mm512_set1_ps(a[7]);
    c70 = _mm512_fmadd_ps(ai, b0, c70), c71 = _mm512_fmadd_ps(ai, b1, c71);
  }
  const __m512 tile[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                              {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  if (rows == MR && cols == NR && c_col_stride == 1) {  // a full tile of a row-major C
    const __m512 scale = _mm512_set1_ps(alpha);
    for (int64_t r = 0; r < MR; ++r) {
      float* dst = c + r * c_row_stride;
      __m512 lo = _mm512_mul_ps(scale, tile[r][0]), hi = _mm512_mul_ps(scale, tile[r][1]);
      if (accumulate) lo = _mm512_add_ps(lo, _mm512_loadu_ps(dst)), hi = _mm512_add_ps(hi, _mm512_loadu_ps(dst + 16));
      _mm512_storeu_ps(dst, lo);
      _mm512_storeu_ps(dst + 16, hi);
    }
    return;
  }
  alignas(64) float values[MR][NR];  // a ragged edge, or a transposed C: element by element
  for (int64_t r = 0; r < MR; ++r) {
    _mm512_store_ps(values[r], tile[r][0]);
    _mm512_store_ps(values[r] + 16, tile[r][1]);
  }
  store_tile_elementwise(&values[0][0], NR, alpha, c, c_row_stride, c_col_stride, rows, cols, accumulate);
}

// C *= beta, with beta == 0 writing zeros without reading C (it may hold NaN).
void scale_by_beta(int64_t M, int64_t N, float beta, float* c, int64_t c_row_stride, int64_t c_col_stride) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      float& dst = c[i * c_row_stride + j * c_col_stride];
      dst = beta == 0.0f ? 0.0f : beta * dst;
    }
  }
}

// C = alpha * A * B + beta * C on matrices given by strides. Threads split each block's
// column strips when called outside a parallel region (one big GEMM on all cores); each
// tile of C is still summed by one thread in a fixed order.
// With b_offsets (gemm_path::*_rows), row k of op(B) is the N floats at b.data + b_offsets[k]
// instead (b's strides are then unused): read in place like a row-major B.
template <typename Kernel>
void gemm_blocked(int64_t M, int64_t N, int64_t K, float alpha, Strided a, Strided b, float beta, float* c,
                  int64_t c_row_stride, int64_t c_col_stride, const int64_t* b_offsets = nullptr) {
  constexpr int64_t MR = Kernel::MR, NR = Kernel::NR, MC = Kernel::MC;
  // beta == 0 needs no pass over C (the first K slice writes every element) unless there
  // is no K slice at all; any beta other than 0 or 1 is applied up front.
  if (K == 0 || (beta != 0.0f && beta != 1.0f)) scale_by_beta(M, N, beta, c, c_row_stride, c_col_stride);
  if (K == 0) return;  // an empty sum: C is beta * C
  const bool accumulate = beta != 0.0f;

  // Equal K slices of at most KC_MAX: K = 288 is two slices of 144, not 256 + 32.
  const int64_t slices = (K + KC_MAX - 1) / KC_MAX;
  const int64_t KC = (K + slices - 1) / slices;
  thread_local std::vector<float> a_packed, b_packed;
  a_packed.resize(MC * KC);
  b_packed.resize(KC * ((N + NR - 1) / NR) * NR);
  // A row-major op(B) (the im2col matrix of a conv forward, dy in its input gradient) is read
  // in place, a full strip of NR columns at a time: packing would copy all of B once more for
  // a product that reads each element only M times. Only a ragged last strip is packed (its
  // zero padding keeps the micro-kernel's loads inside the strip).
  const bool b_in_place = b_offsets != nullptr || b.col_stride == 1;
  const int64_t full_strips_end = b_in_place ? N / NR * NR : 0;
  const bool threaded = !omp_in_parallel() && omp_get_max_threads() > 1 && M * N * K >= kThreadedWork;
  for (int64_t pc = 0; pc < K; pc += KC) {
    const int64_t kc = std::min(KC, K - pc);
    const float* b_slice = b.data + pc * b.row_stride;
    // Packed strips: all of them, or only the ragged last one when B is read in place (it
    // then sits at the start of b_packed).
    if (full_strips_end < N && b_offsets != nullptr) {
      const int64_t cols = N - full_strips_end;  // fewer than NR
      for (int64_t k = 0; k < kc; ++k) {
        const float* row = b.data + b_offsets[pc + k] + full_strips_end;
        for (int64_t j = 0; j < NR; ++j) b_packed[k * NR + j] = j < cols ? row[j] : 0.0f;
      }
    } else if (full_strips_end < N) {
      pack_b<NR>({b_slice + full_strips_end * b.col_stride, b.row_stride, b.col_stride}, kc, N - full_strips_end,
                 b_packed.data());
    }
    const bool add = accumulate || pc > 0;  // later K slices add to what the first wrote
    for (int64_t ic = 0; ic < M; ic += MC) {
      const int64_t mc = std::min(MC, M - ic);
      pack_a<MR>({a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride, a.col_stride}, mc, kc,
                 a_packed.data());
      const float* ap = a_packed.data();
      const float* bp = b_packed.data();
#pragma omp parallel for schedule(static) if (threaded)
      for (int64_t jr = 0; jr < N; jr += NR) {
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const bool in_place = jr < full_strips_end;
          float* c_tile = c + (ic + ir) * c_row_stride + jr * c_col_stride;
          const int64_t rows = std::min(MR, mc - ir), cols = std::min(NR, N - jr);
          if (in_place && b_offsets != nullptr) {
            Kernel::template run<true>(kc, ap + ir * kc, b.data + jr, 0, b_offsets + pc, alpha, c_tile,
                                       c_row_stride, c_col_stride, rows, cols, add);
          } else {
            const float* b_strip = in_place ? b_slice + jr : bp + (jr - full_strips_end) * kc;
            Kernel::template run<false>(kc, ap + ir * kc, b_strip, in_place ? b.row_stride : NR, nullptr, alpha,
                                        c_tile, c_row_stride, c_col_stride, rows, cols, add);
          }
        }
      }
    }
  }
}

// Tiles cover C in MR x NR pieces; a dimension that is not a multiple of the tile wastes
// the rest of its last tile (P = 49 columns fill 64). C^T = op(B)^T op(A)^T computes the
// same numbers with the roles of M and N swapped, so run the orientation that wastes less.
template <typename Kernel>
int64_t padded_work(int64_t rows, int64_t cols) {
  constexpr int64_t MR = Kernel::MR, NR = Kernel::NR;
  return (rows + MR - 1) / MR * MR * ((cols + NR - 1) / NR * NR);
}

template <typename Kernel>
void gemm_with(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // op(A)(i, k) and op(B)(k, j) as strided matrices.
  const Strided a = trans_a ? Strided{A, 1, lda} : Strided{A, lda, 1};
  const Strided b = trans_b ? Strided{B, 1, ldb} : Strided{B, ldb, 1};
  if (padded_work<Kernel>(N, M) * 10 < padded_work<Kernel>(M, N) * 9) {
    gemm_blocked<Kernel>(N, M, K, alpha, b.transposed(), a.transposed(), beta, C, 1, ldc);
  } else {
    gemm_blocked<Kernel>(M, N, K, alpha, a, b, beta, C, ldc, 1);
  }
}

// ---- the dot-product form (gemm_path::avx512_dot_rows / avx2_dot_rows) -----------------
// C[i, j] = alpha * <row i of A, row j of B> (+ C). Both rows are contiguous along k, so the
// kernel multiplies 16 consecutive k of each at once and keeps 16 partial sums per element
// (lane l sums k = l, l + 16, l + 32, ...), added in one fixed tree at the end. Nothing is
// packed: the rows are read where they are.
//
// Block: 4 rows of A x 6 rows of B, 24 elements of C at a time. AVX-512 holds each
// element's 16 lanes in one zmm (24 accumulators; per 16 k: 4 + 6 loads, 24 FMAs); AVX2
// holds them in two ymm (lanes 0-7 and 8-15) and takes the block as 2 x 3 pieces. Every lane
// does the same fused multiply-adds in the same order on both, and the tree is the same, so
// the two paths give the same bits. A ragged block repeats its last row (computed, not stored).
constexpr int64_t kDotRowsA = 4, kDotRowsB = 6;

// The fixed tree over 16 lanes, given as two halves of 8 (lanes 0-7, lanes 8-15):
// lane i + lane i+8, then i + i+4, then i + i+2, then i + i+1.
__attribute__((target("avx2"))) inline float sum_lanes(__m256 low, __m256 high) {
  const __m256 s8 = _mm256_add_ps(low, high);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// One finished element: C = alpha * sum (+ C), rounded as store_tile_elementwise does.
inline void store_dot(float sum, float alpha, float* dst, bool accumulate) {
  const float product = alpha * sum;
  *dst = accumulate ? *dst + product : product;
}

// Named accumulators rather than an array, as in the GEMM kernels above: GCC spills an array
// of vectors to the stack on every multiply-add. cRJ is element (row R of A, row J of B).
#define SC_DOT_COLUMN(J, LOAD)                                                       \
  {                                                                                  \
    const auto bv = LOAD(b[J] + k);                                                  \
    c0##J = FMA(a0, bv, c0##J), c1##J = FMA(a1, bv, c1##J), c2##J = FMA(a2, bv, c2##J); \
    c3##J = FMA(a3, bv, c3##J);                                                      \
  }
#define SC_DOT_STEP(LOAD)                                                                      \
  {                                                                                            \
    const auto a0 = LOAD(a[0] + k), a1 = LOAD(a[1] + k), a2 = LOAD(a[2] + k), a3 = LOAD(a[3] + k); \
    SC_DOT_COLUMN(0, LOAD) SC_DOT_COLUMN(1, LOAD) SC_DOT_COLUMN(2, LOAD)                       \
    SC_DOT_COLUMN(3, LOAD) SC_DOT_COLUMN(4, LOAD) SC_DOT_COLUMN(5, LOAD)                       \
  }

__attribute__((target("avx512f"))) void dot_block_avx512(int64_t K, const float* const* a, const float* const* b,
                                                          int64_t rows, int64_t cols, float alpha, float* c,
                                                          int64_t ldc, bool accumulate) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
  __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
  __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
  __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
#define FMA _mm512_fmadd_ps
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) SC_DOT_STEP(_mm512_loadu_ps)
  if (k < K) {  // the last K % 16: the lanes past K load zeros, and 0 * 0 adds nothing
    const __mmask16 mask = __mmask16((1u << (K - k)) - 1);
#define SC_LOAD_TAIL(p) _mm512_maskz_loadu_ps(mask, p)
    SC_DOT_STEP(SC_LOAD_TAIL)
#undef SC_LOAD_TAIL
  }
#undef FMA
  const __m512 tile[kDotRowsA][kDotRowsB] = {{c00, c01, c02, c03, c04, c05},
                                             {c10, c11, c12, c13, c14, c15},
                                             {c20, c21, c22, c23, c24, c25},
                                             {c30, c31, c32, c33, c34, c35}};
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      const __m512d lanes = _mm512_castps_pd(tile[r][j]);
      const float sum = sum_lanes(_mm256_castpd_ps(_mm512_castpd512_pd256(lanes)),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(lanes, 1)));
      store_dot(sum, alpha, c + r * ldc + j, accumulate);
    }
  }
}

// AVX2: the 4 x 6 block as 2 x 3 pieces; each element's 16 lanes are two ymm accumulators
// (lanes 0-7 and 8-15), 12 of the 16 registers. Per 16 k: lanes 0-7 of the piece, then 8-15.
#define SC_DOT2_HALF(OFF, LOAD, H)                                                               \
  {                                                                                             \
    const __m256 a0 = LOAD(ar0 + k + OFF), a1 = LOAD(ar1 + k + OFF);                            \
    __m256 bv = LOAD(br0 + k + OFF);                                                            \
    H##00 = _mm256_fmadd_ps(a0, bv, H##00), H##10 = _mm256_fmadd_ps(a1, bv, H##10);             \
    bv = LOAD(br1 + k + OFF);                                                                   \
    H##01 = _mm256_fmadd_ps(a0, bv, H##01), H##11 = _mm256_fmadd_ps(a1, bv, H##11);             \
    bv = LOAD(br2 + k + OFF);                                                                   \
    H##02 = _mm256_fmadd_ps(a0, bv, H##02), H##12 = _mm256_fmadd_ps(a1, bv, H##12);             \
  }

__attribute__((target("avx2,fma"))) void dot_block_avx2(int64_t K, const float* const* a, const float* const* b,
                                                         int64_t rows, int64_t cols, float alpha, float* c,
                                                         int64_t ldc, bool accumulate) {
  for (int64_t r0 = 0; r0 < rows; r0 += 2) {
    for (int64_t j0 = 0; j0 < cols; j0 += 3) {
      __m256 l00 = _mm256_setzero_ps(), l01 = l00, l02 = l00, l10 = l00, l11 = l00, l12 = l00;
      __m256 h00 = l00, h01 = l00, h02 = l00, h10 = l00, h11 = l00, h12 = l00;
      // a ragged block repeats its last row, as dot_rows_with gives the pointers (all 4 valid)
      const float *ar0 = a[r0], *ar1 = a[r0 + 1];
      const float *br0 = b[j0], *br1 = b[j0 + 1], *br2 = b[j0 + 2];
      int64_t k = 0;
      for (; k + 16 <= K; k += 16) {
        SC_DOT2_HALF(0, _mm256_loadu_ps, l)
        SC_DOT2_HALF(8, _mm256_loadu_ps, h)
      }
      if (k < K) {  // lanes past K load zeros, as the AVX-512 kernel's mask does
        alignas(32) static constexpr int32_t kLaneIndex[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        const __m256i lane_index = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLaneIndex));
        const int32_t left = int32_t(K - k);
        const __m256i mask_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane_index);
        const __m256i mask_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(left - 8), lane_index);
#define SC_LOAD_LO(p) _mm256_maskload_ps(p, mask_lo)
#define SC_LOAD_HI(p) _mm256_maskload_ps(p, mask_hi)
        SC_DOT2_HALF(0, SC_LOAD_LO, l)
        SC_DOT2_HALF(8, SC_LOAD_HI, h)
#undef SC_LOAD_LO
#undef SC_LOAD_HI
      }
      const __m256 low[2][3] = {{l00, l01, l02}, {l10, l11, l12}};
      const __m256 high[2][3] = {{h00, h01, h02}, {h10, h11, h12}};
      for (int64_t r = 0; r < 2 && r0 + r < rows; ++r)
        for (int64_t j = 0; j < 3 && j0 + j < cols; ++j)
          store_dot(sum_lanes(low[r][j], high[r][j]), alpha, c + (r0 + r) * ldc + j0 + j, accumulate);
    }
  }
}
#undef SC_DOT_COLUMN
#undef SC_DOT_STEP
#undef SC_DOT2_HALF

using DotBlock = void (*)(int64_t, const float* const*, const float* const*, int64_t, int64_t, float, float*, int64_t,
                          bool);

// Blocks of 6 rows of B outside, 4 rows of A inside: the 6 B rows stay in L1 while every row
// of A streams past them. Threads (outside a parallel region, enough work) split the B blocks;
// each element is still one chain, so the bits do not depend on the thread count.
void dot_rows_with(DotBlock block, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || (beta != 0.0f && beta != 1.0f)) scale_by_beta(M, N, beta, C, ldc, 1);
  if (K == 0) return;
  const bool accumulate = beta != 0.0f;
  const int64_t b_blocks = (N + kDotRowsB - 1) / kDotRowsB;
  const bool threaded = !omp_in_parallel() && omp_get_max_threads() > 1 && M * N * K >= kThreadedWork;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t jb = 0; jb < b_blocks; ++jb) {
    const int64_t j0 = jb * kDotRowsB, cols = std::min(kDotRowsB, N - j0);
    const float* b_rows[kDotRowsB];
    for (int64_t j = 0; j < kDotRowsB; ++j) b_rows[j] = B + b_offsets[j0 + std::min(j, cols - 1)];
    for (int64_t i0 = 0; i0 < M; i0 += kDotRowsA) {
      const int64_t rows = std::min(kDotRowsA, M - i0);
      const float* a_rows[kDotRowsA];
      for (int64_t r = 0; r < kDotRowsA; ++r) a_rows[r] = A + (i0 + std::min(r, rows - 1)) * lda;
      block(K, a_rows, b_rows, rows, cols, alpha, C + i0 * ldc + j0, ldc, accumulate);
    }
  }
}

}  // namespace

bool avx2_available() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

void avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_with<Avx2Kernel>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool avx512_available() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

void avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_with<Avx512Kernel>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void avx512_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                 const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_blocked<Avx512Kernel>(M, N, K, alpha, Strided{A, lda, 1}, Strided{B, 0, 1}, beta, C, ldc, 1, b_offsets);
}

void avx2_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
               const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_blocked<Avx2Kernel>(M, N, K, alpha, Strided{A, lda, 1}, Strided{B, 0, 1}, beta, C, ldc, 1, b_offsets);
}

void avx512_dot_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                     const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  dot_rows_with(&dot_block_avx512, M, N, K, alpha, A, lda, B, b_offsets, beta, C, ldc);
}

void avx2_dot_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                   const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  dot_rows_with(&dot_block_avx2, M, N, K, alpha, A, lda, B, b_offsets, beta, C, ldc);
}

#else  // not x86-64 (or not GCC / Clang): no AVX2 path

bool avx2_available() { return false; }
bool avx512_available() { return false; }

void avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  eigen<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Never called: rows() and dot_rows() are chosen only where avx2_available(); kept so that callers link.
void avx512_rows(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, const int64_t*, float, float*,
                 int64_t) {
  throw Error("avx512_rows: this build has no AVX-512 path");
}
void avx2_rows(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, const int64_t*, float, float*,
               int64_t) {
  throw Error("avx2_rows: this build has no AVX2 path");
}
void avx512_dot_rows(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, const int64_t*, float,
                     float*, int64_t) {
  throw Error("avx512_dot_rows: this build has no AVX-512 path");
}
void avx2_dot_rows(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, const int64_t*, float,
                   float*, int64_t) {
  throw Error("avx2_dot_rows: this build has no AVX2 path");
}

// Never chosen by gemm(), which asks avx2_available() first; kept so that callers link.
void avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  eigen<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

}  // namespace sc::kernels::cpu::gemm_path
