// A real-data check of nn/: ConvNet (w = 16, one input channel) with a Linear(128 -> 10)
// classifier, trained with Adam (lr 1e-3, batch 128) on the first 10,000 Fashion-MNIST
// training images, must classify the first 2,000 test images with >= 80% accuracy in eval
// mode. Nothing here is compared with PyTorch: the point is that the layers, their
// initialisation, BatchNorm's train/eval switch, backward and Adam together really learn.
//
// The recipe differs from the "one epoch" on purpose. With one epoch PyTorch
// itself (Debian torch 1.13, same model, data, batch and lr) reaches only 67-74% over three
// seeds, and we reach 65%, so that floor cannot be a test. Measured in PyTorch: 3 epochs
// give 76-78% in eval mode but 84% with batch statistics, the gap being BatchNorm's running
// statistics (momentum 0.1) lagging the last weight updates; re-estimating them as a plain
// average over the training images before evaluation (PyTorch's momentum=None, a standard
// step) gives 83.7% and 84.2% (two seeds). This test does exactly that.
//
// The file also checks core/profiler.h (used by bench/bench_train_step.cpp to say where a
// training step's time goes): off records nothing, on records each backward Node by name.
//
// Needs the Debian package dataset-fashion-mnist (scripts/setup.sh installs it); without
// it the test fails, saying so. Takes about 1-2 minutes on 2 cores in a Release build.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "core/profiler.h"
#include "nn/adam.h"
#include "nn/convnet.h"
#include "ssl/data/idx.h"

using namespace sc;
using namespace sc::nn;

namespace {

// Fashion-MNIST's training-set pixel statistics (of x / 255), the usual normalisation.
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;

// Images order[begin .. begin + count) of `data` as a normalised float batch [count, 1, 28, 28]
// and their labels int64 [count].
std::pair<Tensor, Tensor> make_batch(const ssl::Dataset& data, const std::vector<int64_t>& order, size_t begin,
                                     size_t count) {
  const int64_t pixels = data.image_numel();
  std::vector<float> values(count * static_cast<size_t>(pixels));
  std::vector<int64_t> labels(count);
  for (size_t i = 0; i < count; ++i) {
    const int64_t index = order[begin + i];
    const auto image = data.image(index);
    float* out = values.data() + i * static_cast<size_t>(pixels);
    for (int64_t p = 0; p < pixels; ++p) out[p] = (static_cast<float>(image[p]) / 255.0f - kMean) / kStd;
    labels[i] = data.label(index);
  }
  const int64_t n = static_cast<int64_t>(count);
  return {from_vector(values, {n, data.channels(), data.height(), data.width()}), from_vector(labels, {n})};
}

// Encoder + classifier as one module, so the parameter names read "encoder.features.0.weight",
// "classifier.weight".
class Classifier : public Module {
 public:
  Classifier(Generator& gen, int64_t width) : Module("Classifier") {
    encoder = register_module("encoder", std::make_shared<ConvNet>(gen, width, /*in_channels=*/1));
    classifier = register_module("classifier", std::make_shared<Linear>(encoder->feature_dim(), 10, gen));
  }
  Tensor forward(const Tensor& x) override { return classifier->forward(encoder->forward(x)); }
  std::shared_ptr<ConvNet> encoder;
  std::shared_ptr<Linear> classifier;
};

}  // namespace

TEST_CASE("nn: ConvNet (w = 16) + linear classifier learns Fashion-MNIST (3 epochs on 10,000 images, >= 80% on 2,000 test images)") {
  ssl::Dataset train, test;
  try {
    train = ssl::load_fashion_mnist("train");
    test = ssl::load_fashion_mnist("test");
  } catch (const Error& e) {
    FAIL("Fashion-MNIST could not be read from ", ssl::kFashionMnistDir, " (", e.what(),
         "). Install the Debian package dataset-fashion-mnist (scripts/setup.sh installs it).");
  }
  constexpr int64_t kTrainImages = 10000, kTestImages = 2000, kBatch = 128;
  REQUIRE(train.size() >= kTrainImages);
  REQUIRE(test.size() >= kTestImages);

  const auto start = std::chrono::steady_clock::now();
  Generator gen(20240611);
  Classifier model(gen, /*width=*/16);
  ParamGroup group;
  for (const auto& [name, parameter] : model.named_parameters()) {
    group.names.push_back(name);
    group.params.push_back(parameter);
  }
  group.lr = 1e-3;
  Adam adam({group});

  // Each epoch visits the first 10,000 images in a fresh seeded random order (Fisher-Yates);
  // the last, partial batch is kept (10,000 = 78 * 128 + 16).
  constexpr int kEpochs = 3;
  std::vector<int64_t> order(kTrainImages);
  std::iota(order.begin(), order.end(), 0);

  model.train();
  double first_loss = 0, last_loss = 0;
  int64_t steps = 0;
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    for (int64_t i = kTrainImages - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i + 1))]);
    for (size_t begin = 0; begin < order.size(); begin += kBatch) {
      const size_t count = std::min<size_t>(kBatch, order.size() - begin);
      auto [images, labels] = make_batch(train, order, begin, count);
      adam.zero_grad();
      Tensor loss = cross_entropy(model(images), labels);
      loss.backward();
      adam.step();
      last_loss = loss.item();
      if (steps++ == 0) first_loss = last_loss;
    }
  }

  NoGradGuard no_grad;
  // Re-estimate BatchNorm's running statistics as the plain average over the training
  // images (see the top of the file): reset them, then batch k gets momentum 1 / (k + 1).
  std::vector<BatchNorm*> norms;
  for (const auto& [name, module] : model.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(module)) norms.push_back(bn);
  REQUIRE(norms.size() == 4);
  for (BatchNorm* bn : norms) bn->reset_running_stats();
  int64_t calibration_batches = 0;
  for (size_t begin = 0; begin < order.size(); begin += 500, ++calibration_batches) {
    for (BatchNorm* bn : norms) bn->set_momentum(1.0 / static_cast<double>(calibration_batches + 1));
    model(make_batch(train, order, begin, std::min<size_t>(500, order.size() - begin)).first);
  }

  // Evaluation: running BatchNorm statistics, no graph.
  model.eval();
  std::vector<int64_t> test_order(kTestImages);
  std::iota(test_order.begin(), test_order.end(), 0);
  int64_t correct = 0;
  for (size_t begin = 0; begin < test_order.size(); begin += 500) {
    const size_t count = std::min<size_t>(500, test_order.size() - begin);
    auto [images, labels] = make_batch(test, test_order, begin, count);
    const std::vector<int64_t> predicted = argmax(model(images), 1).to_vector<int64_t>();
    const std::vector<int64_t> truth = labels.to_vector<int64_t>();
    for (size_t i = 0; i < count; ++i) correct += predicted[i] == truth[i];
  }
  const double accuracy = static_cast<double>(correct) / kTestImages;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("Fashion-MNIST, 3 epochs on 10,000 images (", steps, " Adam steps, loss ", first_loss, " -> ", last_loss,
          "): test accuracy ", accuracy * 100, "% on 2,000 images, ", seconds, " s with ", num_threads(),
          " threads");
  CHECK(last_loss < first_loss);
  CHECK(accuracy >= 0.80);
}

TEST_CASE("nn: the profiler records backward Nodes by name only while enabled") {
  Generator gen(3);
  Tensor x = randn({4, 3}, gen).requires_grad_();
  auto run_step = [&] { sum(relu(mul(x, x))).backward(); };
  auto names = [] {
    std::vector<std::string> out;
    for (const profiler::Entry& e : profiler::entries()) out.push_back(e.name);
    return out;
  };
  auto entry = [](const std::string& name) {
    for (const profiler::Entry& e : profiler::entries())
      if (e.name == name) return e;
    return profiler::Entry{};
  };

  profiler::reset();
  run_step();  // off by default
  CHECK(names().empty());

  profiler::enable();
  run_step();
  run_step();
  {
    profiler::ScopedTimer timer("my scope");
  }
  profiler::enable(false);
  run_step();  // off again: no more calls counted

  // One Node per op of the graph, each applied once per backward; two backward passes.
  for (const std::string& name : {std::string("backward sum"), std::string("backward relu"), std::string("backward mul"),
                                  std::string("backward AccumulateGrad")}) {
    CAPTURE(name);
    CHECK(entry(name).calls == 2);
    CHECK(entry(name).seconds >= 0);
  }
  // mul(x, x) sends two gradients to x's AccumulateGrad: one sum per pass.
  CHECK(entry("backward (gradient sums)").calls == 2);
  CHECK(entry("my scope").calls == 1);
  const std::string table = profiler::table();
  CHECK(table.find("| backward relu |") != std::string::npos);
  CHECK(table.find("| name | total ms | calls | ms per call | share |") == 0);
  // Sorted by time, longest first.
  const std::vector<profiler::Entry> all = profiler::entries();
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].seconds >= all[i].seconds);
  profiler::reset();
  CHECK(names().empty());
}
