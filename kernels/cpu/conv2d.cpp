// conv2d on the CPU: im2col + GEMM per image (see kernels/conv2d.h for the algebra).
//
// Threads: with at least as many images as threads, the images are split among the
// threads (OpenMP), each thread reuses one im2col buffer for all of its images, and the
// GEMM inside runs single-threaded. With fewer images than threads (inference on one
// image), the images run one after the other and each GEMM is split between the threads.
//
// The GEMM: float64 (gradient checks) goes to Eigen. float32 goes to the hand-written
// AVX2 + FMA GEMM below whenever the CPU has those instructions, checked at run time,
// so a build without -march flags (SC_NATIVE=OFF, where Eigen only gets SSE2) is as fast
// as a native one. Measured on the dev machine (Zen 4, one thread, the encoder's conv
// shapes, forward + both backward GEMMs): Eigen SSE2 ~31 GFLOP/s, Eigen built for
// AVX-512 ~68, this GEMM ~72-84.
#include "kernels/conv2d.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace sc::kernels::cpu {

namespace {

// ---- GEMM ---------------------------------------------------------------------------
// Every matrix is row-major with a leading dimension (the distance between rows):
//   C [M,N] = op(A) * op(B), or C += op(A) * op(B) when `accumulate`,
// op(A) [M,K] is A stored [M,K], or A stored [K,M] and read transposed (`a_transposed`);
// op(B) [K,N] likewise.
struct GemmArgs {
  int64_t M, N, K;
  bool a_transposed, b_transposed, accumulate;
  int64_t lda, ldb, ldc;
};

template <typename T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatrixMap = Eigen::Map<RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// The portable path: Eigen's blocked GEMM (float64, and float32 on CPUs without AVX2).
template <typename T>
void gemm_eigen(const GemmArgs& g, const T* A, const T* B, T* C) {
  MatrixMap<T> c(C, g.M, g.N, Eigen::OuterStride<>(g.ldc));
  const ConstMatrixMap<T> a(A, g.a_transposed ? g.K : g.M, g.a_transposed ? g.M : g.K, Eigen::OuterStride<>(g.lda));
  const ConstMatrixMap<T> b(B, g.b_transposed ? g.N : g.K, g.b_transposed ? g.K : g.N, Eigen::OuterStride<>(g.ldb));
  auto run = [&](const auto& lhs, const auto& rhs) {
    if (g.accumulate)
      c.noalias() += lhs * rhs;
    else
      c.noalias() = lhs * rhs;
  };
  if (!g.a_transposed && !g.b_transposed) run(a, b);
  if (g.a_transposed && !g.b_transposed) run(a.transpose(), b);
  if (!g.a_transposed && g.b_transposed) run(a, b.transpose());
  if (g.a_transposed && g.b_transposed) run(a.transpose(), b.transpose());
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SC_CONV_HAS_AVX2_GEMM 1
// A float32 GEMM for CPUs with AVX2 + FMA, chosen at run time, so the build needs no
// -march flag and still runs on any x86-64. It is the classic blocked GEMM (Goto / BLIS):
//   for each KC-deep slice of K:     pack that slice of op(B) into NR-wide column strips
//     for each MC-tall block of rows: pack op(A) into MR-tall row strips
//       for each pair of strips:      the micro-kernel adds an MR x NR tile of C
// Packing puts the numbers a micro-kernel reads next to each other (and pads ragged
// edges with zeros), so the micro-kernel streams both strips from cache.
namespace avx2 {

constexpr int64_t MR = 6, NR = 16;  // 6 x 16 tile = 12 ymm accumulators
constexpr int64_t MC = 72;          // an A block (MC x KC floats) stays in L2
constexpr int64_t KC_MAX = 384;     // a B strip (KC x NR floats) stays in L1

// A matrix read through strides: element (i, j) is at data[i * row_stride + j * col_stride].
struct Strided {
  const float* data;
  int64_t row_stride, col_stride;
  float at(int64_t i, int64_t j) const { return data[i * row_stride + j * col_stride]; }
};

// A[0:mc, 0:kc] into strips of MR rows, each laid out k-major: strip[k * MR + r].
void pack_a(Strided a, int64_t mc, int64_t kc, float* out) {
  for (int64_t i = 0; i < mc; i += MR) {
    const int64_t rows = std::min(MR, mc - i);
    for (int64_t k = 0; k < kc; ++k, out += MR)
      for (int64_t r = 0; r < MR; ++r) out[r] = r < rows ? a.at(i + r, k) : 0.0f;
  }
}

// B[0:kc, 0:nc] into strips of NR columns, each laid out k-major: strip[k * NR + c].
void pack_b(Strided b, int64_t kc, int64_t nc, float* out) {
  for (int64_t j = 0; j < nc; j += NR) {
    const int64_t cols = std::min(NR, nc - j);
    for (int64_t k = 0; k < kc; ++k, out += NR) {
      if (cols == NR && b.col_stride == 1) {
        std::memcpy(out, b.data + k * b.row_stride + j, NR * sizeof(float));
      } else {
        for (int64_t c = 0; c < NR; ++c) out[c] = c < cols ? b.at(k, j + c) : 0.0f;
      }
    }
  }
}

// C[0:rows, 0:cols] (+)= the product of one packed A strip and one packed B strip.
// Twelve named accumulators rather than an array: GCC keeps named __m256 values in
// registers, but spills an array of them to the stack on every iteration.
__attribute__((target("avx2,fma"))) void micro_kernel(int64_t kc, const float* a, const float* b, float* c,
                                                      int64_t c_row_stride, int64_t c_col_stride, int64_t rows,
                                                      int64_t cols, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
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
    for (int64_t r = 0; r < MR; ++r) {
      float* dst = c + r * c_row_stride;
      __m256 lo = tile[r][0], hi = tile[r][1];
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
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      float& dst = c[r * c_row_stride + j * c_col_stride];
      dst = accumulate ? dst + values[r][j] : values[r][j];
    }
  }
}

// C (+)= A * B on matrices given by strides. Threads split each block's column strips when
// called outside a parallel region (one image's GEMM on all cores).
void gemm_blocked(int64_t M, int64_t N, int64_t K, Strided a, Strided b, float* c, int64_t c_row_stride,
                  int64_t c_col_stride, bool accumulate) {
  if (K == 0) {  // an empty sum
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) c[i * c_row_stride + j * c_col_stride] = 0.0f;
    return;
  }
  // Equal K slices of at most KC_MAX: K = 288 is one slice of 288, not 256 + 32.
  const int64_t slices = (K + KC_MAX - 1) / KC_MAX;
  const int64_t KC = (K + slices - 1) / slices;
  thread_local std::vector<float> a_packed, b_packed;
  a_packed.resize(MC * KC);
  b_packed.resize(KC * ((N + NR - 1) / NR) * NR);
  const bool threaded = !omp_in_parallel() && omp_get_max_threads() > 1 && M * N * K >= (int64_t(1) << 21);
  for (int64_t pc = 0; pc < K; pc += KC) {
    const int64_t kc = std::min(KC, K - pc);
    pack_b({b.data + pc * b.row_stride, b.row_stride, b.col_stride}, kc, N, b_packed.data());
    const bool add = accumulate || pc > 0;  // later K slices add to what the first wrote
    for (int64_t ic = 0; ic < M; ic += MC) {
      const int64_t mc = std::min(MC, M - ic);
      pack_a({a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride, a.col_stride}, mc, kc, a_packed.data());
      const float* ap = a_packed.data();
      const float* bp = b_packed.data();
#pragma omp parallel for schedule(static) if (threaded)
      for (int64_t jr = 0; jr < N; jr += NR) {
        for (int64_t ir = 0; ir < mc; ir += MR) {
          micro_kernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * c_row_stride + jr * c_col_stride, c_row_stride,
                       c_col_stride, std::min(MR, mc - ir), std::min(NR, N - jr), add);
        }
      }
    }
  }
}

// Tiles cover C in MR x NR pieces; a dimension that is not a multiple of the tile wastes
// the rest of its last tile (P = 49 columns fill 64). C^T = op(B)^T op(A)^T computes the
// same numbers with the roles of M and N swapped, so run the orientation that wastes less.
int64_t padded_work(int64_t rows, int64_t cols) { return (rows + MR - 1) / MR * MR * ((cols + NR - 1) / NR * NR); }

void gemm(const GemmArgs& g, const float* A, const float* B, float* C) {
  // op(A)(i, k) and op(B)(k, j) as strided matrices.
  const Strided a = g.a_transposed ? Strided{A, 1, g.lda} : Strided{A, g.lda, 1};
  const Strided b = g.b_transposed ? Strided{B, 1, g.ldb} : Strided{B, g.ldb, 1};
  if (padded_work(g.N, g.M) * 10 < padded_work(g.M, g.N) * 9) {
    const Strided bt{b.data, b.col_stride, b.row_stride}, at{a.data, a.col_stride, a.row_stride};
    gemm_blocked(g.N, g.M, g.K, bt, at, C, 1, g.ldc, g.accumulate);
  } else {
    gemm_blocked(g.M, g.N, g.K, a, b, C, g.ldc, 1, g.accumulate);
  }
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace avx2
#endif

template <typename T>
void gemm(const GemmArgs& g, const T* A, const T* B, T* C) {
#ifdef SC_CONV_HAS_AVX2_GEMM
  if constexpr (std::is_same_v<T, float>) {
    if (avx2::cpu_has_avx2_fma()) return avx2::gemm(g, A, B, C);
  }
#endif
  gemm_eigen(g, A, B, C);
}

// A scratch buffer: Eigen's vector allocates aligned memory and does not zero it.
template <typename T>
using Buffer = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// ---- im2col / col2im ------------------------------------------------------------------
// The output indices o in [lo, hi) of [0, count) whose input index first + o*step lies
// in [0, limit): outside that range a patch reads zero padding.
struct ValidRange {
  int64_t lo, hi;
};
ValidRange valid_range(int64_t first, int64_t step, int64_t limit, int64_t count) {
  const int64_t lo = first >= 0 ? 0 : (-first + step - 1) / step;
  const int64_t hi = first > limit - 1 ? 0 : (limit - 1 - first) / step + 1;
  return {std::min(lo, count), std::clamp(hi, std::min(lo, count), count)};
}

// A 1x1 kernel with stride 1 and no padding reads every pixel once, in order:
// the im2col matrix of an image is the image itself, so no copy is needed.
bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Threads for a loop over n images: all of them, or 1 when there are too few images
// to keep every thread busy (then each GEMM is threaded instead).
int image_threads(int64_t n) {
  const int t = omp_get_max_threads();
  return n >= t ? t : 1;
}

}  // namespace

template <typename T>
void im2col(const T* x_img, T* col, const Conv2dShape& s) {
  const int64_t P = s.P();
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((c * s.KH + kh) * s.KW + kw) * P;
        const int64_t w_first = kw * s.dilation_w - s.pad_w;  // input column seen by output column 0
        const ValidRange ow = valid_range(w_first, s.stride_w, s.W, s.OW);
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          T* dst = row + oh * s.OW;
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (ih < 0 || ih >= s.H) {
            std::fill(dst, dst + s.OW, T(0));
            continue;
          }
          const T* in_row = x_img + (c * s.H + ih) * s.W;
          std::fill(dst, dst + ow.lo, T(0));
          if (s.stride_w == 1) {  // a contiguous run: a plain (vectorised) copy
            std::copy(in_row + w_first + ow.lo, in_row + w_first + ow.hi, dst + ow.lo);
          } else {
            for (int64_t o = ow.lo; o < ow.hi; ++o) dst[o] = in_row[w_first + o * s.stride_w];
          }
          std::fill(dst + ow.hi, dst + s.OW, T(0));
        }
      }
    }
  }
}

template <typename T>
void col2im(const T* col, T* x_img, const Conv2dShape& s) {
  const int64_t P = s.P();
  std::fill(x_img, x_img + s.C * s.H * s.W, T(0));
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* row = col + ((c * s.KH + kh) * s.KW + kw) * P;
        const int64_t w_first = kw * s.dilation_w - s.pad_w;
        const ValidRange ow = valid_range(w_first, s.stride_w, s.W, s.OW);
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (ih < 0 || ih >= s.H) continue;  // that tap read padding: nothing to give back
          const T* src = row + oh * s.OW;
          T* in_row = x_img + (c * s.H + ih) * s.W;
          for (int64_t o = ow.lo; o < ow.hi; ++o) in_row[w_first + o * s.stride_w] += src[o];
        }
      }
    }
  }
}

template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  const int64_t K = s.K(), P = s.P();
  const bool pointwise = is_pointwise(s);
  const int threads = image_threads(s.N);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<T> col(pointwise ? 0 : K * P);  // one per thread, reused for each of its images
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      const T* x_img = x + n * s.C * s.H * s.W;
      T* y_img = y + n * s.O * P;
      if (!pointwise) im2col(x_img, col.data(), s);
      gemm<T>({s.O, P, K, false, false, false, K, P, P}, weight, pointwise ? x_img : col.data(), y_img);
      if (bias != nullptr)
        for (int64_t o = 0; o < s.O; ++o)
          for (int64_t p = 0; p < P; ++p) y_img[o * P + p] += bias[o];
    }
  }
}

template <typename T>
void conv2d_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s) {
  const int64_t K = s.K(), P = s.P();
  const bool pointwise = is_pointwise(s);
  const int threads = image_threads(s.N);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<T> dcol(pointwise ? 0 : K * P);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      T* dx_img = grad_x + n * s.C * s.H * s.W;
      // dcol = W^T dy: the gradient of every patch entry; col2im adds the entries
      // that came from the same input pixel.
      gemm<T>({K, P, s.O, true, false, false, K, P, P}, weight, grad_y + n * s.O * P, pointwise ? dx_img : dcol.data());
      if (!pointwise) col2im(dcol.data(), dx_img, s);
    }
  }
}

template <typename T>
void conv2d_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s) {
  const int64_t K = s.K(), P = s.P(), OK = s.O * K;
  const bool pointwise = is_pointwise(s);
  const int chunks = image_threads(s.N);
  // Chunk 0 sums straight into grad_weight, chunk c > 0 into partial[c-1].
  Buffer<T> partial((chunks - 1) * OK);
#pragma omp parallel num_threads(chunks) if (chunks > 1)
  {
    Buffer<T> col(pointwise ? 0 : K * P);
#pragma omp for schedule(static)
    for (int chunk = 0; chunk < chunks; ++chunk) {
      T* dw = chunk == 0 ? grad_weight : partial.data() + (chunk - 1) * OK;
      const int64_t first = s.N * chunk / chunks, last = s.N * (chunk + 1) / chunks;
      if (first == last) std::fill(dw, dw + OK, T(0));
      for (int64_t n = first; n < last; ++n) {
        const T* x_img = x + n * s.C * s.H * s.W;
        if (!pointwise) im2col(x_img, col.data(), s);
        // dW += dy_n col^T
        gemm<T>({s.O, K, P, false, true, n != first, P, P, K}, grad_y + n * s.O * P, pointwise ? x_img : col.data(), dw);
      }
    }
  }
  // Add the chunk sums in chunk order: the same result on every run.
  for (int chunk = 1; chunk < chunks; ++chunk) {
    const T* part = partial.data() + (chunk - 1) * OK;
    for (int64_t i = 0; i < OK; ++i) grad_weight[i] += part[i];
  }
}

template <typename T>
void conv2d_backward_bias(const T* grad_y, T* grad_bias, const Conv2dShape& s) {
  const int64_t P = s.P();
#pragma omp parallel for schedule(static) if (s.N * s.O * P >= 32768)
  for (int64_t o = 0; o < s.O; ++o) {
    // Each image's row is summed in T with Eigen's vectorised sum, the rows in double:
    // a float32 running sum over N*P ~ 1e5 terms would lose digits.
    double acc = 0;
    for (int64_t n = 0; n < s.N; ++n) acc += Eigen::Map<const Buffer<T>>(grad_y + (n * s.O + o) * P, P).sum();
    grad_bias[o] = static_cast<T>(acc);
  }
}

#define SC_INSTANTIATE_CONV2D(T)                                                            \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);    \
  template void conv2d_backward_input<T>(const T*, const T*, T*, const Conv2dShape&);       \
  template void conv2d_backward_weight<T>(const T*, const T*, T*, const Conv2dShape&);      \
  template void conv2d_backward_bias<T>(const T*, T*, const Conv2dShape&);                  \
  template void im2col<T>(const T*, T*, const Conv2dShape&);                                \
  template void col2im<T>(const T*, T*, const Conv2dShape&);
SC_INSTANTIATE_CONV2D(float)
SC_INSTANTIATE_CONV2D(double)
#undef SC_INSTANTIATE_CONV2D

}  // namespace sc::kernels::cpu
