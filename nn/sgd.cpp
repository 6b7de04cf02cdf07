#include "nn/sgd.h"

#include <cmath>

#include "core/ops.h"

namespace sc::nn {

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options) : Optimizer("SGD", std::move(groups)), options_(options) {
  require(std::isfinite(options_.momentum) && options_.momentum >= 0 && options_.momentum < 1, "momentum", "in [0, 1)",
          options_.momentum);
  require(std::isfinite(options_.dampening) && options_.dampening >= 0 && options_.dampening <= 1, "dampening",
          "in [0, 1]", options_.dampening);
  if (options_.nesterov) {
    require(options_.momentum > 0, "momentum (with nesterov)", "> 0", options_.momentum);
    require(options_.dampening == 0, "dampening (with nesterov)", "0", options_.dampening);
  }
}

std::vector<std::string> SGD::state_slots() const {
  if (options_.momentum == 0) return {};
  return {"momentum_buffer"};
}

void SGD::update(const ParamGroup& group, const std::string&, Tensor param, const Tensor& grad,
                 ParamState& state) {
  // One fused pass (core/ops.h, sgd_step_) on the parameter's device. The buffer is made on
  // the first update and filled there with buf = g, so it starts uninitialised.
  Tensor buffer;
  bool first_step = false;
  if (options_.momentum != 0) {
    auto it = state.find("momentum_buffer");
    first_step = it == state.end();
    buffer = first_step ? empty(param.shape(), param.dtype(), param.device()) : it->second;
  }
  // The kernel reads flat arrays; a gradient may arrive as a view (e.g. expanded by sum's backward).
  sgd_step_(param, grad.contiguous(), buffer, group.lr, group.weight_decay, options_.momentum, options_.dampening,
            options_.nesterov, first_step);
  if (first_step) state.emplace("momentum_buffer", buffer);
}

}  // namespace sc::nn
