#include "nn/lars.h"

#include <cmath>

#include "core/ops.h"

namespace sc::nn {

bool lars_exclude_1d(const std::string&, const Tensor& param) { return param.dim() <= 1; }

LARS::LARS(std::vector<ParamGroup> groups, LarsOptions options)
    : Optimizer("LARS", std::move(groups)), options_(std::move(options)) {
  require(std::isfinite(options_.momentum) && options_.momentum >= 0 && options_.momentum < 1, "momentum",
          "in [0, 1)", options_.momentum);
  require(std::isfinite(options_.eta) && options_.eta > 0, "eta (trust coefficient)", "> 0", options_.eta);
  SC_CHECK(options_.exclude != nullptr, "LARS: the exclude predicate is empty (use lars_exclude_1d for the default)");
  for (const ParamGroup& group : this->groups())
    for (size_t i = 0; i < group.params.size(); ++i)
      excluded_[group.names[i]] = options_.exclude(group.names[i], group.params[i]);
}

std::vector<std::string> LARS::state_slots() const { return {"momentum_buffer"}; }

bool LARS::excluded(const std::string& param_name) const {
  auto it = excluded_.find(param_name);
  SC_CHECK(it != excluded_.end(), "LARS: no parameter is named '", param_name, "'");
  return it->second;
}

void LARS::update(const ParamGroup& group, const std::string& param_name, Tensor param, const Tensor& grad,
                  ParamState& state) {
  auto it = state.find("momentum_buffer");
  if (it == state.end()) it = state.emplace("momentum_buffer", zeros_like(param)).first;
  Tensor& v = it->second;

  Tensor g = grad;
  double scaled_lr = group.lr;
  if (!excluded(param_name)) {
    if (group.weight_decay != 0) g = grad + param * group.weight_decay;  // g = grad + wd * p
    const double param_norm = sqrt(sum(param * param)).item();
    const double grad_norm = sqrt(sum(g * g)).item();
    // trust = eta * ||p|| / ||g||, or 1 when either norm is 0
    const double trust = param_norm > 0 && grad_norm > 0 ? options_.eta * param_norm / grad_norm : 1.0;
    scaled_lr *= trust;
  }
  v.copy_(v * options_.momentum + g * scaled_lr);  // v = momentum * v + lr * trust * g
  param.copy_(param - v);                          // p = p - v
}

}  // namespace sc::nn
