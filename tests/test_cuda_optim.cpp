// The fused optimizer steps on the GPU (kernels/cuda/optim.cu) against the CPU ones
// (tests/test_optim_fused.cpp checks those against the op chains they replaced), and a model
// moved with Module::to(cuda) trained for one step against the same model on the CPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "nn/convnet.h"
#include "nn/lars.h"
#include "nn/layers.h"
#include "nn/sgd.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

enum class Kind { SgdPlainDecay, SgdMomentum, SgdNesterovDecay, SgdDampening, Adam, AdamW, LarsAdapted, LarsExcluded };
const std::vector<Kind> kAllKinds = {Kind::SgdPlainDecay, Kind::SgdMomentum, Kind::SgdNesterovDecay,
                                     Kind::SgdDampening,  Kind::Adam,        Kind::AdamW,
                                     Kind::LarsAdapted,   Kind::LarsExcluded};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::SgdPlainDecay: return "SGD, no momentum, weight decay";
    case Kind::SgdMomentum: return "SGD, momentum";
    case Kind::SgdNesterovDecay: return "SGD, nesterov, weight decay";
    case Kind::SgdDampening: return "SGD, momentum, dampening, weight decay";
    case Kind::Adam: return "Adam, coupled weight decay";
    case Kind::AdamW: return "AdamW";
    case Kind::LarsAdapted: return "LARS, adapted, weight decay";
    case Kind::LarsExcluded: return "LARS, excluded";
  }
  return "?";
}

// The parameter and the state after some steps, on the device they ran on.
struct Result {
  Tensor param;
  std::vector<Tensor> state;
};

// n elements of `values` (a CPU tensor of n + 1) on `device`. Misaligned: a view starting one
// element into the device copy, so the pointer is not 16-byte aligned and the CUDA kernels take
// their one-element-at-a-time path; otherwise a tensor of its own (aligned: the packed path).
Tensor place(const Tensor& values, Device device, bool misaligned) {
  const int64_t n = values.numel() - 1;
  if (misaligned) return values.to(device).narrow(0, 1, n);
  return values.narrow(0, 1, n).contiguous().to(device);
}

// Fresh state memory (uninitialised: the first step must write it without reading it; under
// PoisonGuard a CUDA allocation is NaN, so a read shows).
Tensor fresh_state(int64_t n, DType dtype, Device device, bool misaligned) {
  if (misaligned) return empty({n + 1}, dtype, device).narrow(0, 1, n);
  return empty({n}, dtype, device);
}

// `steps` updates of one n-element parameter by `kind` on `device`. The values come from a
// generator seeded by (kind, n), so every call with the same arguments sees the same numbers.
Result run_steps(Kind kind, Device device, DType dtype, int64_t n, int steps, bool misaligned) {
  NoGradGuard no_grad;
  Generator gen(1000 + static_cast<uint64_t>(n) * 16 + static_cast<uint64_t>(kind));
  Result r;
  r.param = place(randn({n + 1}, gen, dtype), device, misaligned);
  const int slots = kind == Kind::SgdPlainDecay ? 0 : (kind == Kind::Adam || kind == Kind::AdamW) ? 2 : 1;
  for (int s = 0; s < slots; ++s) r.state.push_back(fresh_state(n, dtype, device, misaligned));
  Tensor none;
  for (int step = 1; step <= steps; ++step) {
    // LARS is run with small gradients, as in training (the trust ratio then matters).
    const double scale = (kind == Kind::LarsAdapted || kind == Kind::LarsExcluded) ? 0.01 : 1.0;
    const Tensor grad = place(randn({n + 1}, gen, dtype) * scale, device, misaligned);
    const bool first = step == 1;
    switch (kind) {
      case Kind::SgdPlainDecay: sgd_step_(r.param, grad, none, 0.1, 1e-2, 0.0, 0.0, false, first); break;
      case Kind::SgdMomentum: sgd_step_(r.param, grad, r.state[0], 0.1, 0.0, 0.9, 0.0, false, first); break;
      case Kind::SgdNesterovDecay: sgd_step_(r.param, grad, r.state[0], 0.1, 5e-4, 0.9, 0.0, true, first); break;
      case Kind::SgdDampening: sgd_step_(r.param, grad, r.state[0], 0.2, 1e-3, 0.8, 0.3, false, first); break;
      case Kind::Adam: adam_step_(r.param, grad, r.state[0], r.state[1], step, 1e-2, 0.9, 0.999, 1e-8, 1e-2, false); break;
      case Kind::AdamW: adam_step_(r.param, grad, r.state[0], r.state[1], step, 1e-2, 0.8, 0.99, 1e-6, 5e-2, true); break;
      case Kind::LarsAdapted: lars_step_(r.param, grad, r.state[0], 4.8, 1e-6, 0.9, 1e-3, true, first); break;
      case Kind::LarsExcluded: lars_step_(r.param, grad, r.state[0], 0.3, 1e-4, 0.9, 1e-3, false, first); break;
    }
  }
  return r;
}

// CUDA against CPU after several steps, per element |cuda - cpu| <= atol + rtol * |cpu|.
// Both devices run the same element formula (kernels/optim.h) in the same dtype; they differ
// only where one compiler fuses a * b + c into an fma and the other does not: an ulp of the
// terms (randn values up to ~4) per operation, compounding over the steps through the state;
// atol covers results near zero left by cancelling terms. LARS also sums its norms in a
// different order (double sums: ~1e-16 relative, invisible after rounding to float32).
// IEEE division and square root on both sides (nvcc's default, no fast math).
struct Tol {
  double atol, rtol;
};
Tol tolerance_for(DType dtype) { return dtype == DType::Float32 ? Tol{2e-6, 2e-6} : Tol{4e-15, 4e-15}; }

void check_matches_cpu(Kind kind, DType dtype, int64_t n, int steps, bool misaligned) {
  const std::string what = std::string(kind_name(kind)) + ", " + dtype_name(dtype) + "[" + std::to_string(n) + "]" +
                           (misaligned ? ", misaligned" : "");
  CAPTURE(what);
  const Result cpu = run_steps(kind, Device::CPU, dtype, n, steps, misaligned);
  const Result gpu = run_steps(kind, Device::CUDA, dtype, n, steps, misaligned);
  REQUIRE(gpu.param.device() == Device::CUDA);
  const Tol tol = tolerance_for(dtype);
  double worst = cuda_worst_ratio(gpu.param, cpu.param, tol.atol, tol.rtol);
  CHECK(worst <= 1.0);
  REQUIRE(gpu.state.size() == cpu.state.size());
  for (size_t s = 0; s < cpu.state.size(); ++s) {
    CAPTURE(s);
    const double used = cuda_worst_ratio(gpu.state[s], cpu.state[s], tol.atol, tol.rtol);
    CHECK(used <= 1.0);
    worst = std::max(worst, used);
  }
  const char* verbose = std::getenv("SC_OPTIM_VERBOSE");
  if (verbose != nullptr && std::string(verbose) != "0") MESSAGE(what, ": used ", worst, " of the tolerance");
}

// The parameters of a module as one optimizer group.
std::vector<nn::ParamGroup> one_group(const nn::Module& model, double lr) {
  nn::ParamGroup group;
  for (const auto& [name, p] : model.named_parameters()) {
    group.names.push_back(name);
    group.params.push_back(p);
  }
  group.lr = lr;
  return {group};
}

}  // namespace

// ---- the fused steps, CUDA vs CPU ------------------------------------------------------------------

TEST_CASE("cuda: optim: every fused step matches the CPU over 4 steps (float32, odd sizes, misaligned)") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (Kind kind : kAllKinds) {
    for (int64_t n : {1, 7, 1000, 100003}) check_matches_cpu(kind, DType::Float32, n, 4, /*misaligned=*/false);
    for (int64_t n : {7, 1000}) check_matches_cpu(kind, DType::Float32, n, 4, /*misaligned=*/true);
  }
  // Enough elements that the LARS norm kernel hits its cap on blocks and loops over the rest.
  check_matches_cpu(Kind::LarsAdapted, DType::Float32, (int64_t(1) << 22) + 3, 2, false);
}

TEST_CASE("cuda: optim: every fused step matches the CPU in float64") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (Kind kind : kAllKinds) {
    for (int64_t n : {7, 100003}) check_matches_cpu(kind, DType::Float64, n, 3, false);
    check_matches_cpu(kind, DType::Float64, 1000, 3, /*misaligned=*/true);
  }
}

TEST_CASE("cuda: optim: the fused steps give the same bits run to run") {
  SC_SKIP_WITHOUT_CUDA();
  for (Kind kind : {Kind::SgdNesterovDecay, Kind::Adam, Kind::LarsAdapted}) {
    const std::string name = kind_name(kind);
    CAPTURE(name);
    const Result a = run_steps(kind, Device::CUDA, DType::Float32, 300007, 3, false);
    const Result b = run_steps(kind, Device::CUDA, DType::Float32, 300007, 3, false);
    CHECK(bitwise_equal(a.param, b.param));
    for (size_t s = 0; s < a.state.size(); ++s) CHECK(bitwise_equal(a.state[s], b.state[s]));
  }
}

TEST_CASE("cuda small: optim: every fused kernel on tiny tensors, packed and misaligned") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  for (Kind kind : kAllKinds) {
    check_matches_cpu(kind, DType::Float32, 7, 2, /*misaligned=*/false);  // one pack of 4 and a tail of 3
    check_matches_cpu(kind, DType::Float32, 5, 2, /*misaligned=*/true);
  }
  check_matches_cpu(Kind::Adam, DType::Float64, 5, 2, false);
  check_matches_cpu(Kind::LarsAdapted, DType::Float64, 5, 2, false);
}

TEST_CASE("cuda: optim: tensors on different devices throw, naming the fix") {
  SC_SKIP_WITHOUT_CUDA();
  NoGradGuard no_grad;
  Generator gen(5);
  Tensor p = randn({4}, gen).to(Device::CUDA);
  Tensor buf = randn({4}, gen);  // on the CPU
  const std::string msg =
      message_of([&] { sgd_step_(p, randn({4}, gen).to(Device::CUDA), buf, 0.1, 0.0, 0.9, 0.0, false, false); });
  CHECK(contains(msg, "sgd_step_: momentum_buffer is float32[4] on cpu but the parameter is float32[4] on cuda"));
  CHECK(contains(msg, "construct the optimizer after Module::to(device)"));
}

// ---- Module::to(cuda) and training on the GPU --------------------------------------------------------------

TEST_CASE("cuda: module: to(cuda) moves every parameter and buffer in place, and to(cpu) brings back the same bits") {
  SC_SKIP_WITHOUT_CUDA();
  Generator gen(3);
  nn::ConvNet model(gen, 4, 3);
  const nn::StateDict before = model.state_dict().clone();
  model.to(Device::CUDA);
  for (const auto& name_t : model.named_parameters()) {
    const auto& name = name_t.first;
    const auto& t = name_t.second;
    CAPTURE(name);
    CHECK(t.device() == Device::CUDA);
    CHECK((t.is_leaf() && t.requires_grad()));
  }
  for (const auto& [name, t] : model.named_buffers()) CHECK(t.device() == Device::CUDA);
  // The layers' own handles see the move (the TensorImpls were repointed, not replaced).
  for (const auto& [name, module] : model.named_modules()) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(module)) CHECK(conv->weight.device() == Device::CUDA);
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(module)) {
      CHECK(bn->running_mean.device() == Device::CUDA);
      CHECK(bn->num_batches_tracked.device() == Device::CUDA);
      CHECK(bn->num_batches_tracked.dtype() == DType::Int64);
    }
  }
  model.to(Device::CPU);
  for (const auto& name_t : model.state_dict()) {
    const auto& name = name_t.first;
    const auto& t = name_t.second;
    CAPTURE(name);
    CHECK(t.device() == Device::CPU);
    CHECK(bitwise_equal(t, before.at(name)));
  }
}

TEST_CASE("cuda: optim: an optimizer made before to(cuda) fails its next step with a clear error") {
  SC_SKIP_WITHOUT_CUDA();
  Generator gen(4);
  nn::Linear linear(3, 2, gen);
  nn::SGD sgd(one_group(linear, 0.1), nn::SGDOptions{0.9});
  for (Tensor& p : linear.parameters()) p.set_grad(randn(p.shape(), gen));
  sgd.step();  // momentum buffers made on the CPU
  linear.to(Device::CUDA);
  for (Tensor& p : linear.parameters()) p.set_grad(randn(p.shape(), gen).to(Device::CUDA));
  CHECK(contains(message_of([&] { sgd.step(); }), "construct the optimizer after Module::to(device)"));
}

TEST_CASE("cuda: optim: a ConvNet moved with to(cuda) matches the CPU model: forward, backward, one Adam step") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen_cpu(42), gen_gpu(42);
  nn::ConvNet cpu_model(gen_cpu, 4, 3), gpu_model(gen_gpu, 4, 3);
  gpu_model.to(Device::CUDA);
  // Optimizers after to(), as in PyTorch. A large eps keeps Adam's step a smooth function of the
  // gradient: with eps 1e-8 the first step is lr * sign(g), and an element whose gradient is ~0
  // could step in opposite directions on the two devices. With eps 1e-2 and lr 1e-2 a gradient
  // error moves the parameter by at most about that error.
  const nn::AdamOptions options{0.9, 0.999, 1e-2};
  nn::Adam cpu_opt(one_group(cpu_model, 1e-2), options);
  nn::Adam gpu_opt(one_group(gpu_model, 1e-2), options);

  Generator data(7);
  const Tensor x = randn({2, 3, 16, 16}, data);
  const Tensor target = randn({2, 32}, data);
  const Tensor h_cpu = cpu_model(x);
  const Tensor h_gpu = gpu_model(x.to(Device::CUDA));
  REQUIRE(h_gpu.device() == Device::CUDA);
  // Convolutions and batch norm in float32, summed in another order on each device.
  CHECK(cuda_worst_ratio(h_gpu, h_cpu, 1e-5, 1e-4) <= 1.0);

  mean(h_cpu * target).backward();
  mean(h_gpu * target.to(Device::CUDA)).backward();
  const auto cpu_params = cpu_model.named_parameters();
  const auto gpu_params = gpu_model.named_parameters();
  REQUIRE(cpu_params.size() == gpu_params.size());
  std::vector<Tensor> before;
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    CAPTURE(cpu_params[i].first);
    const Tensor g_cpu = cpu_params[i].second.grad(), g_gpu = gpu_params[i].second.grad();
    REQUIRE((g_cpu.defined() && g_gpu.defined()));
    CHECK(g_gpu.device() == Device::CUDA);
    // Gradients: float32 sums over the batch and the image in different orders.
    CHECK(cuda_worst_ratio(g_gpu, g_cpu, 1e-4 * max_abs(g_cpu), 1e-3) <= 1.0);
    before.push_back(cpu_params[i].second.detach().clone());
  }

  cpu_opt.step();
  gpu_opt.step();
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    CAPTURE(cpu_params[i].first);
    const Tensor& p_cpu = cpu_params[i].second;
    const Tensor& p_gpu = gpu_params[i].second;
    CHECK(p_gpu.device() == Device::CUDA);
    CHECK(cuda_worst_ratio(p_gpu, p_cpu, 1e-5, 1e-4) <= 1.0);
    // The step moved the parameter by much more than that tolerance (so the check means something).
    CHECK(cuda_worst_ratio(p_cpu, before[i], 1e-5, 1e-4) > 10.0);
    for (const auto& [slot, t] : gpu_opt.param_state(gpu_params[i].first))
      if (slot != "step") CHECK(t.device() == Device::CUDA);
  }
  // Batch norm's running statistics were updated on the GPU too.
  const auto cpu_buffers = cpu_model.named_buffers();
  const auto gpu_buffers = gpu_model.named_buffers();
  REQUIRE(cpu_buffers.size() == gpu_buffers.size());
  for (size_t i = 0; i < cpu_buffers.size(); ++i) {
    CAPTURE(cpu_buffers[i].first);
    CHECK(cuda_worst_ratio(gpu_buffers[i].second, cpu_buffers[i].second, 1e-5, 1e-4) <= 1.0);
  }
}
