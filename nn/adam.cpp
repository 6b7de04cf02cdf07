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
  const double beta1 = options_.beta1, beta2 = options_.beta2, lr = group.lr, wd = group.weight_decay;
  if (state.empty()) {
    state["exp_avg"] = zeros_like(param);
    state["exp_avg_sq"] = zeros_like(param);
  }
  const int64_t t = increment_step(state);
  Tensor& m = state["exp_avg"];
  Tensor& v = state["exp_avg_sq"];

  Tensor g = grad;
  if (wd != 0) {
    if (decoupled_weight_decay_)
      param.copy_(param * (1 - lr * wd));  // AdamW: p = p * (1 - lr * wd)
    else
      g = grad + param * wd;  // Adam: g = grad + wd * p
  }
  m.copy_(m * beta1 + g * (1 - beta1));      // m = beta1 * m + (1 - beta1) * g
  v.copy_(v * beta2 + g * g * (1 - beta2));  // v = beta2 * v + (1 - beta2) * g^2

  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(t));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(t));
  const Tensor denom = sqrt(v) / std::sqrt(bias_correction2) + options_.eps;
  param.copy_(param - m / denom * (lr / bias_correction1));  // p = p - lr / bc1 * m / denom
}

}  // namespace sc::nn
