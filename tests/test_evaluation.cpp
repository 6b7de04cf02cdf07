// kNN monitor and linear probe on synthetic features: accuracy where the answer is known,
// a vote worked out by hand, chunking invariance, train-only standardisation, determinism,
// and the input errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "ssl/evaluation.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;

namespace {

struct Labelled {
  Tensor features;  // float32 [N, D]
  Tensor labels;    // int64 [N]
};

// `classes` Gaussian clusters: centre ~ N(0, I) * spread, point = centre + N(0, I) * noise.
// Centres come from `centre_seed` so train and test share them.
Labelled clusters(int64_t n, int64_t dim, int64_t classes, double spread, double noise, uint64_t centre_seed,
                  Generator& gen) {
  Generator centre_gen(centre_seed);
  const std::vector<float> centres = randn({classes, dim}, centre_gen).to_vector<float>();
  std::vector<float> x(static_cast<size_t>(n * dim));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<int64_t>(gen.below(static_cast<uint64_t>(classes)));
    for (int64_t j = 0; j < dim; ++j)
      x[i * dim + j] = static_cast<float>(spread * centres[y[i] * dim + j] + noise * gen.normal());
  }
  return {from_vector(x, {n, dim}), from_vector(y, {n})};
}

Tensor random_labels(int64_t n, int64_t classes, Generator& gen) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (auto& v : y) v = static_cast<int64_t>(gen.below(static_cast<uint64_t>(classes)));
  return from_vector(y, {n});
}

}  // namespace

// ---- kNN ------------------------------------------------------------------------------------

TEST_CASE("ssl: kNN separates clustered features and is at chance on random labels") {
  Generator gen(1);
  const Labelled train = clusters(2000, 32, 10, 1.0, 0.3, 77, gen);
  const Labelled test = clusters(500, 32, 10, 1.0, 0.3, 77, gen);
  const KnnResult clustered = knn_evaluate(train.features, train.labels, test.features, test.labels);
  CHECK(clustered.accuracy > 0.95);
  CHECK(clustered.predictions.shape() == Shape{500});
  CHECK(clustered.class_votes.shape() == Shape{500, 10});

  // Same features, labels unrelated to them: 10 classes, so ~0.1 expected; with 500 test
  // rows the standard error is ~0.013, so 0.2 is > 7 standard errors away.
  const KnnResult shuffled =
      knn_evaluate(train.features, random_labels(2000, 10, gen), test.features, random_labels(500, 10, gen));
  CHECK(shuffled.accuracy < 0.2);
}

TEST_CASE("ssl: kNN weighted vote worked out by hand") {
  // Train: a = (1, 0) class 0, b = (0, 1) class 1, c = (1, 1)/sqrt2 class 1 (length does not
  // matter: rows are normalised). Query at 20 degrees: cos to a = cos 20, to c = cos 25, to b = cos 70.
  const double pi = std::acos(-1.0);
  const double deg = pi / 180.0;
  const Tensor train = from_vector(std::vector<double>{1, 0, 0, 1, 3, 3}, {3, 2});
  const Tensor train_y = from_vector(std::vector<int64_t>{0, 1, 1}, {3});
  const Tensor query = from_vector(std::vector<double>{2 * std::cos(20 * deg), 2 * std::sin(20 * deg)}, {1, 2});
  const Tensor query_y = from_vector(std::vector<int64_t>{0}, {1});

  KnnOptions two;
  two.k = 2;  // a and c vote; b is the third neighbour and is left out
  const KnnResult r = knn_evaluate(train, train_y, query, query_y, two);
  const std::vector<double> votes = r.class_votes.to_vector<double>();
  // Similarities go through float32 (error ~1e-7); exp(s / 0.1) turns that into a relative
  // error of ~1e-6, so 1e-5 relative is a safe bound that still catches a wrong weight.
  CHECK(votes[0] == doctest::Approx(std::exp(std::cos(20 * deg) / 0.1)).epsilon(1e-5));
  CHECK(votes[1] == doctest::Approx(std::exp(std::cos(25 * deg) / 0.1)).epsilon(1e-5));
  CHECK(r.predictions.to_vector<int64_t>()[0] == 0);
  CHECK(r.accuracy == 1.0);

  // k larger than the training set uses all three; b adds exp(cos 70 / 0.1) to class 1.
  const KnnResult all = knn_evaluate(train, train_y, query, query_y);  // k = 200
  CHECK(all.class_votes.to_vector<double>()[1] ==
        doctest::Approx(std::exp(std::cos(25 * deg) / 0.1) + std::exp(std::cos(70 * deg) / 0.1)).epsilon(1e-5));

  // The weighting matters: one very close class-0 neighbour (s = 1) outvotes two class-1
  // neighbours at s = cos 30: e^10 = 22026 > 2 e^8.66 = 11536, though a plain majority says 1.
  const Tensor train2 = from_vector(
      std::vector<double>{1, 0, std::cos(30 * deg), std::sin(30 * deg), std::cos(30 * deg), -std::sin(30 * deg)}, {3, 2});
  const Tensor q2 = from_vector(std::vector<double>{1, 0}, {1, 2});
  KnnOptions three;
  three.k = 3;
  CHECK(knn_evaluate(train2, train_y, q2, query_y, three).predictions.to_vector<int64_t>()[0] == 0);
  // With a warmer temperature (t = 1: e^1 = 2.7 < 2 e^0.87 = 4.8) the majority wins.
  three.temperature = 1.0;
  CHECK(knn_evaluate(train2, train_y, q2, query_y, three).predictions.to_vector<int64_t>()[0] == 1);
}

TEST_CASE("ssl: kNN chunk size and thread count do not change the result") {
  Generator gen(2);
  const Labelled train = clusters(600, 16, 5, 1.0, 2.0, 11, gen);  // noisy: accuracy well below 1
  const Labelled test = clusters(101, 16, 5, 1.0, 2.0, 11, gen);
  KnnOptions options;
  options.k = 20;
  options.chunk_size = 101;
  const KnnResult whole = knn_evaluate(train.features, train.labels, test.features, test.labels, options);
  CHECK(whole.accuracy < 0.99);  // so the comparison below is not trivially all-correct
  for (int64_t chunk : {1, 7, 1000}) {
    CAPTURE(chunk);
    options.chunk_size = chunk;
    const KnnResult r = knn_evaluate(train.features, train.labels, test.features, test.labels, options);
    CHECK(r.accuracy == whole.accuracy);
    CHECK(r.predictions.to_vector<int64_t>() == whole.predictions.to_vector<int64_t>());
    // A 1-row chunk may take a different matmul path (summation order), hence 1e-5 relative.
    const std::vector<double> a = r.class_votes.to_vector<double>(), b = whole.class_votes.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
  }
  // The threads share out whole chunks and each chunk is computed on one thread, so the
  // thread count does not change a bit (7 rows per chunk: 15 chunks to share).
  options.chunk_size = 7;
  const int before = num_threads();
  set_num_threads(1);
  const KnnResult one = knn_evaluate(train.features, train.labels, test.features, test.labels, options);
  set_num_threads(3);
  const KnnResult three = knn_evaluate(train.features, train.labels, test.features, test.labels, options);
  set_num_threads(before);
  CHECK(one.predictions.to_vector<int64_t>() == three.predictions.to_vector<int64_t>());
  CHECK(one.class_votes.to_vector<double>() == three.class_votes.to_vector<double>());
}

TEST_CASE("ssl: kNN input errors") {
  const Tensor x = zeros({4, 3});
  const Tensor y = from_vector(std::vector<int64_t>{0, 1, 0, 1}, {4});
  CHECK(contains(message_of([&] { knn_evaluate(x, y, zeros({2, 5}), zeros({2}, DType::Int64)); }),
                 "train features [4, 3] and test features [2, 5] have different widths"));
  CHECK(contains(message_of([&] { knn_evaluate(x, zeros({3}, DType::Int64), x, y); }),
                 "3 train labels for 4 train feature rows"));
  CHECK(contains(message_of([&] { knn_evaluate(x, zeros({4}), x, y); }), "train labels must be an int64 vector"));
  CHECK(contains(message_of([&] { knn_evaluate(x, y, x, from_vector(std::vector<int64_t>{0, -1, 0, 0}, {4})); }),
                 "test label -1 at row 1 is negative"));
  CHECK(contains(message_of([&] { knn_evaluate(zeros({4}), y, x, y); }), "must be a float32 or float64 matrix"));
  KnnOptions bad;
  bad.k = 0;
  CHECK(contains(message_of([&] { knn_evaluate(x, y, x, y, bad); }), "k must be at least 1"));
  bad = {};
  bad.num_classes = 1;
  CHECK(contains(message_of([&] { knn_evaluate(x, y, x, y, bad); }), "train label 1 at row 1 is outside [0, 1)"));
}

// ---- linear probe -----------------------------------------------------------------------------

TEST_CASE("ssl: linear probe learns separable data in a few epochs") {
  Generator gen(3);
  const Labelled train = clusters(2000, 16, 4, 2.0, 0.5, 21, gen);
  const Labelled test = clusters(500, 16, 4, 2.0, 0.5, 21, gen);
  LinearProbeOptions options;
  options.epochs = 5;
  options.batch_size = 64;
  const LinearProbeResult r = linear_probe(train.features, train.labels, test.features, test.labels, options);
  CHECK(r.test_accuracy > 0.95);
  CHECK(r.train_accuracy > 0.95);
  REQUIRE(r.epoch_losses.size() == 5);
  CHECK(r.epoch_losses.back() < r.epoch_losses.front());
  CHECK(r.weight.shape() == Shape{16, 4});
  CHECK(r.bias.shape() == Shape{4});
}

TEST_CASE("ssl: linear probe standardises with training statistics only") {
  // 1-D feature; class 1 iff x > 0. Train x is symmetric around 0 (mean 0); every test point
  // lies in [0.3, 1.5], all class 1. Standardised with the train mean they stay positive and
  // are all right; standardised with their own mean (0.9) about half would turn negative.
  Generator gen(4);
  std::vector<float> train_x, test_x;
  std::vector<int64_t> train_y, test_y;
  for (int i = 0; i < 1000; ++i) {
    const double magnitude = 0.2 + 1.8 * gen.uniform();
    const bool positive = i % 2 == 0;
    train_x.push_back(static_cast<float>(positive ? magnitude : -magnitude));
    train_y.push_back(positive ? 1 : 0);
  }
  for (int i = 0; i < 200; ++i) {
    test_x.push_back(static_cast<float>(0.3 + 1.2 * gen.uniform()));
    test_y.push_back(1);
  }
  const Tensor xtr = from_vector(train_x, {1000, 1}), xte = from_vector(test_x, {200, 1});
  LinearProbeOptions options;
  options.epochs = 20;
  options.batch_size = 64;
  options.num_classes = 2;
  const LinearProbeResult r =
      linear_probe(xtr, from_vector(train_y, {1000}), xte, from_vector(test_y, {200}), options);
  CHECK(r.train_accuracy > 0.99);
  CHECK(r.test_accuracy > 0.99);

  // The fitted statistics are the training set's (population std, epsilon 1e-5 on the variance).
  double mean = 0, var = 0;
  for (float v : train_x) mean += v;
  mean /= 1000;
  for (float v : train_x) var += (v - mean) * (v - mean);
  var /= 1000;
  CHECK(r.standardizer.mean.item() == doctest::Approx(mean).epsilon(1e-6));
  CHECK(r.standardizer.inv_std.item() == doctest::Approx(1.0 / std::sqrt(var + 1e-5)).epsilon(1e-6));
  const Standardizer s = Standardizer::fit(xtr);
  CHECK(s.apply(xte).to_vector<float>()[0] ==
        doctest::Approx((test_x[0] - s.mean.item()) * s.inv_std.item()).epsilon(1e-6));
}

TEST_CASE("ssl: linear probe is deterministic for a fixed seed") {
  Generator gen(5);
  const Labelled train = clusters(700, 8, 3, 1.0, 1.0, 31, gen);
  const Labelled test = clusters(100, 8, 3, 1.0, 1.0, 31, gen);
  LinearProbeOptions options;
  options.epochs = 3;
  options.batch_size = 100;
  options.seed = 11;
  const LinearProbeResult a = linear_probe(train.features, train.labels, test.features, test.labels, options);
  const LinearProbeResult b = linear_probe(train.features, train.labels, test.features, test.labels, options);
  CHECK(a.weight.to_vector<float>() == b.weight.to_vector<float>());
  CHECK(a.bias.to_vector<float>() == b.bias.to_vector<float>());
  CHECK(a.epoch_losses == b.epoch_losses);
  CHECK(a.test_accuracy == b.test_accuracy);
  options.seed = 12;  // another shuffling order gives (slightly) different weights
  const LinearProbeResult c = linear_probe(train.features, train.labels, test.features, test.labels, options);
  CHECK(c.weight.to_vector<float>() != a.weight.to_vector<float>());
}

namespace {

// The probe as it was first written: one autograd graph per minibatch and nn::Adam. Kept here
// as the reference the hand-written forward/backward in linear_probe must agree with.
struct ReferenceProbe {
  Tensor weight, bias;
  std::vector<double> epoch_losses;
};

ReferenceProbe autograd_probe(const Tensor& x_train, const Tensor& train_labels, int64_t num_classes,
                              const LinearProbeOptions& options) {
  const int64_t n = x_train.size(0), d = x_train.size(1);
  const std::vector<int64_t> y = train_labels.to_vector<int64_t>();
  Tensor weight = zeros({d, num_classes}), bias = zeros({num_classes});
  weight.requires_grad_();
  bias.requires_grad_();
  nn::ParamGroup group;
  group.names = {"weight", "bias"};
  group.params = {weight, bias};
  group.lr = options.lr;
  group.weight_decay = options.weight_decay;
  nn::Adam adam({group}, nn::AdamOptions{options.beta1, options.beta2, options.eps});
  Generator shuffle_rng(options.seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  ReferenceProbe out;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[shuffle_rng.below(static_cast<uint64_t>(i + 1))]);
    double loss_sum = 0.0;
    for (int64_t start = 0; start < n; start += options.batch_size) {
      const int64_t rows = std::min(options.batch_size, n - start);
      std::vector<int64_t> index(order.begin() + start, order.begin() + start + rows), labels(rows);
      for (int64_t r = 0; r < rows; ++r) labels[r] = y[index[r]];
      const Tensor xb = index_select(x_train, 0, from_vector(index, {rows}));
      const Tensor loss = cross_entropy(add(matmul(xb, weight), bias), from_vector(labels, {rows}));
      loss.backward();
      adam.step();
      adam.zero_grad();
      loss_sum += loss.item() * static_cast<double>(rows);
    }
    out.epoch_losses.push_back(loss_sum / static_cast<double>(n));
  }
  out.weight = weight.detach();
  out.bias = bias.detach();
  return out;
}

}  // namespace

TEST_CASE("ssl: linear probe agrees with the autograd reference and is deterministic") {
  // Noisy, overlapping clusters (the probe does not reach zero loss), weight decay on so the
  // coupled L2 term is exercised, and 301 rows with batch 64 so the last batch is partial.
  Generator gen(6);
  const Labelled train = clusters(301, 12, 4, 1.0, 1.5, 41, gen);
  const Labelled test = clusters(80, 12, 4, 1.0, 1.5, 41, gen);
  LinearProbeOptions options;
  options.epochs = 6;
  options.batch_size = 64;
  options.lr = 1e-2;
  options.weight_decay = 1e-3;
  options.seed = 9;
  options.num_classes = 4;
  const LinearProbeResult fast = linear_probe(train.features, train.labels, test.features, test.labels, options);
  const ReferenceProbe ref =
      autograd_probe(fast.standardizer.apply(train.features), train.labels, options.num_classes, options);

  // The hand-written step calls the same GEMM, the same log-sum-exp arithmetic (double,
  // rounded to float where the cross_entropy kernel stores it), the same column sum and the
  // same Adam, so today the two agree bit for bit. The test allows 1e-6 absolute on weights
  // of size ~0.1-1 after 30 steps: room for a last-bit change of summation order in one of
  // the kernels, while any real error (a wrong sign, a missing 1/rows, weight decay left
  // out, a batch drawn differently) moves the weights by orders of magnitude more.
  const std::vector<float> w = fast.weight.to_vector<float>(), w_ref = ref.weight.to_vector<float>();
  const std::vector<float> b = fast.bias.to_vector<float>(), b_ref = ref.bias.to_vector<float>();
  REQUIRE(w.size() == w_ref.size());
  REQUIRE(b.size() == b_ref.size());
  double largest = 0;
  for (float v : w_ref) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  CHECK(largest > 0.1);  // the weights really moved
  for (size_t i = 0; i < w.size(); ++i) REQUIRE(std::fabs(w[i] - w_ref[i]) <= 1e-6);
  for (size_t i = 0; i < b.size(); ++i) REQUIRE(std::fabs(b[i] - b_ref[i]) <= 1e-6);
  REQUIRE(fast.epoch_losses.size() == ref.epoch_losses.size());
  for (size_t e = 0; e < ref.epoch_losses.size(); ++e)
    CHECK(fast.epoch_losses[e] == doctest::Approx(ref.epoch_losses[e]).epsilon(1e-6));
  CHECK(fast.epoch_losses.back() < fast.epoch_losses.front());

  // Deterministic: a second run gives the same bits.
  const LinearProbeResult again = linear_probe(train.features, train.labels, test.features, test.labels, options);
  CHECK(again.weight.to_vector<float>() == w);
  CHECK(again.bias.to_vector<float>() == b);
  CHECK(again.epoch_losses == fast.epoch_losses);
  CHECK(again.test_accuracy == fast.test_accuracy);

  // The fit runs on one thread whatever the caller's thread count, so the count does not
  // change the bits either (and is restored afterwards).
  const int before = num_threads();
  set_num_threads(before == 1 ? 2 : 1);
  const LinearProbeResult other_threads =
      linear_probe(train.features, train.labels, test.features, test.labels, options);
  CHECK(num_threads() == (before == 1 ? 2 : 1));
  set_num_threads(before);
  CHECK(other_threads.weight.to_vector<float>() == w);
  CHECK(other_threads.bias.to_vector<float>() == b);
}

TEST_CASE("ssl: linear probe input errors") {
  const Tensor x = zeros({4, 3});
  const Tensor y = from_vector(std::vector<int64_t>{0, 1, 2, 1}, {4});
  CHECK(contains(message_of([&] { linear_probe(x, y, zeros({2, 2}), zeros({2}, DType::Int64)); }),
                 "linear_probe: train features [4, 3] and test features [2, 2] have different widths"));
  CHECK(contains(message_of([&] { linear_probe(x, zeros({5}, DType::Int64), x, y); }),
                 "5 train labels for 4 train feature rows"));
  LinearProbeOptions options;
  options.num_classes = 2;
  CHECK(contains(message_of([&] { linear_probe(x, y, x, y, options); }), "train label 2 at row 2 is outside [0, 2)"));
  options = {};
  options.num_classes = 3;
  CHECK(contains(message_of([&] { linear_probe(x, y, x, from_vector(std::vector<int64_t>{0, 0, 5, 0}, {4}), options); }),
                 "test label 5 at row 2 is outside [0, 3)"));
  CHECK(contains(message_of([&] { linear_probe(x, from_vector(std::vector<int64_t>{0, -2, 0, 0}, {4}), x, y); }),
                 "train label -2 at row 1 is negative"));
  options = {};
  options.batch_size = 0;
  CHECK(contains(message_of([&] { linear_probe(x, y, x, y, options); }), "batch_size must be at least 1"));
  CHECK(contains(message_of([&] { linear_probe(zeros({0, 3}), zeros({0}, DType::Int64), x, y); }),
                 "the training set is empty"));
}
