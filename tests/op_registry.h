#pragma once
// The op test registry, in the spirit of ggml's test-backend-ops: each op case says
// how to make its inputs, how to run the op, which inputs get a gradient check, and its
// tolerance. test_registry.cpp runs every case in every mode:
//   grad  - float64 central differences against backward() (relative + absolute rule)
//   dtype - the float32 forward against the float64 forward on the same values
// Cases live in cases_*.cpp, one file per op family, registered with a static RegisterOps.
#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"

namespace sc::test {

struct OpCase {
  std::string op;    // the op's name, used for the coverage check ("add", "conv2d", ...)
  std::string name;  // what this case exercises ("broadcast [3,1] + [4]")
  // Inputs in the requested float dtype, drawn from the generator. Integer inputs
  // (labels, indices) are allowed and are never gradient-checked.
  std::function<std::vector<Tensor>(Generator&, DType)> make_inputs;
  std::function<Tensor(const std::vector<Tensor>&)> run;
  std::vector<int> grad_inputs;  // indices of the inputs whose gradient is checked
  double grad_atol = 1e-6;       // |analytic - numeric| <= atol + rtol * |numeric|
  double grad_rtol = 1e-5;
  double fd_eps = 1e-6;          // central-difference step
  double f32_rtol = 1e-4;        // float32 forward vs float64 forward
};

std::vector<OpCase>& op_registry();

struct RegisterOps {
  explicit RegisterOps(std::vector<OpCase> cases);
};

// Inputs helpers: random normal / uniform tensors in a dtype, optionally made non-contiguous.
Tensor randn_t(Generator& g, const Shape& shape, DType dt);
Tensor rand_t(Generator& g, const Shape& shape, DType dt, double low, double high);
// A [b, a]-shaped tensor's transpose: same values layout-wise as a fresh [a, b], but strided.
Tensor randn_transposed(Generator& g, const Shape& shape_2d, DType dt);

struct GradCheckResult {
  bool ok = true;
  std::string report;  // the worst element per input, for the failure message
};
// Runs the gradient check of one case in float64.
GradCheckResult grad_check(const OpCase& c, uint64_t seed);

// Largest |a - b| / (atol + rtol * |b|) over all elements (<= 1 passes).
double worst_ratio(const Tensor& a, const Tensor& b, double atol, double rtol);

}  // namespace sc::test
