// Autograd engine behaviour: accumulation, retain_graph, NoGradGuard, detach,
// deep graphs, and the version counter that catches in-place writes.
#include <doctest/doctest.h>

#include <cmath>

#include "core/ops.h"

using namespace sc;

TEST_CASE("autograd: gradients of a small expression") {
  Tensor x = from_vector(std::vector<double>{1.0, 2.0, 3.0}, {3}).requires_grad_();
  Tensor y = sum(mul(x, x));  // dy/dx = 2x
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2.0, 4.0, 6.0});
}

TEST_CASE("autograd: gradients accumulate until zero_grad") {
  Tensor x = from_vector(std::vector<double>{1.0, -1.0}, {2}).requires_grad_();
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6.0, 6.0});
  x.zero_grad();
  CHECK(!x.grad().defined());
  sum(x).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1.0, 1.0});
}

TEST_CASE("autograd: a tensor used twice gets both contributions") {
  Tensor x = from_vector(std::vector<double>{2.0}, {1}).requires_grad_();
  Tensor a = mul(x, 3.0);
  Tensor y = sum(add(mul(a, x), a));  // y = 3x^2 + 3x, dy/dx = 6x + 3
  y.backward();
  CHECK(x.grad().item() == 15.0);
}

TEST_CASE("autograd: explicit gradient for a non-scalar output") {
  Tensor x = from_vector(std::vector<double>{1.0, 2.0}, {2}).requires_grad_();
  Tensor y = mul(x, x);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("one-element"), Error);
  y.backward(from_vector(std::vector<double>{1.0, 10.0}, {2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2.0, 40.0});
  CHECK_THROWS_WITH_AS(mul(x, x).backward(zeros({3}, DType::Float64)), doctest::Contains("does not match"), Error);
}

TEST_CASE("autograd: the graph is freed after backward unless retained") {
  Tensor x = from_vector(std::vector<double>{1.0}, {1}).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(2.0 * std::exp(1.0)));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("second time"), Error);
}

TEST_CASE("autograd: NoGradGuard and detach stop recording") {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = mul(x, 2.0);
    CHECK(!y.requires_grad());
  }
  CHECK(mul(x, 2.0).requires_grad());
  Tensor d = mul(x, 2.0).detach();
  CHECK(!d.requires_grad());
  CHECK_THROWS_WITH_AS(sum(d).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("autograd: a 10,000-op chain backpropagates and frees without recursion") {
  Tensor x = from_vector(std::vector<double>{1.0}, {1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = add(y, 1e-4);
  sum(mul(y, y)).backward();  // d/dx (x + 1)^2 = 2 (x + 1) = 4
  CHECK(x.grad().item() == doctest::Approx(4.0));
  // A longer chain, just freed: must not blow the stack.
  Tensor z = x;
  for (int i = 0; i < 100000; ++i) z = neg(z);
  z = Tensor();
}

TEST_CASE("autograd: an in-place write to a saved tensor fails at backward") {
  Tensor x = from_vector(std::vector<double>{1.0, 2.0}, {2}).requires_grad_();
  Tensor a = mul(x, 1.0);
  Tensor y = sum(mul(a, a));  // saves a
  a.detach().fill_(5.0);  // a detached handle shares the storage and its version
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("modified by an in-place operation"), Error);
  // Writing to a tensor that backward does not need is fine.
  Tensor b = mul(x, 1.0);
  Tensor z = sum(add(b, 1.0));
  b.detach().fill_(5.0);
  x.zero_grad();
  z.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1.0, 1.0});
}

TEST_CASE("autograd: gradients flow through views into the base") {
  Tensor x = arange(6, DType::Float64).reshape({2, 3}).detach().requires_grad_();
  Tensor y = sum(mul(x.t().narrow(0, 1, 2), 2.0));
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 2, 2, 0, 2, 2});
}

TEST_CASE("autograd: in-place writes into graph tensors are refused while recording") {
  Tensor w = ones({3}, DType::Float64).requires_grad_();
  CHECK_THROWS_WITH_AS(w.fill_(2.0), doctest::Contains("requires grad"), Error);
  CHECK_THROWS_WITH_AS(w.narrow(0, 0, 1).fill_(1.0), doctest::Contains("requires grad"), Error);
  Tensor y = mul(w, 2.0);
  CHECK_THROWS_WITH_AS(y.copy_(zeros({3}, DType::Float64)), doctest::Contains("requires grad"), Error);
  Tensor plain = zeros({3}, DType::Float64);
  CHECK_THROWS_WITH_AS(plain.copy_(y), doctest::Contains("not differentiable"), Error);
  {
    NoGradGuard ng;  // how an optimizer updates a parameter
    w.copy_(mul(w, 0.5));
  }
  CHECK(w.to_vector<double>() == std::vector<double>{0.5, 0.5, 0.5});
  plain.copy_(y.detach());
  CHECK(plain.to_vector<double>() == std::vector<double>{2.0, 2.0, 2.0});
}

TEST_CASE("autograd: pow with exponent 0 has a zero gradient, also at 0") {
  Tensor x = from_vector(std::vector<double>{0.0, 2.0}, {2}).requires_grad_();
  sum(pow(x, 0.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.0, 0.0});
}

TEST_CASE("autograd: set_grad stores a plain contiguous copy") {
  Tensor w = zeros({3}).requires_grad_();
  w.set_grad(ones({1}).expand({3}));
  sum(w).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{2, 2, 2});
  CHECK(!w.grad().requires_grad());
}
