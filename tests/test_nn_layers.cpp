// Module, layers, initialisation, encoders, projection head and memory report: structure
// against PyTorch's (names, shapes, counts from tests/golden/nn_structure.golden), default
// initialisation bounds, train/eval behaviour, state_dict round trips and every error path.
// (The numerical PyTorch comparisons of a training step are in tests/test_nn_golden.cpp.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nn/convnet.h"
#include "nn/init.h"
#include "nn/memory_report.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "tests/golden_io.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::nn;

namespace {

std::string text_of(const Tensor& codes) {
  std::string text;
  for (int64_t c : codes.to_vector<int64_t>()) text.push_back(static_cast<char>(c));
  return text;
}

// Our state_dict in the generator's text form: "name dtype d0,d1,..." per line.
std::string state_dict_text(const Module& model) {
  std::ostringstream os;
  bool first = true;
  for (const auto& [name, t] : model.state_dict()) {
    os << (first ? "" : "\n") << name << " " << dtype_name(t.dtype()) << " ";
    for (int64_t d = 0; d < t.dim(); ++d) os << (d ? "," : "") << t.size(d);
    first = false;
  }
  return os.str();
}

std::string parameter_names_text(const Module& model) {
  std::string text;
  for (const auto& [name, t] : model.named_parameters()) text += (text.empty() ? "" : "\n") + name;
  return text;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to(DType::Float64).contiguous().to_vector<double>();
  const auto y = b.to(DType::Float64).contiguous().to_vector<double>();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// A module that exposes registration, for the registration tests.
struct Holder : Module {
  Holder() : Module("Holder") {}
  Tensor forward(const Tensor& x) override { return inner ? inner->forward(x) : x; }
  void add_parameter(const std::string& name, Tensor& t) { register_parameter(name, t); }
  void add_buffer(const std::string& name, const Tensor& t) { register_buffer(name, t); }
  template <typename M>
  std::shared_ptr<M> add_child(const std::string& name, std::shared_ptr<M> m) {
    inner = m;
    return register_module(name, m);
  }
  std::shared_ptr<Module> inner;
};

}  // namespace

// ---- structure against PyTorch --------------------------------------------------------------

TEST_CASE("nn: state_dict names, dtypes, shapes and parameter counts match PyTorch's models") {
  const test::GoldenFile g = test::read_golden_file(std::string(SC_GOLDEN_DIR) + "/nn_structure.golden");
  Generator gen(1);
  struct Case {
    const char* name;
    std::shared_ptr<Module> model;
  };
  const std::vector<Case> cases = {
      {"convnet_w32_c3", std::make_shared<ConvNet>(gen, 32, 3)},
      {"convnet_w16_c1", std::make_shared<ConvNet>(gen, 16, 1)},
      {"resnet18_b64_c3", std::make_shared<ResNet18>(gen, 3, 64)},
      {"head_512_512_128", std::make_shared<ProjectionHead>(ProjectionHeadOptions{512, 512, 128, 2, true}, gen)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string name = c.name;
    CHECK(state_dict_text(*c.model) == text_of(g.get(name + "/state_dict")));
    CHECK(parameter_names_text(*c.model) == text_of(g.get(name + "/parameter_names")));
    CHECK(c.model->parameter_count() == static_cast<int64_t>(g.get(name + "/parameter_count").item()));
    CHECK(c.model->parameter_bytes() == 4 * c.model->parameter_count());
  }
  // Known totals, for the reader: torchvision's resnet18 without fc has 11,168,832 parameters.
  CHECK(cases[2].model->parameter_count() == 11168832);
}

TEST_CASE("nn: encoders give h of feature_dim; dotted names are set on every submodule") {
  Generator gen(2);
  ConvNet convnet(gen, 4, 1);
  CHECK(convnet.feature_dim() == 32);
  CHECK(convnet.forward(randn({3, 1, 28, 28}, gen)).shape() == Shape{3, 32});
  ResNet18 resnet(gen, 3, 4);
  CHECK(resnet.feature_dim() == 32);
  CHECK(resnet.forward(randn({2, 3, 16, 16}, gen)).shape() == Shape{2, 32});
  CHECK(resnet.layer2->name() == "layer2");
  CHECK(resnet.layer2->children()[0].second->name() == "layer2.0");
  auto block = std::dynamic_pointer_cast<BasicBlock>(resnet.layer2->children()[0].second);
  REQUIRE(block);
  CHECK(block->downsample->name() == "layer2.0.downsample");
  CHECK(block->downsample->children()[1].second->describe() == "BatchNorm2d 'layer2.0.downsample.1'");
  // The first block of layer1 keeps the shape: no downsample, as torchvision.
  auto first = std::dynamic_pointer_cast<BasicBlock>(resnet.layer1->children()[0].second);
  CHECK(first->downsample == nullptr);
  CHECK(resnet.describe() == "ResNet18 (top-level module)");

  // named_modules: parents before children, dotted names.
  std::vector<std::string> names;
  for (auto& [name, module] : convnet.named_modules()) names.push_back(name);
  CHECK(names.front() == "");
  CHECK(names[1] == "features");
  CHECK(names[2] == "features.0");
  CHECK(names.back() == "flatten");
}

TEST_CASE("nn: a module registered later renames its whole subtree") {
  Generator gen(3);
  auto head = std::make_shared<ProjectionHead>(ProjectionHeadOptions{8, 16, 4, 2, true}, gen);
  CHECK(head->children()[0].second->name() == "0");
  Holder outer;
  outer.add_child("projector", head);
  CHECK(head->name() == "projector");
  CHECK(head->children()[1].second->describe() == "BatchNorm1d 'projector.1'");
  CHECK(outer.named_parameters()[0].first == "projector.0.weight");
}

TEST_CASE("nn: ProjectionHead layouts follow the options") {
  Generator gen(4);
  ProjectionHead two(ProjectionHeadOptions{8, 16, 4, 2, true}, gen);
  CHECK(parameter_names_text(two) == "0.weight\n1.weight\n1.bias\n3.weight\n3.bias");
  ProjectionHead three(ProjectionHeadOptions{8, 16, 4, 3, false}, gen);
  CHECK(parameter_names_text(three) == "0.weight\n0.bias\n2.weight\n2.bias\n4.weight\n4.bias");
  ProjectionHead one(ProjectionHeadOptions{8, 16, 4, 1, true}, gen);
  CHECK(parameter_names_text(one) == "0.weight\n0.bias");
  CHECK(two.forward(randn({5, 8}, gen)).shape() == Shape{5, 4});
  CHECK(contains(message_of([&] { ProjectionHead bad(ProjectionHeadOptions{8, 16, 4, 0, true}, gen); }),
                 "num_layers"));
}

// ---- initialisation ------------------------------------------------------------------------

TEST_CASE("nn: default init lies within PyTorch's kaiming-uniform and bias bounds, spread over them") {
  Generator gen(5);
  // kaiming_uniform_(a = sqrt(5)): gain sqrt(1/3), bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  CHECK(init::kaiming_uniform_bound(100, std::sqrt(5.0)) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(init::leaky_relu_gain(0.0) == doctest::Approx(std::sqrt(2.0)));

  auto check_uniform = [](const Tensor& t, double bound) {
    const auto v = t.to_vector<float>();
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    CHECK(*lo >= -bound);
    CHECK(*hi <= bound);
    // With thousands of draws the extremes come within 2% of the bound, and the values
    // are not all equal (a fill instead of a draw would fail both).
    CHECK(*hi > 0.98 * bound);
    CHECK(*lo < -0.98 * bound);
    double mean = 0;
    for (float x : v) mean += x;
    mean /= static_cast<double>(v.size());
    // Mean of n uniforms on [-b, b] has sd b / sqrt(3n): 5 sd is a safe bound.
    CHECK(std::abs(mean) < 5 * bound / std::sqrt(3.0 * static_cast<double>(v.size())));
  };
  Linear linear(400, 50, gen);
  check_uniform(linear.weight, 1.0 / std::sqrt(400.0));
  Linear wide(20, 500, gen);
  check_uniform(wide.bias, 1.0 / std::sqrt(20.0));
  Conv2d conv(16, 32, 3, gen);  // fan_in = 16 * 3 * 3 = 144
  CHECK(init::fan_in(conv.weight) == 144);
  CHECK(init::fan_out(conv.weight) == 288);
  check_uniform(conv.weight, 1.0 / 12.0);
  CHECK(conv.bias.shape() == Shape{32});
  for (float b : conv.bias.to_vector<float>()) CHECK(std::abs(b) <= 1.0f / 12.0f);

  BatchNorm2d bn(6);
  CHECK(bn.weight.to_vector<float>() == std::vector<float>(6, 1.0f));
  CHECK(bn.bias.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(bn.running_mean.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(bn.running_var.to_vector<float>() == std::vector<float>(6, 1.0f));
  CHECK(bn.num_batches_tracked.dtype() == DType::Int64);
  CHECK(bn.num_batches_tracked.dim() == 0);
  CHECK(bn.num_batches_tracked.item() == 0);
  CHECK(linear.weight.requires_grad());
  CHECK(!bn.running_mean.requires_grad());
}

TEST_CASE("nn: init is determined by the generator's seed") {
  Generator a(42), b(42), c(43);
  ConvNet m1(a, 4, 1), m2(b, 4, 1), m3(c, 4, 1);
  CHECK(max_abs_diff(m1.features->children()[0].second->named_parameters()[0].second,
                     m2.features->children()[0].second->named_parameters()[0].second) == 0.0);
  bool all_same = true, any_differs = false;
  const auto p1 = m1.named_parameters(), p2 = m2.named_parameters(), p3 = m3.named_parameters();
  for (size_t i = 0; i < p1.size(); ++i) {
    all_same = all_same && max_abs_diff(p1[i].second, p2[i].second) == 0.0;
    if (p1[i].first.find("features.0.") == 0 || p1[i].second.dim() == 4)
      any_differs = any_differs || max_abs_diff(p1[i].second, p3[i].second) > 0.0;
  }
  CHECK(all_same);
  CHECK(any_differs);
}

// ---- train / eval ------------------------------------------------------------------------------

TEST_CASE("nn: BatchNorm uses batch statistics in training and running statistics in eval") {
  Generator gen(6);
  BatchNorm2d bn(3);
  Tensor x = add(mul(randn({4, 3, 5, 5}, gen, DType::Float64), 2.0), 0.7);
  bn.to(DType::Float64);

  // Training: each channel of the output has mean ~0 and (biased) variance ~1.
  Tensor y = bn.forward(x);
  Tensor channel_mean = mean(y, {0, 2, 3});
  for (double m : channel_mean.to_vector<double>()) CHECK(std::abs(m) < 1e-12);
  CHECK(bn.num_batches_tracked.item() == 1);
  // running = 0.9 * running + 0.1 * batch (unbiased variance).
  Tensor batch_mean = mean(x, {0, 2, 3});
  Tensor batch_var = var(x, {0, 2, 3}, 1);
  CHECK(max_abs_diff(bn.running_mean, mul(batch_mean, 0.1)) < 1e-14);
  CHECK(max_abs_diff(bn.running_var, add(mul(batch_var, 0.1), 0.9)) < 1e-14);

  // Eval: (x - running_mean) / sqrt(running_var + eps), and the running statistics stay.
  bn.eval();
  CHECK(!bn.is_training());
  Tensor rm = bn.running_mean.clone(), rv = bn.running_var.clone();
  Tensor z = bn.forward(x);
  Tensor expected = div(sub(x, rm.reshape({1, 3, 1, 1})), sqrt(add(rv.reshape({1, 3, 1, 1}), 1e-5)));
  CHECK(max_abs_diff(z, expected) < 1e-12);
  CHECK(max_abs_diff(bn.running_mean, rm) == 0.0);
  CHECK(bn.num_batches_tracked.item() == 1);
  CHECK(max_abs_diff(y, z) > 0.1);  // the two modes really differ on this input
}

TEST_CASE("nn: train()/eval() reach every submodule") {
  Generator gen(7);
  ResNet18 model(gen, 3, 4);
  model.eval();
  for (auto& [name, module] : model.named_modules()) CHECK(!module->is_training());
  model.train();
  for (auto& [name, module] : model.named_modules()) CHECK(module->is_training());
  // An eval-mode forward changes no running statistic.
  model.eval();
  const StateDict before = model.state_dict().clone();
  model.forward(randn({2, 3, 8, 8}, gen));
  for (const auto& [name, t] : model.state_dict()) CHECK(max_abs_diff(t, before.at(name)) == 0.0);
}

TEST_CASE("nn: BatchNorm in training refuses a batch with one value per channel") {
  Generator gen(8);
  ProjectionHead head(ProjectionHeadOptions{4, 8, 2, 2, true}, gen);
  const std::string msg = message_of([&] { head.forward(randn({1, 4}, gen)); });
  CHECK(contains(msg, "BatchNorm1d '1'"));
  CHECK(contains(msg, "more than one value per channel"));
  head.eval();
  CHECK(head.forward(randn({1, 4}, gen)).shape() == Shape{1, 2});
}

// ---- gradients, sizes, dtype ----------------------------------------------------------------------

TEST_CASE("nn: zero_grad, parameter_count/bytes and to(Float64)") {
  Generator gen(9);
  Linear linear(3, 2, gen);
  CHECK(linear.parameter_count() == 8);
  CHECK(linear.parameter_bytes() == 32);
  sum(linear.forward(randn({4, 3}, gen))).backward();
  CHECK(linear.weight.grad().defined());
  linear.zero_grad();
  CHECK(!linear.weight.grad().defined());

  // to() changes the tensors in place: handles taken before (an optimizer's) see float64.
  std::vector<Tensor> handles = linear.parameters();
  const auto before = linear.weight.to_vector<float>();
  linear.to(DType::Float64);
  CHECK(handles[0].dtype() == DType::Float64);
  CHECK(handles[0].requires_grad());
  CHECK(linear.parameter_bytes() == 64);
  const auto after = handles[0].to_vector<double>();
  for (size_t i = 0; i < after.size(); ++i) CHECK(after[i] == static_cast<double>(before[i]));
  BatchNorm1d bn(2);
  bn.to(DType::Float64);
  CHECK(bn.num_batches_tracked.dtype() == DType::Int64);
  CHECK(contains(message_of([&] { linear.to(DType::Int64); }), "only float32 or float64"));
}

// ---- state_dict ---------------------------------------------------------------------------------

TEST_CASE("nn: state_dict round trip gives an identical model") {
  Generator gen_a(10), gen_b(11);
  ResNet18 a(gen_a, 3, 4), b(gen_b, 3, 4);
  Tensor x = randn({2, 3, 8, 8}, gen_a);
  a.forward(x);  // training step: running statistics and num_batches_tracked move off their defaults
  a.eval();
  b.eval();
  CHECK(max_abs_diff(a.forward(x), b.forward(x)) > 1e-3);
  b.load_state_dict(a.state_dict());
  CHECK(max_abs_diff(a.forward(x), b.forward(x)) == 0.0);
  const StateDict sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (const auto& [name, t] : sa) CHECK(max_abs_diff(t, sb.at(name)) == 0.0);
  CHECK(sb.at("bn1.num_batches_tracked").item() == 1);
  // Loading copies values: b's tensors do not alias a's.
  CHECK(&sb.at("conv1.weight").storage() != &sa.at("conv1.weight").storage());
  // state_dict() shares storage with the module; clone() is a snapshot.
  const StateDict snapshot = a.state_dict().clone();
  a.train();
  a.forward(x);
  CHECK(max_abs_diff(a.state_dict().at("bn1.running_mean"), sa.at("bn1.running_mean")) == 0.0);
  CHECK(max_abs_diff(a.state_dict().at("bn1.running_mean"), snapshot.at("bn1.running_mean")) > 0.0);
  CHECK(!a.state_dict().at("conv1.weight").requires_grad());
}

TEST_CASE("nn: load_state_dict names missing, unexpected, mis-shaped and mis-typed entries") {
  Generator gen(12);
  ConvNet model(gen, 2, 1);
  const StateDict good = model.state_dict().clone();
  auto without = [&](const std::string& skip) {
    StateDict s;
    for (const auto& [name, t] : good)
      if (name != skip) s.insert(name, t);
    return s;
  };

  std::string msg = message_of([&] { model.load_state_dict(without("features.4.running_var")); });
  CHECK(contains(msg, "ConvNet (top-level module)"));
  CHECK(contains(msg, "missing 1 entries: 'features.4.running_var'"));

  StateDict extra = good;
  extra.insert("features.99.weight", zeros({2}));
  msg = message_of([&] { model.load_state_dict(extra); });
  CHECK(contains(msg, "unexpected 1 entries: 'features.99.weight'"));

  StateDict wrong_shape = without("features.3.weight");
  wrong_shape.insert("features.3.weight", zeros({4, 2, 5, 5}));
  msg = message_of([&] { model.load_state_dict(wrong_shape); });
  CHECK(contains(msg, "'features.3.weight' has shape [4, 2, 5, 5] in the state dict but [4, 2, 3, 3] in the model"));

  StateDict wrong_dtype = without("features.1.bias");
  wrong_dtype.insert("features.1.bias", zeros({2}, DType::Float64));
  msg = message_of([&] { model.load_state_dict(wrong_dtype); });
  CHECK(contains(msg, "'features.1.bias' has dtype float64 in the state dict but float32 in the model"));

  // A failed load writes nothing, even to the entries that were fine.
  StateDict partly_bad;
  for (const auto& [name, t] : good) partly_bad.insert(name, name == "features.12.bias" ? zeros({3}) : zeros_like(t));
  CHECK(contains(message_of([&] { model.load_state_dict(partly_bad); }), "'features.12.bias' has shape [3]"));
  for (const auto& [name, t] : model.state_dict()) CHECK(max_abs_diff(t, good.at(name)) == 0.0);

  // Non-strict: missing and unexpected names are skipped, the rest is loaded; shapes still checked.
  StateDict partial;
  partial.insert("features.0.weight", zeros({2, 1, 3, 3}));
  partial.insert("not.in.model", zeros({1}));
  model.load_state_dict(partial, /*strict=*/false);
  CHECK(max_abs_diff(model.state_dict().at("features.0.weight"), zeros({2, 1, 3, 3})) == 0.0);
  CHECK(max_abs_diff(model.state_dict().at("features.1.weight"), good.at("features.1.weight")) == 0.0);
  StateDict partial_bad;
  partial_bad.insert("features.0.weight", zeros({2, 1, 1, 1}));
  CHECK(contains(message_of([&] { model.load_state_dict(partial_bad, false); }), "'features.0.weight' has shape"));

  StateDict dup;
  dup.insert("a", zeros({1}));
  CHECK(contains(message_of([&] { dup.insert("a", zeros({1})); }), "duplicate entry 'a'"));
  CHECK(contains(message_of([&] { dup.at("b"); }), "no entry named 'b'"));
}

TEST_CASE("nn: registration refuses empty, dotted and duplicate names") {
  Holder h;
  Tensor w = zeros({2});
  h.add_parameter("w", w);
  CHECK(w.requires_grad());
  Tensor w2 = zeros({2});
  CHECK(contains(message_of([&] { h.add_parameter("w", w2); }), "'w': the name is already used"));
  CHECK(contains(message_of([&] { h.add_buffer("a.b", w2); }), "must not contain '.'"));
  CHECK(contains(message_of([&] { h.add_buffer("", w2); }), "empty name"));
  Tensor ints = zeros({2}, DType::Int64);
  CHECK(contains(message_of([&] { h.add_parameter("i", ints); }), "must be a float32 or float64 tensor"));
  CHECK(contains(message_of([&] { h.add_child("w", std::make_shared<ReLU>()); }), "already used"));
}

// ---- bad input names the layer -------------------------------------------------------------------

TEST_CASE("nn: a layer given the wrong channels or dims names itself and both shapes") {
  Generator gen(13);
  ConvNet convnet(gen, 4, 3);
  std::string msg = message_of([&] { convnet.forward(randn({2, 1, 28, 28}, gen)); });
  CHECK(contains(msg, "Conv2d 'features.0'"));
  CHECK(contains(msg, "expected an input of shape [N, 3, H, W] (4 dims), got [2, 1, 28, 28]"));
  msg = message_of([&] { convnet.forward(randn({3, 28, 28}, gen)); });
  CHECK(contains(msg, "Conv2d 'features.0': expected an input of shape [N, 3, H, W] (4 dims), got [3, 28, 28]"));

  ResNet18 resnet(gen, 3, 4);
  msg = message_of([&] { resnet.layer2->forward(randn({2, 5, 8, 8}, gen)); });
  CHECK(contains(msg, "Conv2d 'layer2.0.conv1'"));
  CHECK(contains(msg, "[N, 4, H, W]"));
  CHECK(contains(msg, "[2, 5, 8, 8]"));

  Holder outer;
  outer.add_child("projector", std::make_shared<ProjectionHead>(ProjectionHeadOptions{8, 16, 4, 2, true}, gen));
  msg = message_of([&] { outer.forward(randn({4, 6}, gen)); });
  CHECK(contains(msg, "Linear 'projector.0': expected an input of shape [N, 8] (2 dims), got [4, 6]"));

  BatchNorm2d bn(3);
  msg = message_of([&] { bn.forward(randn({2, 3}, gen)); });
  CHECK(contains(msg, "BatchNorm2d (top-level module): expected an input of shape [N, 3, H, W] (4 dims), got [2, 3]"));
  BatchNorm1d bn1(3);
  CHECK(contains(message_of([&] { bn1.forward(randn({2, 4}, gen)); }), "[N, 3] (2 dims), got [2, 4]"));
  MaxPool2d pool(2);
  CHECK(contains(message_of([&] { pool.forward(randn({2, 4}, gen)); }), "MaxPool2d (top-level module)"));
  AdaptiveAvgPool2d gap;
  CHECK(contains(message_of([&] { gap.forward(randn({2, 4, 3}, gen)); }), "AdaptiveAvgPool2d"));
  // Too small an image for a layer deep inside: the op's error, prefixed with the layer name.
  msg = message_of([&] { convnet.forward(randn({2, 3, 2, 2}, gen)); });
  CHECK(contains(msg, "'features.10'"));
}

TEST_CASE("nn: simple layers compute what they say") {
  Generator gen(14);
  Tensor x = randn({2, 3, 4, 4}, gen, DType::Float64);
  CHECK(max_abs_diff(ReLU().forward(x), relu(x)) == 0.0);
  CHECK(Identity().forward(x).impl() == x.impl());
  CHECK(Flatten().forward(x).shape() == Shape{2, 48});
  CHECK(MaxPool2d(2).forward(x).shape() == Shape{2, 3, 2, 2});
  CHECK(AvgPool2d(2).forward(x).shape() == Shape{2, 3, 2, 2});
  CHECK(max_abs_diff(AdaptiveAvgPool2d().forward(x), mean(x, {2, 3}, true)) < 1e-15);
  Linear linear(3, 2, gen);
  linear.to(DType::Float64);
  Tensor v = randn({5, 3}, gen, DType::Float64);
  CHECK(max_abs_diff(linear.forward(v), add(matmul(v, transpose(linear.weight, 0, 1)), linear.bias)) < 1e-15);
  Linear no_bias(3, 2, gen, false);
  CHECK(!no_bias.bias.defined());
  CHECK(no_bias.named_parameters().size() == 1);
  Sequential seq;
  seq.push_back(std::make_shared<ReLU>());
  CHECK(contains(message_of([&] { seq[3]; }), "index 3 is out of range (1 layers)"));
}

// ---- memory report -------------------------------------------------------------------------------

TEST_CASE("nn: memory report counts parameters, gradients and the step's peak, and leaves the model as it was") {
  Generator gen(15);
  ConvNet model(gen, 8, 1);
  model.eval();
  const StateDict before = model.state_dict().clone();
  const Shape input{8, 1, 28, 28};
  const MemoryReport report = measure_step_memory(model, input, gen, /*optimizer_state_bytes=*/123);
  CHECK(report.parameter_count == model.parameter_count());
  CHECK(report.parameter_bytes == 4 * model.parameter_count());
  CHECK(report.gradient_bytes == report.parameter_bytes);  // one float32 gradient per parameter
  CHECK(report.optimizer_state_bytes == 123);
  CHECK(report.input_bytes == 8 * 28 * 28 * 4);
  // The graph keeps at least the first conv's output [8, 8, 28, 28] and the gradients.
  const int64_t first_activation = 8 * 8 * 28 * 28 * 4;
  CHECK(report.step_peak_bytes >= first_activation + report.gradient_bytes);
  // ... and, for this small net, far less than 100 MB.
  CHECK(report.step_peak_bytes < 100 * 1024 * 1024);
  CHECK(report.total_bytes() == report.parameter_bytes + report.gradient_bytes + 123 + report.input_bytes +
                                    report.step_peak_bytes);
  const std::string table = report.table();
  CHECK(contains(table, "ConvNet"));
  CHECK(contains(table, "step peak above pre-step"));
  MESSAGE(table);
  // Restored: mode, buffers, no gradients.
  CHECK(!model.is_training());
  for (const auto& [name, t] : model.state_dict()) CHECK(max_abs_diff(t, before.at(name)) == 0.0);
  for (const auto& p : model.parameters()) CHECK(!p.grad().defined());
  CHECK(contains(message_of([&] { measure_step_memory(model, input, gen, -1); }), "optimizer_state_bytes"));
}

TEST_CASE("nn: BatchNorm running statistics can be reset and re-estimated as a plain average") {
  sc::Generator gen(5);
  sc::nn::BatchNorm1d bn(3);
  bn.train();
  sc::Tensor a = sc::randn({8, 3}, gen), b = sc::randn({8, 3}, gen);
  bn.reset_running_stats();
  bn.set_momentum(1.0);
  bn.forward(a);
  bn.set_momentum(0.5);
  bn.forward(b);
  // The average of the two batch means (momentum 1, then 1/2).
  sc::Tensor expected = sc::div(sc::add(sc::mean(a, {0}), sc::mean(b, {0})), 2.0);
  const auto got = bn.running_mean.to_vector<float>(), want = expected.to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(bn.set_momentum(1.5), doctest::Contains("momentum must be in [0, 1]"), sc::Error);
}

TEST_CASE("nn: Sequential runs BatchNorm + ReLU as the fused op, with the pair's values and gradients") {
  // Two identical ConvNets: one runs its Sequential (which fuses each BatchNorm2d + ReLU
  // into batch_norm_relu), the other runs the same layers one by one (unfused).
  Generator g1(41), g2(41), gx(42);
  ConvNet fused(g1, 4, 1), unfused(g2, 4, 1);
  const Tensor x = randn({6, 1, 12, 12}, gx);
  const Tensor y_fused = fused.forward(x);
  Tensor h = x;
  for (size_t i = 0; i < unfused.features->size(); ++i) h = (*unfused.features)[i].forward(h);
  const Tensor y_unfused = unfused.flatten->forward(unfused.pool->forward(h));

  // The graph holds the fused node and no separate relu (a walk from the output).
  std::set<std::string> node_names;
  std::vector<std::shared_ptr<Node>> stack = {y_fused.grad_fn()};
  std::set<const Node*> seen;
  while (!stack.empty()) {
    std::shared_ptr<Node> node = stack.back();
    stack.pop_back();
    if (!node || !seen.insert(node.get()).second) continue;
    node_names.insert(node->name());
    for (const auto& next : node->next) stack.push_back(next);
  }
  CHECK(node_names.count("batch_norm_relu") == 1);
  CHECK(node_names.count("relu") == 0);
  CHECK(node_names.count("batch_norm") == 0);

  // The same numbers: the fused kernels compute the same expressions in the same order.
  CHECK(max_abs_diff(y_fused, y_unfused) == 0.0);
  const Tensor target = randn(y_fused.shape(), gx);
  sum(mul(y_fused, target)).backward();
  sum(mul(y_unfused, target)).backward();
  const auto fused_params = fused.named_parameters(), unfused_params = unfused.named_parameters();
  REQUIRE(fused_params.size() == unfused_params.size());
  for (size_t i = 0; i < fused_params.size(); ++i) {
    CAPTURE(fused_params[i].first);
    CHECK(max_abs_diff(fused_params[i].second.grad(), unfused_params[i].second.grad()) == 0.0);
  }
  // The running statistics moved the same way.
  const auto fused_state = fused.state_dict(), unfused_state = unfused.state_dict();
  for (const auto& entry : fused_state) {  // no structured binding: clang 14 cannot CAPTURE one
    CAPTURE(entry.first);
    CHECK(max_abs_diff(entry.second, unfused_state.at(entry.first)) == 0.0);
  }
}

TEST_CASE("nn: on the CPU the fused BatchNorm + ReLU keeps no output: after a max-pool it is freed") {
  // batch_norm_relu recomputes its ReLU's mask from x in the backward, and max_pool2d keeps
  // only its argmax, so once the pool has run nothing holds the [N, C, H, W] output of the
  // fused op. (The unfused pair kept the batch norm output and the ReLU's output.)
  Generator g(43);
  const Tensor x = randn({8, 4, 16, 16}, g).requires_grad_(true);
  const Tensor weight = ones({4}).requires_grad_(true), bias = zeros({4}).requires_grad_(true);
  const int64_t activation_bytes = x.numel() * static_cast<int64_t>(sizeof(float));
  Tensor pooled;
  int64_t with_output = 0;
  {
    const Tensor y = batch_norm_relu(x, weight, bias, Tensor(), Tensor(), /*training=*/true, 0.1, 1e-5);
    pooled = max_pool2d(y, Pool2dOptions{});
    with_output = memory_stats(Device::CPU).bytes_in_use;
  }
  const int64_t without_output = memory_stats(Device::CPU).bytes_in_use;
  CHECK(with_output - without_output == activation_bytes);
  // ... and the backward still has what it needs: the gradient of the fused op through the pool.
  sum(pooled).backward();
  REQUIRE(x.grad().defined());
  CHECK(std::isfinite(sum(abs(x.grad())).item()));
  CHECK(sum(abs(x.grad())).item() > 0.0);
}
