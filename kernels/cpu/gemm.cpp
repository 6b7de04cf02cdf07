// GEMM on the CPU: the entry point picks the path (see kernels/gemm.h), and the Eigen
// path lives here. It wraps the pointers in Eigen::Map (row-major, with the leading
// dimension as the outer stride) and Eigen's blocked GEMM does the arithmetic. A
// transposed operand is the transpose() of its map, which Eigen's packing reads
// directly, so no operand is ever copied here. The AVX2 path is in gemm_avx2.cpp.
#include "kernels/gemm.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "base/error.h"
#include "kernels/strided.h"

namespace sc::kernels::cpu {

namespace {

template <typename T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MatrixMap = Eigen::Map<RowMajorMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// C = alpha * a * b + beta * C, where a and b are maps or transposed maps and C a map
// or a block of one. `alpha * a * b` is a scaled product, which Eigen hands to its GEMM
// with alpha folded in.
template <typename T, typename MatC, typename OpA, typename OpB>
void multiply_into(MatC&& c, T alpha, const OpA& a, const OpB& b, T beta) {
  if (beta == T(0)) {
    c.noalias() = alpha * a * b;  // C is not read: BLAS semantics for beta == 0
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * a * b;
  }
}

// Eigen's GEMM picks its K blocking from the thread count it runs on, so a product split
// by Eigen between 2 threads sums in another order than on 1. Eigen is therefore built
// without its own threads (EIGEN_DONT_PARALLELIZE, CMakeLists.txt) and eigen() below cuts
// C into panels of this many rows or columns, a cut that depends only on M and N: each is one
// single-threaded Eigen product, whichever thread runs it, so the bits are the same on
// any thread count.
constexpr int64_t kEigenPanel = 128;
// Below this many multiply-adds, the panels run on the calling thread.
constexpr int64_t kEigenThreadedWork = int64_t(1) << 21;

// Below this many multiply-adds per matrix, one thread per matrix beats gemm() splitting
// each small product between threads.
constexpr int64_t kSmallGemm = 64 * 64 * 64;

}  // namespace

namespace gemm_path {

template <typename T>
void eigen(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
           int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  MatrixMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {  // an empty sum: the product is zero
    if (beta == T(0))
      c.setZero();
    else
      c *= beta;
    return;
  }
  // Each operand is mapped as it is stored; op() is then the map or its transpose.
  const ConstMatrixMap<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const ConstMatrixMap<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  // C is cut along its longer side into panels of kEigenPanel rows or columns: rows
  // [i, i + h) of C need only rows [i, i + h) of op(A), columns [j, j + w) only columns
  // [j, j + w) of op(B).
  const bool by_rows = M > N;
  const int64_t length = by_rows ? M : N;
  const int64_t panels = (length + kEigenPanel - 1) / kEigenPanel;
  auto run_panels = [&](const auto& op_a, const auto& op_b) {
    // Inside a parallel region (an op splitting its own work) this loop stays on its thread.
#pragma omp parallel for schedule(static) if (panels > 1 && M * N * K >= kEigenThreadedWork)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t first = p * kEigenPanel, size = std::min(kEigenPanel, length - first);
      if (by_rows)
        multiply_into(c.middleRows(first, size), alpha, op_a.middleRows(first, size), op_b, beta);
      else
        multiply_into(c.middleCols(first, size), alpha, op_a, op_b.middleCols(first, size), beta);
    }
  };
  if (!trans_a && !trans_b)
    run_panels(a, b);
  else if (!trans_a && trans_b)
    run_panels(a, b.transpose());
  else if (trans_a && !trans_b)
    run_panels(a.transpose(), b);
  else
    run_panels(a.transpose(), b.transpose());
}

Float32Path parse_float32_path(const std::string& name) {
  Float32Path path;
  if (name == "avx512")
    path = Float32Path::Avx512;
  else if (name == "avx2")
    path = Float32Path::Avx2;
  else if (name == "eigen")
    path = Float32Path::Eigen;
  else
    throw Error(detail::concat("SC_CPU_GEMM='", name, "' is not a CPU GEMM path: expected avx512, avx2 or eigen"));
  if ((path == Float32Path::Avx512 && !avx512_available()) || (path == Float32Path::Avx2 && !avx2_available()))
    throw Error(detail::concat("SC_CPU_GEMM='", name, "': this CPU does not have the instructions for it"));
  return path;
}

const char* path_name(Float32Path path) {
  switch (path) {
    case Float32Path::Avx512: return "avx512";
    case Float32Path::Avx2: return "avx2";
    case Float32Path::Eigen: return "eigen";
  }
  return "?";
}

Float32Path float32_path() {
  static const Float32Path path = [] {
    const char* forced = std::getenv("SC_CPU_GEMM");
    if (forced && *forced) return parse_float32_path(forced);
    if (avx512_available()) return Float32Path::Avx512;
    if (avx2_available()) return Float32Path::Avx2;
    return Float32Path::Eigen;
  }();
  return path;
}

}  // namespace gemm_path

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    switch (gemm_path::float32_path()) {
      case gemm_path::Float32Path::Avx512:
        return gemm_path::avx512(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      case gemm_path::Float32Path::Avx2:
        return gemm_path::avx2(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      case gemm_path::Float32Path::Eigen: break;
    }
  }
  gemm_path::eigen<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool dot_rows_available() { return gemm_path::float32_path() != gemm_path::Float32Path::Eigen; }

namespace {

// rows() and dot_rows() run the AVX-512 or the AVX2 form, as gemm() would; Eigen has neither.
template <typename... Args>
void on_hand_written_path(const char* what, void (*avx512)(Args...), void (*avx2)(Args...), Args... args) {
  switch (gemm_path::float32_path()) {
    case gemm_path::Float32Path::Avx512: return avx512(args...);
    case gemm_path::Float32Path::Avx2: return avx2(args...);
    case gemm_path::Float32Path::Eigen: break;
  }
  throw Error(detail::concat(what, ": the CPU GEMM path is eigen, which has no such form; ask dot_rows_available() first"));
}

}  // namespace

void rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  on_hand_written_path("rows", &gemm_path::avx512_rows, &gemm_path::avx2_rows, M, N, K, alpha, A, lda, B, b_offsets,
                       beta, C, ldc);
}

void dot_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
              const int64_t* b_offsets, float beta, float* C, int64_t ldc) {
  on_hand_written_path("dot_rows", &gemm_path::avx512_dot_rows, &gemm_path::avx2_dot_rows, M, N, K, alpha, A, lda, B,
                       b_offsets, beta, C, ldc);
}

template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c) {
  auto one = [&](int64_t i) {
    gemm<T>(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c, ldc);
  };
  // Two ways to use the threads: split the batch (each product then runs on one thread,
  // because gemm() stays serial inside a parallel region), or run the products one
  // after another and let gemm() split each. Splitting the batch wins for small matrices
  // and for batches that share out evenly; either way every element of C is computed by
  // one thread in a fixed order, so results do not change from run to run.
  const int threads = omp_get_max_threads();
  const int64_t work = M * N * K;
  const bool evenly = batch >= threads && (batch % threads == 0 || batch >= 4 * threads);
  const bool split_batch = batch > 1 && threads > 1 && (work < kSmallGemm || evenly);
  if (split_batch) {
#pragma omp parallel for schedule(static) if (batch * work >= kParallelGrain)
    for (int64_t i = 0; i < batch; ++i) one(i);
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_path::eigen<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                      const float*, int64_t, float, float*, int64_t);
template void gemm_path::eigen<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                       const double*, int64_t, double, double*, int64_t);
template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace sc::kernels::cpu
