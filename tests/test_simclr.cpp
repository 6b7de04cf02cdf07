// The SimCLR model (both views in one pass, encode vs forward, eval-mode features), the
// batch health metrics on hand-made embeddings, and the encoder export.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "ssl/export.h"
#include "ssl/metrics.h"
#include "ssl/method.h"

#include "tests/dataset_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;
namespace fs = std::filesystem;

namespace {



MethodOptions tiny_convnet() {
  MethodOptions o;
  o.encoder.encoder = "convnet";
  o.encoder.width = 4;
  o.encoder.in_channels = 1;
  o.projection_dim = 8;
  return o;
}

std::unique_ptr<Method> simclr(const MethodOptions& options, Generator& gen) { return make_method("simclr", options, gen); }

}  // namespace

TEST_CASE("simclr: model shapes, names and both views in one forward pass") {
  Generator gen(1);
  auto method = simclr(tiny_convnet(), gen);
  Method& model = *method;
  CHECK(model.feature_dim() == 32);  // ConvNet: 8w
  Tensor x = rand({6, 1, 28, 28}, gen);
  // The trainer's view: a loss and named metrics for a two-view batch.
  const MethodOutput out = model.forward_views(x);
  CHECK(out.loss.dim() == 0);
  REQUIRE(out.metrics.size() == 2);
  CHECK(out.metrics[0].first == "top1");
  CHECK(out.metrics[1].first == "embedding_std");
  // The head's output is what nt_xent sees: the method's loss is nt_xent of head(encoder(x)).
  auto& head = *model.children()[1].second;
  CHECK(model.children()[1].first == "head");
  const Tensor z = head.forward(model.encode(x));
  CHECK(z.shape() == Shape{6, 8});
  CHECK(out.loss.item() == doctest::Approx(nt_xent(z, 0.5).item()).epsilon(1e-6));
  model.eval();
  CHECK(model.encode(x).shape() == Shape{6, 32});
  CHECK(model.forward(x).shape() == Shape{6, 32});  // forward is the encoder: features for evaluation
  // The state_dict keys carry the child names; the encoder's own keys are the plain nn/ ones.
  const auto state = model.state_dict();
  CHECK(state.contains("encoder.features.0.weight"));
  CHECK(state.contains("head.0.weight"));
  CHECK(model.encoder().state_dict().contains("features.0.weight"));
  // In eval mode, a row's z does not depend on the rest of the batch: the two views really go
  // through the same network, row by row.
  const Tensor z_all = head.forward(model.encode(x));
  const Tensor z_one = head.forward(model.encode(narrow(x, 0, 4, 1)));
  const auto a = narrow(z_all, 0, 4, 1).contiguous().to_vector<float>();
  const auto b = z_one.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));  // fp32 GEMM blocking

  MethodOptions bad = tiny_convnet();
  bad.encoder.encoder = "vgg";
  CHECK(contains(message_of([&] { simclr(bad, gen); }), "unknown encoder 'vgg'"));
  bad = tiny_convnet();
  bad.encoder.in_channels = 2;
  CHECK(contains(message_of([&] { simclr(bad, gen); }), "in_channels must be 1 or 3"));
  bad = tiny_convnet();
  bad.hyper["temperature"] = 1e-30;
  CHECK(contains(message_of([&] { simclr(bad, gen); }), "--temperature must be in [0.01, 100]"));
  bad = tiny_convnet();
  bad.hyper["lambda"] = 1;
  CHECK(contains(message_of([&] { simclr(bad, gen); }), "--lambda is not a hyper-parameter of simclr"));
  CHECK(contains(message_of([&] { make_method("byoll", tiny_convnet(), gen); }), "unknown method 'byoll' (known: simclr"));
}

TEST_CASE("simclr: a few Adam steps on a fixed two-view batch lower nt_xent") {
  Generator gen(7);
  auto method = simclr(tiny_convnet(), gen);
  Method& model = *method;
  // A fixed batch of 8 images, second view = first view plus small noise.
  const Tensor first = rand({8, 1, 28, 28}, gen);
  const Tensor second = add(first, mul(randn({8, 1, 28, 28}, gen), 0.05));
  const Tensor batch = concat({first, second}, 0);
  nn::ParamGroup group;
  for (const auto& [name, p] : model.named_parameters()) {
    group.names.push_back(name);
    group.params.push_back(p);
  }
  group.lr = 1e-2;
  nn::Adam adam({group});
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 8; ++step) {
    adam.zero_grad();
    const Tensor loss = model.forward_views(batch).loss;
    if (step == 0) first_loss = loss.item();
    last_loss = loss.item();
    loss.backward();
    adam.step();
  }
  // A clear drop, not noise: 8 steps of lr 1e-2 on one batch fit it well.
  CHECK(last_loss < first_loss - 0.3);
}

TEST_CASE("simclr: contrastive top-1 and embedding std on hand-made embeddings") {
  // Perfect pairs: row i equals its partner row i + 2 and differs from the others.
  const Tensor perfect = from_vector(std::vector<float>{1, 0, 0, 1, 1, 0, 0, 1}, {4, 2});
  CHECK(contrastive_top1(perfect) == 1.0);
  // Per dim the normalised values are {1, 0, 1, 0}: std 0.5 in both dims.
  CHECK(embedding_std(perfect) == doctest::Approx(0.5));
  CHECK_FALSE(collapse_warning(embedding_std(perfect), 2));
  // Scaling rows changes nothing (the metrics work on normalised rows).
  CHECK(embedding_std(mul(perfect, 5.0)) == doctest::Approx(0.5));

  // Swapped partners: rows 0 and 1 look like each other's partner, so nobody finds theirs.
  const Tensor wrong = from_vector(std::vector<float>{1, 0, 1, 0.1f, 0, 1, 0.1f, 1}, {4, 2});
  CHECK(contrastive_top1(wrong) == 0.0);

  // Collapse: every row the same. Ties go to the lower index: row 0 -> 1 (miss), 1 -> 0
  // (miss), 2 -> 0 (its partner: hit), 3 -> 0 (miss).
  const Tensor collapsed = from_vector(std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1}, {4, 2});
  CHECK(contrastive_top1(collapsed) == 0.25);
  CHECK(embedding_std(collapsed) == 0.0);
  CHECK(collapse_warning(embedding_std(collapsed), 2));
  // The threshold: 10% of 1/sqrt(d).
  CHECK(collapse_warning(0.0099, 100));
  CHECK_FALSE(collapse_warning(0.0101, 100));

  // Rows spread over the sphere: std near 1/sqrt(d) (random directions, d = 64, 2048 rows;
  // tolerance 10% covers the sampling noise of a 2048-row estimate).
  Generator gen(3);
  const double spread = embedding_std(randn({2048, 64}, gen));
  CHECK(spread == doctest::Approx(1.0 / 8.0).epsilon(0.1));

  CHECK(contains(message_of([] { contrastive_top1(zeros({3, 2})); }), "even number of rows"));
  CHECK(contains(message_of([] { embedding_std(zeros({4})); }), "must be [2N, d]"));
  CHECK(contains(message_of([] { contrastive_top1(zeros({4, 2}, DType::Int64)); }), "float32 or float64"));
}

TEST_CASE("simclr: encode_dataset runs in eval mode, leaves BN statistics and the mode alone") {
  Generator gen(5);
  auto method = simclr(tiny_convnet(), gen);
  Method& model = *method;
  const Dataset data = random_gray_images(10, 11);
  const auto before = model.state_dict().clone();
  const Tensor f = encode_dataset(model, data, 4);  // 3 batches: 4, 4, 2
  CHECK(f.shape() == Shape{10, 32});
  CHECK(model.is_training());
  for (const auto& name_t : before) {
    const auto& name = name_t.first;
    const auto& t = name_t.second;
    const Tensor now = model.state_dict().at(name);
    if (t.dtype() == DType::Float32) CHECK_MESSAGE(t.to_vector<float>() == now.to_vector<float>(), name);
  }
  // Same features whatever the batch size (eval-mode BN is per row); fp32 tolerance.
  const auto a = f.to_vector<float>();
  const auto b = encode_dataset(model, data, 10).to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));

  const Dataset head = dataset_head(data, 4);
  CHECK(head.size() == 4);
  CHECK(head.label(3) == data.label(3));
  CHECK(dataset_head(data, 0).size() == 10);
  CHECK(contains(message_of([&] { encode_dataset(model, data, 0); }), "batch size must be positive"));
}

TEST_CASE("simclr: export writes the encoder as safetensors with plain names; wrong architecture is refused") {
  Generator gen(9);
  auto method = simclr(tiny_convnet(), gen);
  Method& model = *method;
  const fs::path dir = fs::temp_directory_path() / "simclr_test_export";
  fs::create_directories(dir);
  const std::string path = (dir / "encoder.safetensors").string();
  export_encoder_safetensors(model, path);
  const SafetensorsFile file = read_safetensors(path);
  CHECK(file.metadata.at("architecture") == "convnet");
  CHECK(file.metadata.at("width") == "4");
  const auto encoder_state = model.encoder().state_dict();
  CHECK(file.tensors.size() == encoder_state.size());
  for (const auto& name_t : file.tensors) {
    const auto& name = name_t.first;
    const auto& t = name_t.second;
    REQUIRE_MESSAGE(encoder_state.contains(name), name);
    if (t.dtype() == DType::Float32) CHECK(t.to_vector<float>() == encoder_state.at(name).to_vector<float>());
  }

  // A ConvNet's tensors into a ResNet-18: the check names the source and a tensor.
  MethodOptions resnet = tiny_convnet();
  resnet.encoder.encoder = "resnet18";
  auto other = simclr(resnet, gen);
  const std::string msg = message_of([&] { load_model_tensors(*other, model_tensors(model), "run/checkpoint.ckpt"); });
  CHECK(contains(msg, "run/checkpoint.ckpt"));
  CHECK(contains(msg, "encoder."));
  // A wider ConvNet: a shape mismatch.
  MethodOptions wider = tiny_convnet();
  wider.encoder.width = 8;
  auto wide = simclr(wider, gen);
  CHECK(contains(message_of([&] { load_model_tensors(*wide, model_tensors(model), "x.ckpt"); }), "x.ckpt"));
  fs::remove_all(dir);
}
