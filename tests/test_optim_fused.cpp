// The fused optimizer steps (core/ops/optim.cpp, kernels/cpu/optim.cpp) against the op chains
// they replaced, on the CPU; their input checks; Module::to(Device) where no GPU is needed.
// (tests/test_optim.cpp checks the optimizers that call them against PyTorch's goldens, and
// tests/test_cuda_optim.cpp the CUDA kernels against these CPU ones.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "nn/convnet.h"
#include "nn/lars.h"
#include "nn/sgd.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

// ---- the op chains the fused steps replaced (nn/*.cpp before fusion), as the reference ----

struct SgdConfig {
  double lr, weight_decay, momentum, dampening;
  bool nesterov;
};

void chain_sgd(Tensor& param, const Tensor& grad, Tensor& buf, const SgdConfig& o) {
  Tensor g = o.weight_decay != 0 ? grad + param * o.weight_decay : grad;
  Tensor direction = g;
  if (o.momentum != 0) {
    if (!buf.defined())
      buf = g.clone();
    else
      buf.copy_(buf * o.momentum + g * (1 - o.dampening));
    direction = o.nesterov ? g + buf * o.momentum : buf;
  }
  param.copy_(param - direction * o.lr);
}

struct AdamConfig {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
};

void chain_adam(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, int64_t t, const AdamConfig& o) {
  if (!m.defined()) {
    m = zeros_like(param);
    v = zeros_like(param);
  }
  Tensor g = grad;
  if (o.weight_decay != 0) {
    if (o.decoupled)
      param.copy_(param * (1 - o.lr * o.weight_decay));
    else
      g = grad + param * o.weight_decay;
  }
  m.copy_(m * o.beta1 + g * (1 - o.beta1));
  v.copy_(v * o.beta2 + g * g * (1 - o.beta2));
  const double bias_correction1 = 1 - std::pow(o.beta1, static_cast<double>(t));
  const double bias_correction2 = 1 - std::pow(o.beta2, static_cast<double>(t));
  const Tensor denom = sqrt(v) / std::sqrt(bias_correction2) + o.eps;
  param.copy_(param - m / denom * (o.lr / bias_correction1));
}

struct LarsConfig {
  double lr, weight_decay, momentum, eta;
  bool adapt;
};

void chain_lars(Tensor& param, const Tensor& grad, Tensor& v, const LarsConfig& o) {
  if (!v.defined()) v = zeros_like(param);
  Tensor g = grad;
  double scaled_lr = o.lr;
  if (o.adapt) {
    if (o.weight_decay != 0) g = grad + param * o.weight_decay;
    const double param_norm = sqrt(sum(param * param)).item();
    const double grad_norm = sqrt(sum(g * g)).item();
    scaled_lr *= param_norm > 0 && grad_norm > 0 ? o.eta * param_norm / grad_norm : 1.0;
  }
  v.copy_(v * o.momentum + g * scaled_lr);
  param.copy_(param - v);
}

// How close the fused step must stay to the chain, per element: |fused - chain| <= atol +
// rtol * |chain| after every step. The two do the same operations in the same order in the
// same dtype, but the compiler may turn a * b + c in the fused loop into one fma (GCC does
// with -march=native), which rounds once where the chain rounds twice: a difference of an ulp
// of the terms per operation, and the terms here are randn values up to ~4 (ulp 4.8e-7 in
// float32, 8.9e-16 in float64), compounding over 4 steps through the momentum and moments.
// atol covers values that land near zero as the difference of two such terms (a momentum
// buffer whose gradient changed sign), where the error is set by the terms, not the result.
// LARS adds its norms: the chain sums float32 squares into a float32 total, the fused step
// squares and sums in double, so its trust ratio differs by ~1e-7 relative in float32.
// Measured (GCC 12, -march=native): at most 0.41 of these tolerances (SC_OPTIM_VERBOSE=1);
// a wrong formula (a missing term, a swapped coefficient) is off by 1e-3 or more.
struct Tol {
  double atol, rtol;
};
Tol tolerance_for(DType dtype) { return dtype == DType::Float32 ? Tol{1e-6, 1e-6} : Tol{2e-15, 2e-15}; }

constexpr int kSteps = 4;
const std::vector<int64_t> kSizes = {1, 7, 1000, 100003};

// The largest share of its tolerance any comparison used, per dtype (printed with SC_OPTIM_VERBOSE=1).
double worst_used[2] = {0, 0};

void check_close(const Tensor& fused, const Tensor& chain, DType dtype, const std::string& what) {
  CAPTURE(what);
  const Tol tol = tolerance_for(dtype);
  const double used = cuda_worst_ratio(fused, chain, tol.atol, tol.rtol);
  CHECK(used <= 1.0);
  double& worst = worst_used[dtype == DType::Float32 ? 0 : 1];
  worst = std::max(worst, used);
}

void report_worst(const char* what) {
  const char* v = std::getenv("SC_OPTIM_VERBOSE");
  if (v != nullptr && std::string(v) != "0")
    MESSAGE(std::string(what), ": worst share of the tolerance used: float32 ", worst_used[0], ", float64 ", worst_used[1]);
  worst_used[0] = worst_used[1] = 0;
}

}  // namespace

// ---- fused step vs op chain ---------------------------------------------------------------------

TEST_CASE("optim fused: SGD step matches the op chain (momentum, dampening, nesterov, weight decay)") {
  NoGradGuard no_grad;
  const std::vector<SgdConfig> configs = {
      {0.1, 0.0, 0.0, 0.0, false},   // plain SGD: no buffer
      {0.05, 1e-2, 0.0, 0.0, false},  // weight decay only
      {0.1, 0.0, 0.9, 0.0, false},   // classic momentum
      {0.1, 5e-4, 0.9, 0.0, true},   // nesterov with decay
      {0.2, 1e-3, 0.8, 0.3, false},  // dampening
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (int64_t n : kSizes) {
      for (size_t c = 0; c < configs.size(); ++c) {
        const std::string dtype_text = dtype_name(dtype);
        CAPTURE(dtype_text);
        CAPTURE(n);
        CAPTURE(c);
        const SgdConfig& o = configs[c];
        Generator gen(100 + n + static_cast<int64_t>(c));
        Tensor chain_p = randn({n}, gen, dtype);
        Tensor fused_p = chain_p.clone();
        Tensor chain_buf, fused_buf;
        for (int step = 0; step < kSteps; ++step) {
          const Tensor grad = randn({n}, gen, dtype);
          chain_sgd(chain_p, grad, chain_buf, o);
          const bool first = !fused_buf.defined();
          if (first && o.momentum != 0) fused_buf = empty({n}, dtype);
          sgd_step_(fused_p, grad, fused_buf, o.lr, o.weight_decay, o.momentum, o.dampening, o.nesterov, first);
          check_close(fused_p, chain_p, dtype, "param, step " + std::to_string(step + 1));
          if (o.momentum != 0) check_close(fused_buf, chain_buf, dtype, "buffer, step " + std::to_string(step + 1));
        }
      }
    }
  }
  report_worst("SGD");
}

TEST_CASE("optim fused: Adam and AdamW steps match the op chain") {
  NoGradGuard no_grad;
  const std::vector<AdamConfig> configs = {
      {1e-3, 0.9, 0.999, 1e-8, 0.0, false},   // Adam, no decay
      {1e-2, 0.9, 0.999, 1e-8, 1e-2, false},  // Adam, coupled decay
      {1e-2, 0.8, 0.99, 1e-6, 5e-2, true},    // AdamW
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (int64_t n : kSizes) {
      for (size_t c = 0; c < configs.size(); ++c) {
        const std::string dtype_text = dtype_name(dtype);
        CAPTURE(dtype_text);
        CAPTURE(n);
        CAPTURE(c);
        const AdamConfig& o = configs[c];
        Generator gen(200 + n + static_cast<int64_t>(c));
        Tensor chain_p = randn({n}, gen, dtype);
        Tensor fused_p = chain_p.clone();
        Tensor chain_m, chain_v;
        Tensor fused_m = empty({n}, dtype), fused_v = empty({n}, dtype);  // not read at t = 1
        for (int64_t t = 1; t <= kSteps; ++t) {
          const Tensor grad = randn({n}, gen, dtype);
          chain_adam(chain_p, grad, chain_m, chain_v, t, o);
          adam_step_(fused_p, grad, fused_m, fused_v, t, o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.decoupled);
          check_close(fused_p, chain_p, dtype, "param, step " + std::to_string(t));
          check_close(fused_m, chain_m, dtype, "exp_avg, step " + std::to_string(t));
          check_close(fused_v, chain_v, dtype, "exp_avg_sq, step " + std::to_string(t));
        }
      }
    }
  }
  report_worst("Adam/AdamW");
}

TEST_CASE("optim fused: LARS step matches the op chain (adapted and excluded, with and without decay)") {
  NoGradGuard no_grad;
  const std::vector<LarsConfig> configs = {
      {0.5, 0.0, 0.9, 1e-3, true},
      {4.8, 1e-6, 0.9, 1e-3, true},  // SimCLR's setting at batch 4096
      {0.3, 1e-4, 0.9, 1e-3, false},  // excluded: no decay, no trust ratio
  };
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (int64_t n : kSizes) {
      for (size_t c = 0; c < configs.size(); ++c) {
        const std::string dtype_text = dtype_name(dtype);
        CAPTURE(dtype_text);
        CAPTURE(n);
        CAPTURE(c);
        const LarsConfig& o = configs[c];
        Generator gen(300 + n + static_cast<int64_t>(c));
        Tensor chain_p = randn({n}, gen, dtype);
        Tensor fused_p = chain_p.clone();
        Tensor chain_v;
        Tensor fused_v = empty({n}, dtype);
        for (int step = 0; step < kSteps; ++step) {
          const Tensor grad = randn({n}, gen, dtype) * 0.01;
          chain_lars(chain_p, grad, chain_v, o);
          lars_step_(fused_p, grad, fused_v, o.lr, o.weight_decay, o.momentum, o.eta, o.adapt, step == 0);
          check_close(fused_p, chain_p, dtype, "param, step " + std::to_string(step + 1));
          check_close(fused_v, chain_v, dtype, "buffer, step " + std::to_string(step + 1));
        }
      }
    }
  }
  report_worst("LARS");
}

TEST_CASE("optim fused: LARS gives the same bits on 1 thread or several (fixed-order norms)") {
  NoGradGuard no_grad;
  const int threads_before = num_threads();
  Generator gen(7);
  const Tensor p0 = randn({100003}, gen);
  const Tensor grad = randn({100003}, gen);
  std::vector<Tensor> results;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    Tensor p = p0.clone();
    Tensor v = empty({100003});
    lars_step_(p, grad, v, 1.0, 1e-4, 0.9, 1e-3, /*adapt=*/true, /*first_step=*/true);
    results.push_back(p);
  }
  set_num_threads(threads_before);
  CHECK(bitwise_equal(results[0], results[1]));
}

TEST_CASE("optim fused: worked by hand (float64)") {
  NoGradGuard no_grad;
  // SGD, momentum 0.5, first step then second: buf = g = [1, -2]; p = [1, 1] - 0.1 * buf.
  Tensor p = from_vector(std::vector<double>{1.0, 1.0}, {2});
  Tensor buf = empty({2}, DType::Float64);
  sgd_step_(p, from_vector(std::vector<double>{1.0, -2.0}, {2}), buf, 0.1, 0.0, 0.5, 0.0, false, true);
  CHECK(buf.to_vector<double>() == std::vector<double>{1.0, -2.0});
  CHECK(p.to_vector<double>()[0] == doctest::Approx(0.9).epsilon(1e-15));
  CHECK(p.to_vector<double>()[1] == doctest::Approx(1.2).epsilon(1e-15));
  // Second step, g = [1, 0]: buf = 0.5 * [1, -2] + [1, 0] = [1.5, -1].
  sgd_step_(p, from_vector(std::vector<double>{1.0, 0.0}, {2}), buf, 0.1, 0.0, 0.5, 0.0, false, false);
  CHECK(buf.to_vector<double>() == std::vector<double>{1.5, -1.0});
  CHECK(p.to_vector<double>()[0] == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(p.to_vector<double>()[1] == doctest::Approx(1.3).epsilon(1e-15));

  // Adam's first step moves every element by lr against the sign of its gradient (up to eps):
  // m / (1 - beta1) = g and sqrt(v / (1 - beta2)) = |g|.
  Tensor q = from_vector(std::vector<double>{0.5, -0.5, 2.0}, {3});
  Tensor m = empty({3}, DType::Float64), v = empty({3}, DType::Float64);
  adam_step_(q, from_vector(std::vector<double>{3.0, -0.25, 1e-3}, {3}), m, v, 1, 0.01, 0.9, 0.999, 1e-12, 0.0, false);
  const std::vector<double> qv = q.to_vector<double>();
  CHECK(qv[0] == doctest::Approx(0.49).epsilon(1e-9));
  CHECK(qv[1] == doctest::Approx(-0.49).epsilon(1e-9));
  CHECK(qv[2] == doctest::Approx(1.99).epsilon(1e-9));
}

TEST_CASE("optim fused: the steps write in place, bump versions, and handle n == 0") {
  NoGradGuard no_grad;
  Generator gen(11);
  Tensor p = randn({5, 3}, gen);
  Tensor m = zeros({5, 3}), v = zeros({5, 3});
  const void* data = p.raw_data();
  const uint64_t pv = p.version(), mv = m.version(), vv = v.version();
  adam_step_(p, randn({5, 3}, gen), m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, false);
  CHECK(p.raw_data() == data);
  CHECK(p.version() > pv);
  CHECK(m.version() > mv);
  CHECK(v.version() > vv);

  Tensor e = empty({0, 4}), eg = empty({0, 4}), eb = empty({0, 4}), ev = empty({0, 4});
  sgd_step_(e, eg, eb, 0.1, 0.1, 0.9, 0.0, true, true);
  adam_step_(e, eg, eb, ev, 1, 0.1, 0.9, 0.999, 1e-8, 0.1, true);
  lars_step_(e, eg, eb, 0.1, 0.1, 0.9, 1e-3, true, true);
  CHECK(e.numel() == 0);
}

TEST_CASE("optim fused: bad tensors throw naming the op and the tensor") {
  // Grad mode stays on: none of these tensors requires grad, except `leaf` at the end.
  Tensor p = zeros({4}), g = zeros({4}), b = zeros({4}), v = zeros({4});
  Tensor none;
  auto sgd = [&](Tensor& param, const Tensor& grad, Tensor& buf) {
    return message_of([&] { sgd_step_(param, grad, buf, 0.1, 0.0, 0.9, 0.0, false, false); });
  };
  CHECK(contains(sgd(none, g, b), "sgd_step_: the parameter is an undefined tensor"));
  CHECK(contains(sgd(p, none, b), "sgd_step_: the gradient is an undefined tensor"));
  CHECK(contains(sgd(p, g, none), "sgd_step_: momentum_buffer is an undefined tensor"));
  // With momentum 0 there is no buffer, and an undefined one is fine.
  CHECK(message_of([&] { sgd_step_(p, g, none, 0.1, 0.0, 0.0, 0.0, false, true); }) == "no error");

  Tensor wrong_shape = zeros({2, 2});
  CHECK(contains(sgd(p, wrong_shape, b), "sgd_step_: the gradient is float32[2, 2] on cpu but the parameter is float32[4]"));
  Tensor wrong_dtype = zeros({4}, DType::Float64);
  CHECK(contains(sgd(p, g, wrong_dtype), "momentum_buffer is float64[4] on cpu but the parameter is float32[4] on cpu"));
  Tensor ints = zeros({4}, DType::Int64), int_grad = zeros({4}, DType::Int64), int_buf = zeros({4}, DType::Int64);
  CHECK(contains(sgd(ints, int_grad, int_buf), "sgd_step_: expected a float32 or float64 tensor"));
  Tensor strided = zeros({4, 2}).narrow(1, 0, 1).squeeze(1);  // 4 elements, stride 2
  CHECK(contains(sgd(p, strided, b), "sgd_step_: the gradient (float32[4] on cpu) must be contiguous"));
  CHECK(contains(sgd(p, g, p), "sgd_step_: the parameter and momentum_buffer share memory"));

  CHECK(contains(message_of([&] { adam_step_(p, g, b, v, 0, 0.1, 0.9, 0.999, 1e-8, 0.0, false); }),
                 "adam_step_: step must be >= 1"));
  CHECK(contains(message_of([&] { adam_step_(p, g, b, b, 2, 0.1, 0.9, 0.999, 1e-8, 0.0, false); }),
                 "adam_step_: exp_avg and exp_avg_sq share memory"));
  CHECK(contains(message_of([&] { lars_step_(p, g, wrong_shape, 0.1, 0.0, 0.9, 1e-3, true, false); }),
                 "lars_step_: momentum_buffer is float32[2, 2]"));

  // With grad mode on, an update of a tensor that requires grad is refused (as copy_ refuses).
  Tensor leaf = zeros({4}).requires_grad_();
  REQUIRE(grad_enabled());
  CHECK(contains(sgd(leaf, g, b), "sgd_step_: in-place update of float32[4] on cpu, which requires grad"));
}

// ---- the optimizers on the fused steps ------------------------------------------------------------

TEST_CASE("optim fused: optimizers accept a gradient that is a view, and make state lazily") {
  // sum's backward hands back an expanded (stride 0) gradient: the optimizer makes it contiguous.
  for (const std::string kind : {"sgd", "adam", "lars"}) {
    CAPTURE(kind);
    Tensor w = from_vector(std::vector<float>{1.0f, -2.0f, 3.0f, 0.5f, 0.25f, -1.0f}, {2, 3}).requires_grad_();
    std::vector<nn::ParamGroup> groups = {nn::ParamGroup{{"w"}, {w}, 0.1, 0.01}};
    std::unique_ptr<nn::Optimizer> opt;
    if (kind == "sgd") opt = std::make_unique<nn::SGD>(std::move(groups), nn::SGDOptions{0.9});
    if (kind == "adam") opt = std::make_unique<nn::Adam>(std::move(groups));
    if (kind == "lars") opt = std::make_unique<nn::LARS>(std::move(groups));
    CHECK(opt->param_state("w").empty());
    sum(w).backward();
    REQUIRE(w.grad().defined());
    opt->step();
    const auto& state = opt->param_state("w");
    CHECK(!state.empty());
    for (const auto& [slot, t] : state)
      if (slot != "step") CHECK((t.shape() == w.shape() && t.device() == w.device() && t.is_contiguous()));
    CHECK(w.to_vector<float>() != std::vector<float>({1.0f, -2.0f, 3.0f, 0.5f, 0.25f, -1.0f}));
  }
}

// ---- Module::to(Device) without a GPU -----------------------------------------------------------------

TEST_CASE("optim fused: Module::to(cuda) without a GPU throws a clear error and moves nothing") {
  if (cuda_available()) {
    MESSAGE("a GPU is present: the CUDA tests check Module::to(cuda)");
    return;
  }
  Generator gen(1);
  nn::ConvNet model(gen, 4, 3);
  const std::string msg = message_of([&] { model.to(Device::CUDA); });
  CHECK(contains(msg, "ConvNet (top-level module).to(cuda)"));
  CHECK(contains(msg, cuda_unavailable_reason()));
  for (const auto& [name, t] : model.named_parameters()) CHECK(t.device() == Device::CPU);
  for (const auto& [name, t] : model.named_buffers()) CHECK(t.device() == Device::CPU);
}

TEST_CASE("optim fused: Module::to(cpu) on a CPU model changes nothing") {
  Generator gen(2);
  nn::ConvNet model(gen, 4, 3);
  const nn::StateDict before = model.state_dict().clone();
  std::vector<const void*> data;
  for (const auto& [name, t] : model.state_dict()) data.push_back(t.raw_data());
  model.to(Device::CPU);
  size_t i = 0;
  for (const auto& name_t : model.state_dict()) {
    const auto& name = name_t.first;
    const auto& t = name_t.second;
    CAPTURE(name);
    CHECK(t.raw_data() == data[i++]);
    CHECK(bitwise_equal(t, before.at(name)));
  }
  for (const auto& [name, t] : model.named_parameters()) CHECK((t.is_leaf() && t.requires_grad()));
}
