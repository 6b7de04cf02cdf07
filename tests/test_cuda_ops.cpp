// Every case of the op registry (tests/op_registry.h) run on CUDA and compared with the CPU:
// the forward output and the gradient of every input the case checks, in float32.
//
// Each case's inputs are drawn once on the CPU and copied to the GPU, so both devices see the
// same values. The backward starts from loss = sum(out * w) with a fixed random w (not all ones),
// so every element of the output's gradient differs. CUDA allocations are poisoned (NaN) while
// the test runs, so an output element a kernel leaves unwritten fails the comparison.
//
// Tolerance, float32: |cuda - cpu| <= atol + rtol * |cpu| with rtol = 2e-5 and atol = 2e-5 times
// the largest |cpu| value of that tensor. The two devices sum in different orders (tree
// reductions on the GPU, blocked loops on the CPU), which moves float32 results by a few ulps
// per addition; the absolute part covers elements that are small only because of cancellation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/cuda_test_util.h"
#include "tests/op_registry.h"

using namespace sc;
using namespace sc::test;

namespace {

constexpr double kRelTol = 2e-5;

struct RunResult {
  Tensor out;
  std::vector<Tensor> grads;  // one per entry of the case's grad_inputs
};

// Runs case c on `device` with the given CPU inputs, and backpropagates sum(out * weights).
RunResult run_case(const OpCase& c, const std::vector<Tensor>& cpu_inputs, const Tensor& cpu_weights, Device device) {
  std::vector<Tensor> inputs;
  // detach(): to() returns the tensor itself on its own device, and the CPU run must not mark
  // the shared inputs as requiring grad (the CUDA copies would then not be leaves).
  for (const Tensor& t : cpu_inputs) inputs.push_back(t.defined() ? t.to(device).detach() : t);
  for (int i : c.grad_inputs) inputs[static_cast<size_t>(i)].requires_grad_(true);
  RunResult r;
  r.out = c.run(inputs);
  if (!c.grad_inputs.empty() && is_floating(r.out.dtype())) {
    Tensor loss = sum(r.out * cpu_weights.to(device));
    loss.backward();
    for (int i : c.grad_inputs) r.grads.push_back(inputs[static_cast<size_t>(i)].grad());
  }
  return r;
}

void check_close(const Tensor& cuda, const Tensor& cpu, const std::string& what) {
  INFO(what);
  REQUIRE(cuda.defined() == cpu.defined());
  if (!cpu.defined()) return;
  CHECK(cuda.device() == Device::CUDA);
  REQUIRE(cuda.shape() == cpu.shape());
  const double ratio = cuda_worst_ratio(cuda, cpu, kRelTol * std::max(1.0, max_abs(cpu)), kRelTol);
  CHECK_MESSAGE(ratio <= 1.0, what, ": worst |cuda - cpu| / tolerance = ", ratio);
}

void run_registry_on_cuda(bool small_only) {
  PoisonGuard poison;
  int compared = 0;
  for (const OpCase& c : op_registry()) {
    INFO("case ", c.op, ": ", c.name);
    Generator gen(2024);
    const std::vector<Tensor> inputs = c.make_inputs(gen, DType::Float32);
    int64_t elements = 0;
    for (const Tensor& t : inputs)
      if (t.defined()) elements += t.numel();
    if (small_only && elements > 4096) continue;
    // The output shape is needed for the weights: run once on the CPU without grad.
    Tensor probe;
    {
      NoGradGuard ng;
      probe = c.run(inputs);
    }
    Generator wgen(7);
    const Tensor weights = is_floating(probe.dtype()) ? randn(probe.shape(), wgen, probe.dtype()) : Tensor();
    const RunResult cpu = run_case(c, inputs, weights, Device::CPU);
    RunResult gpu;
    try {  // one failing op is reported and the others still run
      gpu = run_case(c, inputs, weights, Device::CUDA);
    } catch (const std::exception& e) {
      FAIL_CHECK("the CUDA run threw: ", e.what());
      continue;
    }
    check_close(gpu.out, cpu.out, "forward output");
    REQUIRE(gpu.grads.size() == cpu.grads.size());
    for (size_t i = 0; i < cpu.grads.size(); ++i)
      check_close(gpu.grads[i], cpu.grads[i], "gradient of input " + std::to_string(c.grad_inputs[i]));
    ++compared;
  }
  MESSAGE("compared ", compared, " registry cases on CUDA against the CPU");
  CHECK(compared > 0);
}

}  // namespace

TEST_CASE("cuda: registry: every op case, forward and backward, CUDA against the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  run_registry_on_cuda(false);
}

TEST_CASE("cuda small: registry: the small op cases (run under compute-sanitizer)") {
  SC_SKIP_WITHOUT_CUDA();
  run_registry_on_cuda(true);
}
