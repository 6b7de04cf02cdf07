// Registry cases for views (whose backward reshuffles the gradient) and reductions.
#include "tests/op_registry.h"

namespace sc::test {
namespace {

using Inputs = std::vector<Tensor>;

OpCase one_input(const std::string& op, const std::string& name, Shape s, std::function<Tensor(const Tensor&)> f) {
  // Views are multiplied by a fixed-shape tensor so the gradient is not all ones.
  return {op, name, [s](Generator& g, DType dt) { return Inputs{randn_t(g, s, dt)}; },
          [f](const Inputs& in) { return f(in[0]); }, {0}};
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  c.push_back(one_input("reshape", "[2,3,4] -> [4,-1]", {2, 3, 4}, [](const Tensor& x) { return x.reshape({4, -1}); }));
  c.push_back(one_input("reshape", "transposed [3,4]^T -> [12] (copies)", {3, 4},
                        [](const Tensor& x) { return x.t().reshape({12}); }));
  c.push_back(one_input("transpose", "[2,3,4] dims 0,2", {2, 3, 4}, [](const Tensor& x) { return transpose(x, 0, 2); }));
  c.push_back(one_input("permute", "[2,3,4] -> (1,2,0)", {2, 3, 4}, [](const Tensor& x) { return permute(x, {1, 2, 0}); }));
  c.push_back(one_input("narrow", "[5,4] rows 1..3", {5, 4}, [](const Tensor& x) { return narrow(x, 0, 1, 3); }));
  c.push_back(one_input("narrow", "[3,6] cols -4..-1", {3, 6}, [](const Tensor& x) { return narrow(x, 1, -4, 3); }));
  c.push_back(one_input("expand", "[3,1] -> [2,3,4]", {3, 1}, [](const Tensor& x) { return expand(x, {2, 3, 4}); }));
  c.push_back(one_input("squeeze", "[3,1,4] dim 1", {3, 1, 4}, [](const Tensor& x) { return squeeze(x, 1); }));
  c.push_back(one_input("unsqueeze", "[3,4] dim -1", {3, 4}, [](const Tensor& x) { return unsqueeze(x, -1); }));

  c.push_back(one_input("sum", "all of [3,4]", {3, 4}, [](const Tensor& x) { return sum(x); }));
  c.push_back(one_input("sum", "[2,3,4] dims {0,2}", {2, 3, 4}, [](const Tensor& x) { return sum(x, {0, 2}); }));
  c.push_back(one_input("sum", "[2,3,4] dim -1 keepdim", {2, 3, 4}, [](const Tensor& x) { return sum(x, {-1}, true); }));
  c.push_back(one_input("sum", "transposed [3,4]^T dim 0", {3, 4}, [](const Tensor& x) { return sum(x.t(), {0}); }));
  c.push_back(one_input("mean", "[2,3,4] dim 1", {2, 3, 4}, [](const Tensor& x) { return mean(x, {1}); }));
  c.push_back(one_input("mean", "all of [5]", {5}, [](const Tensor& x) { return mean(x); }));
  c.push_back(one_input("max", "[3,5] dim 1", {3, 5}, [](const Tensor& x) { return max(x, 1).values; }));
  c.push_back(one_input("max", "[3,4,2] dim 0 keepdim", {3, 4, 2}, [](const Tensor& x) { return max(x, 0, true).values; }));
  c.push_back(one_input("max", "all of [4,3]", {4, 3}, [](const Tensor& x) { return max(x); }));
  c.push_back(one_input("var", "all of [10]", {10}, [](const Tensor& x) { return var(x); }));
  c.push_back(one_input("var", "[3,4,5] dims {0,2}, biased, keepdim", {3, 4, 5},
                        [](const Tensor& x) { return var(x, {0, 2}, 0, true); }));
  return c;
}

RegisterOps reg(cases());

}  // namespace
}  // namespace sc::test
