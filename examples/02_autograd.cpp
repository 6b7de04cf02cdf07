// Example 2: a gradient three ways: by hand with the chain rule, by the engine's backward(),
// and by finite differences. All three must agree; the program fails when they do not.
//
// The model is one layer and a squared error:  h = x W + b,  y = relu(h),  L = mean((y - t)^2).
// The chain rule, written out backwards from L:
//   dL/dy = 2 (y - t) / n          (n = the number of elements of y)
//   dL/dh = dL/dy * [h > 0]        (relu passes the gradient where it was positive)
//   dL/dW = x^T dL/dh,   dL/db = dL/dh summed over the rows (b was broadcast to every row)
// backward() does exactly this: each op recorded a Node holding its piece of the chain rule,
// and run_backward calls them from L back to W and b. Finite differences need no calculus at
// all, (L(W + e) - L(W - e)) / 2e, one element at a time: slow, but an independent check, which
// is how every op's backward in this project is tested (tests/op_registry.cpp).
//
//   example_02_autograd
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <vector>

#include "core/ops.h"

using namespace sc;

// The largest |a - b| over all elements.
double max_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b)).item(); }

// The graph backward() will walk, from the loss down: each Node and the Nodes it sends gradients to.
void print_graph(const std::shared_ptr<Node>& node, int depth) {
  std::printf("%*s%s\n", 2 * depth, "", node->name().c_str());
  for (const auto& next : node->next)
    if (next) print_graph(next, depth + 1);
}

int main() {
  // float64: finite differences subtract two nearly equal losses; float32 would drown them in rounding.
  Generator gen(7);
  const Tensor x = randn({5, 3}, gen, DType::Float64);
  const Tensor t = randn({5, 2}, gen, DType::Float64);
  Tensor W = randn({3, 2}, gen, DType::Float64).requires_grad_();
  Tensor b = randn({2}, gen, DType::Float64).requires_grad_();

  auto loss_of = [&](const Tensor& w, const Tensor& bias) { return mean(pow(relu(matmul(x, w) + bias) - t, 2.0)); };

  // 1. The engine.
  const Tensor loss = loss_of(W, b);
  std::printf("L = %.6f; the graph behind it:\n", loss.item());
  print_graph(loss.grad_fn(), 1);
  loss.backward();

  // 2. By hand, with the same ops but no graph (NoGradGuard): the chain rule above, line by line.
  Tensor dW, db;
  {
    NoGradGuard no_grad;
    const Tensor h = matmul(x, W) + b;
    const Tensor y = relu(h);
    const Tensor dy = (y - t) * (2.0 / static_cast<double>(y.numel()));
    const Tensor dh = dy * gt(h, 0.0);
    dW = matmul(x.t(), dh);
    db = sum(dh, {0});
  }

  // 3. Finite differences, one element at a time.
  auto numeric = [&](const Tensor& p, const std::function<double(const Tensor&)>& loss_with) {
    NoGradGuard no_grad;
    const double eps = 1e-6;
    Tensor grad = zeros(p.shape(), DType::Float64);
    for (int64_t i = 0; i < p.numel(); ++i) {
      Tensor plus = p.detach().clone(), minus = p.detach().clone();
      plus.data<double>()[i] += eps;
      minus.data<double>()[i] -= eps;
      grad.data<double>()[i] = (loss_with(plus) - loss_with(minus)) / (2 * eps);
    }
    return grad;
  };
  const Tensor dW_numeric = numeric(W, [&](const Tensor& w) { return loss_of(w, b).item(); });
  const Tensor db_numeric = numeric(b, [&](const Tensor& bias) { return loss_of(W, bias).item(); });

  std::printf("\n              by hand vs engine   finite differences vs engine\n");
  std::printf("dL/dW [3, 2]  %-18.2e  %.2e\n", max_diff(dW, W.grad()), max_diff(dW_numeric, W.grad()));
  std::printf("dL/db [2]     %-18.2e  %.2e\n", max_diff(db, b.grad()), max_diff(db_numeric, b.grad()));
  std::printf("\nengine's dL/dW:\n");
  std::cout << W.grad() << "\n";

  // The same formulas give the same numbers up to rounding; finite differences are off by
  // about eps^2 times the third derivative, plus rounding of order 1e-16 / eps.
  const bool ok = max_diff(dW, W.grad()) < 1e-12 && max_diff(db, b.grad()) < 1e-12 &&
                  max_diff(dW_numeric, W.grad()) < 1e-6 && max_diff(db_numeric, b.grad()) < 1e-6;
  std::printf("%s\n", ok ? "all three agree" : "MISMATCH");
  return ok ? 0 : 1;
}
