// Optimizers (SGD, Adam, AdamW, LARS) and the warmup-cosine schedule.
//
// The golden files (tests/golden/optim_*.golden, written by gen_golden_optim.py) hold a small
// model trained by PyTorch for four steps: two parameter groups with different lr and weight
// decay, and for SGD, Adam and LARS the lr driven by the schedule. We rebuild the model with
// our ops, compute the loss and gradients with our autograd, step our optimizer, and compare
// the parameters after every step. LARS is compared with the generator's reference, written
// from the SimCLR paper's definition (PyTorch has no LARS).
//
// Set SC_GOLDEN_VERBOSE=1 to print how much of its tolerance each comparison used.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "nn/lars.h"
#include "nn/optimizer.h"
#include "nn/schedule.h"
#include "nn/sgd.h"
#include "tests/golden_io.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::nn;
using namespace sc::test;

namespace {

// |ours - reference| <= atol + rtol * |reference|, element by element.
struct Tolerance {
  double rtol;
  double atol;
};

// Parameters after each step, float32. The issue asks for 1e-5 relative. Both sides do the
// same float32 operations in the same order except for the gradient's accumulation order
// (our matmul vs PyTorch's) and possibly fused multiply-adds, so the parameters differ by a
// few roundings (6e-8 relative each) per step. The 1e-7 absolute term is for elements that
// land near zero as the difference of O(0.1..1) terms: their error is set by those terms
// (~1e-8), not by the result. A wrong formula moves parameters by >= 1e-4 relative (the
// "can fail" test below shows each mutation is caught).
constexpr Tolerance kParamsF32{1e-5, 1e-7};
// float64 on both sides: the same argument at 1e-16 per rounding.
constexpr Tolerance kParamsF64{1e-10, 1e-12};
// Our loss and gradients against PyTorch's before each step (a diagnostic that localises a failure: engine or
// optimizer?), with the core golden tests' tolerances (tests/test_golden.cpp).
constexpr Tolerance kGradsF32{1e-5, 1e-5};
constexpr Tolerance kGradsF64{1e-10, 1e-10};
// The lr each step used: the same double formula on both sides (LambdaLR multiplies the
// group's initial lr by our factor), so only the last bit of cos() may differ.
constexpr double kLrRtol = 1e-14;

constexpr int kSteps = 4;
const std::vector<std::string> kParamNames = {"fc1.weight", "fc1.bias",      "bn.weight", "bn.bias",
                                              "unused.weight", "fc2.weight", "fc2.bias"};
const std::vector<std::vector<std::string>> kGroupNames = {
    {"fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "unused.weight"}, {"fc2.weight", "fc2.bias"}};

bool verbose() {
  const char* v = std::getenv("SC_GOLDEN_VERBOSE");
  return v != nullptr && std::strcmp(v, "0") != 0;
}

GoldenFile load(const std::string& file_name) {
  return read_golden_file(std::string(SC_GOLDEN_DIR) + "/" + file_name);
}

// The largest |a - e| / (atol + rtol |e|): <= 1 passes.
double tolerance_used(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  const std::vector<double> a = actual.to(DType::Float64).to_vector<double>();
  const std::vector<double> e = expected.to(DType::Float64).to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < e.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - e[i]) / (tol.atol + tol.rtol * std::abs(e[i])));
  return worst;
}

// The model of gen_golden_optim.py: h = relu(x W1^T + b1); h = h * gamma + beta;
// out = h W2^T + b2; loss = cross_entropy(out, targets).
struct TinyModel {
  std::map<std::string, Tensor> params;
  Tensor x, targets;

  Tensor loss() const {
    Tensor h = relu(matmul(x, transpose(params.at("fc1.weight"), 0, 1)) + params.at("fc1.bias"));
    h = h * params.at("bn.weight") + params.at("bn.bias");
    Tensor out = matmul(h, transpose(params.at("fc2.weight"), 0, 1)) + params.at("fc2.bias");
    return cross_entropy(out, targets);
  }

  // The two groups of the generator, with its lrs and weight decays.
  std::vector<ParamGroup> groups(const std::vector<double>& lr, const std::vector<double>& wd) const {
    std::vector<ParamGroup> out;
    for (size_t g = 0; g < kGroupNames.size(); ++g) {
      ParamGroup group;
      for (const std::string& name : kGroupNames[g]) {
        group.names.push_back(name);
        group.params.push_back(params.at(name));
      }
      group.lr = lr[g];
      group.weight_decay = wd[g];
      out.push_back(group);
    }
    return out;
  }

  // A copy with its own parameter storage (fresh leaves).
  TinyModel clone() const {
    TinyModel copy{{}, x, targets};
    for (const auto& [name, p] : params) copy.params[name] = p.detach().clone().requires_grad_();
    return copy;
  }
};

TinyModel model_from_golden(const GoldenFile& g, const std::string& c) {
  TinyModel m;
  m.x = g.get(c + "/x").clone();
  m.targets = g.get(c + "/targets").clone();
  for (const std::string& name : kParamNames) m.params[name] = g.get(c + "/init/" + name).clone().requires_grad_();
  return m;
}

std::vector<double> doubles(const GoldenFile& g, const std::string& name) {
  return g.get(name).to_vector<double>();
}

// One training step: gradients from our autograd, then the optimizer.
void train_step(const TinyModel& model, Optimizer& optimizer) {
  optimizer.zero_grad();
  model.loss().backward();
  optimizer.step();
}

// Builds the optimizer a golden file describes: kind "sgd", "adam", "adamw" or "lars".
using OptimizerFactory =
    std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup> groups, const std::vector<double>& options)>;

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, std::vector<ParamGroup> groups,
                                          const std::vector<double>& o) {
  if (kind == "sgd") return std::make_unique<SGD>(std::move(groups), SGDOptions{o[0], o[1], o[2] != 0});
  if (kind == "adam") return std::make_unique<Adam>(std::move(groups), AdamOptions{o[0], o[1], o[2]});
  if (kind == "adamw") return std::make_unique<AdamW>(std::move(groups), AdamOptions{o[0], o[1], o[2]});
  REQUIRE(kind == "lars");
  LarsOptions options;
  options.momentum = o[0];
  options.eta = o[1];
  return std::make_unique<LARS>(std::move(groups), options);
}

OptimizerFactory factory_for(const std::string& kind) {
  return [kind](std::vector<ParamGroup> groups, const std::vector<double>& options) {
    return make_optimizer(kind, std::move(groups), options);
  };
}

std::optional<WarmupCosineSchedule> schedule_from_golden(const GoldenFile& g, const std::string& c) {
  if (!g.has(c + "/schedule")) return std::nullopt;
  const std::vector<double> s = doubles(g, c + "/schedule");
  return WarmupCosineSchedule(static_cast<int64_t>(s[0]), static_cast<int64_t>(s[1]), s[2]);
}

// Trains the golden's model with `factory`'s optimizer and compares every step with PyTorch.
// Returns "" when everything matches, else the first mismatch (so a test can also show that
// a deliberately wrong optimizer fails).
std::string run_against_golden(const GoldenFile& g, const std::string& c, const OptimizerFactory& factory,
                               bool use_schedule = true) {
  const bool f64 = c == "f64";
  const Tolerance param_tol = f64 ? kParamsF64 : kParamsF32;
  const Tolerance grad_tol = f64 ? kGradsF64 : kGradsF32;
  TinyModel model = model_from_golden(g, c);
  auto optimizer = factory(model.groups(doubles(g, c + "/group_lr"), doubles(g, c + "/group_wd")),
                           doubles(g, c + "/options"));
  const std::optional<WarmupCosineSchedule> schedule = use_schedule ? schedule_from_golden(g, c) : std::nullopt;
  const std::vector<double> golden_lr = doubles(g, c + "/lr");  // [steps, groups]
  double worst_param = 0, worst_grad = 0;
  std::string worst_param_at;

  for (int step = 0; step < kSteps; ++step) {
    const std::string at = c + "/step" + std::to_string(step + 1) + "/";
    if (schedule) schedule->apply(*optimizer, step);
    for (size_t group = 0; group < 2; ++group) {
      const double expected = golden_lr[step * 2 + group];
      const double lr = optimizer->group(group).lr;
      if (std::abs(lr - expected) > kLrRtol * std::abs(expected))
        return at + " group " + std::to_string(group) + ": lr " + std::to_string(lr) + ", PyTorch used " +
               std::to_string(expected);
    }
    optimizer->zero_grad();
    const Tensor loss = model.loss();
    const double golden_loss = doubles(g, c + "/loss")[step];
    if (std::abs(loss.item() - golden_loss) > grad_tol.atol + grad_tol.rtol * std::abs(golden_loss))
      return at + " loss " + std::to_string(loss.item()) + ", PyTorch's " + std::to_string(golden_loss);
    loss.backward();
    for (const std::string& name : kParamNames) {
      const Tensor grad = model.params[name].grad();
      if (!g.has(at + "grad_" + name)) {
        if (grad.defined()) return at + name + " has a gradient, PyTorch's has none";
        continue;
      }
      const std::string report = compare_tensors(grad, g.get(at + "grad_" + name), grad_tol.rtol, grad_tol.atol);
      if (!report.empty()) return at + "grad_" + name + ": " + report;
      worst_grad = std::max(worst_grad, tolerance_used(grad, g.get(at + "grad_" + name), grad_tol));
    }
    optimizer->step();
    for (const std::string& name : kParamNames) {
      const Tensor& expected = g.get(at + name);
      const std::string report = compare_tensors(model.params[name], expected, param_tol.rtol, param_tol.atol);
      if (!report.empty()) return at + name + ": " + report;
      const double used = tolerance_used(model.params[name], expected, param_tol);
      if (used > worst_param) {
        worst_param = used;
        worst_param_at = at + name;
      }
    }
  }
  if (verbose())
    MESSAGE(g.source << " " << c << ": parameters used " << worst_param << " of their tolerance (worst: "
                     << worst_param_at << "), gradients " << worst_grad);
  return "";
}

void check_optimizer_golden(const std::string& kind) {
  const GoldenFile g = load("optim_" + kind + ".golden");
  for (const std::string c : {"f32", "f64"}) {
    CAPTURE(c);
    CHECK(run_against_golden(g, c, factory_for(kind)) == "");
    // The parameter outside the loss never had a gradient: PyTorch and we leave it alone.
    CHECK(compare_tensors(g.get(c + "/step4/unused.weight"), g.get(c + "/init/unused.weight"), 0, 0) == "");
  }
}

}  // namespace

// ---- step for step against PyTorch ----------------------------------------------------------

TEST_CASE("optim: SGD (momentum 0.9, Nesterov, weight decay, two groups, warmup-cosine lr) matches PyTorch") {
  check_optimizer_golden("sgd");
}

TEST_CASE("optim: Adam (coupled weight decay, two groups, warmup-cosine lr with a floor) matches PyTorch") {
  check_optimizer_golden("adam");
}

TEST_CASE("optim: AdamW (decoupled weight decay, two groups, betas 0.8/0.99, eps 1e-6) matches PyTorch") {
  check_optimizer_golden("adamw");
}

TEST_CASE("optim: LARS (trust ratio, 1-D parameters excluded, two groups, warmup-cosine lr) matches the reference") {
  check_optimizer_golden("lars");
}

TEST_CASE("optim: the golden comparison catches a wrong optimizer") {
  // Each variant differs from what the generator ran in one detail; every one must fail,
  // which shows the tolerances above leave the detail visible.
  const GoldenFile sgd = load("optim_sgd.golden");
  const GoldenFile adam = load("optim_adam.golden");
  const GoldenFile adamw = load("optim_adamw.golden");
  const GoldenFile lars = load("optim_lars.golden");
  auto without_weight_decay = [](const std::string& kind) -> OptimizerFactory {
    return [kind](std::vector<ParamGroup> groups, const std::vector<double>& o) {
      for (ParamGroup& group : groups) group.weight_decay = 0;
      return make_optimizer(kind, std::move(groups), o);
    };
  };
  auto lars_excluding = [](LarsExcludePredicate exclude) -> OptimizerFactory {
    return [exclude](std::vector<ParamGroup> groups, const std::vector<double>& o) {
      LarsOptions options;
      options.momentum = o[0];
      options.eta = o[1];
      options.exclude = exclude;
      return std::make_unique<LARS>(std::move(groups), options);
    };
  };
  // What the comparison reported (printed with SC_GOLDEN_VERBOSE=1): must not be empty.
  auto caught = [](const std::string& report) {
    if (verbose()) MESSAGE(report);
    return !report.empty();
  };
  for (const std::string c : {"f32", "f64"}) {
    CAPTURE(c);
    // SGD: classic momentum instead of Nesterov; no weight decay; no schedule.
    CHECK(caught(run_against_golden(sgd, c, [](std::vector<ParamGroup> groups, const std::vector<double>& o) {
            return std::make_unique<SGD>(std::move(groups), SGDOptions{o[0], o[1], false});
          })));
    CHECK(caught(run_against_golden(sgd, c, without_weight_decay("sgd"))));
    CHECK(caught(run_against_golden(sgd, c, factory_for("sgd"), /*use_schedule=*/false)));
    // Adam with AdamW's decoupled decay and the other way round; Adam without decay.
    CHECK(caught(run_against_golden(adam, c, factory_for("adamw"))));
    CHECK(caught(run_against_golden(adamw, c, factory_for("adam"))));
    CHECK(caught(run_against_golden(adam, c, without_weight_decay("adam"))));
    // LARS adapting every parameter, or none; LARS without weight decay.
    CHECK(caught(run_against_golden(lars, c, lars_excluding([](const std::string&, const Tensor&) { return false; }))));
    CHECK(caught(run_against_golden(lars, c, lars_excluding([](const std::string&, const Tensor&) { return true; }))));
    CHECK(caught(run_against_golden(lars, c, without_weight_decay("lars"))));
  }
}

// ---- the schedule ----------------------------------------------------------------------------

TEST_CASE("optim: warmup-cosine factors match the generator's formula") {
  const GoldenFile g = load("optim_schedule.golden");
  const std::vector<std::string> cases = g.cases_with("config");
  REQUIRE(cases.size() == 6);
  for (const std::string& c : cases) {
    CAPTURE(c);
    const std::vector<double> config = doubles(g, c + "/config");
    const std::vector<double> factors = doubles(g, c + "/factors");
    const WarmupCosineSchedule schedule(static_cast<int64_t>(config[0]), static_cast<int64_t>(config[1]), config[2]);
    for (size_t step = 0; step < factors.size(); ++step) {
      CAPTURE(step);
      // The same double formula in both languages; 1e-14 leaves room for cos() in the last bit.
      CHECK(std::abs(schedule.factor(static_cast<int64_t>(step)) - factors[step]) <= 1e-14);
    }
  }
}

TEST_CASE("optim: warmup-cosine values worked out by hand") {
  const WarmupCosineSchedule schedule(2, 6, 0.1);
  CHECK(schedule.factor(0) == 0.5);                                   // (0 + 1) / 2
  CHECK(schedule.factor(1) == 1.0);                                   // end of warmup
  CHECK(schedule.factor(2) == 1.0);                                   // progress 0
  CHECK(std::abs(schedule.factor(4) - (0.1 + 0.9 * 0.5)) < 1e-15);    // progress 1/2: halfway to the floor
  CHECK(schedule.factor(6) == 0.1);                                   // the floor
  CHECK(schedule.factor(100) == 0.1);
  CHECK(std::abs(schedule.lr(0, 0.3) - 0.15) < 1e-15);
  // No warmup: the first step is at the full rate.
  CHECK(WarmupCosineSchedule(0, 10).factor(0) == 1.0);
  // Warmup only: factor (step+1)/W, then the floor.
  const WarmupCosineSchedule warmup_only(4, 4);
  CHECK(warmup_only.factor(3) == 1.0);
  CHECK(warmup_only.factor(4) == 0.0);
}

TEST_CASE("optim: the schedule scales each group's own base lr") {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}).requires_grad_();
  SGD optimizer({ParamGroup{{"a"}, {a}, 0.2, 0.0}, ParamGroup{{"b"}, {b}, 0.02, 0.0}});
  const WarmupCosineSchedule schedule(4, 8);
  schedule.apply(optimizer, 0);
  CHECK(optimizer.group(0).lr == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(optimizer.group(1).lr == doctest::Approx(0.005).epsilon(1e-15));
  // The base lr stays the one given at construction, so applying twice does not compound.
  schedule.apply(optimizer, 0);
  CHECK(optimizer.group(0).lr == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(optimizer.base_lr(0) == 0.2);
  schedule.apply(optimizer, 3);
  CHECK(optimizer.group(1).lr == 0.02);
}

TEST_CASE("optim: the schedule rejects bad arguments") {
  CHECK(contains(message_of([] { WarmupCosineSchedule(-1, 5); }), "warmup_steps must be >= 0, got -1"));
  CHECK(contains(message_of([] { WarmupCosineSchedule(0, 0); }), "total_steps must be >= 1, got 0"));
  CHECK(contains(message_of([] { WarmupCosineSchedule(6, 5); }), "total_steps (5) must be >= warmup_steps (6)"));
  CHECK(contains(message_of([] { WarmupCosineSchedule(1, 5, 1.5); }), "final_fraction must be in [0, 1], got 1.5"));
  CHECK(contains(message_of([] { WarmupCosineSchedule(1, 5, -0.1); }), "final_fraction must be in [0, 1], got -0.1"));
  CHECK(contains(message_of([] { WarmupCosineSchedule(1, 5).factor(-1); }), "step must be >= 0, got -1"));
}

// ---- state save and load -------------------------------------------------------------------

TEST_CASE("optim: state saved after 2 steps and loaded into a fresh optimizer continues bit for bit") {
  for (const std::string kind : {"sgd", "adam", "adamw", "lars"}) {
    CAPTURE(kind);
    const GoldenFile g = load("optim_" + kind + ".golden");
    const std::string c = "f32";
    const std::vector<double> lr = doubles(g, c + "/group_lr"), wd = doubles(g, c + "/group_wd");
    const std::vector<double> options = doubles(g, c + "/options");
    const WarmupCosineSchedule schedule(2, 5);

    // The uninterrupted run.
    TinyModel straight = model_from_golden(g, c);
    auto straight_opt = make_optimizer(kind, straight.groups(lr, wd), options);
    for (int step = 0; step < 2; ++step) {
      schedule.apply(*straight_opt, step);
      train_step(straight, *straight_opt);
    }
    const std::map<std::string, Tensor> saved = straight_opt->state_dict();
    TinyModel resumed = straight.clone();  // the weights a checkpoint would hold
    schedule.apply(*straight_opt, 2);
    train_step(straight, *straight_opt);

    // A fresh optimizer on the copied weights, given the saved state.
    auto resumed_opt = make_optimizer(kind, resumed.groups(lr, wd), options);
    resumed_opt->load_state_dict(saved);
    schedule.apply(*resumed_opt, 2);
    train_step(resumed, *resumed_opt);

    for (const std::string& name : kParamNames) {
      CAPTURE(name);
      CHECK(compare_tensors(resumed.params[name], straight.params[name], 0, 0) == "");
    }
    // And the states agree bit for bit too.
    const auto a = straight_opt->state_dict(), b = resumed_opt->state_dict();
    REQUIRE(a.size() == b.size());
    for (const auto& [name, t] : a) CHECK(compare_tensors(b.at(name), t, 0, 0) == "");
    // Without the state, the third step differs: the test can tell.
    TinyModel fresh = resumed.clone();
    auto fresh_opt = make_optimizer(kind, fresh.groups(lr, wd), options);
    schedule.apply(*fresh_opt, 2);
    train_step(fresh, *fresh_opt);
    CHECK(compare_tensors(fresh.params["fc1.weight"], straight.params["fc1.weight"], 1e-5, 0) != "");
  }
}

TEST_CASE("optim: state names and sizes") {
  const GoldenFile g = load("optim_adam.golden");
  TinyModel model = model_from_golden(g, "f32");
  Adam adam(model.groups({1e-3, 1e-3}, {0, 0}));
  CHECK(adam.state_dict().empty());
  CHECK(adam.state_bytes() == 0);
  train_step(model, adam);
  train_step(model, adam);
  const auto state = adam.state_dict();
  // Six parameters got gradients; "unused.weight" has no state.
  CHECK(state.size() == 6 * 3);
  CHECK(state.count("fc1.weight.exp_avg") == 1);
  CHECK(state.count("fc1.weight.exp_avg_sq") == 1);
  CHECK(state.at("fc1.weight.step").item() == 2);
  CHECK(state.at("fc1.weight.step").dtype() == DType::Int64);
  CHECK(state.at("fc2.bias.exp_avg").shape() == Shape{3});
  CHECK(state.count("unused.weight.step") == 0);
  CHECK(adam.param_state("unused.weight").empty());
  // fc1.weight 30, fc1.bias 6, bn 6 + 6, fc2.weight 18, fc2.bias 3: 69 floats per moment,
  // two moments in float32 plus six int64 step counters.
  CHECK(adam.state_bytes() == 69 * 2 * 4 + 6 * 8);
  // The dict holds copies: a later step does not change what was saved.
  const Tensor saved = state.at("fc1.weight.exp_avg");
  const std::vector<float> before = saved.to_vector<float>();
  train_step(model, adam);
  CHECK(saved.to_vector<float>() == before);

  const GoldenFile s = load("optim_sgd.golden");
  TinyModel sgd_model = model_from_golden(s, "f32");
  SGD plain(sgd_model.groups({0.1, 0.1}, {0, 0}));  // momentum 0: no state at all
  train_step(sgd_model, plain);
  CHECK(plain.state_slots().empty());
  CHECK(plain.state_dict().empty());
  SGD with_momentum(sgd_model.groups({0.1, 0.1}, {0, 0}), SGDOptions{0.9});
  train_step(sgd_model, with_momentum);
  CHECK(with_momentum.state_dict().count("bn.weight.momentum_buffer") == 1);
  // SGD's first step stores buf = g (PyTorch), not (1 - dampening) * g or 0.
  CHECK(compare_tensors(with_momentum.state_dict().at("bn.weight.momentum_buffer"), sgd_model.params["bn.weight"].grad(),
                        0, 0) == "");
}

TEST_CASE("optim: load_state_dict rejects bad state and leaves the optimizer as it was") {
  const GoldenFile g = load("optim_adam.golden");
  TinyModel model = model_from_golden(g, "f32");
  Adam adam(model.groups({1e-3, 1e-3}, {0, 0}));
  train_step(model, adam);
  const std::map<std::string, Tensor> good = adam.state_dict();
  auto with = [&](const std::string& name, const Tensor& t) {
    std::map<std::string, Tensor> state = good;
    state[name] = t;
    return state;
  };
  auto without = [&](const std::string& name) {
    std::map<std::string, Tensor> state = good;
    state.erase(name);
    return state;
  };
  auto load_message = [&](const std::map<std::string, Tensor>& state) {
    return message_of([&] { adam.load_state_dict(state); });
  };
  CHECK(load_message(good) == "no error");

  std::string m = load_message(with("fc1.weight.momentum", zeros({6, 5})));
  CHECK(contains(m, "Adam.load_state_dict: entry 'fc1.weight.momentum' is not '<parameter name>.<slot>'"));
  CHECK(contains(m, "step, exp_avg, exp_avg_sq"));
  m = load_message(with("fc9.weight.exp_avg", zeros({6, 5})));
  CHECK(contains(m, "entry 'fc9.weight.exp_avg' names parameter 'fc9.weight', which this optimizer does not hold"));
  m = load_message(with("fc1.weight.exp_avg", zeros({5, 6})));
  CHECK(contains(m, "entry 'fc1.weight.exp_avg' is float32[5, 6] on cpu but parameter 'fc1.weight' is float32[6, 5]"));
  m = load_message(with("fc1.weight.exp_avg", zeros({6, 5}, DType::Float64)));
  CHECK(contains(m, "is float64[6, 5] on cpu but parameter 'fc1.weight' is float32[6, 5]"));
  m = load_message(with("fc1.weight.step", scalar_tensor(1.0, DType::Float32)));
  CHECK(contains(m, "entry 'fc1.weight.step' must be an int64 scalar (the update count), got float32[]"));
  m = load_message(with("fc1.weight.step", scalar_tensor(0.0, DType::Int64)));
  CHECK(contains(m, "entry 'fc1.weight.step' must be >= 1"));
  m = load_message(without("fc2.bias.exp_avg_sq"));
  CHECK(contains(m, "parameter 'fc2.bias' has state"));
  CHECK(contains(m, "but lacks 'fc2.bias.exp_avg_sq'"));

  // The failed loads changed nothing: the state is still the good one.
  const auto now = adam.state_dict();
  REQUIRE(now.size() == good.size());
  for (const auto& [name, t] : good) CHECK(compare_tensors(now.at(name), t, 0, 0) == "");
  // A state for some parameters only is fine (the others start fresh, as if never updated).
  std::map<std::string, Tensor> partial;
  for (const std::string slot : {"step", "exp_avg", "exp_avg_sq"}) partial["fc2.bias." + slot] = good.at("fc2.bias." + slot);
  adam.load_state_dict(partial);
  CHECK(adam.state_dict().size() == 3);
  CHECK(adam.param_state("fc1.weight").empty());
}

// ---- skipping, in-place writes, zero_grad -----------------------------------------------------

TEST_CASE("optim: a parameter without a gradient is skipped, the others are written in place") {
  for (const std::string kind : {"sgd", "adam", "adamw", "lars"}) {
    CAPTURE(kind);
    Tensor used = from_vector(std::vector<float>{1.0f, -2.0f, 3.0f, 0.5f}, {2, 2}).requires_grad_();
    Tensor unused = from_vector(std::vector<float>{4.0f, 5.0f}, {2}).requires_grad_();
    const std::vector<float> unused_before = unused.to_vector<float>();
    const uint64_t unused_version = unused.version();
    const uint64_t used_version = used.version();
    const void* used_data = used.raw_data();
    // Weight decay on: a step that wrongly touched `unused` would move it.
    std::vector<ParamGroup> groups = {ParamGroup{{"used", "unused"}, {used, unused}, 0.1, 0.1}};
    auto optimizer = make_optimizer(kind, std::move(groups), kind == "sgd"   ? std::vector<double>{0.9, 0, 1}
                                                              : kind == "lars" ? std::vector<double>{0.9, 1e-3}
                                                                               : std::vector<double>{0.9, 0.999, 1e-8});
    for (int step = 0; step < 2; ++step) {
      optimizer->zero_grad();
      sum(used * used).backward();
      optimizer->step();
    }
    CHECK(!unused.grad().defined());
    CHECK(unused.to_vector<float>() == unused_before);
    CHECK(unused.version() == unused_version);
    CHECK(optimizer->param_state("unused").empty());
    // `used` changed, in its own storage, and its version moved (a graph holding the old
    // value would refuse to run backward).
    CHECK(used.version() > used_version);
    CHECK(used.raw_data() == used_data);
    CHECK(used.to_vector<float>() != std::vector<float>({1.0f, -2.0f, 3.0f, 0.5f}));
    optimizer->zero_grad();
    CHECK(!used.grad().defined());
  }
}

TEST_CASE("optim: LARS excludes 1-D parameters by default, or what the predicate says") {
  Tensor weight = ones({2, 3}).requires_grad_();
  Tensor bias = ones({2}).requires_grad_();
  LARS by_dim({ParamGroup{{"fc.weight", "fc.bias"}, {weight, bias}, 1.0, 0.0}});
  CHECK(!by_dim.excluded("fc.weight"));
  CHECK(by_dim.excluded("fc.bias"));
  LarsOptions by_name;
  by_name.exclude = [](const std::string& name, const Tensor&) { return name.find("weight") != std::string::npos; };
  LARS custom({ParamGroup{{"fc.weight", "fc.bias"}, {weight, bias}, 1.0, 0.0}}, by_name);
  CHECK(custom.excluded("fc.weight"));
  CHECK(!custom.excluded("fc.bias"));
  CHECK(contains(message_of([&] { custom.excluded("nope"); }), "LARS: no parameter is named 'nope'"));

  // Worked by hand: p = [3, 4] (||p|| = 5), grad = [0.6, 0.8] (||g|| = 1), eta 0.001, lr 2,
  // no decay: trust = 0.005, v = 2 * 0.005 * g = [0.006, 0.008], p = [2.994, 3.992].
  // Excluded: v = 2 * g = [1.2, 1.6], p = [1.8, 2.4].
  for (bool exclude : {false, true}) {
    CAPTURE(exclude);
    Tensor p = from_vector(std::vector<double>{3.0, 4.0}, {2}).requires_grad_();
    LarsOptions options;
    options.exclude = [exclude](const std::string&, const Tensor&) { return exclude; };
    LARS lars({ParamGroup{{"p"}, {p}, 2.0, 0.0}}, options);
    p.set_grad(from_vector(std::vector<double>{0.6, 0.8}, {2}));
    lars.step();
    const std::vector<double> expected = exclude ? std::vector<double>{1.8, 2.4} : std::vector<double>{2.994, 3.992};
    CHECK(compare_tensors(p, from_vector(expected, {2}), 1e-14, 0) == "");
  }
  // A zero gradient norm gives trust 1 (no division by zero).
  Tensor p = from_vector(std::vector<double>{3.0, 4.0}, {1, 2}).requires_grad_();
  LARS lars({ParamGroup{{"p"}, {p}, 2.0, 0.0}});
  p.set_grad(zeros({1, 2}, DType::Float64));
  lars.step();
  CHECK(p.to_vector<double>() == std::vector<double>({3.0, 4.0}));
}

// ---- bad hyperparameters and parameters ------------------------------------------------------

TEST_CASE("optim: bad hyperparameters throw naming the optimizer and the value") {
  auto group = [](double lr, double wd = 0.0) {
    return std::vector<ParamGroup>{ParamGroup{{"w"}, {ones({2}).requires_grad_()}, lr, wd}};
  };
  CHECK(contains(message_of([&] { SGD(group(-0.1)); }), "SGD: lr of param group 0 must be a finite number >= 0"));
  CHECK(contains(message_of([&] { SGD(group(-0.1)); }), "got -0.1"));
  CHECK(contains(message_of([&] { Adam(group(-1)); }), "Adam: lr of param group 0 must be"));
  CHECK(contains(message_of([&] { AdamW(group(-1)); }), "AdamW: lr of param group 0 must be"));
  CHECK(contains(message_of([&] { LARS(group(-1)); }), "LARS: lr of param group 0 must be"));
  // An lr left unset (NaN) is refused rather than silently used.
  CHECK(contains(message_of([&] { SGD({ParamGroup{{"w"}, {ones({2}).requires_grad_()}}}); }), "(was it set?), got nan"));
  CHECK(contains(message_of([&] { SGD(group(0.1, -1e-4)); }),
                 "SGD: weight_decay of param group 0 must be a finite number >= 0, got -0.0001"));

  CHECK(contains(message_of([&] { SGD(group(0.1), SGDOptions{1.0}); }), "SGD: momentum must be in [0, 1), got 1"));
  CHECK(contains(message_of([&] { SGD(group(0.1), SGDOptions{-0.5}); }), "SGD: momentum must be in [0, 1), got -0.5"));
  CHECK(contains(message_of([&] { SGD(group(0.1), SGDOptions{0.9, 1.5}); }), "SGD: dampening must be in [0, 1], got 1.5"));
  CHECK(contains(message_of([&] { SGD(group(0.1), SGDOptions{0.0, 0.0, true}); }),
                 "SGD: momentum (with nesterov) must be > 0, got 0"));
  CHECK(contains(message_of([&] { SGD(group(0.1), SGDOptions{0.9, 0.1, true}); }),
                 "SGD: dampening (with nesterov) must be 0, got 0.1"));

  CHECK(contains(message_of([&] { Adam(group(0.1), AdamOptions{1.0, 0.999, 1e-8}); }), "Adam: beta1 must be in [0, 1), got 1"));
  CHECK(contains(message_of([&] { Adam(group(0.1), AdamOptions{-0.1, 0.999, 1e-8}); }),
                 "Adam: beta1 must be in [0, 1), got -0.1"));
  CHECK(contains(message_of([&] { AdamW(group(0.1), AdamOptions{0.9, 1.2, 1e-8}); }), "AdamW: beta2 must be in [0, 1), got 1.2"));
  CHECK(contains(message_of([&] { Adam(group(0.1), AdamOptions{0.9, 0.999, 0.0}); }), "Adam: eps must be > 0, got 0"));
  CHECK(contains(message_of([&] { AdamW(group(0.1), AdamOptions{0.9, 0.999, -1e-8}); }), "AdamW: eps must be > 0, got -1e-08"));

  LarsOptions bad_momentum;
  bad_momentum.momentum = 1.0;
  CHECK(contains(message_of([&] { LARS(group(0.1), bad_momentum); }), "LARS: momentum must be in [0, 1), got 1"));
  LarsOptions bad_eta;
  bad_eta.eta = 0.0;
  CHECK(contains(message_of([&] { LARS(group(0.1), bad_eta); }), "LARS: eta (trust coefficient) must be > 0, got 0"));
  LarsOptions no_predicate;
  no_predicate.exclude = nullptr;
  CHECK(contains(message_of([&] { LARS(group(0.1), no_predicate); }), "LARS: the exclude predicate is empty"));

  // set_lr (what a schedule calls) checks too, and names the group.
  SGD sgd(group(0.1));
  CHECK(contains(message_of([&] { sgd.set_lr(0, -0.5); }), "SGD: lr of param group 0 must be a finite number >= 0, got -0.5"));
  CHECK(contains(message_of([&] { sgd.set_lr(3, 0.5); }), "SGD: param group 3 does not exist (1 groups)"));
  CHECK(contains(message_of([&] { sgd.set_lr(std::nan("")); }), "got nan"));
}

TEST_CASE("optim: bad parameter lists throw naming the parameter") {
  Tensor w = ones({2}).requires_grad_();
  CHECK(contains(message_of([&] { SGD({ParamGroup{{"a", "b"}, {w}, 0.1}}); }),
                 "SGD: param group 0 has 2 names but 1 parameters"));
  CHECK(contains(message_of([&] { SGD({ParamGroup{{"a"}, {w}, 0.1}, ParamGroup{{"a"}, {ones({2}).requires_grad_()}, 0.1}}); }),
                 "SGD: parameter 'a' appears twice"));
  CHECK(contains(message_of([&] { SGD({ParamGroup{{"a"}, {ones({2})}, 0.1}}); }),
                 "SGD: parameter 'a' must be a leaf tensor with requires_grad"));
  CHECK(contains(message_of([&] { Adam({ParamGroup{{"a"}, {w * 2.0}, 0.1}}); }),
                 "Adam: parameter 'a' must be a leaf tensor with requires_grad"));
  CHECK(contains(message_of([&] { SGD({ParamGroup{{"a"}, {Tensor()}, 0.1}}); }), "SGD: parameter 'a' is an undefined tensor"));
  CHECK(contains(message_of([&] { SGD({ParamGroup{{"a"}, {zeros({2}, DType::Int64)}, 0.1}}); }),
                 "SGD: parameter 'a' is int64[2] on cpu; parameters must be float32 or float64"));
  CHECK(contains(message_of([&] { SGD({ParamGroup{{""}, {w}, 0.1}}); }), "SGD: param group 0 entry 0 has an empty name"));
  CHECK(contains(message_of([&] { LARS({ParamGroup{{}, {}, 0.1}}); }), "LARS: got no parameters to optimize"));
  SGD sgd({ParamGroup{{"a"}, {w}, 0.1}});
  CHECK(contains(message_of([&] { sgd.param_state("b"); }), "SGD: no parameter is named 'b'"));
}
