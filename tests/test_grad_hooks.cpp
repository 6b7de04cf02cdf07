// Gradient-ready hooks (on_grad_ready, core/autograd.h): called once per backward pass, right
// after a leaf's gradient is final, and never for a leaf that got no gradient.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/ops.h"

using namespace sc;

namespace {

std::vector<double> values(const Tensor& t) { return t.contiguous().to_vector<double>(); }

}  // namespace

TEST_CASE("grad hooks: a leaf used three times fires once, with its final gradient") {
  // w is used deep in the graph (through exp) and twice next to the loss, so backward reaches
  // its AccumulateGrad from three edges at different depths.
  Tensor x = from_vector(std::vector<double>{0.5, -1.0, 2.0}, {3}).requires_grad_();
  Tensor w = from_vector(std::vector<double>{0.3, 0.7, -0.2}, {3}).requires_grad_();
  int calls = 0;
  std::vector<double> grad_when_called;
  GradReadyHandle handle = on_grad_ready(w, [&](const Tensor& leaf) {
    ++calls;
    CHECK(leaf.impl() == w.impl());
    grad_when_called = values(leaf.grad());
  });
  const Tensor h = exp(mul(x, w));
  const Tensor loss = add(sum(mul(h, w)), sum(mul(w, 3.0)));
  loss.backward();
  CHECK(calls == 1);
  // The gradient it saw is the whole one: d/dw [sum(exp(x w) w) + 3 sum(w)]
  //   = x exp(x w) w + exp(x w) + 3.
  const std::vector<double> final_grad = values(w.grad());
  CHECK(grad_when_called == final_grad);
  const std::vector<double> xv = values(x), wv = values(w);
  for (size_t i = 0; i < 3; ++i) {
    const double e = std::exp(xv[i] * wv[i]);
    CHECK(final_grad[i] == doctest::Approx(xv[i] * e * wv[i] + e + 3.0).epsilon(1e-12));
  }
}

TEST_CASE("grad hooks: no call for a leaf the pass gives no gradient") {
  Tensor used = ones({2}, DType::Float64).requires_grad_();
  Tensor unreached = ones({2}, DType::Float64).requires_grad_();
  Tensor blocked = ones({2}, DType::Float64).requires_grad_();
  // An op whose backward gives its second input no gradient: `blocked` is reached, but gets none.
  Tensor both = add(used, blocked);
  record("test_first_only", both, {used, blocked}, [](const Tensor& g) { return std::vector<Tensor>{g, Tensor()}; });
  int used_calls = 0, other_calls = 0;
  GradReadyHandle a = on_grad_ready(used, [&](const Tensor&) { ++used_calls; });
  GradReadyHandle b = on_grad_ready(unreached, [&](const Tensor&) { ++other_calls; });
  GradReadyHandle c = on_grad_ready(blocked, [&](const Tensor&) { ++other_calls; });
  sum(both).backward();
  CHECK(used_calls == 1);
  CHECK(other_calls == 0);
  CHECK(!unreached.grad().defined());
  CHECK(!blocked.grad().defined());
}

TEST_CASE("grad hooks: once per pass, the leaf nearest the loss first") {
  Tensor x = from_vector(std::vector<double>{1.0, 2.0}, {2});
  Tensor first_layer = ones({2}, DType::Float64).requires_grad_();
  Tensor second_layer = ones({2}, DType::Float64).requires_grad_();
  std::vector<std::string> order;
  GradReadyHandle a = on_grad_ready(first_layer, [&](const Tensor&) { order.push_back("first"); });
  GradReadyHandle b = on_grad_ready(second_layer, [&](const Tensor&) { order.push_back("second"); });
  const Tensor loss = sum(mul(mul(x, first_layer), second_layer));
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  // Backward finishes the last layer's gradient first: why the gradient reducer buckets the
  // parameters in reverse order (ssl/distributed.h).
  CHECK(order == std::vector<std::string>{"second", "first", "second", "first"});
  // Two passes accumulated: each hook saw its pass's final value; the sum is 2x one pass.
  CHECK(values(first_layer.grad()) == std::vector<double>{2.0, 4.0});
}

TEST_CASE("grad hooks: the handle removes its hook; moved handles keep it; several hooks all run") {
  Tensor w = ones({1}, DType::Float64).requires_grad_();
  int kept = 0, removed = 0, moved = 0;
  GradReadyHandle keep = on_grad_ready(w, [&](const Tensor&) { ++kept; });
  {
    GradReadyHandle gone = on_grad_ready(w, [&](const Tensor&) { ++removed; });
  }
  GradReadyHandle target;
  {
    GradReadyHandle source = on_grad_ready(w, [&](const Tensor&) { ++moved; });
    target = std::move(source);
  }
  sum(w).backward();
  CHECK(kept == 1);
  CHECK(removed == 0);
  CHECK(moved == 1);
  target.remove();
  sum(w).backward();
  CHECK(kept == 2);
  CHECK(moved == 1);
  // A handle that outlives its leaf has nothing to remove, and says nothing.
  GradReadyHandle orphan;
  {
    Tensor temporary = ones({1}).requires_grad_();
    orphan = on_grad_ready(temporary, [](const Tensor&) {});
  }
  orphan.remove();
}

TEST_CASE("grad hooks: refused on what accumulates no gradient; a hook's error ends backward") {
  Tensor plain = ones({2});
  CHECK_THROWS_WITH_AS((void)on_grad_ready(plain, [](const Tensor&) {}),
                       doctest::Contains("is not a leaf that requires grad"), Error);
  Tensor w = ones({2}).requires_grad_();
  const Tensor computed = mul(w, 2.0);
  CHECK_THROWS_WITH_AS((void)on_grad_ready(computed, [](const Tensor&) {}),
                       doctest::Contains("is not a leaf that requires grad"), Error);
  CHECK_THROWS_WITH_AS((void)on_grad_ready(Tensor(), [](const Tensor&) {}), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS((void)on_grad_ready(w, GradReadyHook()), doctest::Contains("the hook is empty"), Error);
  GradReadyHandle failing = on_grad_ready(w, [](const Tensor&) { throw Error("the hook failed"); });
  CHECK_THROWS_WITH_AS(sum(computed).backward(), doctest::Contains("the hook failed"), Error);
}
