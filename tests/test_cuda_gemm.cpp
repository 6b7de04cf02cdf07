// The CUDA GEMM (kernels/cuda/gemm.cu, kernels/cuda/vendor/cublas_gemm.cu) and matmul on CUDA,
// against the CPU GEMM in float64 on the same values.
//
// Each case builds flat buffers holding A, B and C with the layout under test (leading
// dimensions wider than the rows, batch strides, stride 0 for a broadcast operand, pointers
// one element past a 16-byte boundary), runs the CUDA kernel on copies of them, and compares
// the whole C buffer with kernels::cpu::gemm_batched<double> run on the same buffers. The
// whole buffer: elements outside the M x N matrices (row padding, the gaps between batch
// matrices) must come back untouched. With beta == 0, C starts as NaN (the CUDA buffer is
// poisoned, the reference filled with NaN), so an element a kernel forgets to write, or a C
// it reads although beta == 0, shows up.
//
// Tolerance (|cuda - reference| <= atol + rtol * |reference|), inputs uniform in [-1, 1]:
//   float32: atol = 1e-5 * sqrt(K) * max(1, |alpha|), rtol = 1e-5. A float32 dot product of K
//     terms carries a rounding error of about 6e-8 * |partial sum| per addition, which adds
//     up like a random walk (~1e-6 * sqrt(K) for these inputs); the bound leaves a margin of
//     ~10x for unlucky orders while a wrong or missing term (error ~0.1 or more) still fails.
//   float64: atol = 1e-12 * sqrt(K) * max(1, |alpha|), rtol = 1e-12 (the same argument with
//     eps = 1.1e-16).
//   The same-bits checks (determinism) are exact.
//   The tensor-core rungs, per element: |cuda - reference| <= |alpha| (e + K 2^-22) sum_k |a_ik b_kj|
//     + 2^-22 |beta c|. Rounding each input to nearest moves it by at most u relative, so each
//     product by at most e = 2u + u^2: TF32 keeps 11 significant bits (u = 2^-11, e = 2^-10 +
//     2^-22), BF16 8 (u = 2^-8, e = 2^-7 + 2^-16). The FP32 accumulation of K terms adds at most
//     K 2^-24 of the sum of magnitudes (a 4x margin kept, for a tensor core that truncates).
//     A wrong or missing term (error ~0.1 or more) fails it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/ops.h"
#include "kernels/cuda_backend.h"
#include "kernels/gemm.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

Tensor gpu(const Tensor& t) { return t.to(Device::CUDA); }

double atol_for(DType dtype, int64_t K, double alpha) {
  const double eps = dtype == DType::Float32 ? 1e-5 : 1e-12;
  return eps * std::sqrt(static_cast<double>(std::max<int64_t>(K, 1))) * std::max(1.0, std::abs(alpha));
}
double rtol_for(DType dtype) { return dtype == DType::Float32 ? 1e-5 : 1e-12; }
// For checks that must be exact: any difference gives a huge ratio (and 0 / kExact = 0,
// where a tolerance of 0 would give 0 / 0 = NaN).
constexpr double kExact = 1e-300;

void check_close(const Tensor& got, const Tensor& want, double atol, double rtol, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  const double ratio = cuda_worst_ratio(got, want, atol, rtol);
  CHECK_MESSAGE(ratio <= 1.0, what, ": worst |cuda - reference| / tolerance = ", ratio);
}

}  // namespace

// ---- the kernel API: every rung, cuBLAS, float64 ------------------------------------------------
// (Needs the kernels::cuda functions, which only a CUDA build has.)
#ifdef SC_WITH_CUDA

namespace {

namespace kc = sc::kernels::cuda;

// The exact-FP32 rungs; the TF32 rung has its own tests and bound below.
const std::vector<kc::GemmRung> kAllRungs = {kc::GemmRung::Naive, kc::GemmRung::SharedTiled,
                                             kc::GemmRung::RegisterBlocked, kc::GemmRung::WarpTiled};

// One GEMM problem and the memory layout of its operands.
struct GemmCase {
  bool trans_a = false, trans_b = false;
  int64_t batch = 1, M = 1, N = 1, K = 1;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;        // ld = (stored row length) + pad
  bool broadcast_a = false, broadcast_b = false;  // batch stride 0: one matrix for the whole batch
  int64_t offset = 0;                             // elements before the first matrix (1: misaligned)
  bool aligned_strides = false;                   // batch strides a multiple of 4 (float4-friendly)
  double alpha = 1, beta = 0;

  int64_t lda() const { return std::max<int64_t>(trans_a ? M : K, 1) + pad_a; }
  int64_t ldb() const { return std::max<int64_t>(trans_b ? K : N, 1) + pad_b; }
  int64_t ldc() const { return std::max<int64_t>(N, 1) + pad_c; }
  // Elements one matrix spans: (rows - 1) * ld + cols, so the last row ends the buffer.
  static int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }
  int64_t span_a() const { return trans_a ? span(K, M, lda()) : span(M, K, lda()); }
  int64_t span_b() const { return trans_b ? span(N, K, ldb()) : span(K, N, ldb()); }
  int64_t span_c() const { return span(M, N, ldc()); }
  // Batch strides leave a gap between matrices (which must stay untouched): 3 elements, or
  // 1 to 4 so the stride is a multiple of 4.
  int64_t stride_for(int64_t span) const { return aligned_strides ? (span + 4) / 4 * 4 : span + 3; }
  int64_t stride_a() const { return broadcast_a ? 0 : stride_for(span_a()); }
  int64_t stride_b() const { return broadcast_b ? 0 : stride_for(span_b()); }
  int64_t stride_c() const { return stride_for(span_c()); }
  static int64_t buffer_size(int64_t offset, int64_t batch, int64_t stride, int64_t span) {
    return std::max<int64_t>(offset + (span == 0 ? 0 : (batch - 1) * stride + span), 1);
  }
  int64_t size_a() const { return buffer_size(offset, batch, stride_a(), span_a()); }
  int64_t size_b() const { return buffer_size(offset, batch, stride_b(), span_b()); }
  int64_t size_c() const { return buffer_size(offset, batch, stride_c(), span_c()); }

  std::string describe() const {
    return detail::concat(trans_a ? "T" : "N", trans_b ? "T" : "N", " batch ", batch, " M ", M, " N ", N, " K ", K,
                          " pads ", pad_a, "/", pad_b, "/", pad_c, broadcast_a ? " broadcast A" : "",
                          broadcast_b ? " broadcast B" : "", " offset ", offset,
                          aligned_strides ? " aligned strides" : "", " alpha ", alpha, " beta ", beta);
  }
};

// The flat CPU buffers of a case, in the dtype under test: A and B uniform in [-1, 1]; C
// uniform when beta != 0, NaN when beta == 0 (it must not be read).
struct GemmBuffers {
  Tensor a, b, c;
};

GemmBuffers make_buffers(const GemmCase& g, DType dtype, Generator& gen) {
  GemmBuffers buf;
  buf.a = rand(Shape{g.size_a()}, gen, dtype, -1.0, 1.0);
  buf.b = rand(Shape{g.size_b()}, gen, dtype, -1.0, 1.0);
  buf.c = g.beta == 0 ? full(Shape{g.size_c()}, std::numeric_limits<double>::quiet_NaN(), dtype)
                      : rand(Shape{g.size_c()}, gen, dtype, -1.0, 1.0);
  return buf;
}

// The reference: the CPU GEMM in float64 on the same values, as a float64 C buffer.
Tensor reference(const GemmCase& g, const GemmBuffers& buf) {
  const Tensor a = buf.a.to(DType::Float64).contiguous(), b = buf.b.to(DType::Float64).contiguous();
  Tensor c = buf.c.to(DType::Float64).clone();
  kernels::cpu::gemm_batched<double>(g.trans_a, g.trans_b, g.batch, g.M, g.N, g.K, g.alpha, a.data<double>() + g.offset,
                                     g.lda(), g.stride_a(), b.data<double>() + g.offset, g.ldb(), g.stride_b(), g.beta,
                                     c.data<double>() + g.offset, g.ldc(), g.stride_c());
  return c;
}

// Copies the buffers to the GPU, calls run(A, B, C) with device pointers of type T (each at
// its offset) and returns the C buffer, still on the GPU. With beta == 0 the GPU's C starts
// poisoned (NaN) rather than copied.
template <typename T, typename Run>
Tensor run_on_gpu(const GemmCase& g, const GemmBuffers& buf, Run&& run) {
  const Tensor a = gpu(buf.a), b = gpu(buf.b);
  Tensor c = g.beta == 0 ? empty(Shape{g.size_c()}, buf.c.dtype(), Device::CUDA) : gpu(buf.c);
  run(a.data<T>() + g.offset, b.data<T>() + g.offset, c.data<T>() + g.offset);
  return c;
}

Tensor run_rung(kc::GemmRung rung, const GemmCase& g, const GemmBuffers& buf) {
  return run_on_gpu<float>(g, buf, [&](const float* A, const float* B, float* C) {
    kc::gemm_path::handwritten(rung, g.trans_a, g.trans_b, g.batch, g.M, g.N, g.K, static_cast<float>(g.alpha), A,
                               g.lda(), g.stride_a(), B, g.ldb(), g.stride_b(), static_cast<float>(g.beta), C, g.ldc(),
                               g.stride_c());
  });
}

template <typename T>
Tensor run_cublas(const GemmCase& g, const GemmBuffers& buf) {
  return run_on_gpu<T>(g, buf, [&](const T* A, const T* B, T* C) {
    kc::gemm_path::cublas<T>(g.trans_a, g.trans_b, g.batch, g.M, g.N, g.K, static_cast<T>(g.alpha), A, g.lda(),
                             g.stride_a(), B, g.ldb(), g.stride_b(), static_cast<T>(g.beta), C, g.ldc(), g.stride_c());
  });
}

// gemm_batched<T>, the entry point ops use (the rung / path set by the caller's guards).
template <typename T>
Tensor run_dispatch(const GemmCase& g, const GemmBuffers& buf) {
  return run_on_gpu<T>(g, buf, [&](const T* A, const T* B, T* C) {
    if (g.batch == 1 && !g.broadcast_a && !g.broadcast_b)
      kc::gemm<T>(g.trans_a, g.trans_b, g.M, g.N, g.K, static_cast<T>(g.alpha), A, g.lda(), B, g.ldb(),
                  static_cast<T>(g.beta), C, g.ldc());
    else
      kc::gemm_batched<T>(g.trans_a, g.trans_b, g.batch, g.M, g.N, g.K, static_cast<T>(g.alpha), A, g.lda(),
                          g.stride_a(), B, g.ldb(), g.stride_b(), static_cast<T>(g.beta), C, g.ldc(), g.stride_c());
  });
}

// Restores the GEMM rung after a test changes it.
// Runs the warp rung with its wide block shape while alive (the default is the small one).
struct WideShapeGuard {
  WideShapeGuard() { kc::set_gemm_warp_shape("wide"); }
  ~WideShapeGuard() { kc::set_gemm_warp_shape("small"); }
};

struct RungGuard {
  kc::GemmRung before = kc::gemm_rung();
  explicit RungGuard(kc::GemmRung r) { kc::set_gemm_rung(r); }
  ~RungGuard() { kc::set_gemm_rung(before); }
};

struct Mnk {
  int64_t M, N, K;
};

// The layouts every shape is tried with: tight and aligned with beta == 0; misaligned
// pointers and odd paddings with alpha, beta != 0 (the scalar load path); two batches whose
// leading dimensions are padded to multiples of 4 (the float4 path with ld > row length),
// one with a broadcast A, one with a broadcast B.
std::vector<GemmCase> layouts_for(Mnk s, bool trans_a, bool trans_b) {
  std::vector<GemmCase> out;
  GemmCase g;
  g.trans_a = trans_a, g.trans_b = trans_b, g.M = s.M, g.N = s.N, g.K = s.K;
  out.push_back(g);
  GemmCase odd = g;
  odd.pad_a = 3, odd.pad_b = 1, odd.pad_c = 2, odd.offset = 1, odd.alpha = 0.5, odd.beta = -1.5;
  out.push_back(odd);
  // Padding that rounds a row length up to a multiple of 4, plus `extra`.
  auto pad4 = [](int64_t row_length, int64_t extra) { return (4 - row_length % 4) % 4 + extra; };
  GemmCase batched_a = g;
  batched_a.batch = 3, batched_a.broadcast_a = true, batched_a.aligned_strides = true;
  batched_a.alpha = 2.0, batched_a.beta = 1.0;
  batched_a.pad_a = pad4(trans_a ? s.M : s.K, 4), batched_a.pad_b = pad4(trans_b ? s.K : s.N, 0);
  batched_a.pad_c = pad4(s.N, 0);
  out.push_back(batched_a);
  GemmCase batched_b = g;
  batched_b.batch = 2, batched_b.broadcast_b = true, batched_b.aligned_strides = true;
  batched_b.pad_a = pad4(trans_a ? s.M : s.K, 0), batched_b.pad_b = pad4(trans_b ? s.K : s.N, 8);
  batched_b.pad_c = pad4(s.N, 4);
  out.push_back(batched_b);
  return out;
}

}  // namespace

TEST_CASE("cuda: gemm: every rung matches the CPU GEMM (all transposes, odd sizes, strides, alpha/beta)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(11);
  // Sizes that are multiples of no tile (1, 7, 33, 130, 1000...), and one that is a
  // multiple of every tile (the float4 fast path everywhere).
  const std::vector<Mnk> shapes = {{1, 1, 1}, {7, 33, 5}, {33, 7, 130}, {130, 129, 33}, {128, 256, 64}, {67, 300, 1000}};
  for (const Mnk& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (const GemmCase& g : layouts_for(s, t & 1, t & 2)) {
        const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
        const Tensor want = reference(g, buf);
        for (kc::GemmRung rung : kAllRungs)
          check_close(run_rung(rung, g, buf), want, atol_for(DType::Float32, g.K, g.alpha), rtol_for(DType::Float32),
                      detail::concat("rung ", kc::gemm_rung_name(rung), ": ", g.describe()));
      }
}

// The warp rung has two shapes (kernels/cuda/gemm.cu): the 256-thread one for small
// problems and a 128-thread "wide" one (8 x 16 outputs per thread) chosen once there are at
// least as many 128 x 128 block tiles (times the batch) as SMs. The shapes above are all
// below that, so these cases go past it: one large matrix (9 x 23 = 207 tiles) and a batch
// of 300 small ones, with edges in M, N and K, every transpose, misaligned pointers and
// alpha/beta. Tolerance as above (fp32, scaled with K).
TEST_CASE("cuda: gemm: the warp rung's wide shape (many block tiles) matches the CPU GEMM") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  WideShapeGuard wide;
  Generator gen(23);
  for (int t = 0; t < 4; ++t) {
    std::vector<GemmCase> cases;
    GemmCase big;
    big.trans_a = t & 1, big.trans_b = t & 2, big.M = 1030, big.N = 2900, big.K = 37;
    cases.push_back(big);
    GemmCase big_odd = big;
    big_odd.pad_a = 3, big_odd.pad_b = 1, big_odd.pad_c = 2, big_odd.offset = 1, big_odd.alpha = 0.5,
    big_odd.beta = -1.5;
    cases.push_back(big_odd);
    GemmCase many = big;
    many.batch = 300, many.M = 37, many.N = 45, many.K = 19, many.aligned_strides = true, many.pad_c = 3;
    cases.push_back(many);
    GemmCase many_odd = many;
    many_odd.offset = 1, many_odd.pad_a = 1, many_odd.broadcast_b = true, many_odd.alpha = 2.0, many_odd.beta = 1.0;
    cases.push_back(many_odd);
    for (const GemmCase& g : cases) {
      const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
      check_close(run_rung(kc::GemmRung::WarpTiled, g, buf), reference(g, buf), atol_for(DType::Float32, g.K, g.alpha),
                  rtol_for(DType::Float32), "warp rung, wide shape: " + g.describe());
    }
  }
}

TEST_CASE("cuda: gemm: K == 0 gives beta * C, and empty matrices are a no-op") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(12);
  for (double beta : {0.0, 2.0}) {
    GemmCase g;
    g.batch = 2, g.M = 5, g.N = 6, g.K = 0, g.pad_c = 1, g.beta = beta;
    const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
    const Tensor want = reference(g, buf);
    for (kc::GemmRung rung : kAllRungs)
      check_close(run_rung(rung, g, buf), want, kExact, 0, detail::concat("rung ", kc::gemm_rung_name(rung), ": ", g.describe()));
    check_close(run_cublas<float>(g, buf), want, kExact, 0, "cuBLAS: " + g.describe());
    const GemmBuffers buf64 = make_buffers(g, DType::Float64, gen);
    check_close(run_dispatch<double>(g, buf64), reference(g, buf64), kExact, 0, "float64: " + g.describe());
  }
  for (Mnk s : {Mnk{0, 4, 3}, Mnk{4, 0, 3}, Mnk{0, 0, 0}}) {
    GemmCase g;
    g.M = s.M, g.N = s.N, g.K = s.K, g.beta = 1.0;
    const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
    const Tensor want = reference(g, buf);  // the untouched buffer
    for (kc::GemmRung rung : kAllRungs) check_close(run_rung(rung, g, buf), want, kExact, 0, g.describe());
    check_close(run_cublas<float>(g, buf), want, kExact, 0, "cuBLAS: " + g.describe());
  }
}

TEST_CASE("cuda: gemm: cuBLAS matches the CPU GEMM, and the warp-tiled rung matches cuBLAS") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  kc::set_allow_tf32(false);
  Generator gen(13);
  const std::vector<Mnk> shapes = {{1, 1, 1}, {33, 7, 130}, {130, 129, 33}, {300, 200, 513}};
  for (const Mnk& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (const GemmCase& g : layouts_for(s, t & 1, t & 2)) {
        const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
        const Tensor want = reference(g, buf);
        const double atol = atol_for(DType::Float32, g.K, g.alpha), rtol = rtol_for(DType::Float32);
        const Tensor vendor = run_cublas<float>(g, buf);
        check_close(vendor, want, atol, rtol, "cuBLAS: " + g.describe());
        // Both are float32 with different summation orders: twice the tolerance apart at most.
        check_close(run_rung(kc::GemmRung::WarpTiled, g, buf), vendor, 2 * atol, 2 * rtol, "warp vs cuBLAS: " + g.describe());
      }
}

TEST_CASE("cuda: gemm: float64 matches the CPU (shared-tiled, naive and cuBLAS)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(14);
  const std::vector<Mnk> shapes = {{1, 1, 1}, {7, 33, 5}, {130, 129, 33}, {67, 100, 1000}};
  for (const Mnk& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (const GemmCase& g : layouts_for(s, t & 1, t & 2)) {
        const GemmBuffers buf = make_buffers(g, DType::Float64, gen);
        const Tensor want = reference(g, buf);
        const double atol = atol_for(DType::Float64, g.K, g.alpha), rtol = rtol_for(DType::Float64);
        {
          KernelPathGuard path(kc::KernelPath::Handwritten);
          for (kc::GemmRung rung : kAllRungs) {  // the float32-only rungs fall back to shared-tiled
            RungGuard r(rung);
            check_close(run_dispatch<double>(g, buf), want, atol, rtol,
                        detail::concat("float64 rung ", kc::gemm_rung_name(rung), ": ", g.describe()));
          }
        }
        check_close(run_cublas<double>(g, buf), want, atol, rtol, "float64 cuBLAS: " + g.describe());
      }
}

TEST_CASE("cuda: gemm: gemm() follows the kernel path and the rung switch") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(15);
  GemmCase g;
  g.trans_b = true, g.M = 70, g.N = 90, g.K = 45, g.beta = 0.5;
  const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
  const Tensor want = reference(g, buf);
  const double atol = atol_for(DType::Float32, g.K, g.alpha), rtol = rtol_for(DType::Float32);
  for (kc::GemmRung rung : kAllRungs) {
    KernelPathGuard path(kc::KernelPath::Handwritten);
    RungGuard r(rung);
    CHECK(kc::gemm_rung() == rung);
    const Tensor got = run_dispatch<float>(g, buf);
    check_close(got, want, atol, rtol, detail::concat("gemm() with rung ", kc::gemm_rung_name(rung)));
    CHECK(bitwise_equal(got, run_rung(rung, g, buf)));  // gemm() ran exactly that rung
  }
  KernelPathGuard path(kc::KernelPath::Vendor);
  const Tensor got = run_dispatch<float>(g, buf);
  check_close(got, want, atol, rtol, "gemm() on the vendor path");
  CHECK(bitwise_equal(got, run_cublas<float>(g, buf)));
}

TEST_CASE("cuda: gemm: every rung gives the same bits twice") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(16);
  GemmCase g;
  g.M = 300, g.N = 257, g.K = 700, g.batch = 2, g.broadcast_b = true;
  const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
  for (kc::GemmRung rung : kAllRungs) {
    INFO("rung ", kc::gemm_rung_name(rung));
    CHECK(bitwise_equal(run_rung(rung, g, buf), run_rung(rung, g, buf)));
  }
}

namespace {

// A tensor-core rung against the float64 reference, element by element, with the bound in the
// file comment (sum_k |a_ik b_kj| is the reference GEMM of |A| and |B|).
void check_tensor_core(kc::GemmRung rung, const GemmCase& g, const GemmBuffers& buf, const std::string& what) {
  INFO(kc::gemm_rung_name(rung), ": ", what);
  const Tensor got = run_rung(rung, g, buf).to(Device::CPU).to(DType::Float64);
  const Tensor want = reference(g, buf);
  GemmCase magnitude_case = g;
  magnitude_case.alpha = std::abs(g.alpha), magnitude_case.beta = 0;
  const GemmBuffers magnitudes{abs(buf.a), abs(buf.b), zeros(buf.c.shape(), buf.c.dtype())};
  const Tensor magnitude = reference(magnitude_case, magnitudes);
  const Tensor c = buf.c.to(DType::Float64);
  const double product_error = rung == kc::GemmRung::TensorCoreTF32 ? std::ldexp(1.0, -10) + std::ldexp(1.0, -22)
                                                                     : std::ldexp(1.0, -7) + std::ldexp(1.0, -16);
  const double per_term = product_error + static_cast<double>(g.K) * std::ldexp(1.0, -22);
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double x = got.data<double>()[i], y = want.data<double>()[i];
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y) && bad++ == 0) first_bad = i;
      continue;
    }
    const double beta_c = g.beta == 0 ? 0.0 : std::abs(g.beta * c.data<double>()[i]);
    const double bound = magnitude.data<double>()[i] * per_term + beta_c * std::ldexp(1.0, -22);
    if (!(std::abs(x - y) <= bound) && bad++ == 0) first_bad = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " elements outside the TF32 bound, the first at ", first_bad);
}

}  // namespace

const std::vector<kc::GemmRung> kTensorCoreRungs = {kc::GemmRung::TensorCoreTF32, kc::GemmRung::TensorCoreBF16};

TEST_CASE("cuda: gemm: the tensor-core rungs (TF32, BF16) stay within their rounding of the CPU GEMM (all layouts)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(31);
  // Edges in every direction of the 128 x 128 tile and the 32-deep slices, one shape made of
  // whole tiles, and a K long enough for the accumulation term to matter.
  const std::vector<Mnk> shapes = {{1, 1, 1}, {7, 33, 5}, {33, 7, 130}, {130, 129, 33}, {128, 256, 64}, {67, 300, 1000}};
  for (const Mnk& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (const GemmCase& g : layouts_for(s, t & 1, t & 2)) {
        const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
        for (kc::GemmRung rung : kTensorCoreRungs) check_tensor_core(rung, g, buf, g.describe());
      }
}

TEST_CASE("cuda small: gemm: the tensor-core rungs on tiny odd shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(37);
  for (const Mnk& s : {Mnk{1, 1, 1}, Mnk{7, 5, 3}, Mnk{3, 9, 17}, Mnk{17, 18, 40}})
    for (int t = 0; t < 4; ++t)
      for (const GemmCase& g : layouts_for(s, t & 1, t & 2)) {
        const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
        for (kc::GemmRung rung : kTensorCoreRungs) check_tensor_core(rung, g, buf, g.describe());
      }
}

TEST_CASE("cuda: gemm: rung names parse, and a bad name lists the valid ones") {
  SC_SKIP_WITHOUT_CUDA();
  for (kc::GemmRung rung : kAllRungs) CHECK(kc::parse_gemm_rung(kc::gemm_rung_name(rung)) == rung);
  CHECK(kc::parse_gemm_rung("tf32") == kc::GemmRung::TensorCoreTF32);
  CHECK(kc::parse_gemm_rung("bf16") == kc::GemmRung::TensorCoreBF16);
  CHECK(std::string(kc::gemm_rung_name(kc::GemmRung::WarpTiled)) == "warp");
  CHECK_THROWS_AS(kc::parse_gemm_rung("fastest"), Error);
  const std::string message = message_of([] { kc::parse_gemm_rung("fastest"); });
  CHECK(contains(message, "fastest"));
  for (const char* name : {"naive", "shared", "register", "warp", "tf32", "bf16"}) CHECK(contains(message, name));
}

TEST_CASE("cuda small: gemm: every rung, cuBLAS and float64 on tiny odd shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(17);
  const std::vector<Mnk> shapes = {{1, 1, 1}, {7, 5, 3}, {3, 9, 17}};
  for (const Mnk& s : shapes)
    for (int t = 0; t < 4; ++t) {
      const std::vector<GemmCase> layouts = layouts_for(s, t & 1, t & 2);
      for (size_t i : {size_t(0), size_t(1), size_t(2)}) {  // aligned, misaligned + beta, broadcast batch
        const GemmCase& g = layouts[i];
        const GemmBuffers buf = make_buffers(g, DType::Float32, gen);
        const Tensor want = reference(g, buf);
        const double atol = atol_for(DType::Float32, g.K, g.alpha), rtol = rtol_for(DType::Float32);
        for (kc::GemmRung rung : kAllRungs)
          check_close(run_rung(rung, g, buf), want, atol, rtol,
                      detail::concat("rung ", kc::gemm_rung_name(rung), ": ", g.describe()));
        check_close(run_cublas<float>(g, buf), want, atol, rtol, "cuBLAS: " + g.describe());
      }
      const GemmCase& g = layouts[1];
      const GemmBuffers buf = make_buffers(g, DType::Float64, gen);
      const Tensor want = reference(g, buf);
      KernelPathGuard path(kc::KernelPath::Handwritten);
      for (kc::GemmRung rung : {kc::GemmRung::Naive, kc::GemmRung::SharedTiled}) {
        RungGuard r(rung);
        check_close(run_dispatch<double>(g, buf), want, atol_for(DType::Float64, g.K, g.alpha),
                    rtol_for(DType::Float64), detail::concat("float64 rung ", kc::gemm_rung_name(rung), ": ", g.describe()));
      }
    }
  {
    WideShapeGuard wide;  // the warp rung's wide shape too, on a batch of tiny matrices
    for (int t = 0; t < 4; ++t) {
      GemmCase many;
      many.trans_a = t & 1, many.trans_b = t & 2, many.batch = 300, many.M = 3, many.N = 9, many.K = 17;
      many.offset = 1, many.beta = 0.5;
      const GemmBuffers buf = make_buffers(many, DType::Float32, gen);
      check_close(run_rung(kc::GemmRung::WarpTiled, many, buf), reference(many, buf),
                  atol_for(DType::Float32, many.K, many.alpha), rtol_for(DType::Float32), "wide: " + many.describe());
    }
  }
  GemmCase empty_k;  // the K == 0 kernel
  empty_k.M = 3, empty_k.N = 5, empty_k.K = 0, empty_k.beta = -2.0;
  const GemmBuffers buf = make_buffers(empty_k, DType::Float32, gen);
  check_close(run_rung(kc::GemmRung::WarpTiled, empty_k, buf), reference(empty_k, buf), kExact, 0, "K == 0");
}

#endif  // SC_WITH_CUDA

// ---- matmul on CUDA tensors --------------------------------------------------------------------
// Through the op API, so these run in any build (and skip without a GPU).

namespace {

// The shape a matrix operand is stored with: its last two dims swapped when it is used
// through a transposed view.
Shape stored_shape(Shape s, bool transposed) {
  if (transposed) std::swap(s[s.size() - 2], s[s.size() - 1]);
  return s;
}

// The operand matmul sees: the leaf itself, or the transposed view of it (which reaches GEMM
// as a transposed operand, without a copy).
Tensor as_operand(const Tensor& leaf, bool transposed) { return transposed ? transpose(leaf, -2, -1) : leaf; }

struct MatmulRun {
  Tensor out, grad_a, grad_b;
};

// matmul of the two operands built from a_base / b_base on `device`, then backward with g.
MatmulRun run_matmul(const Tensor& a_base, bool trans_a, const Tensor& b_base, bool trans_b, const Tensor& g,
                     Device device) {
  Tensor a = a_base.to(device).clone().requires_grad_(true);
  Tensor b = b_base.to(device).clone().requires_grad_(true);
  MatmulRun r;
  r.out = matmul(as_operand(a, trans_a), as_operand(b, trans_b));
  r.out.backward(g.to(device));
  r.grad_a = a.grad();
  r.grad_b = b.grad();
  return r;
}

// Forward and backward of matmul on CUDA against the CPU, on the same values; the GPU run is
// done twice and must give the same bits.
void check_matmul(const Shape& a_shape, const Shape& b_shape, bool trans_a, bool trans_b, DType dtype, Generator& gen) {
  const std::string what = detail::concat(shape_str(a_shape), trans_a ? "^T" : "", " x ", shape_str(b_shape),
                                          trans_b ? "^T" : "", " ", dtype_name(dtype));
  INFO(what);
  const Tensor a_base = rand(stored_shape(a_shape, trans_a), gen, dtype, -1.0, 1.0);
  const Tensor b_base = rand(stored_shape(b_shape, trans_b), gen, dtype, -1.0, 1.0);
  Shape out_shape = a_shape;
  out_shape.back() = b_shape.back();
  const Tensor g = rand(out_shape, gen, dtype, -1.0, 1.0);

  const MatmulRun cpu = run_matmul(a_base, trans_a, b_base, trans_b, g, Device::CPU);
  const MatmulRun cuda = run_matmul(a_base, trans_a, b_base, trans_b, g, Device::CUDA);
  REQUIRE(cuda.out.device() == Device::CUDA);
  REQUIRE(cuda.grad_a.defined());
  REQUIRE(cuda.grad_b.defined());
  CHECK(cuda.grad_a.device() == Device::CUDA);
  // out sums K products, grad_a sums N, grad_b sums M (times the batch for nothing: no broadcast).
  const int64_t M = a_shape[a_shape.size() - 2], K = a_shape.back(), N = b_shape.back();
  check_close(cuda.out, cpu.out, atol_for(dtype, K, 1.0), rtol_for(dtype), "out: " + what);
  check_close(cuda.grad_a, cpu.grad_a, atol_for(dtype, N, 1.0), rtol_for(dtype), "grad a: " + what);
  check_close(cuda.grad_b, cpu.grad_b, atol_for(dtype, M, 1.0), rtol_for(dtype), "grad b: " + what);

  const MatmulRun again = run_matmul(a_base, trans_a, b_base, trans_b, g, Device::CUDA);
  CHECK(bitwise_equal(again.out, cuda.out));
  CHECK(bitwise_equal(again.grad_a, cuda.grad_a));
  CHECK(bitwise_equal(again.grad_b, cuda.grad_b));
}

void check_matmul_family(DType dtype, Generator& gen) {
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    check_matmul({1, 1}, {1, 1}, ta, tb, dtype, gen);
    check_matmul({7, 33}, {33, 130}, ta, tb, dtype, gen);
    check_matmul({130, 5}, {5, 1}, ta, tb, dtype, gen);
    check_matmul({3, 33, 17}, {3, 17, 40}, ta, tb, dtype, gen);
  }
}

}  // namespace

TEST_CASE("cuda: matmul: forward and backward match the CPU, with the same bits twice") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(21);
  for (auto path : {kernels::cuda::KernelPath::Handwritten, kernels::cuda::KernelPath::Vendor}) {
    INFO("kernel path ", kernels::cuda::kernel_path_name(path));
    KernelPathGuard guard(path);
    check_matmul_family(DType::Float32, gen);
    check_matmul_family(DType::Float64, gen);
  }
}

TEST_CASE("cuda: matmul: a broadcast batch operand (stride 0) matches the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(22);
  // Forward only: the backward of expand is a reduction over the batch, tested with the
  // reduction kernels.
  const Tensor x = rand({4, 9, 13}, gen, DType::Float32, -1.0, 1.0);
  const Tensor w = rand({1, 13, 6}, gen, DType::Float32, -1.0, 1.0);
  const Tensor u = rand({1, 9, 13}, gen, DType::Float32, -1.0, 1.0);
  const Tensor y = rand({4, 13, 6}, gen, DType::Float32, -1.0, 1.0);
  const Tensor want_b = matmul(x, w.expand({4, 13, 6}));
  const Tensor want_a = matmul(u.expand({4, 9, 13}), y);
  for (auto path : {kernels::cuda::KernelPath::Handwritten, kernels::cuda::KernelPath::Vendor}) {
    KernelPathGuard guard(path);
    const std::string where = kernels::cuda::kernel_path_name(path);
    check_close(matmul(gpu(x), gpu(w).expand({4, 13, 6})), want_b, atol_for(DType::Float32, 13, 1.0),
                rtol_for(DType::Float32), "broadcast B, " + where);
    check_close(matmul(gpu(u).expand({4, 9, 13}), gpu(y)), want_a, atol_for(DType::Float32, 13, 1.0),
                rtol_for(DType::Float32), "broadcast A, " + where);
  }
}

TEST_CASE("cuda: matmul: bad inputs on CUDA give sc::Error") {
  SC_SKIP_WITHOUT_CUDA();
  Generator gen(23);
  const Tensor a = gpu(randn({3, 4}, gen)), b = gpu(randn({5, 2}, gen));
  CHECK_THROWS_AS(matmul(a, b), Error);                       // inner dims differ
  CHECK_THROWS_AS(matmul(a, randn({4, 2}, gen)), Error);      // one operand on the CPU
  CHECK_THROWS_AS(matmul(a, gpu(randn({4, 2}, gen, DType::Float64))), Error);  // dtypes differ
}
