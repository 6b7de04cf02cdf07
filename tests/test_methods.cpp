// The self-supervised methods (ssl/methods/) against PyTorch references written for the
// test (tests/golden/gen_golden_methods.py -> methods.golden), in float64:
//   - the loss of a fixed two-view batch and the gradient of every trainable parameter;
//   - three training steps through train_step (Adam, constant lr) with the method's
//     after-step update: the three losses and every state_dict entry afterwards, target
//     networks and BatchNorm statistics included.
// Then each method through the trainer: checkpoint and bit-identical resume.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "ssl/methods/common.h"
#include "ssl/run_dir.h"
#include "ssl/trainer.h"
#include "tests/golden_io.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::ssl;
using namespace sc::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kMethods = {"simclr", "byol", "simsiam", "mocov3", "barlowtwins", "vicreg"};

// The sizes gen_golden_methods.py uses: ConvNet w=4 (32 features), MLPs 16 / 12 wide, 8-d out.
MethodOptions golden_options(const std::string& method) {
  MethodOptions o;
  o.encoder.width = 4;
  o.projection_dim = 8;
  const MethodInfo& info = find_method(method);
  for (const HyperParameter& h : info.hyper_parameters) {
    if (h.name == "proj-hidden-dim") o.hyper[h.name] = 16;
    if (h.name == "pred-hidden-dim") o.hyper[h.name] = 12;
    if (h.name == "base-momentum") o.hyper[h.name] = 0.9;  // far from 1, so the EMA shows
  }
  return o;
}

nn::StateDict stored(const GoldenFile& g, const std::string& method, const std::string& field) {
  nn::StateDict state;
  const std::string prefix = method + "/" + field + "/";
  for (const auto& [name, tensor] : g.tensors)
    if (name.rfind(prefix, 0) == 0) state.insert(name.substr(prefix.size()), tensor);
  return state;
}

// float64 on both sides; the sums differ only in order. 1e-9 of the tensor's scale plus
// 1e-9 relative leaves room for that and none for a wrong term.
void expect_close(const std::string& what, const Tensor& actual, const Tensor& expected) {
  double scale = 0;
  for (double v : expected.to(DType::Float64).contiguous().to_vector<double>()) scale = std::max(scale, std::abs(v));
  const std::string report = compare_tensors(actual, expected, 1e-9, 1e-9 * std::max(scale, 1e-3));
  CHECK_MESSAGE(report.empty(), what, ": ", report);
}

std::unique_ptr<Method> golden_method(const GoldenFile& g, const std::string& method) {
  Generator gen(1);
  std::unique_ptr<Method> m = make_method(method, golden_options(method), gen);
  m->to(DType::Float64);
  m->load_state_dict(stored(g, method, "weights"), /*strict=*/true);
  m->train();
  return m;
}

}  // namespace

TEST_CASE("methods: loss, gradients and three training steps match PyTorch (float64)") {
  const GoldenFile g = read_golden_file(std::string(SC_GOLDEN_DIR) + "/methods.golden");
  for (const std::string& method : kMethods) {
    CAPTURE(method);
    const Tensor x = g.get(method + "/input");
    // One forward and backward.
    {
      std::unique_ptr<Method> m = golden_method(g, method);
      const MethodOutput out = m->forward_views(x);
      expect_close(method + " loss", out.loss.reshape({1}), g.get(method + "/loss0"));
      out.loss.backward();
      int64_t compared = 0;
      // (entry.first, not a structured binding: clang 14 cannot capture one in *_MESSAGE.)
      for (const auto& entry : m->trainable_parameters()) {
        const std::string& name = entry.first;
        REQUIRE_MESSAGE(entry.second.grad().defined(), name);
        expect_close(method + " grad " + name, entry.second.grad(), g.get(method + "/grad/" + name));
        ++compared;
      }
      CHECK(compared == static_cast<int64_t>(stored(g, method, "grad").size()));
      // The target networks are not trained: no gradient reaches them.
      for (const auto& entry : m->named_parameters())
        if (entry.first.rfind("target_", 0) == 0) CHECK_MESSAGE(!entry.second.grad().defined(), entry.first);
    }
    // Three steps of the real train_step.
    {
      std::unique_ptr<Method> m = golden_method(g, method);
      nn::ParamGroup group;
      for (const auto& [name, p] : m->trainable_parameters()) {
        group.names.push_back(name);
        group.params.push_back(p);
      }
      group.lr = 1e-2;
      group.weight_decay = 1e-4;
      nn::Adam adam({group});
      const nn::WarmupCosineSchedule constant(0, 3, /*final_fraction=*/1.0);
      std::vector<double> losses;
      for (int64_t step = 0; step < 3; ++step) losses.push_back(train_step(*m, adam, constant, x, step).loss);
      expect_close(method + " losses", from_vector(losses, {3}), g.get(method + "/losses"));
      const nn::StateDict after = stored(g, method, "after");
      CHECK(after.size() == m->state_dict().size());
      for (const auto& [name, t] : m->state_dict()) expect_close(method + " after " + name, t, after.at(name));
    }
  }
}

TEST_CASE("methods: the registry, hyper-parameter checks and the momentum schedule") {
  std::vector<std::string> names;
  for (const MethodInfo& m : method_registry()) names.push_back(m.name);
  CHECK(names == kMethods);
  CHECK(contains(message_of([] { find_method("moco"); }),
                 "unknown method 'moco' (known: simclr, byol, simsiam, mocov3, barlowtwins, vicreg)"));
  Generator gen(0);
  auto bad = [&](const std::string& method, const std::string& name, double value) {
    MethodOptions o = golden_options(method);
    o.hyper[name] = value;
    return message_of([&] { make_method(method, o, gen); });
  };
  CHECK(contains(bad("byol", "base-momentum", 1.5), "--base-momentum must be in [0, 1] for byol, got 1.5"));
  CHECK(contains(bad("byol", "base-momentum", -0.1), "--base-momentum must be in [0, 1]"));
  CHECK(contains(bad("simsiam", "pred-hidden-dim", 0), "--pred-hidden-dim must be in [1, 65536]"));
  CHECK(contains(bad("simsiam", "pred-hidden-dim", 2.5), "--pred-hidden-dim must be a whole number, got 2.5"));
  CHECK(contains(bad("barlowtwins", "lambda", -1), "--lambda must be in [0, 1000]"));
  CHECK(contains(bad("vicreg", "var-weight", -25), "--var-weight must be in [0, 10000]"));
  CHECK(contains(bad("vicreg", "temperature", 0.1), "--temperature is not a hyper-parameter of vicreg"));
  CHECK(contains(bad("mocov3", "temperature", 0), "--temperature must be in [0.01, 100]"));

  CHECK(momentum_at(0.99, 0, 100) == doctest::Approx(0.99));
  CHECK(momentum_at(0.99, 50, 100) == doctest::Approx(0.995));
  CHECK(momentum_at(0.99, 100, 100) == doctest::Approx(1.0));
}

TEST_CASE("methods: each trains from the trainer, checkpoints its target networks and resumes bit for bit") {
  // 64 random gray images, batch 16: 4 steps per epoch; stop after epoch 1, resume to 2.
  Generator data_gen(11);
  std::vector<uint8_t> pixels(64 * 28 * 28);
  for (auto& p : pixels) p = static_cast<uint8_t>(data_gen.below(256));
  std::vector<int64_t> labels(64);
  for (int64_t i = 0; i < 64; ++i) labels[i] = i % 4;
  TrainData data;
  data.train = Dataset("random", 1, 28, 28, pixels, labels, 4);
  for (const std::string& method : kMethods) {
    CAPTURE(method);
    TempDir full_dir("method_full"), resumed_dir("method_resumed");
    TrainConfig c;
    c.method = method;
    c.method_params = golden_options(method).hyper;
    c.width = 4;
    c.projection_dim = 8;
    c.batch_size = 16;
    c.epochs = 2;
    c.workers = 1;
    c.knn_k = 0;
    c.out_dir = full_dir.file("run");
    TrainHooks quiet;
    quiet.quiet = true;
    const TrainResult full = train(c, data, StartMode::New, quiet);
    CHECK(full.steps == 8);
    CHECK(std::isfinite(full.last_loss));
    c.out_dir = resumed_dir.file("run");
    TrainHooks stop = quiet;
    stop.stop_after_epochs = 1;
    CHECK(train(c, data, StartMode::New, stop).steps == 4);
    CHECK(train(c, data, StartMode::Resume, quiet).steps == 8);
    const Checkpoint a = load_checkpoint(RunDir(full_dir.file("run")).checkpoint());
    const Checkpoint b = load_checkpoint(RunDir(resumed_dir.file("run")).checkpoint());
    REQUIRE(a.model.size() == b.model.size());
    bool has_target = false;
    for (size_t i = 0; i < a.model.size(); ++i) {
      has_target = has_target || a.model[i].first.rfind("target_", 0) == 0;
      CHECK(a.model[i].first == b.model[i].first);
      CHECK_MESSAGE(compare_tensors(a.model[i].second, b.model[i].second, 0, 0).empty(), a.model[i].first);
    }
    CHECK(has_target == (method == "byol" || method == "mocov3"));
    REQUIRE(a.optimizer.size() == b.optimizer.size());
    for (size_t i = 0; i < a.optimizer.size(); ++i)
      CHECK_MESSAGE(compare_tensors(a.optimizer[i].second, b.optimizer[i].second, 0, 0).empty(), a.optimizer[i].first);
    // The trained encoder loads back from the run folder for evaluation.
    TrainConfig stored_config;
    CHECK(load_trained_model(full_dir.file("run"), &stored_config)->feature_dim() == 32);
    CHECK(stored_config.method == method);
  }
}
