// matmul and the GEMM kernel against a naive triple loop; concat, stack and
// index_select on hand-worked examples; every bad-input class of the four ops.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/ops.h"
#include "kernels/gemm.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

Tensor int_index(std::vector<int64_t> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return from_vector(values, {n});
}

// C = A B for row-major [M,K] x [K,N] in double, with scale[i,j] = sum_k |A_ik B_kj|,
// the size a float32 rounding error is measured against (a sum may cancel to ~0).
struct Reference {
  std::vector<double> value, scale;
};
Reference naive_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t M, int64_t N, int64_t K) {
  Reference r{std::vector<double>(M * N, 0.0), std::vector<double>(M * N, 0.0)};
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) {
        const double p = static_cast<double>(a[i * K + k]) * b[k * N + j];
        r.value[i * N + j] += p;
        r.scale[i * N + j] += std::abs(p);
      }
  return r;
}

// |got - ref| <= rtol * scale for every element of every matrix of the batch.
void check_against_naive(const Tensor& a, const Tensor& b, const Tensor& c, double rtol = 1e-5) {
  const bool batched = a.dim() == 3;
  const int64_t batch = batched ? a.size(0) : 1;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  REQUIRE(c.shape() == (batched ? Shape{batch, M, N} : Shape{M, N}));
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(), cv = c.to_vector<float>();
  double worst = 0;
  for (int64_t i = 0; i < batch; ++i) {
    const std::vector<float> ai(av.begin() + i * M * K, av.begin() + (i + 1) * M * K);
    const std::vector<float> bi(bv.begin() + i * K * N, bv.begin() + (i + 1) * K * N);
    const Reference r = naive_matmul(ai, bi, M, N, K);
    for (int64_t e = 0; e < M * N; ++e) {
      const double err = std::abs(cv[i * M * N + e] - r.value[e]) / (rtol * r.scale[e] + 1e-30);
      if (!(err <= worst)) worst = err;
    }
  }
  CHECK(worst <= 1.0);
}

}  // namespace

TEST_CASE("matmul: float32 agrees with a naive triple loop at 67x129x33 (relative 1e-5)") {
  Generator g(7);
  const int64_t M = 67, K = 129, N = 33;
  SUBCASE("contiguous") {
    Tensor a = randn({M, K}, g), b = randn({K, N}, g);
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("a transposed view (read with trans_a, no copy)") {
    Tensor a = randn({K, M}, g).t(), b = randn({K, N}, g);
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("b transposed view") {
    Tensor a = randn({M, K}, g), b = randn({N, K}, g).t();
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("both transposed views") {
    Tensor a = randn({K, M}, g).t(), b = randn({N, K}, g).t();
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("column slices (leading dimension > width)") {
    Tensor a = randn({M, K + 5}, g).narrow(1, 3, K), b = randn({K, N + 4}, g).narrow(1, 1, N);
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("a layout GEMM cannot read (copied first)") {
    Tensor a = randn({M, 1}, g).expand({M, K}), b = randn({K, N, 2}, g).narrow(2, 1, 1).squeeze(2);
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("batched [3,67,129] x [3,129,33], a transposed per matrix") {
    Tensor a = randn({3, K, M}, g).transpose(1, 2), b = randn({3, K, N}, g);
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("batched with b broadcast over the batch (stride 0)") {
    Tensor a = randn({5, M, K}, g), b = randn({1, K, N}, g).expand({5, K, N});
    check_against_naive(a, b, matmul(a, b));
  }
  SUBCASE("many small matrices (the batch is split between threads)") {
    Tensor a = randn({40, 5, 7}, g), b = randn({40, 7, 3}, g);
    check_against_naive(a, b, matmul(a, b));
  }
}

TEST_CASE("gemm kernel: alpha, beta, leading dims and all four transposes") {
  Generator g(11);
  const int64_t M = 13, N = 9, K = 17, pad = 3;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      CAPTURE(ta);
      CAPTURE(tb);
      // Operands stored as op() requires, with padded rows.
      const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
      const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
      std::vector<double> A = randn({a_rows, lda}, g, DType::Float64).to_vector<double>();
      std::vector<double> B = randn({b_rows, ldb}, g, DType::Float64).to_vector<double>();
      std::vector<double> C0 = randn({M, ldc}, g, DType::Float64).to_vector<double>();
      auto a_at = [&](int64_t i, int64_t k) { return ta ? A[k * lda + i] : A[i * lda + k]; };
      auto b_at = [&](int64_t k, int64_t j) { return tb ? B[j * ldb + k] : B[k * ldb + j]; };

      // beta != 0: C = 0.5 op(A) op(B) - 2 C
      std::vector<double> C = C0;
      kernels::cpu::gemm<double>(ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, -2.0, C.data(), ldc);
      // beta == 0: C starts as NaN and must not leak through.
      std::vector<double> D(M * ldc, std::numeric_limits<double>::quiet_NaN());
      kernels::cpu::gemm<double>(ta, tb, M, N, K, 1.0, A.data(), lda, B.data(), ldb, 0.0, D.data(), ldc);
      double worst_c = 0, worst_d = 0;
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          double dot = 0;
          for (int64_t k = 0; k < K; ++k) dot += a_at(i, k) * b_at(k, j);
          worst_c = std::max(worst_c, std::abs(C[i * ldc + j] - (0.5 * dot - 2.0 * C0[i * ldc + j])));
          const double d_err = std::abs(D[i * ldc + j] - dot);
          if (!(d_err <= worst_d)) worst_d = d_err;
        }
        for (int64_t j = N; j < ldc; ++j) {  // the padding of C is never touched
          CHECK(C[i * ldc + j] == C0[i * ldc + j]);
          CHECK(std::isnan(D[i * ldc + j]));
        }
      }
      CHECK(worst_c < 1e-12);
      CHECK(worst_d < 1e-12);
    }
  }
}

TEST_CASE("gemm kernel: K = 0 gives beta * C; M or N = 0 writes nothing") {
  std::vector<float> C(6, std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::gemm<float>(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, C.data(), 3);
  CHECK(C == std::vector<float>(6, 0.0f));
  std::vector<float> D(6, 2.0f);
  kernels::cpu::gemm<float>(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 1.5f, D.data(), 3);
  CHECK(D == std::vector<float>(6, 3.0f));
  kernels::cpu::gemm<float>(false, false, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 3);
}

// ---- the two GEMM paths (kernels/gemm.h, gemm_path) ------------------------------------
// gemm<float> runs the hand-written AVX2 GEMM on CPUs that have AVX2 + FMA and Eigen
// elsewhere; both paths are called directly here, so each is tested on every machine
// that can run it, whatever gemm() would pick.

namespace {

using GemmF32 = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                         float, float*, int64_t);

struct GemmPath {
  std::string name;
  GemmF32 run;
};

std::vector<GemmPath> float_gemm_paths() {
  std::vector<GemmPath> paths = {{"gemm()", &kernels::cpu::gemm<float>},
                                 {"eigen", &kernels::cpu::gemm_path::eigen<float>}};
  if (kernels::cpu::gemm_path::avx2_available())
    paths.push_back({"avx2", &kernels::cpu::gemm_path::avx2});
  else
    MESSAGE("this CPU has no AVX2 + FMA: the AVX2 GEMM path is not tested");
  if (kernels::cpu::gemm_path::avx512_available())
    paths.push_back({"avx512", &kernels::cpu::gemm_path::avx512});
  else
    MESSAGE("this CPU has no AVX-512: the AVX-512 GEMM path is not tested");
  return paths;
}

// C (rows ldc apart) against alpha * sum_k a(i, k) b(k, j) + beta * C0 in double, element by
// element, held to float32 rounding measured against the size of the terms (a sum may cancel to
// ~0); and the padding columns past N must still hold C0's values. a and b read the operands
// however the form under test lays them out.
void check_against_loop(int64_t M, int64_t N, int64_t K, float alpha, float beta,
                        const std::function<double(int64_t, int64_t)>& a,
                        const std::function<double(int64_t, int64_t)>& b, const std::vector<float>& C0,
                        const std::vector<float>& C, int64_t ldc) {
  int64_t bad = 0, bad_padding = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double dot = 0, scale = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double term = a(i, k) * b(k, j);
        dot += term, scale += std::abs(term);
      }
      const double c0 = beta == 0.0f ? 0.0 : C0[i * ldc + j];
      const double want = alpha * dot + beta * c0;
      const double tol = 2e-5 * (std::abs(alpha) * scale + std::abs(beta * c0)) + 1e-30;
      if (!(std::abs(C[i * ldc + j] - want) <= tol)) ++bad;
    }
    for (int64_t j = N; j < ldc; ++j) {
      const float got = C[i * ldc + j], was = C0[i * ldc + j];
      if (!(got == was || (std::isnan(got) && std::isnan(was)))) ++bad_padding;
    }
  }
  CHECK(bad == 0);
  CHECK(bad_padding == 0);
}

// One GEMM through `path` with padded leading dims, checked element by element against a
// double-precision loop: C = alpha op(A) op(B) + beta C0. C0 is NaN when beta == 0 (it
// must not leak through). The padding columns of C must come back untouched.
void check_gemm_path(const GemmPath& path, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                     Generator& g) {
  const int64_t pad = 5;
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
  const std::vector<float> A = randn({a_rows, lda}, g).to_vector<float>();
  const std::vector<float> B = randn({b_rows, ldb}, g).to_vector<float>();
  std::vector<float> C0 = randn({M, ldc}, g).to_vector<float>();
  if (beta == 0.0f) std::fill(C0.begin(), C0.end(), std::numeric_limits<float>::quiet_NaN());
  auto a_at = [&](int64_t i, int64_t k) { return double(ta ? A[k * lda + i] : A[i * lda + k]); };
  auto b_at = [&](int64_t k, int64_t j) { return double(tb ? B[j * ldb + k] : B[k * ldb + j]); };

  std::vector<float> C = C0;
  path.run(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  CAPTURE(path.name);
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  CAPTURE(alpha);
  CAPTURE(beta);
  check_against_loop(M, N, K, alpha, beta, a_at, b_at, C0, C, ldc);
}

}  // namespace

TEST_CASE("gemm paths: float32 AVX2 and Eigen against a naive loop, all transposes, odd sizes") {
  Generator g(23);
  struct Size {
    int64_t M, N, K;
  };
  // Sizes around the AVX2 GEMM's blocking: a 6 x 16 tile, MC = 72 rows per A block,
  // K slices of at most 256. Ragged edges in every direction; N = 3 makes it run the
  // transposed orientation (C^T = B^T A^T); K = 400 and 800 split K into slices.
  // The AVX-512 kernel's 8 x 32 tile and MC = 96: {8, 32}, {9, 33}, {97, 65}.
  const Size sizes[] = {{1, 1, 1},     {6, 16, 8},   {7, 17, 3},    {13, 33, 29},   {73, 47, 19}, {100, 3, 50},
                        {3, 100, 50},  {71, 45, 400}, {150, 40, 800}, {8, 32, 5},     {9, 33, 17},  {97, 65, 31}};
  for (const GemmPath& path : float_gemm_paths()) {
    for (const Size& s : sizes) {
      for (int ta = 0; ta < 2; ++ta) {
        for (int tb = 0; tb < 2; ++tb) {
          check_gemm_path(path, ta, tb, s.M, s.N, s.K, 1.0f, 0.0f, g);     // C = AB, C starts NaN
          check_gemm_path(path, ta, tb, s.M, s.N, s.K, 1.0f, 1.0f, g);     // C += AB
          check_gemm_path(path, ta, tb, s.M, s.N, s.K, 0.75f, -0.5f, g);  // the general case
        }
      }
    }
  }
}

TEST_CASE("gemm paths: the AVX-512 and AVX2 micro-kernels give the same bits") {
  if (!kernels::cpu::gemm_path::avx512_available() || !kernels::cpu::gemm_path::avx2_available()) {
    MESSAGE("this CPU lacks AVX-512 or AVX2: nothing to compare");
    return;
  }
  Generator g(29);
  // Encoder-like shapes (conv forward, both backward GEMMs) and ragged ones, both betas.
  const int64_t shapes[][3] = {{16, 784, 9}, {32, 784, 144}, {288, 196, 32}, {64, 576, 196}, {37, 91, 401}};
  for (const auto& shape : shapes) {
    const int64_t M = shape[0], N = shape[1], K = shape[2];
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const std::vector<float> A = randn({M * K}, g).to_vector<float>();
        const std::vector<float> B = randn({K * N}, g).to_vector<float>();
        const std::vector<float> C0 = randn({M * N}, g).to_vector<float>();
        std::vector<float> c_avx2 = C0, c_avx512 = C0;
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        for (const float beta : {0.0f, 1.0f}) {
          kernels::cpu::gemm_path::avx2(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, c_avx2.data(), N);
          kernels::cpu::gemm_path::avx512(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta,
                                          c_avx512.data(), N);
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(beta);
          CHECK(std::memcmp(c_avx2.data(), c_avx512.data(), c_avx2.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

// ---- the dot-product form (kernels/gemm.h, dot_rows) ----------------------------------------

namespace {

using DotRowsF32 = void (*)(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, const int64_t*,
                            float, float*, int64_t);

std::vector<std::pair<std::string, DotRowsF32>> dot_rows_paths() {
  std::vector<std::pair<std::string, DotRowsF32>> paths;
  if (kernels::cpu::gemm_path::avx2_available()) paths.emplace_back("avx2", &kernels::cpu::gemm_path::avx2_dot_rows);
  if (kernels::cpu::gemm_path::avx512_available())
    paths.emplace_back("avx512", &kernels::cpu::gemm_path::avx512_dot_rows);
  if (paths.empty()) MESSAGE("this CPU has neither AVX2 nor AVX-512: dot_rows is not tested");
  return paths;
}

// B's rows in reverse order with gaps of 3 floats between them, so that no fixed stride
// would find them: row j starts at offsets[j].
struct ScatteredRows {
  std::vector<float> data;
  std::vector<int64_t> offsets;
};
ScatteredRows scattered_rows(int64_t N, int64_t K, Generator& g) {
  ScatteredRows b;
  b.data = randn({N * (K + 3) + 1}, g).to_vector<float>();
  for (int64_t j = 0; j < N; ++j) b.offsets.push_back((N - 1 - j) * (K + 3) + 1);
  return b;
}

// The two row-table forms (kernels/gemm.h), checked alike: dot_rows reads row j of B (K values
// from offsets[j]), rows() row k of B (N values from offsets[k]). B's rows are scattered
// (scattered_rows), C has padding columns, and C0 is NaN when beta == 0 (it must not leak
// through). Each path against the naive loop, then every path against the first, bit for bit:
// the AVX-512 and AVX2 kernels run the same chain of multiply-adds per element.
enum class RowForm { Dot, Gemm };

void check_row_form(RowForm form, const std::vector<std::pair<std::string, DotRowsF32>>& paths, int64_t M, int64_t N,
                    int64_t K, float beta, Generator& g) {
  const float alpha = beta == -0.5f ? 0.75f : 1.0f;
  const int64_t lda = K + 1, ldc = N + 3;
  const std::vector<float> A = randn({M * lda + 1}, g).to_vector<float>();
  const ScatteredRows B = form == RowForm::Dot ? scattered_rows(N, K, g) : scattered_rows(K, N, g);
  std::vector<float> C0 = randn({M * ldc}, g).to_vector<float>();
  if (beta == 0.0f) std::fill(C0.begin(), C0.end(), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> first;
  for (const auto& path : paths) {
    const std::string& name = path.first;  // not a structured binding: CAPTURE (a lambda) in clang 14
    std::vector<float> C = C0;
    path.second(M, N, K, alpha, A.data(), lda, B.data.data(), B.offsets.data(), beta, C.data(), ldc);
    CAPTURE(name);
    CAPTURE(M);
    CAPTURE(N);
    CAPTURE(K);
    CAPTURE(beta);
    check_against_loop(
        M, N, K, alpha, beta, [&](int64_t i, int64_t k) { return double(A[i * lda + k]); },
        [&](int64_t k, int64_t j) {
          return double(form == RowForm::Dot ? B.data[B.offsets[j] + k] : B.data[B.offsets[k] + j]);
        },
        C0, C, ldc);
    if (first.empty())
      first = C;
    else
      CHECK(std::memcmp(first.data(), C.data(), C.size() * sizeof(float)) == 0);
  }
}

}  // namespace

TEST_CASE("dot_rows: both paths against a naive loop, ragged blocks, scattered rows, every beta") {
  Generator g(41);
  // The kernels take 4 rows of A x 6 rows of B and 16 k at a time: sizes on and off those.
  const int64_t sizes[][3] = {{1, 1, 1}, {4, 6, 16}, {5, 7, 17}, {3, 11, 15}, {16, 144, 100}, {9, 13, 1}, {2, 3, 0}};
  for (const auto& s : sizes)
    for (const float beta : {0.0f, 1.0f, -0.5f})
      check_row_form(RowForm::Dot, dot_rows_paths(), s[0], s[1], s[2], beta, g);
}

TEST_CASE("dot_rows: the AVX-512 and AVX2 paths give the same bits, on 1, 2 and 3 threads") {
  if (!kernels::cpu::gemm_path::avx512_available() || !kernels::cpu::gemm_path::avx2_available()) {
    MESSAGE("this CPU lacks AVX-512 or AVX2: nothing to compare");
    return;
  }
  Generator g(43);
  // The conv weight gradient's shapes (O, C*9, columns) and a ragged one; big enough to be
  // split between threads.
  const int64_t shapes[][3] = {{16, 144, 1024}, {32, 288, 260}, {7, 13, 999}};
  const int before = num_threads();
  for (const auto& shape : shapes) {
    const int64_t M = shape[0], N = shape[1], K = shape[2];
    const std::vector<float> A = randn({M * K}, g).to_vector<float>();
    const ScatteredRows B = scattered_rows(N, K, g);
    const std::vector<float> C0 = randn({M * N}, g).to_vector<float>();
    for (const float beta : {0.0f, 1.0f}) {
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        for (DotRowsF32 run : {&kernels::cpu::gemm_path::avx2_dot_rows, &kernels::cpu::gemm_path::avx512_dot_rows}) {
          std::vector<float> C = C0;
          run(M, N, K, 0.5f, A.data(), K, B.data.data(), B.offsets.data(), beta, C.data(), N);
          if (first.empty()) first = C;
          CAPTURE(M);
          CAPTURE(K);
          CAPTURE(threads);
          CAPTURE(beta);
          CHECK(std::memcmp(first.data(), C.data(), C.size() * sizeof(float)) == 0);
        }
      }
    }
  }
  set_num_threads(before);
}

TEST_CASE("gemm rows(): both paths against a naive loop and each other, rows at scattered offsets") {
  std::vector<std::pair<std::string, DotRowsF32>> paths;
  if (kernels::cpu::gemm_path::avx2_available()) paths.emplace_back("avx2", &kernels::cpu::gemm_path::avx2_rows);
  if (kernels::cpu::gemm_path::avx512_available()) paths.emplace_back("avx512", &kernels::cpu::gemm_path::avx512_rows);
  if (paths.empty()) {
    MESSAGE("this CPU has neither AVX2 nor AVX-512: rows() is not tested");
    return;
  }
  Generator g(47);
  // Tiles of 6 x 16 and 8 x 32, K slices of at most 256: full strips read in place, a ragged
  // last strip packed, two K slices (K = 400), and a product big enough to be threaded.
  const int64_t sizes[][3] = {{1, 1, 1}, {8, 32, 9}, {9, 47, 20}, {13, 100, 400}, {70, 561, 360}, {3, 5, 0}};
  for (const auto& s : sizes)
    for (const float beta : {0.0f, 1.0f, -0.5f}) check_row_form(RowForm::Gemm, paths, s[0], s[1], s[2], beta, g);
}

TEST_CASE("gemm paths: SC_CPU_GEMM names a path or is refused") {
  using kernels::cpu::gemm_path::parse_float32_path;
  CHECK(parse_float32_path("eigen") == kernels::cpu::gemm_path::Float32Path::Eigen);
  CHECK_THROWS_WITH_AS(parse_float32_path("sse"), doctest::Contains("expected avx512, avx2 or eigen"), Error);
  if (!kernels::cpu::gemm_path::avx512_available())
    CHECK_THROWS_WITH_AS(parse_float32_path("avx512"), doctest::Contains("does not have the instructions"), Error);
  else
    CHECK(parse_float32_path("avx512") == kernels::cpu::gemm_path::Float32Path::Avx512);
}

TEST_CASE("gemm paths: K = 0 gives beta * C on every path; M or N = 0 writes nothing") {
  for (const GemmPath& path : float_gemm_paths()) {
    CAPTURE(path.name);
    // C is 2 x 3 inside rows of 4: the fourth column is padding and must stay 7.
    std::vector<float> C = {NAN, NAN, NAN, 7, NAN, NAN, NAN, 7};
    path.run(false, true, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 1, 0.0f, C.data(), 4);
    CHECK(C == std::vector<float>{0, 0, 0, 7, 0, 0, 0, 7});
    std::vector<float> D = {2, 2, 2, 7, 2, 2, 2, 7};
    path.run(true, false, 2, 3, 0, 1.0f, nullptr, 2, nullptr, 3, 1.5f, D.data(), 4);
    CHECK(D == std::vector<float>{3, 3, 3, 7, 3, 3, 3, 7});
    path.run(false, false, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 3);
    path.run(false, false, 3, 0, 4, 1.0f, nullptr, 4, nullptr, 1, 0.0f, nullptr, 1);
  }
}

TEST_CASE("gemm paths: the same bits on every run and on any thread count, float32 and float64") {
  // Big enough (M N K >= 2^21) for one product to be split between threads. Wide (Eigen cuts
  // C into column panels, the last one ragged) and tall (row panels).
  Generator g(29);
  struct Size {
    int64_t M, N, K;
  };
  const int before = num_threads();
  for (const Size& size : {Size{150, 170, 430}, Size{700, 30, 300}}) {
    const int64_t M = size.M, N = size.N, K = size.K;
    CAPTURE(M);
    CAPTURE(N);
    const Tensor a = randn({M, K}, g), b = randn({K, N}, g);
    const std::vector<float> A = a.to_vector<float>(), B = b.to_vector<float>();
    const std::vector<double> A64 = a.to(DType::Float64).to_vector<double>();
    const std::vector<double> B64 = b.to(DType::Float64).to_vector<double>();
    struct Path {
      std::string name;
      std::function<std::vector<double>()> product;
    };
    std::vector<Path> paths;
    for (const GemmPath& path : float_gemm_paths())
      paths.push_back({path.name, [&, run = path.run] {
                         std::vector<float> C(M * N, NAN);
                         run(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
                         return std::vector<double>(C.begin(), C.end());
                       }});
    paths.push_back({"eigen float64", [&] {
                       std::vector<double> C(M * N, NAN);
                       kernels::cpu::gemm_path::eigen<double>(false, false, M, N, K, 1.0, A64.data(), K, B64.data(),
                                                              N, 0.0, C.data(), N);
                       return C;
                     }});
    for (const Path& path : paths) {
      CAPTURE(path.name);
      // Run by 1, 2, 3 threads, and from inside a parallel region (where it stays on its thread).
      std::vector<std::vector<double>> results;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        results.push_back(path.product());
        CHECK(path.product() == results.back());  // run to run
      }
      set_num_threads(2);
      std::vector<double> in_region;
#pragma omp parallel num_threads(2)
      {
#pragma omp single
        in_region = path.product();
      }
      CHECK(in_region == results[0]);
      // Every element of C is summed in an order that depends only on M, N and K: AVX2 sums
      // each tile on one thread; Eigen runs one single-threaded product per fixed panel.
      for (const auto& r : results) CHECK(r == results[0]);
    }
  }
  set_num_threads(before);
}

TEST_CASE("matmul: empty dims") {
  // empty(): a zero-element tensor holds no values to fill.
  CHECK(matmul(empty({3, 0}), empty({0, 4})).to_vector<float>() == std::vector<float>(12, 0.0f));
  CHECK(matmul(empty({0, 5}), ones({5, 4})).shape() == Shape{0, 4});
  CHECK(matmul(empty({2, 0, 3}), ones({2, 3, 4})).shape() == Shape{2, 0, 4});
}

TEST_CASE("matmul: hand-worked forward and backward") {
  Tensor a = from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor b = from_vector(std::vector<double>{5, 6, 7, 8}, {2, 2}).requires_grad_();
  Tensor c = matmul(a, b);
  CHECK(c.to_vector<double>() == std::vector<double>{19, 22, 43, 50});
  sum(c).backward();
  // dA = ones b^T (row sums of b); dB = a^T ones (column sums of a, repeated).
  CHECK(a.grad().to_vector<double>() == std::vector<double>{11, 15, 11, 15});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{4, 4, 6, 6});
}

TEST_CASE("matmul: only the inputs that require grad get one") {
  Tensor a = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = ones({3, 2}, DType::Float64);
  sum(matmul(a, b)).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 2, 2, 2, 2, 2});
  CHECK(!b.grad().defined());
}

TEST_CASE("matmul: the same inputs give bit-identical results") {
  Generator g(3);
  Tensor a = randn({150, 200}, g), b = randn({200, 90}, g).t().contiguous().t();
  CHECK(matmul(a, b).to_vector<float>() == matmul(a, b).to_vector<float>());
}

TEST_CASE("matmul: bad inputs") {
  const Tensor m23 = zeros({2, 3}), m45 = zeros({4, 5}), m35 = zeros({3, 5});
  CHECK(contains(message_of([&] { matmul(zeros({3}), m35); }), "matmul: expected two 2-D matrices"));
  CHECK(contains(message_of([&] { matmul(m23, zeros({2, 3, 5})); }), "float32[2, 3] on cpu and float32[2, 3, 5]"));
  CHECK(contains(message_of([&] { matmul(zeros({1, 1, 2, 3}), zeros({1, 1, 3, 2})); }), "matmul: expected"));
  const std::string inner = message_of([&] { matmul(m23, m45); });
  CHECK(contains(inner, "matmul: inner dims differ"));
  CHECK(contains(inner, "[2, 3]"));
  CHECK(contains(inner, "[4, 5]"));
  CHECK(contains(inner, "3 vs 4"));
  const std::string batch = message_of([&] { matmul(zeros({2, 2, 3}), zeros({3, 3, 5})); });
  CHECK(contains(batch, "matmul: batch sizes differ"));
  CHECK(contains(batch, "2 vs 3"));
  CHECK(contains(message_of([&] { matmul(m23, zeros({3, 5}, DType::Float64)); }), "matmul: dtypes differ"));
  CHECK(contains(message_of([&] { matmul(zeros({2, 3}, DType::Int64), zeros({3, 5}, DType::Int64)); }),
                 "matmul: expected a float32 or float64 tensor"));
  CHECK(contains(message_of([&] { matmul(Tensor(), m35); }), "matmul: the first input is an undefined tensor"));
}

TEST_CASE("concat: hand-worked examples") {
  Tensor a = from_vector(std::vector<float>{1, 2}, {1, 2});
  Tensor b = from_vector(std::vector<float>{3, 4, 5, 6}, {2, 2});
  CHECK(concat({a, b}, 0).shape() == Shape{3, 2});
  CHECK(concat({a, b}, 0).to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  // Along dim 1, rows are joined: [[3,4],[5,6]] and its transpose [[3,5],[4,6]].
  CHECK(concat({b, b.t()}, 1).to_vector<float>() == std::vector<float>{3, 4, 3, 5, 5, 6, 4, 6});
  CHECK(concat({b, b.t()}, -1).shape() == Shape{2, 4});
  CHECK(concat({a}, 0).to_vector<float>() == std::vector<float>{1, 2});
  CHECK(concat({zeros({0, 2}), a}, 0).to_vector<float>() == std::vector<float>{1, 2});
  // Integer tensors (labels) join too.
  CHECK(concat({int_index({1, 2}), int_index({3})}, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("concat: each input's gradient is its slice of the output gradient") {
  Tensor a = from_vector(std::vector<double>{1, 2}, {1, 2}).requires_grad_();
  Tensor b = from_vector(std::vector<double>{3, 4, 5, 6}, {2, 2}).requires_grad_();
  Tensor w = from_vector(std::vector<double>{10, 20, 30, 40, 50, 60}, {3, 2});
  sum(mul(concat({a, b}, 0), w)).backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{10, 20});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{30, 40, 50, 60});
}

TEST_CASE("concat: bad inputs") {
  const Tensor m23 = zeros({2, 3});
  CHECK(contains(message_of([&] { concat({}, 0); }), "concat: needs at least one tensor"));
  CHECK(contains(message_of([&] { concat({m23, Tensor()}, 0); }), "concat: tensor 1 is an undefined tensor"));
  CHECK(contains(message_of([&] { concat({m23, zeros({2, 3}, DType::Float64)}, 0); }), "concat: dtypes differ"));
  const std::string shape = message_of([&] { concat({m23, zeros({2, 4})}, 0); });
  CHECK(contains(shape, "concat: tensor 0 is float32[2, 3] on cpu but tensor 1 is float32[2, 4] on cpu"));
  CHECK(contains(shape, "dim 1: 3 vs 4"));
  CHECK(contains(message_of([&] { concat({m23, zeros({2, 3, 1})}, 0); }), "different numbers of dims"));
  CHECK(contains(message_of([&] { concat({m23}, 2); }), "concat"));
  CHECK(contains(message_of([&] { concat({scalar_tensor(1.0)}, 0); }), "concat: cannot concatenate 0-dim"));
}

TEST_CASE("stack: hand-worked examples") {
  Tensor a = from_vector(std::vector<float>{1, 2, 3}, {3});
  Tensor b = from_vector(std::vector<float>{4, 5, 6}, {3});
  CHECK(stack({a, b}, 0).shape() == Shape{2, 3});
  CHECK(stack({a, b}, 0).to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(stack({a, b}, -1).shape() == Shape{3, 2});
  CHECK(stack({a, b}, -1).to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(stack({scalar_tensor(1.0), scalar_tensor(2.0)}, 0).to_vector<float>() == std::vector<float>{1, 2});

  Tensor x = from_vector(std::vector<double>{1, 2}, {2}).requires_grad_();
  Tensor y = from_vector(std::vector<double>{3, 4}, {2}).requires_grad_();
  Tensor w = from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  sum(mul(stack({x, y}, 1), w)).backward();  // x is column 0, y column 1
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 3});
  CHECK(y.grad().to_vector<double>() == std::vector<double>{2, 4});
}

TEST_CASE("stack: bad inputs") {
  CHECK(contains(message_of([&] { stack({}, 0); }), "stack: needs at least one tensor"));
  const std::string shape = message_of([&] { stack({zeros({2, 3}), zeros({3, 2})}, 0); });
  CHECK(contains(shape, "stack: tensor 0 is float32[2, 3] on cpu but tensor 1 is float32[3, 2] on cpu"));
  CHECK(contains(message_of([&] { stack({zeros({2}), zeros({2}, DType::Float64)}, 0); }), "stack: dtypes differ"));
  CHECK(contains(message_of([&] { stack({zeros({2}), zeros({2})}, 2); }), "stack"));
  CHECK(contains(message_of([&] { stack({zeros({2}), zeros({2})}, -3); }), "stack"));
}

TEST_CASE("index_select: hand-worked examples") {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(index_select(x, 0, int_index({2, 0, 2})).to_vector<float>() == std::vector<float>{5, 6, 1, 2, 5, 6});
  CHECK(index_select(x, 1, int_index({1, 1, 0})).to_vector<float>() ==
        std::vector<float>{2, 2, 1, 4, 4, 3, 6, 6, 5});
  CHECK(index_select(x.t(), 1, int_index({2, 0})).to_vector<float>() == std::vector<float>{5, 1, 6, 2});
  CHECK(index_select(x, 0, int_index({})).shape() == Shape{0, 2});
  CHECK(index_select(int_index({7, 8, 9}), 0, int_index({2, 2, 0})).to_vector<int64_t>() ==
        std::vector<int64_t>{9, 9, 7});
}

TEST_CASE("index_select: a row picked twice collects both gradients") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
  Tensor w = from_vector(std::vector<double>{1, 10, 100, 1000, 5, 50}, {3, 2});
  sum(mul(index_select(x, 0, int_index({0, 2, 0})), w)).backward();
  // row 0 <- picks 0 and 2: (1 + 5, 10 + 50); row 1 <- nothing; row 2 <- pick 1.
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 60, 0, 0, 100, 1000});
}

TEST_CASE("index_select: the backward is deterministic and matches a serial scatter-add") {
  Generator g(5);
  const int64_t outer = 3, rows = 50, inner = 700, picked = 200;
  std::vector<int64_t> idx(picked);
  for (auto& i : idx) i = static_cast<int64_t>(g.below(rows));
  Tensor index = int_index(idx);
  Tensor x = randn({outer, rows, inner}, g).requires_grad_();
  Tensor w = randn({outer, picked, inner}, g);
  auto grad_with_threads = [&](int n) {
    const int before = num_threads();
    set_num_threads(n);
    x.zero_grad();
    sum(mul(index_select(x, 1, index), w)).backward();
    set_num_threads(before);
    return x.grad().to_vector<float>();
  };
  const std::vector<float> one = grad_with_threads(1), two = grad_with_threads(2);
  CHECK(one == two);
  // The same sums done here, in the order of the index.
  const std::vector<float> wv = w.to_vector<float>();
  std::vector<float> expected(outer * rows * inner, 0.0f);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < picked; ++j)
      for (int64_t c = 0; c < inner; ++c) expected[(o * rows + idx[j]) * inner + c] += wv[(o * picked + j) * inner + c];
  CHECK(one == expected);
}

TEST_CASE("index_select: bad inputs") {
  const Tensor x = zeros({5, 3});
  const std::string range = message_of([&] { index_select(x, 0, int_index({0, 4, 7, 1})); });
  CHECK(contains(range, "index_select: index[2] = 7 is out of range for dim 0 of float32[5, 3] on cpu"));
  CHECK(contains(message_of([&] { index_select(x, 1, int_index({-1})); }), "index[0] = -1 is out of range for dim 1"));
  CHECK(contains(message_of([&] { index_select(x, 1, int_index({3})); }), "index[0] = 3 is out of range"));
  CHECK(contains(message_of([&] { index_select(x, 0, zeros({2})); }),
                 "index_select: the index must be a 1-D int64 tensor, got float32[2]"));
  CHECK(contains(message_of([&] { index_select(x, 0, int_index({0, 1}).reshape({1, 2})); }),
                 "the index must be a 1-D int64 tensor, got int64[1, 2]"));
  CHECK(contains(message_of([&] { index_select(x, 2, int_index({0})); }), "index_select"));
  CHECK(contains(message_of([&] { index_select(scalar_tensor(1.0), 0, int_index({0})); }),
                 "index_select: cannot select from the 0-dim tensor"));
  CHECK(contains(message_of([&] { index_select(x, 0, Tensor()); }), "index_select: the index is an undefined tensor"));
}
