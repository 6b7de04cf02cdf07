#include "nn/adam.h"

#include <cmath>

#include "core/ops.h"

namespace sc::nn {

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options) : Adam("Adam", false, std::move(groups), options) {}

Adam::Adam(std::string name, bool decoupled_weight_decay, std::vector<ParamGroup> groups, AdamOptions options)
    : Optimizer(std::move(name), std::move(groups)), options_(options), decoupled_weight_decay_(decoupled_weight_decay) {
  require(std::isfinite(options_.beta1) && options_.beta1 >= 0 && options_.beta1 < 1, "beta1", "in [0, 1)",
          options_.beta1);
  require(std::isfinite(options_.beta2) && options_.beta2 >= 0 && options_.beta2 < 1, "beta2", "in [0, 1)",
          options_.beta2);
  require(std::isfinite(options_.eps) && options_.eps > 0, "eps", "> 0", options_.eps);
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions options) : Adam("AdamW", true, std::move(groups), options) {}

std::vector<std::string> Adam::state_slots() const { return {"step", "exp_avg", "exp_avg_sq"}; }

void Adam::update(const ParamGroup& group, const std::string&, Tensor param, const Tensor& grad, ParamState& state) {
  // One fused pass (core/ops.h, adam_step_) on the parameter's device. The moments are made on
  // the first update; the kernel takes them as 0 then without reading them.
  const bool first_step = state.empty();
  Tensor exp_avg = first_step ? empty(param.shape(), param.dtype(), param.device()) : state.at("exp_avg");
  Tensor exp_avg_sq = first_step ? empty(param.shape(), param.dtype(), param.device()) : state.at("exp_avg_sq");
  const int64_t t = first_step ? 1 : static_cast<int64_t>(state.at("step").item()) + 1;
  // The kernel reads flat arrays; a gradient may arrive as a view (e.g. expanded by sum's backward).
  adam_step_(param, grad.contiguous(), exp_avg, exp_avg_sq, t, group.lr, options_.beta1, options_.beta2,
             options_.eps, group.weight_decay, decoupled_weight_decay_);
  // The state changes only once the step has run (a step that throws leaves it as it was).
  if (first_step) {
    state["exp_avg"] = exp_avg;
    state["exp_avg_sq"] = exp_avg_sq;
  }
  increment_step(state);
}

}  // namespace sc::nn
