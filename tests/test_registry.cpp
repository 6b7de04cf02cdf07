// Runs every case of the op registry (tests/op_registry.h) in each mode.
#include <doctest/doctest.h>

#include <set>

#include "tests/op_registry.h"

using namespace sc;
using namespace sc::test;

TEST_CASE("registry: every differentiable op has a gradient-checked case") {
  // The list of the engine's differentiable ops. Adding an op means adding it here
  // and giving it a case; a missing case fails this test.
  const std::vector<std::string> required = {
      "add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "abs", "relu", "clamp",
      "sum", "mean", "max", "var", "matmul", "concat", "stack", "index_select",
      "reshape", "transpose", "permute", "narrow", "expand", "squeeze", "unsqueeze",
      "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "batch_norm", "batch_norm_relu",
      "softmax", "log_softmax", "cross_entropy", "normalize", "nt_xent", "all_gather", "sync_batch_norm"};
  std::set<std::string> covered;
  for (const OpCase& c : op_registry())
    if (!c.grad_inputs.empty()) covered.insert(c.op);
  for (const std::string& op : required) {
    CAPTURE(op);
    CHECK_MESSAGE(covered.count(op) == 1, "no gradient-checked case for ", op);
  }
  MESSAGE("the registry holds ", op_registry().size(), " cases");
}

TEST_CASE("registry: gradient check in float64 (central differences)") {
  int checked = 0;
  for (const OpCase& c : op_registry()) {
    if (c.grad_inputs.empty()) continue;
    INFO("case ", c.op, ": ", c.name);
    GradCheckResult r = grad_check(c, 1234);
    CHECK_MESSAGE(r.ok, r.report);
    ++checked;
  }
  MESSAGE("gradient-checked ", checked, " cases");
}

TEST_CASE("registry: float32 forward agrees with float64 forward") {
  for (const OpCase& c : op_registry()) {
    INFO("case ", c.op, ": ", c.name);
    Generator g64(99);
    std::vector<Tensor> in64 = c.make_inputs(g64, DType::Float64);
    std::vector<Tensor> in32;
    for (const Tensor& t : in64) in32.push_back(t.defined() && is_floating(t.dtype()) ? t.to(DType::Float32) : t);
    NoGradGuard ng;
    Tensor out64 = c.run(in64);
    Tensor out32 = c.run(in32);
    REQUIRE(out32.dtype() == DType::Float32);
    CHECK(worst_ratio(out32, out64, c.f32_rtol, c.f32_rtol) <= 1.0);
  }
}
