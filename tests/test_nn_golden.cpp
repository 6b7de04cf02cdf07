// Our encoders and projection head against PyTorch, one training step each
// (tests/golden/gen_golden_nn.py builds the same models in PyTorch and writes nn_*.golden).
//
// Each case loads the same weights into our model with load_state_dict, runs a
// training-mode forward on the same input, forms L = sum(out * R), calls backward, and
// compares: the output, L, every parameter gradient, and the BN buffers after the step
// (running_mean, running_var, num_batches_tracked).
//
// SC_GOLDEN_VERBOSE=1 prints, per case, the worst error as a fraction of its tolerance.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "nn/convnet.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "tests/golden_io.h"

using namespace sc;
using namespace sc::nn;
using namespace sc::test;

namespace {

struct Tolerance {
  double rtol;
  // The absolute term is atol_scale * max|expected| over the tensor: the rounding error of a
  // sum is set by the size of its terms, so an element that cancels to near zero (common in
  // gradients after BatchNorm, which subtracts the mean) can only be held to the tensor's scale.
  double atol_scale;
};

// float64 on both sides: only the order of accumulation differs (~1e-16 per operation).
// Through ~20 conv/BN layers forward and back the error grows by a few orders of magnitude
// at most; 1e-9 keeps a wide margin while any wrong formula (a missed term, a wrong stride,
// biased vs unbiased variance, a BN gradient term dropped) shows at 1e-3 or more.
constexpr Tolerance kFloat64{1e-9, 1e-9};

// float32 on both sides. Each layer's sums (up to ~4600 terms for a conv weight gradient:
// 8 images x 16x16 positions x ... ) are accumulated in different orders and blocks by our
// GEMM and PyTorch's, each rounding at 6e-8 relative; BatchNorm's backward subtracts two
// nearly equal means, which turns that into larger relative error on small elements, and
// ResNet stacks 20 such layers. 1e-4 relative plus 1e-4 of the tensor's largest magnitude
// covers that accumulation; a real error (a wrong term) is orders of magnitude larger, and
// the float64 variant of each case holds the formulas to 1e-9.
constexpr Tolerance kFloat32{1e-4, 1e-4};

Tolerance tolerance_for(DType dtype) { return dtype == DType::Float64 ? kFloat64 : kFloat32; }

GoldenFile load(const char* file_name) { return read_golden_file(std::string(SC_GOLDEN_DIR) + "/" + file_name); }

bool verbose() {
  const char* v = std::getenv("SC_GOLDEN_VERBOSE");
  return v != nullptr && std::strcmp(v, "0") != 0;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to(DType::Float64).contiguous().to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// Compares one tensor; returns the worst |actual - expected| / allowed over its elements.
double expect_close(const GoldenFile& g, const std::string& name, const Tensor& actual, Tolerance tol) {
  const Tensor& expected = g.get(name);
  const double atol = tol.atol_scale * max_abs(expected);
  const std::string report = compare_tensors(actual, expected, tol.rtol, atol);
  CHECK_MESSAGE(report.empty(), g.source, " ", name, ": ", report);
  if (!report.empty() || expected.dtype() == DType::Int64) return 0;
  const auto a = actual.to(DType::Float64).contiguous().to_vector<double>();
  const auto e = expected.to(DType::Float64).contiguous().to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - e[i]) / (atol + tol.rtol * std::abs(e[i])));
  return worst;
}

// The stored weights "<case>/weights/<name>" as a state dict, converted to `dtype`.
StateDict stored_state(const GoldenFile& g, const std::string& golden_case, DType dtype) {
  StateDict state;
  const std::string prefix = golden_case + "/weights/";
  for (const auto& [name, tensor] : g.tensors)
    if (name.rfind(prefix, 0) == 0)
      state.insert(name.substr(prefix.size()), is_floating(tensor.dtype()) ? tensor.to(dtype) : tensor);
  return state;
}

// A gradient stored as a sample (gen_golden_nn.py, add_gradient: ResNet-18's large tensors):
// every k-th value compared as expect_close compares a whole tensor, with the absolute term
// set by the whole tensor's largest magnitude; and the sum of all values, held to what the
// per-value tolerance allows over the tensor (n * atol + rtol * sum of magnitudes).
double expect_close_sampled(const GoldenFile& g, const std::string& step_case, const std::string& name,
                            const Tensor& actual, Tolerance tol) {
  const std::vector<double> stats = g.get(step_case + "/grad_stats/" + name).to_vector<double>();
  REQUIRE(stats.size() == 4);
  const int64_t stride = static_cast<int64_t>(stats[0]);
  const double absmax = stats[1], expected_sum = stats[2], abs_sum = stats[3];
  const std::vector<double> values = actual.to(DType::Float64).contiguous().to_vector<double>();
  std::vector<double> sample;
  for (size_t i = 0; i < values.size(); i += static_cast<size_t>(stride)) sample.push_back(values[i]);
  const Tensor& expected = g.get(step_case + "/grad_sample/" + name);
  REQUIRE(static_cast<int64_t>(sample.size()) == expected.numel());
  const double atol = tol.atol_scale * absmax;
  const std::string report = compare_tensors(from_vector(sample, {expected.numel()}).to(expected.dtype()), expected,
                                             tol.rtol, atol);
  CHECK_MESSAGE(report.empty(), g.source, " ", step_case, "/grad_sample/", name, ": ", report);
  double actual_sum = 0;
  for (double v : values) actual_sum += v;
  const double allowed = static_cast<double>(values.size()) * atol + tol.rtol * abs_sum;
  CHECK_MESSAGE(std::abs(actual_sum - expected_sum) <= allowed, g.source, " ", step_case, "/grad_stats/", name,
                ": sum ", actual_sum, ", expected ", expected_sum, " within ", allowed);
  const std::vector<double> e = expected.to(DType::Float64).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < e.size(); ++i)
    worst = std::max(worst, std::abs(sample[i] - e[i]) / (atol + tol.rtol * std::abs(e[i])));
  return worst;
}

// One training step of `model` against case `step_case` of the file (see the header comment).
void check_training_step(const GoldenFile& g, const std::string& step_case, Module& model, const Tensor& input,
                         const Tensor& r) {
  const DType dtype = input.dtype();
  const Tolerance tol = tolerance_for(dtype);
  model.train();
  model.zero_grad();
  Tensor out = model.forward(input);
  Tensor loss = sum(mul(out, r));
  loss.backward();

  double worst = expect_close(g, step_case + "/out", out, tol);
  worst = std::max(worst, expect_close(g, step_case + "/loss", loss.reshape({1}), tol));
  int64_t gradients = 0;
  for (const auto& name_parameter : model.named_parameters()) {
    const auto& name = name_parameter.first;
    const auto& parameter = name_parameter.second;
    CAPTURE(name);
    REQUIRE(parameter.grad().defined());
    if (g.has(step_case + "/grad/" + name))
      worst = std::max(worst, expect_close(g, step_case + "/grad/" + name, parameter.grad(), tol));
    else
      worst = std::max(worst, expect_close_sampled(g, step_case, name, parameter.grad(), tol));
    ++gradients;
  }
  // Every parameter PyTorch has a gradient for was compared: none is missing on our side.
  int64_t golden_gradients = 0;
  for (const auto& [name, tensor] : g.tensors)
    if (name.rfind(step_case + "/grad/", 0) == 0 || name.rfind(step_case + "/grad_sample/", 0) == 0)
      ++golden_gradients;
  CHECK(gradients == golden_gradients);
  for (const auto& [name, buffer] : model.named_buffers())
    worst = std::max(worst, expect_close(g, step_case + "/after/" + name, buffer, tol));
  if (verbose()) MESSAGE(step_case, ": worst error is ", worst, " of the tolerance");
}

// ---- ResNet weights from a formula (too many to store; see gen_golden_nn.py) ----------------

// splitmix64 of key = seed << 48 ^ (entry + 1) << 32 ^ index, as a double in [0, 1).
double formula_uniform(uint64_t seed, uint64_t entry, uint64_t index) {
  uint64_t z = ((seed << 48) ^ ((entry + 1) << 32) ^ index) + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z = z ^ (z >> 31);
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

// The same values as gen_golden_nn.py's formula_value, entry by entry in state_dict order.
// Every product below is exact or not followed by an addition, so the float64 results are
// bit-identical to numpy's.
StateDict formula_state(const Module& model, uint64_t seed, DType dtype) {
  StateDict state;
  uint64_t entry = 0;
  for (const auto& [name, tensor] : model.state_dict()) {
    const std::string kind = name.substr(name.rfind('.') + 1);
    if (kind == "num_batches_tracked") {
      state.insert(name, zeros({}, DType::Int64));
      ++entry;
      continue;
    }
    const int64_t count = tensor.numel();
    std::vector<double> values(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const double u = formula_uniform(seed, entry, static_cast<uint64_t>(i));
      const double centred = 2.0 * u - 1.0;
      double v;
      if (kind == "running_mean") v = 0.1 * centred;
      else if (kind == "running_var") v = 1.0 + 0.5 * u;
      else if (tensor.dim() == 1 && kind == "weight") v = 1.0 + 0.25 * centred;
      else if (kind == "bias") v = 0.1 * centred;
      else v = centred * (1.0 / std::sqrt(static_cast<double>(count / tensor.size(0))));
      values[static_cast<size_t>(i)] = v;
    }
    state.insert(name, from_vector(values, tensor.shape()).to(dtype));
    ++entry;
  }
  return state;
}

void check_resnet(const char* file_name, const std::string& golden_case, int64_t base, DType dtype) {
  const GoldenFile g = load(file_name);
  Generator gen(1);
  ResNet18 model(gen, 3, base);
  model.to(dtype);
  const uint64_t seed = static_cast<uint64_t>(g.get(golden_case + "/formula_seed").item());
  const StateDict state = formula_state(model, seed, DType::Float64);
  // The formula must rebuild PyTorch's weights: each entry's sum, to float64 rounding.
  for (const auto& name_tensor : state) {
    const auto& name = name_tensor.first;
    const auto& tensor = name_tensor.second;
    if (!is_floating(tensor.dtype())) continue;
    CAPTURE(name);
    const double expected = g.get(golden_case + "/weight_sum/" + name).item();
    REQUIRE(std::abs(sum(tensor).item() - expected) <= 1e-12 * (1.0 + std::abs(expected)));
  }
  StateDict typed;
  for (const auto& [name, tensor] : state) typed.insert(name, is_floating(tensor.dtype()) ? tensor.to(dtype) : tensor);
  model.load_state_dict(typed);
  check_training_step(g, golden_case, model, g.get(golden_case + "/input"), g.get(golden_case + "/R"));
}

}  // namespace

TEST_CASE("nn: ConvNet (w = 8, 1 channel) matches PyTorch for one training step, float64 and float32") {
  const GoldenFile g = load("nn_convnet.golden");
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const std::string step_case = dtype == DType::Float64 ? "convnet_f64" : "convnet_f32";
    CAPTURE(step_case);
    Generator gen(5);
    ConvNet model(gen, 8, 1);
    model.to(dtype);
    model.load_state_dict(stored_state(g, "convnet", dtype));
    check_training_step(g, step_case, model, g.get("convnet/input").to(dtype), g.get("convnet/R").to(dtype));
  }
}

TEST_CASE("nn: ProjectionHead (with BN; 3 layers without BN) matches PyTorch for one training step") {
  const GoldenFile g = load("nn_head.golden");
  struct Config {
    const char* name;
    ProjectionHeadOptions options;
  };
  for (const Config& config : {Config{"head_bn", {16, 32, 8, 2, true}}, Config{"head_nobn_3layers", {16, 24, 8, 3, false}}}) {
    CAPTURE(config.name);
    Generator gen(6);
    ProjectionHead head(config.options, gen);
    head.to(DType::Float64);
    head.load_state_dict(stored_state(g, config.name, DType::Float64));
    check_training_step(g, std::string(config.name) + "_f64", head, g.get(std::string(config.name) + "/input"),
                        g.get(std::string(config.name) + "/R"));
  }
}

TEST_CASE("nn: ResNet-18 (base 8, float64) matches PyTorch for one training step") {
  check_resnet("nn_resnet18_b8_f64.golden", "resnet18_b8_f64", 8, DType::Float64);
}

TEST_CASE("nn: ResNet-18 (base 16, float32) matches PyTorch for one training step") {
  check_resnet("nn_resnet18_b16_f32.golden", "resnet18_b16_f32", 16, DType::Float32);
}
