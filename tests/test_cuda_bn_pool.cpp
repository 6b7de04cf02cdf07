// Batch norm and pooling on CUDA: the hand-written kernels and the cuDNN batch-norm path, each
// against the CPU kernels (kernels/batch_norm.h, kernels/pool.h), against each other, through
// the ops with autograd, in float64, and for run-to-run determinism.
//
// Inputs are random normal (never zeros), drawn on the CPU so every device sees the same
// values; batch-norm inputs have mean 3 and spread 2, so a shifted or two-pass variance is
// actually exercised. CUDA allocations are poisoned (NaN) while a test runs: an element a
// kernel forgets to write fails the comparison.
//
// Tolerances, as |cuda - cpu| <= atol + rtol * |cpu|:
//   batch norm, float32:
//     forward (y, saved and running statistics): rtol = atol = 1e-5. Our kernels accumulate
//       in double like the CPU and differ only in the order of the additions, so they agree
//       to the last float bit or so; cuDNN sums in float32 and lands within ~1e-6.
//     dx: rtol = atol = 1e-4. dx = k (M dy - sum(dy) - xhat sum(dy xhat)) cancels: its terms
//       are O(gamma invstd |dy|) ~ 1 even where dx is small, and cuDNN's float32 sums carry an
//       error of that size, not of dx's (ours, in double, agree to ~1e-7).
//     dgamma, dbeta: sums of M = N*H*W terms of size ~1, magnitude ~sqrt(M):
//       rtol = 1e-4, atol = 1e-5 * sqrt(M).
//   batch norm, float64: the same with 1e-12 (forward) and 1e-10 (backward).
//   pooling: max and average pooling, forward and backward, are bit-for-bit the CPU's (same
//     additions in the same order); global average pooling sums in double in another order:
//     rtol = 1e-6, atol = 1e-7 (float32), 1e-13 (float64); its backward is bit-for-bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/ops.h"
#include "kernels/batch_norm.h"
#include "kernels/cuda_backend.h"
#include "kernels/pool.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
namespace kc = sc::kernels::cuda;
namespace kcpu = sc::kernels::cpu;

// The kernels::cuda functions exist only in a build with the CUDA backend. Without it every
// test below has skipped before reaching a call, and this keeps the file linking.
#ifdef SC_WITH_CUDA
#define SC_CUDA_ONLY(...) __VA_ARGS__
#else
#define SC_CUDA_ONLY(...) throw Error("this build has no CUDA backend")
#endif

namespace {

// ---- shared helpers ----------------------------------------------------------------------------

struct Tol {
  double rtol, atol;
};

void check_close(const std::string& what, const Tensor& got, const Tensor& want, Tol tol) {
  INFO(what);
  CHECK(cuda_worst_ratio(got, want, tol.atol, tol.rtol) <= 1.0);
}

void check_bits(const std::string& what, const Tensor& got, const Tensor& want) {
  INFO(what);
  CHECK(bitwise_equal(got, want));
}

// Random normal values, mean + sd * N(0, 1), drawn on the CPU.
Tensor normal(Generator& gen, const Shape& shape, DType dt, double mean = 0.0, double sd = 1.0) {
  return randn(shape, gen, dt) * sd + mean;
}

template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

std::string shape_name(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// ---- batch norm ----------------------------------------------------------------------------------

enum class Impl { Cpu, Handwritten, Cudnn };

const char* impl_name(Impl impl) {
  switch (impl) {
    case Impl::Cpu: return "cpu";
    case Impl::Handwritten: return "handwritten";
    case Impl::Cudnn: return "cudnn";
  }
  return "?";
}

Device device_of(Impl impl) { return impl == Impl::Cpu ? Device::CPU : Device::CUDA; }

// The three kernels of one implementation: all share the CPU kernels' signatures.
template <typename T>
struct BnKernels {
  decltype(&kcpu::batch_norm_forward_train<T>) train;
  decltype(&kcpu::batch_norm_forward_eval<T>) eval;
  decltype(&kcpu::batch_norm_backward<T>) backward;
};

template <typename T>
BnKernels<T> kernels_of(Impl impl) {
  switch (impl) {
    case Impl::Cpu:
      return {kcpu::batch_norm_forward_train<T>, kcpu::batch_norm_forward_eval<T>, kcpu::batch_norm_backward<T>};
    case Impl::Handwritten:
      SC_CUDA_ONLY(return {kc::bn_path::handwritten_forward_train<T>, kc::bn_path::handwritten_forward_eval<T>,
                           kc::bn_path::handwritten_backward<T>});
    case Impl::Cudnn:
      SC_CUDA_ONLY(return {kc::bn_path::cudnn_forward_train<T>, kc::bn_path::cudnn_forward_eval<T>,
                           kc::bn_path::cudnn_backward<T>});
  }
  return {};
}

// x [N, C] or [N, C, H, W] seen as [N, C, HW], and everything a batch norm call reads (on the CPU).
struct BnInputs {
  int64_t N = 0, C = 0, HW = 0;
  Tensor x, dy, gamma, beta, running_mean, running_var;
};

BnInputs make_bn_inputs(Generator& gen, const Shape& shape, DType dt) {
  BnInputs in;
  in.N = shape[0], in.C = shape[1];
  in.HW = shape.size() == 4 ? shape[2] * shape[3] : 1;
  in.x = normal(gen, shape, dt, 3.0, 2.0);
  in.dy = normal(gen, shape, dt);
  in.gamma = normal(gen, {in.C}, dt, 1.0, 0.5);
  in.beta = normal(gen, {in.C}, dt);
  in.running_mean = normal(gen, {in.C}, dt);
  in.running_var = rand({in.C}, gen, dt, 0.5, 2.0);
  return in;
}

struct BnForward {
  Tensor y, save_mean, save_invstd, running_mean, running_var;
};
struct BnGrads {
  Tensor dx, dgamma, dbeta;
};

constexpr double kEps = 1e-5, kMomentum = 0.1;

// One forward with the given implementation; the running statistics start from copies of the
// inputs' (updated in training when `running`).
template <typename T>
BnForward bn_forward(Impl impl, const BnInputs& in, bool training, bool affine, bool running) {
  const Device dev = device_of(impl);
  const DType dt = in.x.dtype();
  const Tensor x = in.x.to(dev);
  const Tensor gamma = affine ? in.gamma.to(dev) : Tensor(), beta = affine ? in.beta.to(dev) : Tensor();
  BnForward out;
  out.running_mean = in.running_mean.clone().to(dev);  // clone: the CPU path updates in place
  out.running_var = in.running_var.clone().to(dev);
  out.y = empty(in.x.shape(), dt, dev);
  out.save_mean = empty({in.C}, dt, dev);
  out.save_invstd = empty({in.C}, dt, dev);
  const BnKernels<T> k = kernels_of<T>(impl);
  if (training) {
    k.train(x.data<T>(), in.N, in.C, in.HW, ptr<T>(gamma), ptr<T>(beta), kEps, kMomentum, out.y.data<T>(),
            out.save_mean.data<T>(), out.save_invstd.data<T>(), running ? out.running_mean.data<T>() : nullptr,
            running ? out.running_var.data<T>() : nullptr);
  } else {
    k.eval(x.data<T>(), in.N, in.C, in.HW, ptr<T>(gamma), ptr<T>(beta), out.running_mean.data<T>(),
           out.running_var.data<T>(), kEps, out.y.data<T>(), out.save_mean.data<T>(), out.save_invstd.data<T>());
  }
  return out;
}

// One backward from the given saved statistics (any device; moved to the implementation's).
template <typename T>
BnGrads bn_backward(Impl impl, const BnInputs& in, const Tensor& save_mean, const Tensor& save_invstd, bool training,
                    bool affine, bool want_dx = true, bool want_dgamma = true, bool want_dbeta = true) {
  const Device dev = device_of(impl);
  const DType dt = in.x.dtype();
  const Tensor x = in.x.to(dev), dy = in.dy.to(dev), gamma = affine ? in.gamma.to(dev) : Tensor();
  const Tensor mean = save_mean.to(dev), invstd = save_invstd.to(dev);
  BnGrads g;
  if (want_dx) g.dx = empty(in.x.shape(), dt, dev);
  if (want_dgamma) g.dgamma = empty({in.C}, dt, dev);
  if (want_dbeta) g.dbeta = empty({in.C}, dt, dev);
  kernels_of<T>(impl).backward(x.data<T>(), dy.data<T>(), in.N, in.C, in.HW, ptr<T>(gamma), mean.data<T>(),
                               invstd.data<T>(), training, ptr<T>(g.dx), ptr<T>(g.dgamma), ptr<T>(g.dbeta));
  return g;
}

struct BnTols {
  Tol forward, dx, sums;
};
BnTols bn_tols(DType dt, const BnInputs& in) {
  const double root_m = std::sqrt(static_cast<double>(std::max<int64_t>(in.N * in.HW, 1)));
  if (dt == DType::Float32) return {{1e-5, 1e-5}, {1e-4, 1e-4}, {1e-4, 1e-5 * root_m}};
  return {{1e-12, 1e-12}, {1e-10, 1e-10}, {1e-10, 1e-11 * root_m}};
}

// Every output of `impl` against the CPU kernels: training and evaluation, forward and backward.
template <typename T>
void check_bn_against_cpu(Impl impl, const Shape& shape, bool affine, bool running, Generator& gen) {
  const DType dt = dtype_of<T>::value;
  const BnInputs in = make_bn_inputs(gen, shape, dt);
  const BnTols tol = bn_tols(dt, in);
  const std::string name = std::string(impl_name(impl)) + " " + dtype_name(dt) + " " + shape_name(shape) +
                           (affine ? " affine" : "") + (running ? " running" : "");
  CAPTURE(name);

  // training forward
  const BnForward want = bn_forward<T>(Impl::Cpu, in, true, affine, running);
  const BnForward got = bn_forward<T>(impl, in, true, affine, running);
  check_close("train y", got.y, want.y, tol.forward);
  check_close("train save_mean", got.save_mean, want.save_mean, tol.forward);
  check_close("train save_invstd", got.save_invstd, want.save_invstd, tol.forward);
  check_close("train running_mean", got.running_mean, want.running_mean, tol.forward);
  check_close("train running_var", got.running_var, want.running_var, tol.forward);

  // training backward, both from the CPU's saved statistics so the inputs are identical
  const BnGrads gw = bn_backward<T>(Impl::Cpu, in, want.save_mean, want.save_invstd, true, affine);
  const BnGrads gg = bn_backward<T>(impl, in, want.save_mean, want.save_invstd, true, affine);
  check_close("train dx", gg.dx, gw.dx, tol.dx);
  check_close("train dgamma", gg.dgamma, gw.dgamma, tol.sums);
  check_close("train dbeta", gg.dbeta, gw.dbeta, tol.sums);

  // evaluation forward (from the running statistics) and, for our kernels, its backward
  const BnForward ew = bn_forward<T>(Impl::Cpu, in, false, affine, true);
  const BnForward eg = bn_forward<T>(impl, in, false, affine, true);
  check_close("eval y", eg.y, ew.y, tol.forward);
  check_close("eval save_mean", eg.save_mean, ew.save_mean, tol.forward);
  check_close("eval save_invstd", eg.save_invstd, ew.save_invstd, tol.forward);
  if (impl == Impl::Cudnn) return;  // cuDNN has no evaluation-mode backward
  const BnGrads ebw = bn_backward<T>(Impl::Cpu, in, ew.save_mean, ew.save_invstd, false, affine);
  const BnGrads ebg = bn_backward<T>(impl, in, ew.save_mean, ew.save_invstd, false, affine);
  check_close("eval dx", ebg.dx, ebw.dx, tol.forward);  // dx = gamma * invstd * dy: no cancellation
  check_close("eval dgamma", ebg.dgamma, ebw.dgamma, tol.sums);
  check_close("eval dbeta", ebg.dbeta, ebw.dbeta, tol.sums);
  // dx alone skips the channel sums in evaluation mode
  const BnGrads only_dx = bn_backward<T>(impl, in, ew.save_mean, ew.save_invstd, false, affine, true, false, false);
  check_close("eval dx alone", only_dx.dx, ebw.dx, tol.forward);
}

// Shapes for both reduction layouts: short runs ([N, C], HW = 4) go column-wise, longer ones
// run-wise, with 16-byte loads when HW is a multiple of 4 and scalar ones otherwise.
struct BnShape {
  Shape shape;
  bool affine, running;
};
const std::vector<BnShape>& bn_shapes() {
  static const std::vector<BnShape> shapes = {
      {{3, 5}, true, true},           // [N, C], column-wise
      {{3, 5}, false, false},         // no gamma / beta, no running statistics
      {{2, 1}, true, true},           // M = 2, the smallest training batch
      {{1000, 7}, false, true},       // long columns
      {{7, 33, 2, 2}, true, true},    // HW = 4: column-wise
      {{3, 5, 7, 9}, true, true},     // HW = 63: run-wise, scalar loads
      {{3, 5, 7, 9}, false, true},
      {{2, 3, 4, 4}, true, false},    // HW = 16: run-wise, 16-byte loads
      {{128, 3, 32, 32}, true, true}, // M = 131072 values in a channel
      {{16, 64, 28, 28}, true, true}, // many chunks per channel
  };
  return shapes;
}

}  // namespace

TEST_CASE("cuda: bn_pool: batch norm kernels match the CPU (float32, hand-written and cuDNN)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(11);
  for (Impl impl : {Impl::Handwritten, Impl::Cudnn})
    for (const BnShape& s : bn_shapes()) check_bn_against_cpu<float>(impl, s.shape, s.affine, s.running, gen);
}

TEST_CASE("cuda: bn_pool: batch norm kernels match the CPU in float64") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(12);
  for (Impl impl : {Impl::Handwritten, Impl::Cudnn}) {
    check_bn_against_cpu<double>(impl, {4, 6}, false, true, gen);
    check_bn_against_cpu<double>(impl, {3, 5, 7, 9}, true, true, gen);
    check_bn_against_cpu<double>(impl, {3, 5, 2, 4}, true, true, gen);
    check_bn_against_cpu<double>(impl, {128, 3, 32, 32}, true, true, gen);
  }
}

TEST_CASE("cuda: bn_pool: cuDNN and the hand-written batch norm agree") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(13);
  for (const Shape& shape : {Shape{64, 32}, Shape{16, 64, 28, 28}, Shape{5, 7, 3, 3}}) {
    CAPTURE(shape_name(shape));
    const BnInputs in = make_bn_inputs(gen, shape, DType::Float32);
    const BnTols tol = bn_tols(DType::Float32, in);
    const BnForward ours = bn_forward<float>(Impl::Handwritten, in, true, true, true);
    const BnForward theirs = bn_forward<float>(Impl::Cudnn, in, true, true, true);
    check_close("y", theirs.y, ours.y, tol.forward);
    check_close("save_mean", theirs.save_mean, ours.save_mean, tol.forward);
    check_close("save_invstd", theirs.save_invstd, ours.save_invstd, tol.forward);
    check_close("running_mean", theirs.running_mean, ours.running_mean, tol.forward);
    check_close("running_var", theirs.running_var, ours.running_var, tol.forward);
    const BnGrads g_ours = bn_backward<float>(Impl::Handwritten, in, ours.save_mean, ours.save_invstd, true, true);
    const BnGrads g_theirs = bn_backward<float>(Impl::Cudnn, in, ours.save_mean, ours.save_invstd, true, true);
    check_close("dx", g_theirs.dx, g_ours.dx, tol.dx);
    check_close("dgamma", g_theirs.dgamma, g_ours.dgamma, tol.sums);
    check_close("dbeta", g_theirs.dbeta, g_ours.dbeta, tol.sums);
    // The vendor path also takes null gamma / beta and unwanted gradients.
    const BnGrads plain_ours = bn_backward<float>(Impl::Handwritten, in, ours.save_mean, ours.save_invstd, true, false,
                                                  true, false, true);
    const BnGrads plain_theirs =
        bn_backward<float>(Impl::Cudnn, in, ours.save_mean, ours.save_invstd, true, false, true, false, true);
    check_close("dx without gamma", plain_theirs.dx, plain_ours.dx, tol.dx);
    check_close("dbeta without gamma", plain_theirs.dbeta, plain_ours.dbeta, tol.sums);
  }
}

TEST_CASE("cuda: bn_pool: hand-written batch norm is bitwise deterministic") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(14);
  for (const Shape& shape : {Shape{512, 96}, Shape{16, 64, 28, 28}, Shape{8, 16, 7, 7}}) {
    CAPTURE(shape_name(shape));
    const BnInputs in = make_bn_inputs(gen, shape, DType::Float32);
    const BnForward a = bn_forward<float>(Impl::Handwritten, in, true, true, true);
    const BnForward b = bn_forward<float>(Impl::Handwritten, in, true, true, true);
    check_bits("y", a.y, b.y);
    check_bits("save_invstd", a.save_invstd, b.save_invstd);
    check_bits("running_var", a.running_var, b.running_var);
    const BnGrads ga = bn_backward<float>(Impl::Handwritten, in, a.save_mean, a.save_invstd, true, true);
    const BnGrads gb = bn_backward<float>(Impl::Handwritten, in, a.save_mean, a.save_invstd, true, true);
    check_bits("dx", ga.dx, gb.dx);
    check_bits("dgamma", ga.dgamma, gb.dgamma);
    check_bits("dbeta", ga.dbeta, gb.dbeta);
  }
}

namespace {

// The batch_norm op with autograd on `device`: output, the three gradients, running statistics.
struct BnOpResult {
  Tensor y, dx, dweight, dbias, running_mean, running_var;
};

BnOpResult run_bn_op(Device device, const BnInputs& in, bool training, bool affine) {
  BnOpResult r;
  Tensor x = in.x.to(device), dy = in.dy.to(device);
  Tensor w, b;
  if (affine) {
    w = in.gamma.clone().to(device);
    b = in.beta.clone().to(device);
    w.requires_grad_();
    b.requires_grad_();
  }
  // Fresh leaves: .to() of a CPU tensor that needs no gradient, or a CPU clone.
  x = device == Device::CPU ? x.clone() : x;
  x.requires_grad_();
  r.running_mean = in.running_mean.clone().to(device);
  r.running_var = in.running_var.clone().to(device);
  r.y = batch_norm(x, w, b, r.running_mean, r.running_var, training, kMomentum, kEps);
  r.y.backward(dy);
  r.dx = x.grad();
  if (affine) {
    r.dweight = w.grad();
    r.dbias = b.grad();
  }
  return r;
}

}  // namespace

TEST_CASE("cuda: bn_pool: the batch_norm op with autograd matches the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(15);
  for (kc::KernelPath path : {kc::KernelPath::Handwritten, kc::KernelPath::Vendor}) {
    KernelPathGuard use(path);
    for (const Shape& shape : {Shape{8, 6}, Shape{4, 6, 5, 7}, Shape{3, 4, 8, 8}}) {
      for (bool training : {true, false}) {
        for (bool affine : {true, false}) {
          CAPTURE(kc::kernel_path_name(path));
          CAPTURE(shape_name(shape));
          CAPTURE(training);
          CAPTURE(affine);
          const BnInputs in = make_bn_inputs(gen, shape, DType::Float32);
          const BnTols tol = bn_tols(DType::Float32, in);
          const BnOpResult want = run_bn_op(Device::CPU, in, training, affine);
          const BnOpResult got = run_bn_op(Device::CUDA, in, training, affine);
          CHECK(got.y.device() == Device::CUDA);
          CHECK(got.dx.device() == Device::CUDA);
          check_close("y", got.y, want.y, tol.forward);
          check_close("dx", got.dx, want.dx, tol.dx);
          check_close("running_mean", got.running_mean, want.running_mean, tol.forward);
          check_close("running_var", got.running_var, want.running_var, tol.forward);
          if (affine) {
            check_close("dweight", got.dweight, want.dweight, tol.sums);
            check_close("dbias", got.dbias, want.dbias, tol.sums);
          }
        }
      }
    }
  }
}

TEST_CASE("cuda: bn_pool: the batch_norm op backward is bitwise deterministic on CUDA") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  KernelPathGuard use(kc::KernelPath::Handwritten);
  Generator gen(16);
  const BnInputs in = make_bn_inputs(gen, {32, 64, 14, 14}, DType::Float32);
  const BnOpResult a = run_bn_op(Device::CUDA, in, true, true);
  const BnOpResult b = run_bn_op(Device::CUDA, in, true, true);
  check_bits("y", a.y, b.y);
  check_bits("dx", a.dx, b.dx);
  check_bits("dweight", a.dweight, b.dweight);
  check_bits("dbias", a.dbias, b.dbias);
}

TEST_CASE("cuda: bn_pool: batch norm reports bad input on CUDA") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // Training needs values to take statistics over: an empty batch is an error, not a read of nothing.
  Tensor c = zeros({3}).to(Device::CUDA);
  CHECK_THROWS_AS(SC_CUDA_ONLY(kc::bn_path::handwritten_forward_train<float>(
                      c.data<float>(), 0, 3, 1, nullptr, nullptr, kEps, kMomentum, c.data<float>(), c.data<float>(),
                      c.data<float>(), nullptr, nullptr)),
                  Error);
  // cuDNN has no evaluation-mode backward.
  CHECK_THROWS_AS(SC_CUDA_ONLY(kc::bn_path::cudnn_backward<float>(c.data<float>(), c.data<float>(), 1, 3, 1, nullptr,
                                                                  c.data<float>(), c.data<float>(), false,
                                                                  c.data<float>(), nullptr, nullptr)),
                  Error);
  // The op: parameters must be on the input's device.
  Generator gen(17);
  const Tensor x = normal(gen, {4, 3}, DType::Float32).to(Device::CUDA);
  CHECK_THROWS_AS(batch_norm(x, ones({3}), Tensor(), Tensor(), Tensor(), true), Error);
}

// ---- pooling -------------------------------------------------------------------------------------

namespace {

struct PoolCase {
  Shape x;  // [N, C, H, W]
  Pool2dOptions o;
  bool ties = false;  // values rounded to integers: many equal maxima
  bool nans = false;  // every 7th value NaN
};

Pool2dOptions pool_opts(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  Pool2dOptions o;
  o.kernel_h = kh, o.kernel_w = kw;
  o.stride_h = sh, o.stride_w = sw;
  o.pad_h = ph, o.pad_w = pw;
  return o;
}

kernels::Pool2dShape pool_shape_of(const PoolCase& c) {
  kernels::Pool2dShape s;
  s.N = c.x[0], s.C = c.x[1], s.H = c.x[2], s.W = c.x[3];
  s.KH = c.o.kernel_h, s.KW = c.o.kernel_w;
  s.stride_h = c.o.stride_h, s.stride_w = c.o.stride_w;
  s.pad_h = c.o.pad_h, s.pad_w = c.o.pad_w;
  s.OH = (s.H + 2 * s.pad_h - s.KH) / s.stride_h + 1;
  s.OW = (s.W + 2 * s.pad_w - s.KW) / s.stride_w + 1;
  return s;
}

std::string pool_name(const PoolCase& c) {
  const Pool2dOptions& o = c.o;
  return shape_name(c.x) + " k(" + std::to_string(o.kernel_h) + "," + std::to_string(o.kernel_w) + ") s(" +
         std::to_string(o.stride_h) + "," + std::to_string(o.stride_w) + ") p(" + std::to_string(o.pad_h) + "," +
         std::to_string(o.pad_w) + ")" + (c.ties ? " ties" : "") + (c.nans ? " nan" : "");
}

Tensor pool_input(Generator& gen, const PoolCase& c, DType dt) {
  std::vector<double> v = randn(c.x, gen, DType::Float64).to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (c.ties) v[i] = std::round(2.0 * v[i]);
    if (c.nans && i % 7 == 3) v[i] = std::numeric_limits<double>::quiet_NaN();
  }
  return from_vector(v, c.x).to(dt);
}

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases = {
      {{2, 3, 8, 8}, pool_opts(2, 2, 2, 2, 0, 0)},                // the usual 2x2
      {{2, 3, 7, 9}, pool_opts(3, 3, 2, 2, 1, 1)},                // padding, overlapping windows
      {{1, 2, 5, 5}, pool_opts(3, 3, 1, 1, 1, 1), true},          // stride 1 < kernel, ties
      {{3, 4, 33, 17}, pool_opts(3, 2, 2, 1, 1, 1), true},        // rectangular everything, ties
      {{2, 3, 9, 7}, pool_opts(3, 3, 1, 2, 1, 0), false, true},   // NaN wins the max
      {{2, 2, 1, 1}, pool_opts(1, 1, 1, 1, 0, 0)},                // 1x1 planes
      {{2, 3, 64, 64}, pool_opts(5, 4, 3, 2, 2, 1)},              // larger windows and strides
      {{4, 8, 14, 14}, pool_opts(3, 3, 2, 2, 1, 1), true},        // ResNet's stem pool, ties
  };
  return cases;
}

// Max and average pooling, forward and backward, through the kernels (with argmax) and
// through the ops with autograd: bit-for-bit the CPU's.
template <typename T>
void check_pool_against_cpu(const PoolCase& c, Generator& gen) {
  const DType dt = dtype_of<T>::value;
  CAPTURE(pool_name(c));
  CAPTURE(dtype_name(dt));
  const kernels::Pool2dShape s = pool_shape_of(c);
  const Shape y_shape{s.N, s.C, s.OH, s.OW};
  const Tensor x = pool_input(gen, c, dt), gy = normal(gen, y_shape, dt);
  const Tensor xd = x.to(Device::CUDA), gyd = gy.to(Device::CUDA);

  // max, kernels
  Tensor y = empty(y_shape, dt), am = empty(y_shape, DType::Int32), gx = empty(c.x, dt);
  Tensor yd = empty(y_shape, dt, Device::CUDA), amd = empty(y_shape, DType::Int32, Device::CUDA);
  Tensor gxd = empty(c.x, dt, Device::CUDA);
  kcpu::max_pool2d_forward<T>(x.data<T>(), y.data<T>(), am.data<int32_t>(), s);
  kcpu::max_pool2d_backward<T>(gy.data<T>(), am.data<int32_t>(), gx.data<T>(), s);
  SC_CUDA_ONLY(kc::max_pool2d_forward<T>(xd.data<T>(), yd.data<T>(), amd.data<int32_t>(), s));
  SC_CUDA_ONLY(kc::max_pool2d_backward<T>(gyd.data<T>(), amd.data<int32_t>(), gxd.data<T>(), s));
  check_bits("max y", yd, y);
  check_bits("max argmax", amd, am);
  check_bits("max grad", gxd, gx);

  // max, op with autograd
  {
    Tensor xc = x.clone(), xg = x.to(Device::CUDA);
    xc.requires_grad_();
    xg.requires_grad_();
    Tensor want = max_pool2d(xc, c.o), got = max_pool2d(xg, c.o);
    want.backward(gy);
    got.backward(gyd);
    check_bits("max op y", got, want);
    check_bits("max op grad", xg.grad(), xc.grad());
  }
  if (c.nans) return;  // NaN makes every average NaN: nothing more to learn

  // average, kernels
  kcpu::avg_pool2d_forward<T>(x.data<T>(), y.data<T>(), s);
  kcpu::avg_pool2d_backward<T>(gy.data<T>(), gx.data<T>(), s);
  SC_CUDA_ONLY(kc::avg_pool2d_forward<T>(xd.data<T>(), yd.data<T>(), s));
  SC_CUDA_ONLY(kc::avg_pool2d_backward<T>(gyd.data<T>(), gxd.data<T>(), s));
  check_bits("avg y", yd, y);
  check_bits("avg grad", gxd, gx);

  // average, op with autograd
  Tensor xc = x.clone(), xg = x.to(Device::CUDA);
  xc.requires_grad_();
  xg.requires_grad_();
  Tensor want = avg_pool2d(xc, c.o), got = avg_pool2d(xg, c.o);
  want.backward(gy);
  got.backward(gyd);
  check_bits("avg op y", got, want);
  check_bits("avg op grad", xg.grad(), xc.grad());
}

// Global average pooling through the op with autograd.
void check_global_avg_against_cpu(const Shape& shape, DType dt, Generator& gen) {
  CAPTURE(shape_name(shape));
  CAPTURE(dtype_name(dt));
  const Tol tol = dt == DType::Float32 ? Tol{1e-6, 1e-7} : Tol{1e-13, 1e-13};
  const Tensor x = normal(gen, shape, dt, 0.5, 1.0), gy = normal(gen, {shape[0], shape[1], 1, 1}, dt);
  Tensor xc = x.clone(), xg = x.to(Device::CUDA);
  xc.requires_grad_();
  xg.requires_grad_();
  Tensor want = global_avg_pool2d(xc), got = global_avg_pool2d(xg);
  want.backward(gy);
  got.backward(gy.to(Device::CUDA));
  check_close("global y", got, want, tol);
  check_bits("global grad", xg.grad(), xc.grad());
}

// Planes of 1, 16 and 49 values (8 threads a plane), 64 and 1056 (a warp), 2304 (a block).
const std::vector<Shape>& global_shapes() {
  static const std::vector<Shape> shapes = {{5, 7, 1, 1},   {3, 5, 4, 4},   {2, 3, 7, 7},
                                            {2, 3, 8, 8},   {2, 3, 32, 33}, {1, 2, 48, 48},
                                            {64, 96, 4, 4}};
  return shapes;
}

}  // namespace

TEST_CASE("cuda: bn_pool: max and average pooling match the CPU bit for bit") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(21);
  for (const PoolCase& c : pool_cases()) check_pool_against_cpu<float>(c, gen);
}

TEST_CASE("cuda: bn_pool: max pooling backward with non-overlapping windows (the tiled path)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(24);
  // stride == kernel and no padding: one thread per window writes its tile of grad_x. Rows and
  // columns past the last window (H % KH, W % KW) must still be zeroed (the poison would show).
  // KW == 2 with W == 2 * OW: pair stores; everything else: one value at a time.
  const std::vector<PoolCase> cases = {
      {{3, 4, 28, 28}, pool_opts(2, 2, 2, 2, 0, 0)},               // the encoder's 2x2, pairs
      {{2, 3, 9, 8}, pool_opts(2, 2, 2, 2, 0, 0), true},           // a leftover row, pairs, ties
      {{2, 3, 7, 9}, pool_opts(2, 2, 2, 2, 0, 0)},                 // a leftover row and column
      {{1, 2, 10, 11}, pool_opts(3, 2, 3, 2, 0, 0)},               // rectangular, leftovers both ways
      {{2, 3, 12, 13}, pool_opts(3, 3, 3, 3, 0, 0), false, true},  // NaN wins, a leftover column
      {{2, 2, 3, 5}, pool_opts(3, 5, 3, 5, 0, 0)},                 // one window per plane
      {{2, 2, 5, 4}, pool_opts(4, 3, 4, 3, 0, 0), true},           // one window, leftovers both ways
  };
  for (const PoolCase& c : cases) check_pool_against_cpu<float>(c, gen);
  check_pool_against_cpu<double>({{2, 3, 9, 8}, pool_opts(2, 2, 2, 2, 0, 0)}, gen);
  check_pool_against_cpu<double>({{2, 3, 7, 9}, pool_opts(2, 2, 2, 2, 0, 0), true}, gen);
}

TEST_CASE("cuda: bn_pool: global average pooling matches the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(22);
  for (const Shape& shape : global_shapes()) check_global_avg_against_cpu(shape, DType::Float32, gen);
}

TEST_CASE("cuda: bn_pool: pooling in float64 matches the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(23);
  check_pool_against_cpu<double>({{2, 3, 7, 9}, pool_opts(3, 3, 2, 2, 1, 1), true}, gen);
  check_pool_against_cpu<double>({{3, 3, 31, 29}, pool_opts(7, 5, 3, 4, 3, 2)}, gen);
  check_global_avg_against_cpu({2, 3, 7, 7}, DType::Float64, gen);
  check_global_avg_against_cpu({1, 2, 48, 48}, DType::Float64, gen);
}

TEST_CASE("cuda: bn_pool: pooling max keeps the first of equal maxima and lets NaN win") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // One 2x2 window with a tie between positions 1 and 2, one with a NaN; padding never wins
  // even though every value is negative.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector(std::vector<float>{-5, -1, -1, -3, /**/ -2, nan, -7, -9}, {1, 2, 2, 2});
  kernels::Pool2dShape s;
  s.N = 1, s.C = 2, s.H = 2, s.W = 2, s.KH = 2, s.KW = 2, s.stride_h = 2, s.stride_w = 2, s.OH = 1, s.OW = 1;
  const Tensor xd = x.to(Device::CUDA);
  Tensor y = empty({1, 2, 1, 1}, DType::Float32, Device::CUDA), am = empty({1, 2, 1, 1}, DType::Int32, Device::CUDA);
  SC_CUDA_ONLY(kc::max_pool2d_forward<float>(xd.data<float>(), y.data<float>(), am.data<int32_t>(), s));
  const std::vector<float> yv = y.to(Device::CPU).to_vector<float>();
  const std::vector<int32_t> av = am.to(Device::CPU).to_vector<int32_t>();
  CHECK(yv[0] == -1.0f);
  CHECK(av[0] == 1);
  CHECK(std::isnan(yv[1]));
  CHECK(av[1] == 1);
  // With padding 1 and a 3x3 window, the corner window is mostly padding: the max is still an input value.
  s.KH = 3, s.KW = 3, s.stride_h = 1, s.stride_w = 1, s.pad_h = 1, s.pad_w = 1, s.OH = 2, s.OW = 2;
  Tensor y2 = empty({1, 2, 2, 2}, DType::Float32, Device::CUDA), am2 = empty({1, 2, 2, 2}, DType::Int32, Device::CUDA);
  SC_CUDA_ONLY(kc::max_pool2d_forward<float>(xd.data<float>(), y2.data<float>(), am2.data<int32_t>(), s));
  const std::vector<float> y2v = y2.to(Device::CPU).to_vector<float>();
  for (int i = 0; i < 4; ++i) CHECK(y2v[i] == -1.0f);
}

TEST_CASE("cuda: bn_pool: pooling reports a bad shape on CUDA") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(24);
  const Tensor x = normal(gen, {1, 1, 4, 4}, DType::Float32).to(Device::CUDA);
  // The op's own check: padding above half the kernel.
  CHECK_THROWS_AS(max_pool2d(x, pool_opts(2, 2, 2, 2, 2, 2)), Error);
  // The kernel's: an output size that does not match the window.
  kernels::Pool2dShape s;
  s.N = 1, s.C = 1, s.H = 4, s.W = 4, s.KH = 2, s.KW = 2, s.stride_h = 2, s.stride_w = 2, s.OH = 3, s.OW = 2;
  Tensor y = empty({1, 1, 3, 2}, DType::Float32, Device::CUDA);
  CHECK_THROWS_AS(SC_CUDA_ONLY(kc::avg_pool2d_forward<float>(x.data<float>(), y.data<float>(), s)), Error);
}

// ---- every kernel once, on tiny shapes (run under compute-sanitizer) -----------------------------

TEST_CASE("cuda small: bn_pool: every batch norm and pooling kernel on tiny shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(31);
  // Batch norm, hand-written: [N, C] (column-wise sums, scalar passes), HW = 16 (run-wise,
  // 16-byte loads), HW = 21 (run-wise, scalar); training and evaluation, every backward variant.
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 3, 4, 4}, Shape{2, 3, 3, 7}}) {
    CAPTURE(shape_name(shape));
    const BnInputs in = make_bn_inputs(gen, shape, DType::Float32);
    const BnTols tol = bn_tols(DType::Float32, in);
    const BnForward want = bn_forward<float>(Impl::Cpu, in, true, true, true);
    const BnForward got = bn_forward<float>(Impl::Handwritten, in, true, true, true);
    check_close("train y", got.y, want.y, tol.forward);
    check_close("train running_var", got.running_var, want.running_var, tol.forward);
    const BnGrads gw = bn_backward<float>(Impl::Cpu, in, want.save_mean, want.save_invstd, true, true);
    const BnGrads gg = bn_backward<float>(Impl::Handwritten, in, want.save_mean, want.save_invstd, true, true);
    check_close("train dx", gg.dx, gw.dx, tol.dx);
    check_close("train dgamma", gg.dgamma, gw.dgamma, tol.sums);
    const BnForward ew = bn_forward<float>(Impl::Cpu, in, false, true, true);
    const BnForward eg = bn_forward<float>(Impl::Handwritten, in, false, true, true);
    check_close("eval y", eg.y, ew.y, tol.forward);
    const BnGrads ebw = bn_backward<float>(Impl::Cpu, in, ew.save_mean, ew.save_invstd, false, true);
    const BnGrads ebg = bn_backward<float>(Impl::Handwritten, in, ew.save_mean, ew.save_invstd, false, true);
    check_close("eval dx", ebg.dx, ebw.dx, tol.forward);
    check_close("eval dbeta", ebg.dbeta, ebw.dbeta, tol.sums);
    const BnGrads only_dx =
        bn_backward<float>(Impl::Handwritten, in, ew.save_mean, ew.save_invstd, false, true, true, false, false);
    check_close("eval dx alone", only_dx.dx, ebw.dx, tol.forward);
  }
  // Pooling: max and average with overlapping, padded windows; global average with 8 threads,
  // a warp and a block per plane.
  check_pool_against_cpu<float>({{1, 2, 5, 5}, pool_opts(3, 3, 2, 2, 1, 1), true}, gen);
  for (const Shape& shape : {Shape{2, 3, 2, 2}, Shape{1, 2, 8, 8}, Shape{1, 1, 32, 64}})
    check_global_avg_against_cpu(shape, DType::Float32, gen);
}

TEST_CASE("cuda small: bn_pool: max pooling backward, tiled path with pairs and with leftovers") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(32);
  check_pool_against_cpu<float>({{1, 2, 5, 4}, pool_opts(2, 2, 2, 2, 0, 0)}, gen);  // pairs, a leftover row
  check_pool_against_cpu<float>({{1, 2, 5, 7}, pool_opts(2, 3, 2, 3, 0, 0)}, gen);  // one at a time, leftovers
}
