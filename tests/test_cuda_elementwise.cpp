// The CUDA elementwise, copy, reduction and index kernels (kernels/cuda/elementwise.cu,
// reduce.cu, index.cu) against the CPU reference, through the ops, on inputs drawn on the
// CPU and copied to the GPU so both devices see the same values.
//
// Tolerances (|cuda - cpu| <= atol + rtol * |cpu|), stated per check:
//   exact (bitwise): neg, abs, relu, sign, clamp, add, sub, mul, comparisons, casts, fills,
//     copies, concat, index_select and its backward (the same single IEEE operation, or the
//     same additions in the same order, on both devices), max values and indices.
//   div, sqrt: atol 0, rtol 1e-6 (IEEE-rounded on both; the margin only guards compiler flags).
//   exp, log, pow: float32 rtol 1e-5 / float64 rtol 1e-12 (CUDA's libm is within a few ulp).
//   sum, mean: both devices accumulate in double, so float32 results agree to about an ulp:
//     rtol 1e-6 with atol 1e-6 * (number of summed terms) for sums that cancel to ~0.
//   var: rtol 1e-5 (a chain of ops, each within an ulp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cuda_backend.h"
#include "tests/cuda_test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

Tensor gpu(const Tensor& t) { return t.to(Device::CUDA); }

// Whole numbers in [-2, 2]: ties for the comparisons and for max.
Tensor small_ints(const Shape& shape, Generator& gen, DType dtype) {
  std::vector<double> v = randn(shape, gen, DType::Float64).to_vector<double>();
  for (double& x : v) x = std::clamp(std::round(x * 1.5), -2.0, 2.0);
  return from_vector(v, shape).to(dtype);
}

// The CUDA result equals the CPU result bit for bit (and lives on the GPU).
void check_exact(const Tensor& cuda_result, const Tensor& cpu_result, const std::string& what) {
  INFO(what);
  REQUIRE(cuda_result.defined());
  CHECK(cuda_result.device() == Device::CUDA);
  CHECK(cuda_result.shape() == cpu_result.shape());
  CHECK(cuda_result.dtype() == cpu_result.dtype());
  CHECK(bitwise_equal(cuda_result, cpu_result));
}

void check_close(const Tensor& cuda_result, const Tensor& cpu_result, double atol, double rtol, const std::string& what) {
  INFO(what);
  REQUIRE(cuda_result.defined());
  CHECK(cuda_result.device() == Device::CUDA);
  CHECK(cuda_result.dtype() == cpu_result.dtype());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  const double ratio = cuda_worst_ratio(cuda_result, cpu_result, atol, rtol);
  CHECK_MESSAGE(ratio <= 1.0, what, ": worst |cuda - cpu| / tolerance = ", ratio);
}

// Float32 results within rtol_f32, float64 within rtol_f64.
double rtol_for(DType dtype, double rtol_f32, double rtol_f64) { return dtype == DType::Float32 ? rtol_f32 : rtol_f64; }

const std::vector<DType> kFloatTypes = {DType::Float32, DType::Float64};
const std::vector<DType> kAllTypes = {DType::Float32, DType::Float64, DType::Int64, DType::Int32};

// Values of any dtype that every dtype can hold exactly after truncation: |x| < 1000.
Tensor castable_values(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = mul(randn(shape, gen, DType::Float64), 300.0);
  return t.to(dtype);
}

std::string describe_shape(const Shape& s) { return shape_str(s); }

// sign() is not a public op; it runs as abs()'s backward: d sum(|x|) / dx = sign(x).
Tensor sign_by_abs_backward(const Tensor& x) {
  Tensor a = x.detach().clone().requires_grad_(true);
  sum(abs(a)).backward();
  return a.grad();
}

// The absolute tolerance of a sum of `terms` values of about unit size. Both devices add in
// double: a float32 result is the same double sum rounded, so it agrees to about an ulp (the
// 1e-6 covers results that cancel to near 0). Float64 results keep the different orders'
// rounding: about 1e-16 per term.
double sum_atol(DType dtype, double terms) { return dtype == DType::Float32 ? 1e-6 : 1e-14 * std::max(terms, 1.0); }

}  // namespace

// ---- small: every kernel once (run under compute-sanitizer memcheck and racecheck) ----------

TEST_CASE("cuda small: elementwise: every kernel of the family once on tiny shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(11);
  const Tensor x = randn({5, 7}, gen, DType::Float32);
  const Tensor y = randn({5, 7}, gen, DType::Float32);
  const Tensor row = randn({7}, gen, DType::Float32);
  const Tensor gx = gpu(x), gy = gpu(y), grow = gpu(row);

  // map_vector (contiguous), map_linear (a misaligned 1-D view), map_strided (a transpose).
  check_exact(relu(gx), relu(x), "relu, contiguous");
  check_exact(neg(gx.reshape({35}).narrow(0, 1, 33)), neg(x.reshape({35}).narrow(0, 1, 33)), "neg, misaligned view");
  check_exact(abs(gx.t()), abs(x.t()), "abs, transposed");
  check_exact(add(gx, gy), add(x, y), "add, contiguous");
  check_exact(mul(gx, grow), mul(x, row), "mul, broadcast row");
  check_exact(mul(gx, 3.0), mul(x, 3.0), "mul, broadcast scalar");
  // copy_cast and fill
  check_exact(gx.to(DType::Float64), x.to(DType::Float64), "cast float32 -> float64");
  check_exact(gx.t().contiguous(), x.t().contiguous(), "contiguous() of a transpose");
  check_exact(full({3, 5}, 2.5, DType::Float32, Device::CUDA), full({3, 5}, 2.5, DType::Float32), "fill");
  // reductions: warp per row, block per row (1 chunk), two passes (several chunks)
  check_close(sum(gx, {1}), sum(x, {1}), 1e-6, 1e-6, "sum, warp per row");
  const Tensor mid = randn({1, 2000}, gen, DType::Float32), wide = randn({1, 5000}, gen, DType::Float32);
  check_close(sum(gpu(mid), {1}), sum(mid, {1}), 1e-5, 1e-6, "sum, one block per row");
  check_close(sum(gpu(wide), {1}), sum(wide, {1}), 1e-5, 1e-6, "sum, two passes");
  const MaxResult gm = max(gx, 1), cm = max(x, 1);
  check_exact(gm.values, cm.values, "max values");
  check_exact(gm.indices, cm.indices, "max indices");
  const MaxResult gw = max(gpu(wide), 1), cw = max(wide, 1);
  check_exact(gw.indices, cw.indices, "max indices, two passes");
  // scatter_rows (max backward), gather_rows and scatter_add_rows (index_select forward/backward)
  {
    Tensor a = x.clone().requires_grad_(true), ga = gx.clone().requires_grad_(true);
    max(a, 1).values.sum().backward();
    max(ga, 1).values.sum().backward();
    check_exact(ga.grad(), a.grad(), "max backward");
  }
  {
    const Tensor index = from_vector(std::vector<int64_t>{4, 0, 4, 2}, {4});
    Tensor a = x.clone().requires_grad_(true), ga = gx.clone().requires_grad_(true);
    const Tensor out = index_select(a, 0, index), gout = index_select(ga, 0, gpu(index));
    check_exact(gout, out, "index_select");
    mul(out, y.narrow(0, 0, 4)).sum().backward();
    mul(gout, gy.narrow(0, 0, 4)).sum().backward();
    check_exact(ga.grad(), a.grad(), "index_select backward");
  }
}

// ---- elementwise -------------------------------------------------------------------------

TEST_CASE("cuda: elementwise: every unary op matches the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const std::vector<Shape> shapes = {{}, {1}, {7}, {33}, {127}, {1000}, {3, 5, 7}, {(1 << 20) + 3}};
  for (DType dtype : kFloatTypes) {
    for (const Shape& shape : shapes) {
      INFO(dtype_name(dtype), " ", describe_shape(shape));
      Generator gen(3);
      const Tensor x = randn(shape, gen, dtype);
      const Tensor positive = rand(shape, gen, dtype, 0.1, 4.0);
      const Tensor gx = gpu(x), gpos = gpu(positive);
      check_exact(neg(gx), neg(x), "neg");
      check_exact(abs(gx), abs(x), "abs");
      check_exact(relu(gx), relu(x), "relu");
      check_exact(sign_by_abs_backward(gx), sign_by_abs_backward(x), "sign");
      check_exact(clamp(gx, -0.5, 0.7), clamp(x, -0.5, 0.7), "clamp");
      check_exact(clamp_min(gx, 0.25), clamp_min(x, 0.25), "clamp_min");
      check_close(sqrt(gpos), sqrt(positive), 0.0, 1e-6, "sqrt");
      const double rtol = rtol_for(dtype, 1e-5, 1e-12);
      check_close(exp(gx), exp(x), 0.0, rtol, "exp");
      check_close(log(gpos), log(positive), 1e-7, rtol, "log");
      check_close(pow(gpos, 2.5), pow(positive, 2.5), 0.0, rtol, "pow 2.5");
      check_close(pow(gx, 3.0), pow(x, 3.0), 1e-12, rtol, "pow 3");
      check_close(pow(gx, 0.0), pow(x, 0.0), 0.0, rtol, "pow 0");
    }
  }
}

TEST_CASE("cuda: elementwise: NaN follows the CPU in relu, sign, clamp and abs") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_vector(std::vector<float>{static_cast<float>(nan), -1.5f, 0.0f, -0.0f, 2.0f}, {5});
  const Tensor gx = gpu(x);
  check_exact(relu(gx), relu(x), "relu");
  check_exact(sign_by_abs_backward(gx), sign_by_abs_backward(x), "sign");
  check_exact(clamp(gx, -1.0, 1.0), clamp(x, -1.0, 1.0), "clamp");
  // abs(NaN) is NaN on both, but the GPU returns its canonical NaN bits, so abs is compared by
  // value (NaN where the CPU has NaN, every other element exactly equal), not bitwise.
  check_close(abs(gx), abs(x), 0.0, 0.0, "abs");
}

TEST_CASE("cuda: elementwise: binary ops with broadcasting match the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  struct Pair {
    Shape a, b;
  };
  const std::vector<Pair> pairs = {
      {{1}, {1}},       {{33, 127}, {33, 127}}, {{1000}, {}},       {{}, {1000}},          {{4, 1, 7}, {5, 7}},
      {{3, 1}, {1, 4}}, {{127, 33}, {33}},      {{127, 33}, {127, 1}}, {{2, 3, 5, 7}, {3, 1, 7}}, {{(1 << 20) + 1}, {(1 << 20) + 1}},
  };
  for (DType dtype : kFloatTypes) {
    for (const Pair& p : pairs) {
      INFO(dtype_name(dtype), " ", describe_shape(p.a), " with ", describe_shape(p.b));
      Generator gen(5);
      const Tensor a = randn(p.a, gen, dtype), b = rand(p.b, gen, dtype, 0.5, 2.0);
      const Tensor ga = gpu(a), gb = gpu(b);
      check_exact(add(ga, gb), add(a, b), "add");
      check_exact(sub(ga, gb), sub(a, b), "sub");
      check_exact(sub(gb, ga), sub(b, a), "sub, swapped");
      check_exact(mul(ga, gb), mul(a, b), "mul");
      check_close(div(ga, gb), div(a, b), 0.0, 1e-6, "div");
      // Whole numbers in [-2, 2] tie often, so == and <= see equal operands.
      const Tensor ia = small_ints(p.a, gen, dtype), ib = small_ints(p.b, gen, dtype);
      const Tensor gia = gpu(ia), gib = gpu(ib);
      check_exact(eq(gia, gib), eq(ia, ib), "eq");
      check_exact(ne(gia, gib), ne(ia, ib), "ne");
      check_exact(lt(gia, gib), lt(ia, ib), "lt");
      check_exact(le(gia, gib), le(ia, ib), "le");
      check_exact(gt(gia, gib), gt(ia, ib), "gt");
      check_exact(ge(gia, gib), ge(ia, ib), "ge");
    }
  }
  // Scalar operands and the reversed forms.
  Generator gen(9);
  const Tensor x = randn({33, 7}, gen, DType::Float32);
  const Tensor gx = gpu(x);
  check_exact(add(gx, 1.5), add(x, 1.5), "x + 1.5");
  check_exact(rsub(2.0, gx), rsub(2.0, x), "2 - x");
  check_close(rdiv(2.0, gx), rdiv(2.0, x), 0.0, 1e-6, "2 / x");
  check_exact(gt(gx, 0.1), gt(x, 0.1), "x > 0.1");
}

TEST_CASE("cuda: elementwise: gradients of elementwise ops, relu backward included") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (DType dtype : kFloatTypes) {
    INFO(dtype_name(dtype));
    Generator gen(21);
    const Tensor a0 = randn({17, 33}, gen, dtype), b0 = rand({33}, gen, dtype, 0.5, 2.0);
    const Tensor w = randn({17, 33}, gen, dtype);
    auto run = [&](Device device) {
      // detach(): on the CPU to() returns a0 itself, which must stay a plain input for the CUDA run.
      Tensor a = a0.to(device).detach().requires_grad_(true), b = b0.to(device).detach().requires_grad_(true);
      Tensor y = relu(a * b - a / b) + clamp(a, -0.5, 0.5) * exp(b) + abs(a).sqrt();
      sum(y * w.to(device)).backward();
      return std::vector<Tensor>{y.detach(), a.grad(), b.grad()};
    };
    const std::vector<Tensor> cpu = run(Device::CPU), cuda = run(Device::CUDA);
    // exp may differ by an ulp or two (about 1e-6 of exp(b) <= 7.4 in float32), and terms may
    // cancel: float32 atol 1e-5; the broadcast b's gradient sums 17 such terms: atol 1e-4.
    const double rtol = rtol_for(dtype, 1e-5, 1e-12);
    const double atol = dtype == DType::Float32 ? 1e-5 : 1e-12;
    check_close(cuda[0], cpu[0], atol, rtol, "forward");
    check_close(cuda[1], cpu[1], atol, rtol, "gradient of a");
    check_close(cuda[2], cpu[2], 10 * atol, rtol, "gradient of b");
  }
}

TEST_CASE("cuda: elementwise: non-contiguous inputs and outputs") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(13);
  for (DType dtype : kFloatTypes) {
    INFO(dtype_name(dtype));
    const Tensor x = randn({33, 65}, gen, dtype), y = randn({65, 33}, gen, dtype);
    const Tensor gx = gpu(x), gy = gpu(y);
    check_exact(relu(gx.t()), relu(x.t()), "relu of a transpose");
    check_exact(add(gx.t(), gy), add(x.t(), y), "transpose + contiguous");
    check_exact(mul(gx.t(), gx.t()), mul(x.t(), x.t()), "transpose * transpose");
    check_exact(sub(gx.narrow(1, 3, 40), gy.t().narrow(1, 5, 40)), sub(x.narrow(1, 3, 40), y.t().narrow(1, 5, 40)),
                "narrowed views");
    const Tensor z = randn({4, 5, 6, 7}, gen, dtype);
    const Tensor pz = z.permute({2, 0, 3, 1}), gpz = gpu(z).permute({2, 0, 3, 1});
    check_exact(gpz.contiguous(), pz.contiguous(), "contiguous() of a permuted 4-d view");
    check_exact(neg(gpz), neg(pz), "neg of a permuted 4-d view");
    check_exact(gpu(z).narrow(3, 2, 3).contiguous(), z.narrow(3, 2, 3).contiguous(), "contiguous() of a narrow");
    check_exact(gpu(x).narrow(0, 1, 1).expand({6, 65}).contiguous(), x.narrow(0, 1, 1).expand({6, 65}).contiguous(),
                "contiguous() of an expanded row");
    // A misaligned contiguous view (offset of one element): the 1-D strided kernel.
    const Tensor flat = randn({1001}, gen, dtype);
    check_exact(neg(gpu(flat).narrow(0, 1, 1000)), neg(flat.narrow(0, 1, 1000)), "neg of a misaligned view");
    check_exact(add(gpu(flat).narrow(0, 1, 1000), gpu(flat).narrow(0, 0, 1000)),
                add(flat.narrow(0, 1, 1000), flat.narrow(0, 0, 1000)), "add of a misaligned and an aligned view");
  }
}

TEST_CASE("cuda: elementwise: copy_cast between all dtype pairs, contiguous and transposed") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(17);
  for (DType from : kAllTypes) {
    for (DType to : kAllTypes) {
      for (const Shape& shape : std::vector<Shape>{{1}, {7}, {1000}, {33, 127}}) {
        INFO(dtype_name(from), " -> ", dtype_name(to), " ", describe_shape(shape));
        const Tensor x = castable_values(shape, gen, from);
        check_exact(gpu(x).to(to), x.to(to), "contiguous cast");
        if (shape.size() == 2) check_exact(gpu(x).t().to(to), x.t().to(to), "cast of a transpose");
      }
    }
  }
}

TEST_CASE("cuda: elementwise: fill_ and copy_ on CUDA tensors") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (DType dtype : kAllTypes) {
    INFO(dtype_name(dtype));
    for (const Shape& shape : std::vector<Shape>{{}, {1}, {7}, {33}, {1000}, {3, 127}, {0, 4}}) {
      check_exact(full(shape, -3.0, dtype, Device::CUDA), full(shape, -3.0, dtype), "full " + describe_shape(shape));
      check_exact(zeros(shape, dtype, Device::CUDA), zeros(shape, dtype), "zeros " + describe_shape(shape));
      check_exact(ones(shape, dtype, Device::CUDA), ones(shape, dtype), "ones " + describe_shape(shape));
    }
    // fill_ of a strided view writes only that view.
    Tensor g = zeros({6, 9}, dtype, Device::CUDA), c = zeros({6, 9}, dtype);
    g.narrow(1, 2, 4).fill_(7.0);
    c.narrow(1, 2, 4).fill_(7.0);
    g.t().narrow(0, 8, 1).fill_(-1.0);
    c.t().narrow(0, 8, 1).fill_(-1.0);
    check_exact(g, c, "fill_ of strided views");
    // copy_ with broadcasting, a dtype change and a transposed source.
    Generator gen(19);
    const Tensor src_row = castable_values({9}, gen, DType::Float64);
    g.copy_(gpu(src_row));
    c.copy_(src_row);
    check_exact(g, c, "copy_ of a broadcast row with a cast");
    const Tensor src_t = castable_values({9, 6}, gen, DType::Float32);
    g.copy_(gpu(src_t).t());
    c.copy_(src_t.t());
    check_exact(g, c, "copy_ of a transpose with a cast");
    // copy_ from an overlapping view of itself (the source is cloned first).
    g.narrow(0, 0, 3).copy_(g.narrow(0, 1, 3));
    c.narrow(0, 0, 3).copy_(c.narrow(0, 1, 3));
    check_exact(g, c, "copy_ from an overlapping view");
  }
}

TEST_CASE("cuda: elementwise: to(device) round trips are bitwise for every dtype") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(23);
  for (DType dtype : kAllTypes) {
    for (const Shape& shape : std::vector<Shape>{{}, {1}, {7}, {1000}, {33, 127}, {0, 3}}) {
      INFO(dtype_name(dtype), " ", describe_shape(shape));
      const Tensor x = castable_values(shape, gen, dtype);
      const Tensor g = x.to(Device::CUDA);
      CHECK(g.device() == Device::CUDA);
      const Tensor back = g.to(Device::CPU);
      CHECK(back.device() == Device::CPU);
      CHECK(bitwise_equal(back, x));
      if (shape.size() == 2) CHECK(bitwise_equal(x.t().to(Device::CUDA).to(Device::CPU), x.t()));
    }
  }
}

TEST_CASE("cuda: elementwise: a gradient flows back through to(Device::CUDA)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(29);
  const Tensor x0 = randn({9, 13}, gen, DType::Float32), w = randn({9, 13}, gen, DType::Float32);
  Tensor x_cpu = x0.clone().requires_grad_(true);
  sum(relu(x_cpu * 2.0 + 0.5) * w).backward();
  Tensor x = x0.clone().requires_grad_(true);
  Tensor on_gpu = x.to(Device::CUDA);
  Tensor loss = sum(relu(on_gpu * 2.0 + 0.5) * gpu(w));
  CHECK(loss.device() == Device::CUDA);
  loss.backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().device() == Device::CPU);
  CHECK(bitwise_equal(x.grad(), x_cpu.grad()));
}

TEST_CASE("cuda: elementwise: bad inputs give sc::Error") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const Tensor c = ones({3}), g = ones({3}, DType::Float32, Device::CUDA);
  CHECK_THROWS_AS(add(c, g), Error);
  CHECK_THROWS_AS(mul(g, ones({4}, DType::Float32, Device::CUDA)), Error);
  CHECK_THROWS_AS(relu(ones({3}, DType::Int64, Device::CUDA)), Error);
  Tensor dst = zeros({3}, DType::Float32, Device::CUDA);
  CHECK_THROWS_AS(dst.copy_(c), Error);
  CHECK_THROWS_AS(dst.copy_(ones({4}, DType::Float32, Device::CUDA)), Error);
  CHECK_THROWS_AS(ones({3}, DType::Float32, Device::CUDA).expand({2, 3}).fill_(1.0), Error);
}

// ---- reductions --------------------------------------------------------------------------

TEST_CASE("cuda: reduce: sum over dims, keepdim and all match the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (DType dtype : kFloatTypes) {
    const double rtol = rtol_for(dtype, 1e-6, 1e-13);
    const double var_rtol = rtol_for(dtype, 1e-5, 1e-12);
    Generator gen(31);
    const Tensor x = randn({7, 33, 5}, gen, dtype);
    const Tensor gx = gpu(x);
    const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}, {}};
    for (const auto& dims : dim_sets) {
      for (bool keepdim : {false, true}) {
        INFO(dtype_name(dtype), " dims of size ", dims.size(), " keepdim ", keepdim);
        check_close(sum(gx, dims, keepdim), sum(x, dims, keepdim), sum_atol(dtype, 1155), rtol, "sum");
        check_close(mean(gx, dims, keepdim), mean(x, dims, keepdim), sum_atol(dtype, 1155), rtol, "mean");
      }
    }
    check_close(sum(gx), sum(x), sum_atol(dtype, 1155), rtol, "sum of all");
    check_close(var(gx, {1}, 1, false), var(x, {1}, 1, false), 1e-6, var_rtol, "var over dim 1");
    check_close(var(gx), var(x), 1e-6, var_rtol, "var of all");
    check_close(var(gx, {0, 2}, 0, true), var(x, {0, 2}, 0, true), 1e-6, var_rtol,
                "var over dims 0, 2 (no correction, keepdim)");
    // Shapes that hit each partition: warp per row, one block per row, few long rows split
    // into chunks (two passes), one very long row; and an empty reduction (sum = 0).
    for (const Shape& shape : std::vector<Shape>{{5000, 33}, {1, 1}, {127, 1000}, {2048, 1025}, {3, 100003},
                                                 {1, 3000017}, {4, 0}}) {
      INFO(dtype_name(dtype), " rows x cols ", describe_shape(shape));
      const Tensor big = randn(shape, gen, dtype);
      const Tensor gbig = gpu(big);
      check_close(sum(gbig, {1}), sum(big, {1}), sum_atol(dtype, static_cast<double>(shape[1])), rtol,
                  "sum over the last dim");
      check_close(sum(gbig, {0}), sum(big, {0}), sum_atol(dtype, static_cast<double>(shape[0])), rtol,
                  "sum over the first dim");
    }
  }
}

TEST_CASE("cuda: reduce: sums are deterministic run to run") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(37);
  for (const Shape& shape : std::vector<Shape>{{1, 3000017}, {3, 100003}, {2048, 1025}, {5000, 33}}) {
    INFO(describe_shape(shape));
    const Tensor g = gpu(randn(shape, gen, DType::Float32));
    const Tensor first = sum(g, {1}), second = sum(g, {1});
    CHECK(bitwise_equal(first, second));
    CHECK(bitwise_equal(sum(g), sum(g)));
  }
}

TEST_CASE("cuda: reduce: max with indices, ties, NaN and the backward") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Ties go to the first index; NaN counts as the max (the first NaN); -0 and +0 tie.
  const Tensor hand = from_vector(std::vector<float>{1, 3, 3, 2,         //
                                                     5, 5, 5, 5,         //
                                                     -1, nan, 7, nan,    //
                                                     -inf, -inf, -inf, -inf,  //
                                                     -0.0f, 0.0f, -1, -2},
                                  {5, 4});
  for (int64_t dim : {0, 1}) {
    INFO("hand-made, dim ", dim);
    const MaxResult g = max(gpu(hand), dim), c = max(hand, dim);
    check_exact(g.values, c.values, "values");
    check_exact(g.indices, c.indices, "indices");
  }
  for (DType dtype : kFloatTypes) {
    Generator gen(41);
    for (const Shape& shape : std::vector<Shape>{{1, 1}, {7, 33}, {300, 2000}, {2, 100003}, {1, 300007}, {4000, 3}}) {
      for (int64_t dim : {0, 1}) {
        for (bool keepdim : {false, true}) {
          INFO(dtype_name(dtype), " ", describe_shape(shape), " dim ", dim, " keepdim ", keepdim);
          // Whole numbers in [-2, 2]: a long row holds its max many times, so the index
          // checks the first-index rule across threads, warps and chunks.
          const Tensor x = small_ints(shape, gen, dtype);
          const MaxResult g = max(gpu(x), dim, keepdim), c = max(x, dim, keepdim);
          check_exact(g.values, c.values, "values");
          check_exact(g.indices, c.indices, "indices");
          check_exact(argmax(gpu(x), dim, keepdim), argmax(x, dim, keepdim), "argmax");
        }
      }
    }
    const Tensor r = randn({1000, 7}, gen, dtype);
    check_exact(max(gpu(r)), max(r), "max of all");
    // The backward: the gradient goes to the chosen element of each row.
    const Tensor w = randn({7}, gen, dtype);
    for (int64_t dim : {0, 1}) {
      INFO(dtype_name(dtype), " backward over dim ", dim);
      const Tensor wd = dim == 0 ? w : randn({1000}, gen, dtype);
      Tensor a = r.clone().requires_grad_(true), ga = gpu(r).requires_grad_(true);
      sum(max(a, dim).values * wd).backward();
      sum(max(ga, dim).values * gpu(wd)).backward();
      check_exact(ga.grad(), a.grad(), "gradient");
    }
  }
}

TEST_CASE("cuda: reduce: a NaN in a long row is found by every partition") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(43);
  for (int64_t cols : {33, 1000, 5000, 200003}) {
    INFO("cols ", cols);
    std::vector<float> v = randn({2, cols}, gen, DType::Float32).to_vector<float>();
    v[static_cast<size_t>(cols - 2)] = std::numeric_limits<float>::quiet_NaN();             // row 0: near the end
    v[static_cast<size_t>(cols + cols / 3)] = std::numeric_limits<float>::quiet_NaN();      // row 1: two NaNs,
    v[static_cast<size_t>(cols + cols / 2 + 1)] = std::numeric_limits<float>::quiet_NaN();  // the first one wins
    const Tensor x = from_vector(v, {2, cols});
    const MaxResult g = max(gpu(x), 1), c = max(x, 1);
    check_exact(g.values, c.values, "values");
    check_exact(g.indices, c.indices, "indices");
  }
}

// ---- concat, stack, index_select -----------------------------------------------------------

TEST_CASE("cuda: join: concat and stack along dims 0 and 1, forward and backward") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (DType dtype : kFloatTypes) {
    Generator gen(47);
    const Tensor a = randn({3, 7}, gen, dtype), b = randn({5, 7}, gen, dtype), c = randn({3, 33}, gen, dtype);
    check_exact(concat({gpu(a), gpu(b)}, 0), concat({a, b}, 0), "concat dim 0");
    check_exact(concat({gpu(a), gpu(c), gpu(a)}, 1), concat({a, c, a}, 1), "concat dim 1");
    check_exact(concat({gpu(a).t(), gpu(c).t()}, 0), concat({a.t(), c.t()}, 0), "concat of transposes");
    check_exact(stack({gpu(a), gpu(a * 2.0)}, 0), stack({a, a * 2.0}, 0), "stack dim 0");
    check_exact(stack({gpu(a), gpu(a * 2.0)}, 1), stack({a, a * 2.0}, 1), "stack dim 1");
    check_exact(stack({gpu(a), gpu(a * 2.0)}, 2), stack({a, a * 2.0}, 2), "stack dim 2");
    // The backward hands each input its slot of the gradient.
    const Tensor w = randn({3, 47}, gen, dtype);
    Tensor ca = a.clone().requires_grad_(true), cc = c.clone().requires_grad_(true);
    Tensor ga = gpu(a).requires_grad_(true), gc = gpu(c).requires_grad_(true);
    sum(concat({ca, cc, ca}, 1) * w).backward();
    sum(concat({ga, gc, ga}, 1) * gpu(w)).backward();
    check_exact(ga.grad(), ca.grad(), "gradient of a (used twice)");
    check_exact(gc.grad(), cc.grad(), "gradient of c");
  }
  // Integer tensors concatenate too.
  const Tensor i = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
  check_exact(concat({gpu(i), gpu(i)}, 1), concat({i, i}, 1), "concat int64");
  check_exact(concat({gpu(i.to(DType::Int32)), gpu(i.to(DType::Int32))}, 0), concat({i.to(DType::Int32), i.to(DType::Int32)}, 0),
              "concat int32");
}

TEST_CASE("cuda: index: index_select forward and backward with repeated indices") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (DType dtype : kFloatTypes) {
    Generator gen(53);
    struct Case {
      Shape shape;
      int64_t dim;
      std::vector<int64_t> index;
    };
    const std::vector<Case> cases = {
        {{10, 33}, 0, {3, 3, 0, 9, 3, 1}},
        {{4, 10, 7}, 1, {9, 0, 0, 5, 9, 9, 2}},
        {{6, 127}, 1, {126, 0, 126, 1, 64}},
        {{1000}, 0, {999, 0, 500, 500, 1}},
        {{5, 3}, 0, {}},
    };
    for (const Case& k : cases) {
      INFO(dtype_name(dtype), " ", describe_shape(k.shape), " dim ", k.dim, " with ", k.index.size(), " indices");
      const Tensor x = randn(k.shape, gen, dtype);
      const Tensor index = from_vector(k.index, {static_cast<int64_t>(k.index.size())});
      const Tensor out = index_select(x, k.dim, index);
      check_exact(index_select(gpu(x), k.dim, gpu(index)), out, "forward");
      // The backward twice on the GPU: the CPU's bits, both times.
      const Tensor w = randn(out.shape(), gen, dtype);
      Tensor a = x.clone().requires_grad_(true);
      sum(index_select(a, k.dim, index) * w).backward();
      std::vector<Tensor> grads;
      for (int run = 0; run < 2; ++run) {
        Tensor ga = gpu(x).requires_grad_(true);
        sum(index_select(ga, k.dim, gpu(index)) * gpu(w)).backward();
        grads.push_back(ga.grad());
      }
      check_exact(grads[0], a.grad(), "backward");
      CHECK(bitwise_equal(grads[0], grads[1]));
    }
  }
  // A long index with many repeats into few rows: each row sums many gradient rows.
  Generator gen(59);
  std::vector<int64_t> many(5000);
  for (size_t j = 0; j < many.size(); ++j) many[j] = static_cast<int64_t>((j * 7) % 13);
  const Tensor index = from_vector(many, {5000});
  const Tensor x = randn({13, 65}, gen, DType::Float32), w = randn({5000, 65}, gen, DType::Float32);
  Tensor a = x.clone().requires_grad_(true), ga = gpu(x).requires_grad_(true);
  sum(index_select(a, 0, index) * w).backward();
  sum(index_select(ga, 0, gpu(index)) * gpu(w)).backward();
  check_exact(ga.grad(), a.grad(), "backward of 5000 indices into 13 rows");
  // Integer data is gathered too.
  const Tensor labels = from_vector(std::vector<int64_t>{10, 11, 12, 13}, {4});
  const Tensor pick = from_vector(std::vector<int64_t>{3, 0, 3}, {3});
  check_exact(index_select(gpu(labels), 0, gpu(pick)), index_select(labels, 0, pick), "int64 gather");
  check_exact(index_select(gpu(labels.to(DType::Int32)), 0, gpu(pick)), index_select(labels.to(DType::Int32), 0, pick),
              "int32 gather");
}

TEST_CASE("cuda: index: bad indices on CUDA give sc::Error") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const Tensor x = ones({4, 3}, DType::Float32, Device::CUDA);
  CHECK_THROWS_AS(index_select(x, 0, gpu(from_vector(std::vector<int64_t>{0, 4}, {2}))), Error);
  CHECK_THROWS_AS(index_select(x, 1, gpu(from_vector(std::vector<int64_t>{-1}, {1}))), Error);
  CHECK_THROWS_AS(index_select(x, 0, from_vector(std::vector<int64_t>{0}, {1})), Error);  // index on the CPU
}
