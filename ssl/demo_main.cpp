// The smallest program on the engine (the `simclr_demo` target): a two-layer MLP learns
// to tell three Gaussian blobs apart, trained with plain SGD written out by hand. It uses
// core/ only (no nn/, no optimizer class), so every line of the training step is an engine
// op and this is also the shortest tour of the autograd: forward ops record Nodes,
// backward() walks them, grads land in .grad(). The SimCLR trainer is ssl/trainer.cpp,
// run by `simclr train` (ssl/cli_main.cpp); docs/DESIGN.md describes both.
// Usage: simclr_demo [steps]   (default 200)
#include <cstdio>
#include <cstdlib>

#include "core/ops.h"

using namespace sc;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
  Generator gen(42);
  const int64_t n = 600, dim = 8, hidden = 32, classes = 3;

  // Data: class k is a blob around a random centre.
  Tensor centres = mul(randn({classes, dim}, gen), 2.0);
  std::vector<int64_t> label_values(n);
  for (int64_t i = 0; i < n; ++i) label_values[i] = i % classes;
  Tensor labels = from_vector(label_values, {n});
  Tensor x = add(index_select(centres, 0, labels), randn({n, dim}, gen));

  // Parameters.
  Tensor w1 = mul(randn({dim, hidden}, gen), 0.3).requires_grad_();
  Tensor b1 = zeros({hidden}).requires_grad_();
  Tensor w2 = mul(randn({hidden, classes}, gen), 0.3).requires_grad_();
  Tensor b2 = zeros({classes}).requires_grad_();
  std::vector<Tensor> params = {w1, b1, w2, b2};
  const double lr = 0.1;

  for (int step = 0; step <= steps; ++step) {
    Tensor h = relu(add(matmul(x, w1), b1));
    Tensor logits = add(matmul(h, w2), b2);
    Tensor loss = cross_entropy(logits, labels);
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;  // the update itself is not part of the graph
      for (Tensor& p : params) p.copy_(sub(p, mul(p.grad(), lr)));
    }
    if (step % 20 == 0) {
      NoGradGuard no_grad;
      Tensor correct = eq(argmax(logits, 1).to(DType::Float32), labels.to(DType::Float32));
      std::printf("step %4d  loss %.4f  accuracy %.3f\n", step, loss.item(), mean(correct).item());
    }
  }
  return 0;
}
