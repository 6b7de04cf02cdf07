// Registry cases for the elementwise ops: same shapes, broadcasting, non-contiguous inputs.
#include "tests/op_registry.h"

namespace sc::test {
namespace {

using Inputs = std::vector<Tensor>;

OpCase binary_case(const std::string& op, const std::string& name, Shape sa, Shape sb,
                   std::function<Tensor(const Tensor&, const Tensor&)> f, bool positive_b = false) {
  return {op, name,
          [sa, sb, positive_b](Generator& g, DType dt) {
            Tensor b = positive_b ? rand_t(g, sb, dt, 0.5, 2.0) : randn_t(g, sb, dt);
            return Inputs{randn_t(g, sa, dt), b};
          },
          [f](const Inputs& in) { return f(in[0], in[1]); },
          {0, 1}};
}

OpCase unary_case(const std::string& op, const std::string& name, Shape s, std::function<Tensor(const Tensor&)> f,
                  double low = -2.0, double high = 2.0) {
  return {op, name, [s, low, high](Generator& g, DType dt) { return Inputs{rand_t(g, s, dt, low, high)}; },
          [f](const Inputs& in) { return f(in[0]); }, {0}};
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  auto add_f = [](const Tensor& a, const Tensor& b) { return add(a, b); };
  auto sub_f = [](const Tensor& a, const Tensor& b) { return sub(a, b); };
  auto mul_f = [](const Tensor& a, const Tensor& b) { return mul(a, b); };
  auto div_f = [](const Tensor& a, const Tensor& b) { return div(a, b); };
  c.push_back(binary_case("add", "same shape [3,4]", {3, 4}, {3, 4}, add_f));
  c.push_back(binary_case("add", "broadcast [3,1] + [4]", {3, 1}, {4}, add_f));
  c.push_back(binary_case("add", "broadcast [2,3,4] + [3,1]", {2, 3, 4}, {3, 1}, add_f));
  c.push_back(binary_case("sub", "broadcast [4] - [3,4]", {4}, {3, 4}, sub_f));
  c.push_back(binary_case("mul", "broadcast [2,1,4] * [3,1]", {2, 1, 4}, {3, 1}, mul_f));
  c.push_back(binary_case("mul", "scalar-shaped [] * [5]", {}, {5}, mul_f));
  c.push_back(binary_case("div", "broadcast [3,4] / [4]", {3, 4}, {4}, div_f, true));
  // Non-contiguous: a transposed operand.
  c.push_back({"mul", "transposed [4,3]^T * [3,4]",
               [](Generator& g, DType dt) { return Inputs{randn_transposed(g, {3, 4}, dt), randn_t(g, {3, 4}, dt)}; },
               [](const Inputs& in) { return mul(in[0], in[1]); }, {0, 1}});
  // Non-contiguous: a sliced operand.
  c.push_back({"add", "narrowed [6,4][1:4] + [3,4]",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {6, 4}, dt), randn_t(g, {3, 4}, dt)}; },
               [](const Inputs& in) { return add(in[0].narrow(0, 1, 3), in[1]); }, {0, 1}});
  // Scalar forms.
  c.push_back({"add", "x + 2.5, 3 - x, x * -1.5, 2 / x",
               [](Generator& g, DType dt) { return Inputs{rand_t(g, {2, 3}, dt, 0.5, 2.0)}; },
               [](const Inputs& in) { return (in[0] + 2.5) * (3.0 - in[0]) * (in[0] * -1.5) + 2.0 / in[0]; }, {0}});

  c.push_back(unary_case("neg", "[3,4]", {3, 4}, [](const Tensor& x) { return neg(x); }));
  c.push_back(unary_case("exp", "[3,4]", {3, 4}, [](const Tensor& x) { return exp(x); }));
  c.push_back(unary_case("log", "[3,4] on (0.5, 3)", {3, 4}, [](const Tensor& x) { return log(x); }, 0.5, 3.0));
  c.push_back(unary_case("sqrt", "[3,4] on (0.5, 3)", {3, 4}, [](const Tensor& x) { return sqrt(x); }, 0.5, 3.0));
  c.push_back(unary_case("pow", "x^3 [3,4]", {3, 4}, [](const Tensor& x) { return pow(x, 3.0); }));
  c.push_back(unary_case("pow", "x^-0.5 [3,4] on (0.5, 3)", {3, 4}, [](const Tensor& x) { return pow(x, -0.5); }, 0.5, 3.0));
  // Kinks (abs, relu, clamp) are avoided by keeping inputs away from them: |x| in (0.1, 2).
  auto away_from_zero = [](Generator& g, DType dt) {
    Tensor m = rand_t(g, {4, 5}, dt, 0.1, 2.0);
    Tensor s = sub(mul(gt(randn_t(g, {4, 5}, dt), 0.0), 2.0), 1.0);  // random signs
    return Inputs{mul(m, s)};
  };
  c.push_back({"abs", "[4,5] away from 0", away_from_zero, [](const Inputs& in) { return abs(in[0]); }, {0}});
  c.push_back({"relu", "[4,5] away from 0", away_from_zero, [](const Inputs& in) { return relu(in[0]); }, {0}});
  c.push_back({"clamp", "[4,5] to [-0.05, 0.07] (bounds between inputs)", away_from_zero,
               [](const Inputs& in) { return clamp(in[0], -0.05, 0.07) + clamp_min(in[0], 0.05); }, {0}});
  c.push_back(unary_case("clamp", "[3,4] inside [-3, 3]", {3, 4}, [](const Tensor& x) { return clamp(x, -3.0, 3.0); }));
  return c;
}

RegisterOps reg(cases());

}  // namespace
}  // namespace sc::test
