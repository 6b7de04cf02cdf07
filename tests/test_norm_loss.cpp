// batch_norm, softmax/log_softmax, cross_entropy, normalize and nt_xent: values worked out
// by hand or by an independent plain-loop reference, and every bad input class.
// (Gradients are checked by the registry, tests/cases_norm_loss.cpp; PyTorch golden values
// live elsewhere.)
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

// NT-Xent written out with plain loops in double, independently of the kernels.
double nt_xent_reference(const std::vector<double>& z, int64_t rows, int64_t d, double temperature) {
  std::vector<double> zn(z);
  for (int64_t i = 0; i < rows; ++i) {
    double norm = 0;
    for (int64_t j = 0; j < d; ++j) norm += z[i * d + j] * z[i * d + j];
    norm = std::max(std::sqrt(norm), 1e-12);
    for (int64_t j = 0; j < d; ++j) zn[i * d + j] = z[i * d + j] / norm;
  }
  auto sim = [&](int64_t a, int64_t b) {
    double dot = 0;
    for (int64_t j = 0; j < d; ++j) dot += zn[a * d + j] * zn[b * d + j];
    return dot / temperature;
  };
  const int64_t n = rows / 2;
  double total = 0;
  for (int64_t i = 0; i < rows; ++i) {
    double denominator = 0;
    for (int64_t k = 0; k < rows; ++k)
      if (k != i) denominator += std::exp(sim(i, k));
    const int64_t positive = i < n ? i + n : i - n;
    total += -std::log(std::exp(sim(i, positive)) / denominator);
  }
  return total / static_cast<double>(rows);
}

std::vector<double> random_values(Generator& gen, int64_t count) {
  return randn({count}, gen, DType::Float64).to_vector<double>();
}

}  // namespace

// ---- nt_xent ---------------------------------------------------------------------------

TEST_CASE("nt_xent: identical embeddings give exactly log(2N - 1)") {
  // Every similarity is the same, so each row's softmax over its 2N - 1 others is uniform.
  for (int64_t rows : {2, 4, 8, 16}) {
    for (double temperature : {0.1, 0.5, 1.0}) {
      CAPTURE(rows);
      CAPTURE(temperature);
      std::vector<double> values;
      for (int64_t i = 0; i < rows; ++i)
        for (double v : {0.3, -1.2, 2.0, 0.7}) values.push_back(v);
      Tensor z64 = from_vector(values, {rows, 4});
      const double expected = std::log(static_cast<double>(rows - 1));
      CHECK(std::abs(nt_xent(z64, temperature).item() - expected) <= 1e-6);
      CHECK(std::abs(nt_xent(z64.to(DType::Float32), temperature).item() - expected) <= 1e-5);
    }
  }
}

TEST_CASE("nt_xent: matches a plain-loop reference") {
  Generator gen(7);
  for (int64_t rows : {2, 6, 8, 32}) {
    for (int64_t d : {1, 3, 16}) {
      for (double temperature : {0.07, 0.5, 2.0}) {
        CAPTURE(rows);
        CAPTURE(d);
        CAPTURE(temperature);
        std::vector<double> values = random_values(gen, rows * d);
        const double expected = nt_xent_reference(values, rows, d, temperature);
        Tensor z = from_vector(values, {rows, d});
        CHECK(std::abs(nt_xent(z, temperature).item() - expected) <= 1e-9 * std::max(1.0, expected));
        // Float32: similarities of magnitude 1/t carry ~1e-7 relative rounding each.
        CHECK(std::abs(nt_xent(z.to(DType::Float32), temperature).item() - expected) <= 1e-4);
      }
    }
  }
}

TEST_CASE("nt_xent: a non-contiguous z gives the same loss as its contiguous copy") {
  Generator gen(11);
  Tensor zt = randn({5, 8}, gen, DType::Float64).t();  // [8, 5], strided
  CHECK(!zt.is_contiguous());
  CHECK(nt_xent(zt, 0.2).item() == doctest::Approx(nt_xent(zt.contiguous(), 0.2).item()).epsilon(1e-12));
}

TEST_CASE("nt_xent: swapping the two view halves leaves the loss unchanged") {
  Generator gen(3);
  const int64_t n = 5, d = 4;
  std::vector<double> values = random_values(gen, 2 * n * d);
  // Rows N..2N-1 first, then rows 0..N-1: every pair is still (i, i + N).
  std::vector<double> swapped(values.begin() + n * d, values.end());
  swapped.insert(swapped.end(), values.begin(), values.begin() + n * d);
  const double a = nt_xent(from_vector(values, {2 * n, d}), 0.3).item();
  const double b = nt_xent(from_vector(swapped, {2 * n, d}), 0.3).item();
  CHECK(a == doctest::Approx(b).epsilon(1e-12));
}

TEST_CASE("nt_xent: two rows have no negatives, so the loss and its gradient are zero") {
  Generator gen(5);
  Tensor z = randn({2, 3}, gen, DType::Float64).requires_grad_();
  Tensor loss = nt_xent(z, 0.5);
  CHECK(std::abs(loss.item()) <= 1e-12);
  loss.backward();
  for (double g : z.grad().to_vector<double>()) CHECK(std::abs(g) <= 1e-12);
}

TEST_CASE("nt_xent: the gradient of a scaled row is orthogonal to it (normalize's invariance)") {
  // The loss depends only on the directions of the rows, so d loss / d z_i . z_i = 0.
  Generator gen(9);
  const int64_t rows = 6, d = 4;
  Tensor z = randn({rows, d}, gen, DType::Float64).requires_grad_();
  nt_xent(z, 0.1).backward();
  std::vector<double> zv = z.to_vector<double>(), gv = z.grad().to_vector<double>();
  for (int64_t i = 0; i < rows; ++i) {
    double dot = 0, grad_norm = 0;
    for (int64_t j = 0; j < d; ++j) {
      dot += zv[i * d + j] * gv[i * d + j];
      grad_norm += gv[i * d + j] * gv[i * d + j];
    }
    CHECK(grad_norm > 1e-6);  // the gradient is not trivially zero
    CHECK(std::abs(dot) <= 1e-12);
  }
}

TEST_CASE("nt_xent: bad inputs") {
  Tensor z = zeros({4, 3});
  CHECK(contains(message_of([&] { nt_xent(zeros({5, 3}), 0.5); }), "even number of rows"));
  CHECK(contains(message_of([&] { nt_xent(zeros({5, 3}), 0.5); }), "[5, 3]"));
  CHECK(contains(message_of([&] { nt_xent(zeros({0, 3}), 0.5); }), "2N >= 2"));
  CHECK(contains(message_of([&] { nt_xent(empty({4, 0}), 0.5); }), "no features"));
  CHECK(contains(message_of([&] { nt_xent(zeros({12}), 0.5); }), "[2N, d]"));
  CHECK(contains(message_of([&] { nt_xent(zeros({2, 2, 3}), 0.5); }), "[2N, d]"));
  CHECK(contains(message_of([&] { nt_xent(z, 0.0); }), "temperature must be finite and > 0"));
  CHECK(contains(message_of([&] { nt_xent(z, -0.5); }), "temperature"));
  CHECK(contains(message_of([&] { nt_xent(z, INFINITY); }), "temperature"));
  CHECK(contains(message_of([&] { nt_xent(z, NAN); }), "temperature"));
  CHECK(contains(message_of([&] { nt_xent(zeros({4, 3}, DType::Int64), 0.5); }), "nt_xent: expected a float32 or float64"));
  CHECK(contains(message_of([&] { nt_xent(Tensor(), 0.5); }), "nt_xent: the embeddings is an undefined tensor"));
}

// ---- batch_norm ---------------------------------------------------------------------------

TEST_CASE("batch_norm: one training step updates the running statistics by hand-computed values") {
  // Channel 0: 1, 2, 3, 4  -> mean 2.5, biased var 1.25, unbiased var 5/3.
  // Channel 1: 2, 4, 6, 8  -> mean 5,   biased var 5,    unbiased var 20/3.
  Tensor x = from_vector(std::vector<double>{1, 2, 2, 4, 3, 6, 4, 8}, {4, 2});
  Tensor running_mean = zeros({2}, DType::Float64);
  Tensor running_var = ones({2}, DType::Float64);
  const uint64_t version_before = running_mean.version();
  Tensor y = batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, 0.1, 1e-5);

  std::vector<double> rm = running_mean.to_vector<double>(), rv = running_var.to_vector<double>();
  CHECK(rm[0] == doctest::Approx(0.1 * 2.5).epsilon(1e-14));
  CHECK(rm[1] == doctest::Approx(0.1 * 5.0).epsilon(1e-14));
  CHECK(rv[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-14));
  CHECK(rv[1] == doctest::Approx(0.9 + 0.1 * 20.0 / 3.0).epsilon(1e-14));
  CHECK(running_mean.version() > version_before);  // a graph that saved it would notice

  // The batch is normalised with the biased variance.
  std::vector<double> yv = y.to_vector<double>();
  CHECK(yv[0] == doctest::Approx((1 - 2.5) / std::sqrt(1.25 + 1e-5)).epsilon(1e-14));
  CHECK(yv[7] == doctest::Approx((8 - 5.0) / std::sqrt(5.0 + 1e-5)).epsilon(1e-14));

  SUBCASE("evaluation then uses the running statistics and leaves them alone") {
    Tensor weight = from_vector(std::vector<double>{2.0, 0.5}, {2});
    Tensor bias = from_vector(std::vector<double>{1.0, -1.0}, {2});
    Tensor e = batch_norm(x, weight, bias, running_mean, running_var, false, 0.1, 1e-5);
    std::vector<double> ev = e.to_vector<double>();
    CHECK(ev[0] == doctest::Approx(2.0 * (1 - rm[0]) / std::sqrt(rv[0] + 1e-5) + 1.0).epsilon(1e-14));
    CHECK(ev[7] == doctest::Approx(0.5 * (8 - rm[1]) / std::sqrt(rv[1] + 1e-5) - 1.0).epsilon(1e-14));
    CHECK(running_mean.to_vector<double>() == rm);
    CHECK(running_var.to_vector<double>() == rv);
  }
}

TEST_CASE("batch_norm: 4-D input, float32, strided running statistics") {
  // x [2, 2, 1, 2]: channel 0 holds 1, 3, 5, 7 (mean 4, unbiased var 20/3), channel 1 holds 0 four times.
  Tensor x = from_vector(std::vector<float>{1, 3, 0, 0, 5, 7, 0, 0}, {2, 2, 1, 2});
  // Running stats as columns of a [2, 2] buffer: stride 2, so the op must write back through copy_.
  Tensor buffer = from_vector(std::vector<float>{0, 1, 0, 1}, {2, 2});
  Tensor running_mean = buffer.narrow(1, 0, 1).squeeze(1), running_var = buffer.narrow(1, 1, 1).squeeze(1);
  CHECK(!running_mean.is_contiguous());
  Tensor y = batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, 0.5, 1e-5);
  std::vector<float> b = buffer.to_vector<float>();
  CHECK(b[0] == doctest::Approx(0.5 * 4.0));                // running_mean[0]
  CHECK(b[1] == doctest::Approx(0.5 + 0.5 * 20.0 / 3.0));  // running_var[0]
  CHECK(b[2] == doctest::Approx(0.0));                      // running_mean[1]
  CHECK(b[3] == doctest::Approx(0.5));                      // running_var[1]: a constant channel
  // A constant channel normalises to 0 (eps keeps the division finite).
  std::vector<float> yv = y.to_vector<float>();
  CHECK(yv[2] == 0.0f);
  CHECK(yv[0] == doctest::Approx(-3.0 / std::sqrt(5.0 + 1e-5)));
}

TEST_CASE("batch_norm: a graph that saved a running statistic notices the in-place update") {
  Tensor running_mean = zeros({2}, DType::Float64), running_var = ones({2}, DType::Float64);
  Tensor w = from_vector(std::vector<double>{1.0, 2.0}, {2}).requires_grad_();
  Tensor uses_running_mean = sum(mul(w, running_mean));  // saves running_mean for mul's backward
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true);
  CHECK(contains(message_of([&] { uses_running_mean.backward(); }), "modified by an in-place operation"));
}

TEST_CASE("batch_norm: training without running statistics uses the batch statistics") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4}, {4, 1});
  std::vector<double> y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true).to_vector<double>();
  const double s = std::sqrt(1.25 + 1e-5);
  CHECK(y[0] == doctest::Approx(-1.5 / s).epsilon(1e-14));
  CHECK(y[3] == doctest::Approx(1.5 / s).epsilon(1e-14));
}

TEST_CASE("batch_norm: bad inputs") {
  Tensor x = zeros({4, 3});
  Tensor c3 = zeros({3}), rv = ones({3});
  CHECK(contains(message_of([&] { batch_norm(zeros({4, 3, 2}), c3, c3, c3, rv, true); }), "[N, C] or [N, C, H, W]"));
  CHECK(contains(message_of([&] { batch_norm(zeros({4}), c3, c3, c3, rv, true); }), "float32[4]"));
  CHECK(contains(message_of([&] { batch_norm(x, zeros({4}), c3, c3, rv, true); }), "weight must be [3]"));
  CHECK(contains(message_of([&] { batch_norm(x, c3, zeros({3, 1}), c3, rv, true); }), "bias must be [3]"));
  CHECK(contains(message_of([&] { batch_norm(x, c3, c3, zeros({2}), rv, true); }), "running_mean must be [3]"));
  CHECK(contains(message_of([&] { batch_norm(x, zeros({3}, DType::Float64), c3, c3, rv, true); }),
                 "must have the dtype and device of the input"));
  CHECK(contains(message_of([&] { batch_norm(x, c3, c3, Tensor(), Tensor(), false); }), "evaluation mode"));
  CHECK(contains(message_of([&] { batch_norm(x, c3, c3, c3, Tensor(), true); }), "given together"));
  CHECK(contains(message_of([&] { batch_norm(zeros({1, 3}), c3, c3, c3, rv, true); }),
                 "more than one value per channel"));
  CHECK(contains(message_of([&] { batch_norm(zeros({1, 3, 1, 1}), c3, c3, c3, rv, true); }),
                 "more than one value per channel"));
  // One sample is fine in evaluation mode and with H * W > 1 in training.
  CHECK_NOTHROW(batch_norm(zeros({1, 3}), c3, c3, c3, rv, false));
  CHECK_NOTHROW(batch_norm(zeros({1, 3, 2, 1}), c3, c3, c3, ones({3}), true));
  CHECK(contains(message_of([&] { batch_norm(zeros({4, 3}, DType::Int64), c3, c3, c3, rv, true); }),
                 "batch_norm: expected a float32 or float64"));
  CHECK(contains(message_of([&] { batch_norm(x, c3, c3, c3, rv, true, 0.1, -1.0); }), "eps"));
  CHECK(contains(message_of([&] { batch_norm(x, c3, c3, c3, rv, true, NAN); }), "momentum"));
  CHECK(contains(message_of([&] { batch_norm(Tensor(), c3, c3, c3, rv, true); }), "undefined"));
  // Running statistics are written in place: a broadcast view cannot hold them.
  CHECK(contains(message_of([&] { batch_norm(x, c3, c3, zeros({1}).expand({3}), rv, true); }),
                 "batch_norm: running_mean float32[3] on cpu is an expanded view"));
}

// ---- softmax / log_softmax ------------------------------------------------------------------

TEST_CASE("softmax: every slice sums to 1, along any dim") {
  Generator gen(1);
  Tensor x = mul(randn({3, 4, 5}, gen, DType::Float64), 3.0);
  for (int64_t dim : {0, 1, 2, -1}) {
    CAPTURE(dim);
    Tensor totals = sum(softmax(x, dim), {dim});
    for (double t : totals.to_vector<double>()) CHECK(t == doctest::Approx(1.0).epsilon(1e-14));
    // log_softmax is the log of softmax.
    Tensor diff = abs(sub(exp(log_softmax(x, dim)), softmax(x, dim)));
    CHECK(max(diff).item() <= 1e-15);
  }
}

TEST_CASE("softmax: large inputs are stable (the max is subtracted first)") {
  for (DType dt : {DType::Float32, DType::Float64}) {
    CAPTURE(dt);
    Tensor x = from_vector(std::vector<double>{1000, 1001, -1000, -1001}, {2, 2}).to(dt);
    std::vector<double> p = softmax(x, 1).to(DType::Float64).to_vector<double>();
    const double e = std::exp(1.0);
    CHECK(p[0] == doctest::Approx(1.0 / (1.0 + e)).epsilon(1e-6));
    CHECK(p[1] == doctest::Approx(e / (1.0 + e)).epsilon(1e-6));
    CHECK(p[2] == doctest::Approx(e / (1.0 + e)).epsilon(1e-6));
    CHECK(p[3] == doctest::Approx(1.0 / (1.0 + e)).epsilon(1e-6));
    std::vector<double> lp = log_softmax(x, 1).to(DType::Float64).to_vector<double>();
    CHECK(lp[0] == doctest::Approx(-std::log(1.0 + e)).epsilon(1e-6));
    CHECK(lp[1] == doctest::Approx(1.0 - std::log(1.0 + e)).epsilon(1e-6));
  }
}

TEST_CASE("softmax: a 0-d tensor is a softmax over one element") {
  CHECK(softmax(scalar_tensor(5.0), 0).item() == 1.0);
  CHECK(log_softmax(scalar_tensor(5.0), -1).item() == 0.0);
}

TEST_CASE("softmax: bad inputs") {
  Tensor x = zeros({2, 3});
  CHECK(contains(message_of([&] { softmax(x, 2); }), "softmax: dim 2 is out of range"));
  CHECK(contains(message_of([&] { log_softmax(x, -3); }), "log_softmax: dim -3 is out of range"));
  CHECK(contains(message_of([&] { softmax(zeros({2, 3}, DType::Int64), 1); }), "softmax: expected a float32 or float64"));
  CHECK(contains(message_of([&] { log_softmax(Tensor(), 1); }), "log_softmax: the input is an undefined tensor"));
}

// ---- cross_entropy -----------------------------------------------------------------------

TEST_CASE("cross_entropy: a hand-computed example, value and gradient") {
  // Row 0: logits 1, 2, 3, target 2: log(e + e^2 + e^3) - 3.  Row 1: logits 1, 1, 1, target 0: log 3.
  Tensor logits = from_vector(std::vector<double>{1, 2, 3, 1, 1, 1}, {2, 3}).requires_grad_();
  Tensor targets = from_vector(std::vector<int64_t>{2, 0}, {2});
  Tensor loss = cross_entropy(logits, targets);
  const double e = std::exp(1.0);
  const double lse0 = std::log(e + e * e + e * e * e);
  CHECK(loss.item() == doctest::Approx(((lse0 - 3.0) + std::log(3.0)) / 2.0).epsilon(1e-14));
  CHECK(loss.dim() == 0);
  // d loss / d logits = (softmax - onehot) / N.
  loss.backward();
  std::vector<double> g = logits.grad().to_vector<double>();
  const std::vector<double> expected = {std::exp(1 - lse0) / 2, std::exp(2 - lse0) / 2, (std::exp(3 - lse0) - 1) / 2,
                                        (1.0 / 3 - 1) / 2,      1.0 / 6,                1.0 / 6};
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(expected[i]).epsilon(1e-14));
}

TEST_CASE("cross_entropy: agrees with -mean(log_softmax[target]) and is stable for large logits") {
  Tensor logits = from_vector(std::vector<float>{1000, 1001, 0, -1000, 5, 5}, {2, 3});
  Tensor targets = from_vector(std::vector<int64_t>{1, 2}, {2});
  std::vector<float> ls = log_softmax(logits, 1).to_vector<float>();
  const double expected = -(ls[1] + ls[5]) / 2.0;
  const double got = cross_entropy(logits, targets).item();
  CHECK(std::isfinite(got));
  CHECK(got == doctest::Approx(expected).epsilon(1e-6));
}

TEST_CASE("cross_entropy: bad inputs") {
  Tensor logits = zeros({3, 4});
  auto labels = [](std::vector<int64_t> v) { return from_vector(v, {static_cast<int64_t>(v.size())}); };
  std::string m = message_of([&] { cross_entropy(logits, labels({0, 4, 1})); });
  CHECK(contains(m, "target 4 in row 1 is out of range for 4 classes"));
  CHECK(contains(message_of([&] { cross_entropy(logits, labels({0, 1, -1})); }), "target -1 in row 2"));
  CHECK(contains(message_of([&] { cross_entropy(logits, zeros({3})); }), "targets must be int64"));
  CHECK(contains(message_of([&] { cross_entropy(logits, from_vector(std::vector<int64_t>{0, 1, 2}, {3, 1})); }),
                 "targets must be [N] = [3]"));
  CHECK(contains(message_of([&] { cross_entropy(logits, labels({0, 1})); }), "targets must be [N] = [3]"));
  CHECK(contains(message_of([&] { cross_entropy(zeros({4}), labels({0})); }), "logits must be [N, C]"));
  CHECK(contains(message_of([&] { cross_entropy(zeros({2, 3, 4}), labels({0, 1})); }), "logits must be [N, C]"));
  CHECK(contains(message_of([&] { cross_entropy(zeros({0, 4}), labels({})); }), "N = 0 rows"));
  CHECK(contains(message_of([&] { cross_entropy(zeros({2, 3}, DType::Int64), labels({0, 1})); }),
                 "cross_entropy: expected a float32 or float64"));
  CHECK(contains(message_of([&] { cross_entropy(logits, Tensor()); }), "the targets is an undefined tensor"));
}

// ---- normalize ------------------------------------------------------------------------------

TEST_CASE("normalize: unit rows, as torch.nn.functional.normalize") {
  Tensor x = from_vector(std::vector<double>{3, 4, 0, -5, 1e-14, 0}, {3, 2});
  std::vector<double> y = normalize(x).to_vector<double>();
  CHECK(y[0] == doctest::Approx(0.6).epsilon(1e-15));
  CHECK(y[1] == doctest::Approx(0.8).epsilon(1e-15));
  CHECK(y[3] == doctest::Approx(-1.0).epsilon(1e-15));
  CHECK(y[4] == doctest::Approx(1e-14 / 1e-12).epsilon(1e-12));  // a norm below eps is clamped to eps
  // Along dim 0: columns (3, 0, 1e-14) and (4, -5, 0).
  std::vector<double> c = normalize(x, 0).to_vector<double>();
  CHECK(c[1] == doctest::Approx(4 / std::sqrt(41.0)).epsilon(1e-15));
}

TEST_CASE("normalize: an all-zero row gives zeros and a finite gradient") {
  Tensor x = zeros({2, 3}, DType::Float64).requires_grad_();
  Tensor y = normalize(x);
  for (double v : y.to_vector<double>()) CHECK(v == 0.0);
  sum(y).backward();
  for (double g : x.grad().to_vector<double>()) CHECK(std::isfinite(g));
}

TEST_CASE("normalize: bad inputs") {
  CHECK(contains(message_of([&] { normalize(zeros({2, 3}), 2); }), "normalize: dim 2 is out of range"));
  CHECK(contains(message_of([&] { normalize(zeros({2, 3}, DType::Int64)); }), "normalize: expected a float32 or float64"));
  CHECK(contains(message_of([&] { normalize(scalar_tensor(1.0)); }), "at least one dim"));
  CHECK(contains(message_of([&] { normalize(zeros({2, 3}), 1, -1.0); }), "eps"));
}

// ---- large inputs: the OpenMP paths (above kParallelGrain elements) ---------------------------
// Each kernel is compared, forward and gradient, with the same function written as a
// composite of other ops (whose backward autograd derives on its own).

TEST_CASE("large inputs: softmax and log_softmax agree with exp(x - max) / sum") {
  Generator gen(21);
  Tensor x = mul(randn({16, 512, 8}, gen, DType::Float64), 3.0).requires_grad_();  // 65536 elements
  Tensor r = randn({16, 512, 8}, gen, DType::Float64);
  for (bool use_log : {false, true}) {
    CAPTURE(use_log);
    Tensor y = use_log ? log_softmax(x, 1) : softmax(x, 1);
    sum(mul(y, r)).backward();
    Tensor g_kernel = x.grad();
    x.zero_grad();
    Tensor shifted = sub(x, max(x, 1, true).values.detach());
    Tensor e = exp(shifted);
    Tensor y_ref = use_log ? sub(shifted, log(sum(e, {1}, true))) : div(e, sum(e, {1}, true));
    sum(mul(y_ref, r)).backward();
    CHECK(max(abs(sub(y, y_ref))).item() <= 1e-12);
    CHECK(max(abs(sub(g_kernel, x.grad()))).item() <= 1e-12);
    x.zero_grad();
  }
}

TEST_CASE("large inputs: batch_norm agrees with (x - mean) / sqrt(var + eps) in both modes") {
  Generator gen(22);
  const int64_t C = 8;
  Tensor x = add(mul(randn({32, C, 16, 8}, gen, DType::Float64), 2.0), 1.0).requires_grad_();  // 32768 elements
  Tensor weight = rand({C}, gen, DType::Float64, 0.5, 1.5).requires_grad_();
  Tensor bias = randn({C}, gen, DType::Float64).requires_grad_();
  Tensor r = randn(x.shape(), gen, DType::Float64);
  Tensor running_mean = randn({C}, gen, DType::Float64), running_var = rand({C}, gen, DType::Float64, 0.5, 2.0);
  const std::vector<double> rm0 = running_mean.to_vector<double>(), rv0 = running_var.to_vector<double>();
  const Shape per_channel{1, C, 1, 1};
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor y = batch_norm(x, weight, bias, running_mean, running_var, training, 0.1, 1e-5);
    sum(mul(y, r)).backward();
    std::vector<Tensor> g_kernel{x.grad(), weight.grad(), bias.grad()};
    for (Tensor* t : {&x, &weight, &bias}) t->zero_grad();

    Tensor mean_ref, var_ref;
    if (training) {
      mean_ref = mean(x, {0, 2, 3}, true);
      var_ref = var(x, {0, 2, 3}, 0, true);
      // The running statistics moved by momentum towards the batch mean and unbiased variance.
      std::vector<double> bm = mean(x.detach(), {0, 2, 3}).to_vector<double>();
      std::vector<double> bv = var(x.detach(), {0, 2, 3}, 1).to_vector<double>();
      std::vector<double> rm = running_mean.to_vector<double>(), rv = running_var.to_vector<double>();
      for (int64_t c = 0; c < C; ++c) {
        CHECK(rm[c] == doctest::Approx(0.9 * rm0[c] + 0.1 * bm[c]).epsilon(1e-13));
        CHECK(rv[c] == doctest::Approx(0.9 * rv0[c] + 0.1 * bv[c]).epsilon(1e-13));
      }
    } else {
      mean_ref = reshape(running_mean, per_channel);
      var_ref = reshape(running_var, per_channel);
    }
    Tensor y_ref = add(mul(div(sub(x, mean_ref), sqrt(add(var_ref, 1e-5))), reshape(weight, per_channel)),
                       reshape(bias, per_channel));
    sum(mul(y_ref, r)).backward();
    CHECK(max(abs(sub(y, y_ref))).item() <= 1e-12);
    CHECK(max(abs(sub(g_kernel[0], x.grad()))).item() <= 1e-12);
    CHECK(max(abs(sub(g_kernel[1], weight.grad()))).item() <= 1e-9);  // sums of 4096 terms
    CHECK(max(abs(sub(g_kernel[2], bias.grad()))).item() <= 1e-9);
    for (Tensor* t : {&x, &weight, &bias}) t->zero_grad();
  }
}

TEST_CASE("large inputs: cross_entropy agrees with -mean(sum(onehot * log_softmax))") {
  Generator gen(23);
  const int64_t rows = 256, classes = 200;  // 51200 elements
  Tensor logits = mul(randn({rows, classes}, gen, DType::Float64), 4.0).requires_grad_();
  std::vector<int64_t> labels(rows);
  std::vector<double> onehot(rows * classes, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    labels[i] = (i * 37) % classes;
    onehot[i * classes + labels[i]] = 1.0;
  }
  Tensor loss = cross_entropy(logits, from_vector(labels, {rows}));
  loss.backward();
  Tensor g_kernel = logits.grad();
  logits.zero_grad();
  Tensor loss_ref = neg(mean(sum(mul(from_vector(onehot, {rows, classes}), log_softmax(logits, 1)), {1})));
  loss_ref.backward();
  CHECK(loss.item() == doctest::Approx(loss_ref.item()).epsilon(1e-13));
  CHECK(max(abs(sub(g_kernel, logits.grad()))).item() <= 1e-14);
}

TEST_CASE("large inputs: nt_xent matches the plain-loop reference, and its gradient central differences") {
  Generator gen(24);
  const int64_t rows = 256, d = 16;  // S has 65536 entries
  std::vector<double> values = random_values(gen, rows * d);
  Tensor z = from_vector(values, {rows, d}).requires_grad_();
  Tensor loss = nt_xent(z, 0.1);
  CHECK(loss.item() == doctest::Approx(nt_xent_reference(values, rows, d, 0.1)).epsilon(1e-12));
  loss.backward();
  std::vector<double> grad = z.grad().to_vector<double>();
  // A few elements from both halves, against central differences of the reference.
  for (int64_t at : {int64_t{0}, int64_t{5}, rows * d / 2 + 3, rows * d - 1}) {
    CAPTURE(at);
    const double h = 1e-5;
    std::vector<double> up = values, down = values;
    up[at] += h;
    down[at] -= h;
    const double numeric =
        (nt_xent_reference(up, rows, d, 0.1) - nt_xent_reference(down, rows, d, 0.1)) / (2 * h);
    CHECK(std::abs(grad[at] - numeric) <= 1e-7 + 1e-5 * std::abs(numeric));
  }
}
