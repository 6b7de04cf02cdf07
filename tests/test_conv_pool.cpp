// conv2d and pooling: small examples worked out by hand (forward and backward), every
// class of bad input, and float32 convolutions of realistic shapes against a direct
// six-loop reference (this exercises the fast float32 GEMM path, which the float64
// gradient checks of the registry never reach).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/ops.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "kernels/winograd.h"

using namespace sc;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  const std::vector<double> got = t.to(DType::Float64).to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tol));
  }
}

Tensor iota(int64_t n, const Shape& shape, DType dt = DType::Float32) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i + 1);
  return from_vector(v, shape).to(dt);
}

Conv2dOptions stride_pad(int64_t stride, int64_t pad) {
  Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = pad;
  return o;
}

Pool2dOptions window(int64_t k, int64_t stride, int64_t pad = 0) {
  Pool2dOptions o;
  o.kernel_h = o.kernel_w = k;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = pad;
  return o;
}

}  // namespace

TEST_CASE("conv2d: a 2x2 kernel over a 3x3 image, worked by hand") {
  // x = 1 2 3    w = 1 2    y[i,j] = sum_{a,b} w[a,b] x[i+a, j+b] + 0.5
  //     4 5 6        3 4
  //     7 8 9
  Tensor x = iota(9, {1, 1, 3, 3}).requires_grad_();
  Tensor w = iota(4, {1, 1, 2, 2}).requires_grad_();
  Tensor b = full({1}, 0.5).requires_grad_();
  Tensor y = conv2d(x, w, b);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  check_values(y, {37.5, 47.5, 67.5, 77.5});  // 1+4+12+20 = 37, 2+6+15+24 = 47, ...

  y.sum().backward();
  // dL/dw[a,b] = the sum of the x values that tap saw; dL/db = the number of outputs;
  // dL/dx[i,j] = the sum of the taps that saw x[i,j].
  check_values(w.grad(), {1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9});
  check_values(b.grad(), {4});
  check_values(x.grad(), {1, 1 + 2, 2, 1 + 3, 1 + 2 + 3 + 4, 2 + 4, 3, 3 + 4, 4});
}

TEST_CASE("conv2d: stride 2 and padding 1, worked by hand") {
  // A 3x3 box of ones with stride 2 over the zero-padded 3x3 image: each output is the sum
  // of the 2x2 corner block it covers.
  Tensor x = iota(9, {1, 1, 3, 3}, DType::Float64).requires_grad_();
  Tensor w = ones({1, 1, 3, 3}, DType::Float64);
  Tensor y = conv2d(x, w, Tensor(), stride_pad(2, 1));
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  check_values(y, {1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9});
  y.sum().backward();
  check_values(x.grad(), {1, 2, 1, 2, 4, 2, 1, 2, 1});  // how many outputs saw each pixel
  CHECK_FALSE(w.grad().defined());                     // w did not ask for a gradient
}

TEST_CASE("conv2d: two channels in, two out, dilation 2, worked by hand") {
  // x channel 0 = 1..16 (4x4), channel 1 = all 1. Kernel 2x2 with dilation 2 taps the
  // corners of a 3x3 block. Output 0 uses channel 0 with weights 1 (corners summed),
  // output 1 uses channel 1 with weights 1, 2, 3, 4 (so 10 everywhere).
  Tensor x = concat({iota(16, {1, 1, 4, 4}), ones({1, 1, 4, 4})}, 1);
  std::vector<float> wv = {1, 1, 1, 1, 0, 0, 0, 0,   // o = 0: c = 0, then c = 1
                           0, 0, 0, 0, 1, 2, 3, 4};  // o = 1
  Tensor w = from_vector(wv, {2, 2, 2, 2});
  Conv2dOptions o;
  o.dilation_h = o.dilation_w = 2;
  Tensor y = conv2d(x, w, from_vector(std::vector<float>{0, -10}, {2}), o);
  CHECK(y.shape() == Shape{1, 2, 2, 2});
  // corners of the 3x3 block at (i, j): x[i][j] + x[i][j+2] + x[i+2][j] + x[i+2][j+2]
  check_values(y, {1 + 3 + 9 + 11, 2 + 4 + 10 + 12, 5 + 7 + 13 + 15, 6 + 8 + 14 + 16, 0, 0, 0, 0});
}

TEST_CASE("max_pool2d, avg_pool2d, global_avg_pool2d: worked by hand") {
  const std::vector<float> v = {1, 5, 2, 0,   //
                                3, 4, 8, 7,   //
                                6, 2, 1, 9,   //
                                0, 3, 4, 2};  // sum 57
  SUBCASE("max 2x2 stride 2: the gradient goes to each window's max") {
    Tensor x = from_vector(v, {1, 1, 4, 4}).requires_grad_();
    Tensor y = max_pool2d(x, window(2, 2));
    check_values(y, {5, 8, 6, 9});
    y.sum().backward();
    check_values(x.grad(), {0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0});
  }
  SUBCASE("max 3x3 stride 1: overlapping windows sharing a max add up") {
    Tensor x = from_vector(v, {1, 1, 4, 4}).requires_grad_();
    Tensor y = max_pool2d(x, window(3, 1));
    check_values(y, {8, 9, 8, 9});
    y.sum().backward();
    check_values(x.grad(), {0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0});
  }
  SUBCASE("max 3x3 stride 2 pad 1: padding never wins") {
    Tensor x = from_vector(v, {1, 1, 4, 4}) - 100.0;  // all negative: a zero pad would win
    check_values(max_pool2d(x, window(3, 2, 1)), {-95, -92, -94, -91});
  }
  SUBCASE("avg 2x2 stride 2") {
    Tensor x = from_vector(v, {1, 1, 4, 4}).requires_grad_();
    Tensor y = avg_pool2d(x, window(2, 2));
    check_values(y, {13 / 4.0, 17 / 4.0, 11 / 4.0, 16 / 4.0});
    y.sum().backward();
    check_values(x.grad(), std::vector<double>(16, 0.25));
  }
  SUBCASE("avg 3x3 stride 2 pad 1: padding counts as zeros (divisor 9)") {
    Tensor x = from_vector(v, {1, 1, 4, 4}).requires_grad_();
    Tensor y = avg_pool2d(x, window(3, 2, 1));
    check_values(y, {13 / 9.0, 26 / 9.0, 18 / 9.0, 40 / 9.0});
    y.sum().backward();
    // Windows cover rows {0,1}, {1,2,3} and columns {0,1}, {1,2,3}: row 1 and column 1
    // are in two windows each.
    const double a = 1 / 9.0;
    check_values(x.grad(), {a, 2 * a, a, a, 2 * a, 4 * a, 2 * a, 2 * a, a, 2 * a, a, a, a, 2 * a, a, a});
  }
  SUBCASE("global average") {
    Tensor x = from_vector(v, {1, 1, 4, 4}).requires_grad_();
    Tensor y = global_avg_pool2d(x);
    CHECK(y.shape() == Shape{1, 1, 1, 1});
    check_values(y, {57 / 16.0});
    y.sum().backward();
    check_values(x.grad(), std::vector<double>(16, 1 / 16.0));
  }
  SUBCASE("NaN propagates through max pooling") {
    std::vector<float> w = v;
    w[5] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> y = max_pool2d(from_vector(w, {1, 1, 4, 4}), window(2, 2)).to_vector<float>();
    CHECK(std::isnan(y[0]));
    CHECK(y[1] == 8);
  }
}

TEST_CASE("max_pool2d 2x2 stride 2 (its own CPU loop) picks what the window rule picks, ties and odd sizes too") {
  // kernels/cpu/pool.cpp runs 2x2 / stride 2 / no padding through a loop of its own; check it
  // against the rule written out here: row-major scan, a later value wins only if larger.
  // Values from {0, 1, 2} make ties common; 5 x 7 planes leave a last row and column unused.
  Generator gen(13);
  const int64_t N = 2, C = 3, H = 5, W = 7, OH = 2, OW = 3;
  std::vector<float> v(N * C * H * W);
  for (float& x : v) x = static_cast<float>(gen.below(3));
  Tensor x = from_vector(v, {N, C, H, W}).requires_grad_();
  Tensor y = max_pool2d(x, window(2, 2));
  REQUIRE(y.shape() == Shape{N, C, OH, OW});
  y.sum().backward();
  std::vector<double> want_y, want_grad(v.size(), 0.0);
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t best = p * H * W + 2 * oh * W + 2 * ow;
        for (int64_t i = 0; i < 2; ++i)
          for (int64_t j = 0; j < 2; ++j) {
            const int64_t at = p * H * W + (2 * oh + i) * W + 2 * ow + j;
            if (v[at] > v[best]) best = at;
          }
        want_y.push_back(v[best]);
        want_grad[best] += 1.0;
      }
  check_values(y, want_y);
  check_values(x.grad(), want_grad);  // the argmax: the first of tied maxima
}

TEST_CASE("max_pool2d 2x2 stride 2: the AVX-512 loops give the portable results, ties, NaN and -0 too") {
  if (!kernels::cpu::gemm_path::avx512_available()) {
    MESSAGE("this CPU has no AVX-512: the AVX-512 max pool is not tested");
    return;
  }
  // Widths around the AVX-512 loop's blocks of 16 outputs (32 input columns), odd heights and
  // widths (a last row or column no window reads); values from {0, 1, 2} make ties common,
  // and some are NaN (a later NaN wins, as in the portable loop).
  Generator gen(17);
  for (const int64_t W : {2, 3, 14, 15, 28, 31, 32, 33, 34, 64, 70}) {
    for (const int64_t H : {2, 5, 14}) {
      kernels::Pool2dShape s;
      s.N = 3, s.C = 2, s.H = H, s.W = W, s.KH = 2, s.KW = 2, s.stride_h = 2, s.stride_w = 2;
      s.OH = H / 2, s.OW = W / 2;
      std::vector<float> x(s.N * s.C * H * W);
      for (float& v : x)
        v = gen.below(23) == 0 ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(gen.below(3));
      const size_t outputs = static_cast<size_t>(s.planes() * s.OH * s.OW);
      // poisoned outputs: every element must be written
      std::vector<float> y_portable(outputs, -7.0f), y_avx512(outputs, 7.0f);
      std::vector<int32_t> arg_portable(outputs, -1), arg_avx512(outputs, -2);
      kernels::cpu::pool_path::max_pool_2x2_portable(x.data(), y_portable.data(), arg_portable.data(), s);
      kernels::cpu::pool_path::max_pool_2x2_avx512(x.data(), y_avx512.data(), arg_avx512.data(), s);
      CAPTURE(W);
      CAPTURE(H);
      CHECK(arg_portable == arg_avx512);
      int64_t differ = 0;
      for (size_t i = 0; i < outputs; ++i) {
        const bool both_nan = std::isnan(y_portable[i]) && std::isnan(y_avx512[i]);
        if (!both_nan && y_portable[i] != y_avx512[i]) ++differ;
      }
      CHECK(differ == 0);
      // The backward: every input element written, equal bit for bit to zero-and-scatter (the
      // general loop's rule), with some gradients -0 (the scatter gives +0 for those).
      std::vector<float> gy(outputs);
      for (float& v : gy) v = gen.below(9) == 0 ? -0.0f : static_cast<float>(gen.below(1000)) / 7.0f - 50.0f;
      std::vector<float> gx_scatter(x.size(), 0.0f), gx_avx512(x.size(), std::numeric_limits<float>::quiet_NaN());
      for (int64_t p = 0; p < s.planes(); ++p)
        for (int64_t o = 0; o < s.OH * s.OW; ++o)
          gx_scatter[p * H * W + arg_portable[p * s.OH * s.OW + o]] += gy[p * s.OH * s.OW + o];
      kernels::cpu::pool_path::max_pool_2x2_backward_avx512(gy.data(), arg_portable.data(), gx_avx512.data(), s);
      CHECK(std::memcmp(gx_scatter.data(), gx_avx512.data(), x.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("conv2d: bad inputs are rejected with the op, shapes and dtypes in the message") {
  Tensor x = zeros({2, 3, 8, 8});
  Tensor w = zeros({4, 3, 3, 3});
  Tensor b = zeros({4});
  auto msg = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb, Conv2dOptions o = {}) {
    return message_of([&] { conv2d(xx, ww, bb, o); });
  };
  CHECK(msg(x, w, b) == "no error");
  CHECK(msg(Tensor(), w, b).find("conv2d: the input is an undefined tensor") != std::string::npos);
  CHECK(msg(x, Tensor(), b).find("conv2d: the weight is an undefined tensor") != std::string::npos);
  CHECK(msg(zeros({3, 8, 8}), w, b).find("conv2d: the input must be [N, C, H, W] (4 dims), got float32[3, 8, 8]") !=
        std::string::npos);
  CHECK(msg(x, zeros({4, 27}), b).find("conv2d: the weight must be [O, C, KH, KW] (4 dims), got float32[4, 27]") !=
        std::string::npos);
  CHECK(msg(x, zeros({4, 2, 3, 3}), b).find("the input has 3 channels but the weight expects 2") != std::string::npos);
  CHECK(msg(x, w, zeros({3})).find("the bias must be [4]") != std::string::npos);
  CHECK(msg(x, w, zeros({4, 1})).find("got float32[4, 1]") != std::string::npos);
  CHECK(msg(x, zeros({4, 3, 3, 3}, DType::Float64), b).find("conv2d: dtypes differ") != std::string::npos);
  CHECK(msg(x, w, zeros({4}, DType::Float64)).find("conv2d: dtypes differ") != std::string::npos);
  CHECK(msg(zeros({2, 3, 8, 8}, DType::Int64), zeros({4, 3, 3, 3}, DType::Int64), Tensor())
            .find("conv2d: expected a float32 or float64 tensor, got int64[2, 3, 8, 8]") != std::string::npos);
  CHECK(msg(x, zeros({0, 3, 3, 3}), Tensor()).find("the weight has an empty dim") != std::string::npos);
  Conv2dOptions o;
  o.stride_w = 0;
  CHECK(msg(x, w, b, o).find("conv2d: stride must be >= 1, got (1, 0)") != std::string::npos);
  o = {};
  o.dilation_h = 0;
  CHECK(msg(x, w, b, o).find("conv2d: dilation must be >= 1, got (0, 1)") != std::string::npos);
  o = {};
  o.pad_h = -1;
  CHECK(msg(x, w, b, o).find("conv2d: padding must be >= 0, got (-1, 0)") != std::string::npos);
  // A 9x9 kernel does not fit an 8x8 image; with padding 1 (10x10) it does.
  CHECK(msg(x, zeros({4, 3, 9, 9}), b).find("the kernel (9 x 9 with dilation) is larger than the padded input (8 x 8)") !=
        std::string::npos);
  CHECK(msg(x, zeros({4, 3, 9, 9}), b, stride_pad(1, 1)) == "no error");
  o = {};
  o.dilation_w = 4;  // 3 taps 4 apart span 9 columns
  CHECK(msg(x, w, b, o).find("the kernel (3 x 9 with dilation) is larger") != std::string::npos);
  // Options so large that H + 2 * pad or dilation * (KH - 1) would overflow int64 are refused
  // before that arithmetic runs (UBSan would report the overflow).
  o = {};
  o.pad_h = INT64_MAX / 2 + 1;
  CHECK(msg(x, w, b, o).find("conv2d: image sizes, kernel sizes, strides, padding and dilation must be below 2^31") !=
        std::string::npos);
  o = {};
  o.dilation_w = INT64_MAX;
  CHECK(msg(x, w, b, o).find("must be below 2^31, got 9223372036854775807") != std::string::npos);
  o = {};
  o.stride_h = int64_t(1) << 31;
  CHECK(msg(x, w, b, o).find("must be below 2^31") != std::string::npos);
}

TEST_CASE("pooling: bad inputs are rejected with the op and shapes in the message") {
  Tensor x = zeros({2, 3, 6, 6});
  auto msg = [](const std::function<void()>& f) { return message_of(f); };
  for (const std::string op : {"max_pool2d", "avg_pool2d"}) {
    CAPTURE(op);
    auto pool = [&](const Tensor& t, Pool2dOptions o) { return op == "max_pool2d" ? max_pool2d(t, o) : avg_pool2d(t, o); };
    CHECK(msg([&] { pool(x, window(2, 2)); }) == "no error");
    CHECK(msg([&] { pool(Tensor(), window(2, 2)); }).find(op + ": the input is an undefined tensor") != std::string::npos);
    CHECK(msg([&] { pool(zeros({3, 6, 6}), window(2, 2)); }).find(op + ": the input must be [N, C, H, W]") !=
          std::string::npos);
    CHECK(msg([&] { pool(zeros({2, 3, 6, 6}, DType::Int64), window(2, 2)); }).find("expected a float32 or float64") !=
          std::string::npos);
    CHECK(msg([&] { pool(x, window(0, 1)); }).find(op + ": kernel size must be >= 1, got (0, 0)") != std::string::npos);
    CHECK(msg([&] { pool(x, window(2, 0)); }).find(op + ": stride must be >= 1") != std::string::npos);
    CHECK(msg([&] { pool(x, window(3, 1, -1)); }).find(op + ": padding must be >= 0") != std::string::npos);
    CHECK(msg([&] { pool(x, window(3, 1, 2)); }).find("padding (2, 2) must be at most half the kernel size (3, 3)") !=
          std::string::npos);
    CHECK(msg([&] { pool(x, window(7, 1)); }).find(op + ": the output would be empty") != std::string::npos);
    CHECK(msg([&] { pool(x, window(7, 1, 1)); }) == "no error");  // 8 x 8 padded: one window
    // A kernel of INT64_MAX with padding half of it: H + 2 * pad - KH would overflow.
    CHECK(msg([&] { pool(x, window(INT64_MAX, 1, INT64_MAX / 2)); }).find(op + ": image sizes, kernel sizes") !=
          std::string::npos);
  }
  // max_pool2d's argmax is int32: a plane of 2^32 values (an expanded view, so nothing is
  // allocated) is refused before any memory is taken.
  const Tensor huge_plane = expand(zeros({1, 1, 1, 1}), {1, 1, int64_t{1} << 16, int64_t{1} << 16});
  CHECK(msg([&] { max_pool2d(huge_plane, window(2, 2)); }).find("max_pool2d: an input plane of 65536 x 65536") !=
        std::string::npos);
  CHECK(msg([&] { avg_pool2d(expand(zeros({1, 1, 1, 1}), {1, 1, 4, 4}), window(2, 2)); }) == "no error");
  CHECK(msg([&] { global_avg_pool2d(Tensor()); }).find("global_avg_pool2d: the input is an undefined tensor") !=
        std::string::npos);
  CHECK(msg([&] { global_avg_pool2d(zeros({2, 3})); }).find("global_avg_pool2d: the input must be [N, C, H, W]") !=
        std::string::npos);
  CHECK(msg([&] { global_avg_pool2d(zeros({2, 3, 0, 4})); }).find("global_avg_pool2d: the feature maps of float32[2, 3, 0, 4]") !=
        std::string::npos);
  CHECK(msg([&] { global_avg_pool2d(zeros({2, 3, 4, 4}, DType::Int32)); }).find("expected a float32 or float64") !=
        std::string::npos);
}

TEST_CASE("conv2d and pooling: an empty batch gives an empty output and zero weight gradients") {
  Tensor x = zeros({0, 2, 5, 5}).requires_grad_();
  Tensor w = ones({3, 2, 3, 3}).requires_grad_();
  Tensor b = ones({3}).requires_grad_();
  Tensor y = conv2d(x, w, b);
  CHECK(y.shape() == Shape{0, 3, 3, 3});
  Tensor p = max_pool2d(y, window(3, 1));
  CHECK(p.shape() == Shape{0, 3, 1, 1});
  (global_avg_pool2d(avg_pool2d(y, window(2, 1))).sum() + p.sum()).backward();
  check_values(w.grad(), std::vector<double>(54, 0.0));
  check_values(b.grad(), {0, 0, 0});
  CHECK(x.grad().shape() == Shape{0, 2, 5, 5});
}

// ---- float32 against a direct reference ------------------------------------------------

namespace {

struct NaiveConv {
  std::vector<double> y, gx, gw, gb;
};

// The definition, one multiply-add at a time in double, forward and backward (with the
// output gradient gy).
NaiveConv naive_conv(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                     const std::vector<float>& gy, const kernels::Conv2dShape& s) {
  NaiveConv r{std::vector<double>(s.N * s.O * s.OH * s.OW), std::vector<double>(x.size()),
              std::vector<double>(w.size()), std::vector<double>(s.O)};
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const int64_t yi = ((n * s.O + o) * s.OH + oh) * s.OW + ow;
          double acc = b[o];
          r.gb[o] += gy[yi];
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
                const int64_t iw = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const int64_t xi = ((n * s.C + c) * s.H + ih) * s.W + iw;
                const int64_t wi = ((o * s.C + c) * s.KH + kh) * s.KW + kw;
                acc += double(w[wi]) * x[xi];
                r.gx[xi] += double(w[wi]) * gy[yi];
                r.gw[wi] += double(x[xi]) * gy[yi];
              }
          r.y[yi] = acc;
        }
  return r;
}

// |got - ref| <= 1e-4 * (|ref| + the largest |ref|): relative to the size of the numbers
// involved, since an element that cancels to ~0 has no meaningful relative error of its own.
void check_close(const Tensor& got, const std::vector<double>& ref) {
  const std::vector<float> g = got.to_vector<float>();
  REQUIRE(g.size() == ref.size());
  double scale = 0;
  for (double v : ref) scale = std::max(scale, std::abs(v));
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - ref[i]) / (1e-4 * (std::abs(ref[i]) + scale)));
  CHECK(worst <= 1.0);
}

}  // namespace

TEST_CASE("conv2d float32 agrees with a direct six-loop reference on realistic shapes") {
  struct Config {
    std::string name;
    int64_t N, C, H, W, O, KH, KW;
    Conv2dOptions o;
  };
  Conv2dOptions s2d2;
  s2d2.stride_h = 2, s2d2.stride_w = 1, s2d2.pad_h = 2, s2d2.pad_w = 1, s2d2.dilation_h = 2;
  Conv2dOptions pad_hw;
  pad_hw.pad_h = 1, pad_hw.pad_w = 0;
  const std::vector<Config> configs = {
      {"N=4, 16->32, 14x14, 3x3 pad 1 (the encoder's shape)", 4, 16, 14, 14, 32, 3, 3, stride_pad(1, 1)},
      // One image: the images run one after another and the GEMM itself is threaded.
      // K = 48*9 = 432 takes two K slices; O = 37 and P = 13*11 fill no tile exactly.
      {"N=1, 48->37, 13x11, 3x3 pad 1", 1, 48, 13, 11, 37, 3, 3, stride_pad(1, 1)},
      {"N=3, 5->7, 12x9, 3x2, stride (2,1), pad (2,1), dilation (2,1)", 3, 5, 12, 9, 7, 3, 2, s2d2},
      {"N=5, 128->20, 7x7, 3x3 pad 1 (49 output columns)", 5, 128, 7, 7, 20, 3, 3, stride_pad(1, 1)},
      {"N=2, 1->32, 28x28, 3x3 pad 1 (one input channel)", 2, 1, 28, 28, 32, 3, 3, stride_pad(1, 1)},
      {"N=3, 24->16, 6x6, 1x1 (no im2col)", 3, 24, 6, 6, 16, 1, 1, Conv2dOptions{}},
      // Stride 1: the grid of shifted rows (kernels/cpu/conv2d.cpp, use_shifted_grid) in
      // float32 on the hand-written GEMM paths, several images per grid where they are small.
      {"N=2, 3->5, 16x15, 5x5 pad 2 (grid, a wide kernel)", 2, 3, 16, 15, 5, 5, 5, stride_pad(1, 2)},
      {"N=3, 4->6, 16x14, 3x2 pad (1, 0) (grid, padding in one direction)", 3, 4, 16, 14, 6, 3, 2, pad_hw},
      {"N=2, 6->4, 20x20, 3x3 pad 0 (grid; dy padded by 2 for the input gradient)", 2, 6, 20, 20, 4, 3, 3,
       Conv2dOptions{}},
      {"N=2, 5->3, 16x16, 3x3 pad 3 (padding past the kernel: im2col)", 2, 5, 16, 16, 3, 3, 3, stride_pad(1, 3)},
      {"N=1, 40->70, 17x33, 3x3 pad 1 (grid: two K slices, ragged tiles, threaded GEMM)", 1, 40, 17, 33, 70, 3, 3,
       stride_pad(1, 1)},
      {"N=19, 6->9, 8x8, 3x3 pad 1 (grid of 7 images, a short last group)", 19, 6, 8, 8, 9, 3, 3, stride_pad(1, 1)},
      {"N=25, 3->4, 4x4, 3x3 pad 1 (grid of 21 images)", 25, 3, 4, 4, 4, 3, 3, stride_pad(1, 1)},
      {"N=5, 3->4, 3x3, 3x3 pad 1 (too small for the grid: im2col)", 5, 3, 3, 3, 4, 3, 3, stride_pad(1, 1)},
  };
  for (const Config& cfg : configs) {
    CAPTURE(cfg.name);
    Generator gen(7);
    Tensor x = randn({cfg.N, cfg.C, cfg.H, cfg.W}, gen).requires_grad_();
    Tensor w = mul(randn({cfg.O, cfg.C, cfg.KH, cfg.KW}, gen), 0.1).detach().requires_grad_();
    Tensor b = randn({cfg.O}, gen).requires_grad_();
    Tensor y = conv2d(x, w, b, cfg.o);
    Tensor gy = randn(y.shape(), gen);
    y.backward(gy);

    kernels::Conv2dShape s;
    s.N = cfg.N, s.C = cfg.C, s.H = cfg.H, s.W = cfg.W, s.O = cfg.O, s.KH = cfg.KH, s.KW = cfg.KW;
    s.stride_h = cfg.o.stride_h, s.stride_w = cfg.o.stride_w, s.pad_h = cfg.o.pad_h, s.pad_w = cfg.o.pad_w;
    s.dilation_h = cfg.o.dilation_h, s.dilation_w = cfg.o.dilation_w;
    s.OH = y.size(2), s.OW = y.size(3);
    const NaiveConv ref = naive_conv(x.to_vector<float>(), w.to_vector<float>(), b.to_vector<float>(),
                                     gy.to_vector<float>(), s);
    check_close(y, ref.y);
    check_close(x.grad(), ref.gx);
    check_close(w.grad(), ref.gw);
    check_close(b.grad(), ref.gb);
  }
}

// The CPU reference of the CUDA Winograd kernels (kernels/winograd.h): its transforms are the
// ones the GPU kernels call, so this checks their arithmetic on a machine without a GPU.
// Tolerance as above (1e-4 of the largest |y|): a wrong transform entry is off by O(1).
TEST_CASE("conv2d: Winograd forward, input and weight gradients (the CUDA path's reference) agree with the six-loop reference") {
  struct Config {
    std::string name;
    int64_t N, C, H, W, O, pad;
    bool bias;
  };
  const std::vector<Config> configs = {
      {"N=2, 3->4, 9x9, pad 1 (odd: a clipped tile row and column)", 2, 3, 9, 9, 4, 1, true},
      {"N=1, 2->3, 8x8, pad 0 (6x6 output, whole tiles)", 1, 2, 8, 8, 3, 0, false},
      {"N=3, 1->5, 5x7, pad 1 (one input channel)", 3, 1, 5, 7, 5, 1, true},
      {"N=2, 16->32, 14x14, pad 1 (the encoder's shape)", 2, 16, 14, 14, 32, 1, true},
      {"N=2, 3->2, 4x5, pad 2 (zeros all around)", 2, 3, 4, 5, 2, 2, true},
      {"N=1, 2->2, 3x3, pad 0 (one output pixel)", 1, 2, 3, 3, 2, 0, true},
  };
  for (const Config& cfg : configs) {
    CAPTURE(cfg.name);
    Generator gen(11);
    const Tensor x = randn({cfg.N, cfg.C, cfg.H, cfg.W}, gen);
    const Tensor w = randn({cfg.O, cfg.C, 3, 3}, gen);
    const Tensor b = randn({cfg.O}, gen);
    kernels::Conv2dShape s;
    s.N = cfg.N, s.C = cfg.C, s.H = cfg.H, s.W = cfg.W, s.O = cfg.O, s.KH = 3, s.KW = 3;
    s.pad_h = s.pad_w = cfg.pad;
    s.OH = kernels::conv2d_output_size(s.H, 3, 1, cfg.pad, 1), s.OW = kernels::conv2d_output_size(s.W, 3, 1, cfg.pad, 1);
    REQUIRE(kernels::winograd_applies(s));
    Tensor y = full({s.N, s.O, s.OH, s.OW}, std::nan(""));  // every element must be written
    kernels::cpu::winograd_conv2d_forward(x.data<float>(), w.data<float>(), cfg.bias ? b.data<float>() : nullptr,
                                          y.data<float>(), s);
    // The input gradient: the same forward on dy with the weights turned around.
    const Tensor gy = randn({s.N, s.O, s.OH, s.OW}, gen);
    Tensor gx = full({s.N, s.C, s.H, s.W}, std::nan(""));
    REQUIRE(kernels::winograd_applies_to_input_gradient(s));
    kernels::cpu::winograd_conv2d_backward_input(gy.data<float>(), w.data<float>(), gx.data<float>(), s);
    Tensor gw = full({s.O, s.C, 3, 3}, std::nan(""));
    kernels::cpu::winograd_conv2d_backward_weight(gy.data<float>(), x.data<float>(), gw.data<float>(), s);
    std::vector<float> no_bias(static_cast<size_t>(cfg.O), 0.0f);
    const NaiveConv ref = naive_conv(x.to_vector<float>(), w.to_vector<float>(), cfg.bias ? b.to_vector<float>() : no_bias,
                                     gy.to_vector<float>(), s);
    check_close(y, ref.y);
    check_close(gx, ref.gx);
    check_close(gw, ref.gw);
  }
  kernels::Conv2dShape strided;
  strided.N = 1, strided.C = 1, strided.H = 5, strided.W = 5, strided.O = 1, strided.KH = 3, strided.KW = 3;
  strided.stride_h = 2, strided.OH = 2, strided.OW = 3;
  CHECK_FALSE(kernels::winograd_applies(strided));
}

TEST_CASE("conv2d: the weight gradient is the same on every run (fixed reduction order)") {
  Generator gen(3);
  Tensor x = randn({9, 8, 10, 10}, gen);
  Tensor w = randn({16, 8, 3, 3}, gen).requires_grad_();
  Tensor gy = randn({9, 16, 10, 10}, gen);
  std::vector<float> first;
  for (int run = 0; run < 3; ++run) {
    w.zero_grad();
    conv2d(x, w, Tensor(), stride_pad(1, 1)).backward(gy);
    const std::vector<float> g = w.grad().to_vector<float>();
    if (run == 0)
      first = g;
    else
      CHECK(g == first);
  }
}

TEST_CASE("conv2d: forward and all three gradients have the same bits on 1, 2 and 3 threads") {
  // N = 1 and 2 (fewer images than threads: the GEMMs are threaded), N = 5 (chunks shared
  // between threads), N = 21 (more images than the 16 weight-gradient chunks, unevenly cut).
  struct Config {
    int64_t N, C, H, W, O;
  };
  // And on the grid of shifted rows (stride 1): N = 3 at 16 x 16 (chunks shared between
  // threads), N = 1 at 20 x 20 (each product split between the threads); N = 21 at 7 x 7 is on
  // it too, in groups of 8 images.
  const Config configs[] = {{1, 16, 14, 14, 32}, {2, 8, 9, 11, 12}, {5, 12, 10, 10, 20},
                            {21, 4, 7, 7, 8},    {3, 8, 16, 16, 16}, {1, 32, 20, 20, 32}};
  const int before = num_threads();
  for (const Config& cfg : configs) {
    CAPTURE(cfg.N);
    Generator gen(11);
    const Tensor x0 = randn({cfg.N, cfg.C, cfg.H, cfg.W}, gen);
    const Tensor w0 = mul(randn({cfg.O, cfg.C, 3, 3}, gen), 0.1);
    const Tensor b0 = randn({cfg.O}, gen);
    const Tensor gy = randn({cfg.N, cfg.O, cfg.H, cfg.W}, gen);
    // float32 (the AVX2 GEMM where the CPU has it) and float64 (Eigen's GEMM)
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const std::string dtype_text = dtype_name(dtype);
      CAPTURE(dtype_text);
      std::vector<std::vector<double>> first;
      for (int threads : {1, 2, 3}) {
        CAPTURE(threads);
        set_num_threads(threads);
        // Fresh leaves each time (to() of the same dtype returns the tensor itself).
        Tensor x = x0.to(dtype).detach().requires_grad_(), w = w0.to(dtype).detach().requires_grad_();
        Tensor b = b0.to(dtype).detach().requires_grad_();
        Tensor y = conv2d(x, w, b, stride_pad(1, 1));
        y.backward(gy.to(dtype));
        const std::vector<std::vector<double>> got = {y.to(DType::Float64).to_vector<double>(),
                                                      x.grad().to(DType::Float64).to_vector<double>(),
                                                      w.grad().to(DType::Float64).to_vector<double>(),
                                                      b.grad().to(DType::Float64).to_vector<double>()};
        if (first.empty()) {
          first = got;
          // and right: the six-loop reference within the usual tolerance
          kernels::Conv2dShape s;
          s.N = cfg.N, s.C = cfg.C, s.H = cfg.H, s.W = cfg.W, s.O = cfg.O, s.KH = 3, s.KW = 3;
          s.pad_h = 1, s.pad_w = 1, s.OH = cfg.H, s.OW = cfg.W;
          const NaiveConv ref = naive_conv(x0.to_vector<float>(), w0.to_vector<float>(), b0.to_vector<float>(),
                                           gy.to_vector<float>(), s);
          check_close(y.to(DType::Float32), ref.y);
          check_close(x.grad().to(DType::Float32), ref.gx);
          check_close(w.grad().to(DType::Float32), ref.gw);
          check_close(b.grad().to(DType::Float32), ref.gb);
        } else {
          for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == first[i]);  // y, dx, dW, db: bit for bit
        }
      }
    }
  }
  set_num_threads(before);
}
