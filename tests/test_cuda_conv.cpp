// conv2d on CUDA: the hand-written implicit GEMM and the cuDNN path, each against the CPU
// kernels, against each other, in float64, and for run-to-run determinism of the backward.
//
// Inputs are random normal (never zeros) and drawn on the CPU, so every device sees the same
// values. The backward starts from a random grad_y (y.backward(grad_y)), so each output element
// gets a different weight. CUDA allocations are poisoned (NaN) while a test runs: an element a
// kernel forgets to write fails the comparison.
//
// Tolerance: |cuda - cpu| <= atol + rtol * |cpu|, with rtol = 1e-5 (float32) or 1e-12 (float64)
// and atol = rtol * sqrt(L), where L is the length of the sum behind that output:
//   y: K = C*KH*KW,  grad x: O*KH*KW,  grad weight and grad bias: N*OH*OW.
// A sum of L products of unit-normal values has magnitude ~sqrt(L), and two devices that add
// it in different orders (blocked on the CPU, tiled and chunked on the GPU) differ by a few ulps
// of that magnitude: atol covers outputs that are small only because of cancellation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/ops.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_backend.h"
#include "kernels/winograd.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
namespace kc = sc::kernels::cuda;

namespace {

struct ConvCase {
  std::string name;
  Shape x_shape;  // [N, C, H, W]
  Shape w_shape;  // [O, C, KH, KW]
  bool with_bias = true;
  Conv2dOptions options;
};

Conv2dOptions opts(int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dil_h = 1,
                   int64_t dil_w = 1) {
  Conv2dOptions o;
  o.stride_h = stride_h, o.stride_w = stride_w;
  o.pad_h = pad_h, o.pad_w = pad_w;
  o.dilation_h = dil_h, o.dilation_w = dil_w;
  return o;
}

kernels::Conv2dShape shape_of(const ConvCase& c) {
  kernels::Conv2dShape s;
  s.N = c.x_shape[0], s.C = c.x_shape[1], s.H = c.x_shape[2], s.W = c.x_shape[3];
  s.O = c.w_shape[0], s.KH = c.w_shape[2], s.KW = c.w_shape[3];
  s.stride_h = c.options.stride_h, s.stride_w = c.options.stride_w;
  s.pad_h = c.options.pad_h, s.pad_w = c.options.pad_w;
  s.dilation_h = c.options.dilation_h, s.dilation_w = c.options.dilation_w;
  s.OH = kernels::conv2d_output_size(s.H, s.KH, s.stride_h, s.pad_h, s.dilation_h);
  s.OW = kernels::conv2d_output_size(s.W, s.KW, s.stride_w, s.pad_w, s.dilation_w);
  return s;
}

// The shapes the CPU comparison runs: strides, padding 0/1/2, dilation, non-square kernels and
// images, C = 1, O = 3, sizes that are no multiple of any tile (the GEMM tiles are 32/64/128 rows
// by 64/128 columns with steps of 8), and enough output pixels to split grad weight into chunks.
std::vector<ConvCase> cpu_cases() {
  return {
      {"3x3 pad 1: [2,3,9,9] * [4,3,3,3]", {2, 3, 9, 9}, {4, 3, 3, 3}, true, opts(1, 1, 1, 1)},
      {"stride 2 pad 1, odd size: [2,3,7,6] * [5,3,3,3]", {2, 3, 7, 6}, {5, 3, 3, 3}, true, opts(2, 2, 1, 1)},
      {"pad 0, no bias: [1,2,8,8] * [3,2,3,3]", {1, 2, 8, 8}, {3, 2, 3, 3}, false, opts(1, 1, 0, 0)},
      {"dilation 2, pad 2: [2,2,7,7] * [3,2,3,3]", {2, 2, 7, 7}, {3, 2, 3, 3}, true, opts(1, 1, 2, 2, 2, 2)},
      {"2x3 kernel, stride (2,1), pad (0,1): [2,1,5,6] * [3,1,2,3]", {2, 1, 5, 6}, {3, 1, 2, 3}, true,
       opts(2, 1, 0, 1)},
      {"per-axis stride (1,2), pad (2,0), dilation (2,1): [1,2,6,7] * [2,2,3,2]", {1, 2, 6, 7}, {2, 2, 3, 2}, true,
       opts(1, 2, 2, 0, 2, 1)},
      {"C=1, 5x7 images, O=3: [3,1,5,7] * [3,1,3,3]", {3, 1, 5, 7}, {3, 1, 3, 3}, true, opts(1, 1, 1, 1)},
      {"1x1 kernel, stride 2: [2,3,5,5] * [2,3,1,1]", {2, 3, 5, 5}, {2, 3, 1, 1}, false, opts(2, 2, 0, 0)},
      {"stride 3, 5x5 kernel, pad 2: [2,2,11,10] * [3,2,5,5]", {2, 2, 11, 10}, {3, 2, 5, 5}, true, opts(3, 3, 2, 2)},
      {"kernel as large as the padded input: [1,2,3,3] * [2,2,5,5]", {1, 2, 3, 3}, {2, 2, 5, 5}, true,
       opts(1, 1, 1, 1)},
      {"images of 2 pixels (a BK step spans images): [9,2,2,3] * [3,2,2,2]", {9, 2, 2, 3}, {3, 2, 2, 2}, true,
       opts(1, 1, 0, 0)},
      {"O=70 (128-row tiles, partial): [3,5,17,19] * [70,5,3,3]", {3, 5, 17, 19}, {70, 5, 3, 3}, true,
       opts(1, 1, 1, 1)},
      {"O=33, C=40 (64-row tiles): [2,40,11,13] * [33,40,3,3]", {2, 40, 11, 13}, {33, 40, 3, 3}, true,
       opts(1, 1, 1, 1)},
      {"O=130, C=129, K=1161: [1,129,6,5] * [130,129,3,3]", {1, 129, 6, 5}, {130, 129, 3, 3}, true,
       opts(1, 1, 1, 1)},
      {"grad weight in 4 chunks: [4,3,16,16] * [8,3,3,3]", {4, 3, 16, 16}, {8, 3, 3, 3}, true, opts(1, 1, 1, 1)},
      {"grad weight in uneven chunks: [3,2,15,13] * [5,2,3,3]", {3, 2, 15, 13}, {5, 2, 3, 3}, true,
       opts(1, 1, 1, 1)},
  };
}

struct ConvInputs {
  Tensor x, w, b, grad_y;  // on the CPU
};

ConvInputs make_inputs(const ConvCase& c, DType dt, uint64_t seed) {
  Generator gen(seed);
  ConvInputs in;
  in.x = randn(c.x_shape, gen, dt);
  in.w = randn(c.w_shape, gen, dt);
  if (c.with_bias) in.b = randn({c.w_shape[0]}, gen, dt);
  const kernels::Conv2dShape s = shape_of(c);
  in.grad_y = randn({s.N, s.O, s.OH, s.OW}, gen, dt);
  return in;
}

struct ConvOutputs {
  Tensor y, grad_x, grad_w, grad_b;
};

// conv2d through the op API on `device`, then y.backward(grad_y).
ConvOutputs run_op(const ConvCase& c, const ConvInputs& in, Device device) {
  // detach(): fresh leaves, so the CPU run does not mark the shared inputs as requiring grad.
  Tensor x = in.x.to(device).detach();
  Tensor w = in.w.to(device).detach();
  Tensor b = in.b.defined() ? in.b.to(device).detach() : Tensor();
  x.requires_grad_(true);
  w.requires_grad_(true);
  if (b.defined()) b.requires_grad_(true);
  ConvOutputs out;
  out.y = conv2d(x, w, b, c.options);
  out.y.backward(in.grad_y.to(device));
  out.grad_x = x.grad();
  out.grad_w = w.grad();
  if (b.defined()) out.grad_b = b.grad();
  return out;
}

void check_close(const Tensor& cuda, const Tensor& ref, double rtol, int64_t sum_length, const std::string& what) {
  INFO(what);
  REQUIRE(cuda.defined() == ref.defined());
  if (!ref.defined()) return;
  REQUIRE(cuda.shape() == ref.shape());
  const double atol = rtol * std::sqrt(static_cast<double>(std::max<int64_t>(sum_length, 1)));
  const double ratio = cuda_worst_ratio(cuda, ref, atol, rtol);
  CHECK_MESSAGE(ratio <= 1.0, what, ": worst |cuda - reference| / tolerance = ", ratio);
}

// grad_weight_slack: cuDNN picks its own backward-filter algorithm, whose float32 rounding over
// the long N*OH*OW sums is larger than a plain dot product's. On an H200 its grad weight came
// within 1.05x of the tolerance against the CPU and 2.2x against our kernels (whose grad weight
// meets the plain tolerance against the CPU), so comparisons with cuDNN allow 4x on that output.
void check_all_close(const ConvOutputs& got, const ConvOutputs& ref, const kernels::Conv2dShape& s, double rtol,
                     const std::string& label, double grad_weight_slack = 1.0) {
  check_close(got.y, ref.y, rtol, s.C * s.KH * s.KW, label + ": y");
  check_close(got.grad_x, ref.grad_x, rtol, s.O * s.KH * s.KW, label + ": grad x");
  check_close(got.grad_w, ref.grad_w, grad_weight_slack * rtol, s.N * s.OH * s.OW, label + ": grad weight");
  check_close(got.grad_b, ref.grad_b, rtol, s.N * s.OH * s.OW, label + ": grad bias");
}

const char* path_name(kc::KernelPath p) { return kc::kernel_path_name(p); }

// The kernel API on CUDA tensors, for one path. The kernels::cuda functions exist only in a
// build with the CUDA backend; without it every caller has already skipped.
enum class Path { Handwritten, Cudnn };

ConvOutputs run_kernels(const ConvCase& c, const ConvInputs& in, Path path) {
#ifndef SC_WITH_CUDA
  (void)c, (void)in, (void)path;
  throw Error("run_kernels: this build has no CUDA backend");
#else
  const kernels::Conv2dShape s = shape_of(c);
  const DType dt = in.x.dtype();
  const Tensor x = in.x.to(Device::CUDA), w = in.w.to(Device::CUDA), gy = in.grad_y.to(Device::CUDA);
  const Tensor b = in.b.defined() ? in.b.to(Device::CUDA) : Tensor();
  ConvOutputs out;
  out.y = empty({s.N, s.O, s.OH, s.OW}, dt, Device::CUDA);
  out.grad_x = empty({s.N, s.C, s.H, s.W}, dt, Device::CUDA);
  out.grad_w = empty({s.O, s.C, s.KH, s.KW}, dt, Device::CUDA);
  out.grad_b = b.defined() ? empty({s.O}, dt, Device::CUDA) : Tensor();
  auto run = [&]<typename T>() {
    const T* bias = b.defined() ? b.data<T>() : nullptr;
    if (path == Path::Handwritten) {
      kc::conv_path::handwritten_forward<T>(x.data<T>(), w.data<T>(), bias, out.y.data<T>(), s);
      kc::conv_path::handwritten_backward_input<T>(gy.data<T>(), w.data<T>(), out.grad_x.data<T>(), s);
      kc::conv_path::handwritten_backward_weight<T>(gy.data<T>(), x.data<T>(), out.grad_w.data<T>(), s);
    } else {
      kc::conv_path::cudnn_forward<T>(x.data<T>(), w.data<T>(), bias, out.y.data<T>(), s);
      kc::conv_path::cudnn_backward_input<T>(gy.data<T>(), w.data<T>(), out.grad_x.data<T>(), s);
      kc::conv_path::cudnn_backward_weight<T>(gy.data<T>(), x.data<T>(), out.grad_w.data<T>(), s);
    }
    if (b.defined()) kc::conv2d_backward_bias<T>(gy.data<T>(), out.grad_b.data<T>(), s);
  };
  if (dt == DType::Float64)
    run.template operator()<double>();
  else
    run.template operator()<float>();
  kc::synchronize();
  return out;
#endif
}

}  // namespace

TEST_CASE("cuda: conv2d: forward and backward match the CPU through the op API, both paths (float32)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  uint64_t seed = 100;
  for (const ConvCase& c : cpu_cases()) {
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float32, seed++);
    const ConvOutputs ref = run_op(c, in, Device::CPU);
    for (const kc::KernelPath path : {kc::KernelPath::Handwritten, kc::KernelPath::Vendor}) {
      KernelPathGuard guard(path);
      const ConvOutputs got = run_op(c, in, Device::CUDA);
      CHECK(got.y.device() == Device::CUDA);
      check_all_close(got, ref, shape_of(c), 1e-5, std::string(path_name(path)) + " vs cpu",
                      path == kc::KernelPath::Vendor ? 4.0 : 1.0);
    }
  }
}

#ifdef SC_WITH_CUDA
namespace {
// Runs the hand-written forward with Winograd F(2x2, 3x3) (kernels/winograd.h) while alive.
struct WinogradGuard {
  kc::ConvAlgo before = kc::conv_algo();
  WinogradGuard() { kc::set_conv_algo(kc::ConvAlgo::Winograd); }
  ~WinogradGuard() { kc::set_conv_algo(before); }
};
}  // namespace
#define SC_WINOGRAD_GUARD() WinogradGuard winograd_guard
#else
#define SC_WINOGRAD_GUARD() (void)0
#endif

// Winograd's transforms add up to 4 terms on each side of the product, so its float32 error is
// a few times the direct sum's: 4x the tolerance above (the slack cuDNN gets for grad weight).
// All three change: the forward, the input gradient (a Winograd forward of dy with the weights
// turned around, for pad <= 2) and the weight gradient (F(3x3, 2x2), summed in chunks).
TEST_CASE("cuda: conv2d: the Winograd forward and gradients (SC_CUDA_CONV=winograd) match the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  KernelPathGuard path(kc::KernelPath::Handwritten);
  SC_WINOGRAD_GUARD();
  std::vector<ConvCase> cases;
  for (const ConvCase& c : cpu_cases())
    if (kernels::winograd_applies(shape_of(c))) cases.push_back(c);
  REQUIRE(cases.size() >= 8);  // 3x3 stride 1 with pad 0 and 1, odd sizes, C = 1, O = 130
  cases.push_back({"28x28 32->64 (encoder)", {4, 32, 28, 28}, {64, 32, 3, 3}, true, opts(1, 1, 1, 1)});
  cases.push_back({"14x14 64->128 (encoder), no bias", {4, 64, 14, 14}, {128, 64, 3, 3}, false, opts(1, 1, 1, 1)});
  cases.push_back({"7x7 128->256 (encoder: odd, a clipped tile row and column)", {4, 128, 7, 7}, {256, 128, 3, 3}, true,
                   opts(1, 1, 1, 1)});
  cases.push_back({"pad 2 (a border of zeros around the output)", {2, 3, 6, 5}, {4, 3, 3, 3}, true, opts(1, 1, 2, 2)});
  // 33 x 35 = 1155 tiles: the weight gradient's sum in 2 chunks of 578 and 577 tiles.
  cases.push_back({"[1,2,66,70] * [3,2,3,3] (the weight gradient in two chunks, the last short)", {1, 2, 66, 70},
                   {3, 2, 3, 3}, true, opts(1, 1, 1, 1)});
  uint64_t seed = 700;
  for (const ConvCase& c : cases) {
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float32, seed++);
    const ConvOutputs ref = run_op(c, in, Device::CPU);
    const ConvOutputs got = run_op(c, in, Device::CUDA);
    const kernels::Conv2dShape s = shape_of(c);
    check_close(got.y, ref.y, 4e-5, s.C * s.KH * s.KW, "winograd vs cpu: y");
    check_close(got.grad_x, ref.grad_x, 4e-5, s.O * s.KH * s.KW, "winograd vs cpu: grad x");
    check_close(got.grad_w, ref.grad_w, 4e-5, s.N * s.OH * s.OW, "winograd vs cpu: grad weight");
  }
}

TEST_CASE("cuda small: conv2d: the Winograd forward and gradients on tiny shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  KernelPathGuard path(kc::KernelPath::Handwritten);
  SC_WINOGRAD_GUARD();
  const std::vector<ConvCase> cases = {
      {"[2,3,5,4] * [2,3,3,3] pad 1", {2, 3, 5, 4}, {2, 3, 3, 3}, true, opts(1, 1, 1, 1)},
      {"[1,2,3,3] * [3,2,3,3] pad 0 (one output pixel)", {1, 2, 3, 3}, {3, 2, 3, 3}, false, opts(1, 1, 0, 0)},
  };
  uint64_t seed = 800;
  for (const ConvCase& c : cases) {
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float32, seed++);
    const ConvOutputs cpu = run_op(c, in, Device::CPU), gpu = run_op(c, in, Device::CUDA);
    check_close(gpu.y, cpu.y, 4e-5, shape_of(c).C * 9, "winograd vs cpu: y");
    check_close(gpu.grad_x, cpu.grad_x, 4e-5, shape_of(c).O * 9, "winograd vs cpu: grad x");
    const kernels::Conv2dShape s = shape_of(c);
    check_close(gpu.grad_w, cpu.grad_w, 4e-5, s.N * s.OH * s.OW, "winograd vs cpu: grad weight");
  }
}

TEST_CASE("cuda: conv2d: the hand-written kernels match cuDNN, encoder-like shapes at a small batch") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // The encoder's layers (3x3, pad 1, stride 1) at batch 4 instead of 512.
  const std::vector<ConvCase> cases = {
      {"28x28 1->32", {4, 1, 28, 28}, {32, 1, 3, 3}, true, opts(1, 1, 1, 1)},
      {"28x28 32->64", {4, 32, 28, 28}, {64, 32, 3, 3}, true, opts(1, 1, 1, 1)},
      {"14x14 64->128", {4, 64, 14, 14}, {128, 64, 3, 3}, true, opts(1, 1, 1, 1)},
      {"7x7 128->256", {4, 128, 7, 7}, {256, 128, 3, 3}, true, opts(1, 1, 1, 1)},
      {"stride 2, dilation 2: [3,6,13,11] * [20,6,3,3]", {3, 6, 13, 11}, {20, 6, 3, 3}, true,
       opts(2, 2, 2, 2, 2, 2)},
  };
  uint64_t seed = 300;
  for (const ConvCase& c : cases) {
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float32, seed++);
    const ConvOutputs mine = run_kernels(c, in, Path::Handwritten);
    const ConvOutputs vendor = run_kernels(c, in, Path::Cudnn);
    check_all_close(mine, vendor, shape_of(c), 1e-5, "handwritten vs cudnn", 4.0);
  }
}

TEST_CASE("cuda: conv2d: float64 matches the CPU, both paths") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const std::vector<ConvCase> all = cpu_cases();
  // A few of the CPU cases: stride, dilation, a non-square kernel, and the multi-tile ones.
  for (const size_t i : {size_t{1}, size_t{3}, size_t{4}, size_t{11}, size_t{14}}) {
    const ConvCase& c = all.at(i);
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float64, 500 + i);
    const ConvOutputs ref = run_op(c, in, Device::CPU);
    for (const kc::KernelPath path : {kc::KernelPath::Handwritten, kc::KernelPath::Vendor}) {
      KernelPathGuard guard(path);
      const ConvOutputs got = run_op(c, in, Device::CUDA);
      CHECK(got.y.dtype() == DType::Float64);
      check_all_close(got, ref, shape_of(c), 1e-12, std::string(path_name(path)) + " vs cpu (float64)");
    }
  }
}

TEST_CASE("cuda: conv2d: the backward gives the same bits on every run") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // 8 * 20 * 20 = 3200 output pixels: grad weight is split into chunks and grad bias into parts.
  const ConvCase c{"[8,16,20,20] * [32,16,3,3]", {8, 16, 20, 20}, {32, 16, 3, 3}, true, opts(1, 1, 1, 1)};
  const ConvInputs in = make_inputs(c, DType::Float32, 700);
  for (const Path path : {Path::Handwritten, Path::Cudnn}) {
    INFO("path: ", path == Path::Handwritten ? "handwritten" : "cudnn");
    const ConvOutputs first = run_kernels(c, in, path);
    const ConvOutputs second = run_kernels(c, in, path);
    CHECK(bitwise_equal(first.grad_w, second.grad_w));
    CHECK(bitwise_equal(first.grad_x, second.grad_x));
    CHECK(bitwise_equal(first.grad_b, second.grad_b));
    CHECK(bitwise_equal(first.y, second.y));
  }
}

TEST_CASE("cuda: conv2d: bad inputs on CUDA give a clear error") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(9);
  const Tensor x = randn({2, 3, 8, 8}, gen).to(Device::CUDA);
  const Tensor w_bad_channels = randn({4, 2, 3, 3}, gen).to(Device::CUDA);
  CHECK(contains(message_of([&] { conv2d(x, w_bad_channels, Tensor(), opts(1, 1, 1, 1)); }), "channels"));
  const Tensor w_cpu = randn({4, 3, 3, 3}, gen);
  CHECK_THROWS_AS(conv2d(x, w_cpu, Tensor(), opts(1, 1, 1, 1)), Error);
  const Tensor w_big = randn({4, 3, 11, 11}, gen).to(Device::CUDA);
  CHECK(contains(message_of([&] { conv2d(x, w_big, Tensor(), opts(1, 1, 1, 1)); }), "larger than the padded input"));
}

// The tiny shapes of the "cuda small" cases (run under compute-sanitizer as well): each row-tile
// config of the implicit GEMM (rows <= 32, <= 64, more), the unit-stride and strided grad-input
// gathers, grad weight in one chunk and in two (512 output pixels), and grad bias.
namespace {
std::vector<ConvCase> small_cases() {
  return {
      {"32-row tiles, unit stride: [2,2,5,6] * [3,2,3,3]", {2, 2, 5, 6}, {3, 2, 3, 3}, true, opts(1, 1, 1, 1)},
      {"strided grad input: [1,2,7,5] * [2,2,3,2]", {1, 2, 7, 5}, {2, 2, 3, 2}, true, opts(2, 2, 1, 0, 1, 2)},
      {"64-row tiles for grad input (C=40), 128-row tiles for the rest (O=65): [1,40,3,3] * [65,40,3,3]",
       {1, 40, 3, 3}, {65, 40, 3, 3}, true, opts(1, 1, 1, 1)},
      {"grad weight in 2 chunks: [2,1,16,16] * [2,1,3,3]", {2, 1, 16, 16}, {2, 1, 3, 3}, true, opts(1, 1, 1, 1)},
  };
}
}  // namespace

TEST_CASE("cuda small: conv2d: every hand-written kernel once, tiny shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  uint64_t seed = 900;
  for (const ConvCase& c : small_cases()) {
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float32, seed++);
    const ConvOutputs ref = run_op(c, in, Device::CPU);
    check_all_close(run_kernels(c, in, Path::Handwritten), ref, shape_of(c), 1e-5, "handwritten vs cpu");
  }
}

// Separate from the hand-written case so that a sanitizer run can tell our kernels from cuDNN's.
TEST_CASE("cuda small: conv2d: the cuDNN path, tiny shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  uint64_t seed = 950;
  for (const ConvCase& c : small_cases()) {
    INFO("case: ", c.name);
    const ConvInputs in = make_inputs(c, DType::Float32, seed++);
    const ConvOutputs ref = run_op(c, in, Device::CPU);
    check_all_close(run_kernels(c, in, Path::Cudnn), ref, shape_of(c), 1e-5, "cudnn vs cpu");
  }
}

// The forward's wide tile (128 x 128 outputs, 256 threads) runs for float when a layer has more
// than 64 output channels and at least 65536 columns (N*OH*OW); smaller problems never reach it,
// so these shapes are large on purpose. Forward only (the wide tile is a forward path), through
// the op API on the hand-written path, against the CPU at the forward's tolerance (K = C*KH*KW).
namespace {
void check_forward_against_cpu(const ConvCase& c, uint64_t seed) {
  INFO("case: ", c.name);
  const ConvInputs in = make_inputs(c, DType::Float32, seed);
  const Tensor ref = conv2d(in.x, in.w, in.b, c.options);
  KernelPathGuard guard(kc::KernelPath::Handwritten);
  const Tensor b = in.b.defined() ? in.b.to(Device::CUDA) : Tensor();
  const Tensor y = conv2d(in.x.to(Device::CUDA), in.w.to(Device::CUDA), b, c.options);
  const kernels::Conv2dShape s = shape_of(c);
  check_close(y, ref, 1e-5, s.C * s.KH * s.KW, "wide forward tile: y");
}
}  // namespace

TEST_CASE("cuda: conv2d: the forward's wide tile matches the CPU (float32, >= 65536 columns)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // 66246 columns (not a multiple of 128), an odd image size (no float4 stores), O = 70 (one
  // partial row tile); then 65792 columns (whole tiles, float4 stores), O = 130 (a second, partial
  // row tile), no bias; then stride 2, where the columns come from a larger input.
  check_forward_against_cpu(
      {"[2,3,181,183] * [70,3,3,3], pad 1", {2, 3, 181, 183}, {70, 3, 3, 3}, true, opts(1, 1, 1, 1)}, 1000);
  check_forward_against_cpu(
      {"[1,5,256,257] * [130,5,3,3], pad 1, no bias", {1, 5, 256, 257}, {130, 5, 3, 3}, false, opts(1, 1, 1, 1)},
      1001);
  check_forward_against_cpu(
      {"[1,2,517,515] * [65,2,3,3], stride 2, pad 1", {1, 2, 517, 515}, {65, 2, 3, 3}, true, opts(2, 2, 1, 1)},
      1002);
}

// The wide tile once under the sanitizers: 65536 columns of a 1x1 convolution (K = 1, cheap).
TEST_CASE("cuda small: conv2d: the forward's wide tile once") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  check_forward_against_cpu({"[1,1,256,256] * [65,1,1,1]", {1, 1, 256, 256}, {65, 1, 1, 1}, true, opts(1, 1, 0, 0)},
                            1003);
}
