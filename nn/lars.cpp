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
  // One fused step (core/ops.h, lars_step_) on the parameter's device: the norms of p and g,
  // then the update. The buffer is made on the first update; the kernel takes it as 0 then.
  auto it = state.find("momentum_buffer");
  const bool first_step = it == state.end();
  Tensor buffer = first_step ? empty(param.shape(), param.dtype(), param.device()) : it->second;
  // The kernel reads flat arrays; a gradient may arrive as a view (e.g. expanded by sum's backward).
  lars_step_(param, grad.contiguous(), buffer, group.lr, group.weight_decay, options_.momentum, options_.eta,
             /*adapt=*/!excluded(param_name), first_step);
  if (first_step) state.emplace("momentum_buffer", buffer);
}

}  // namespace sc::nn
