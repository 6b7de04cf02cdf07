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
  const double momentum = options_.momentum;
  // g = grad + weight_decay * p
  Tensor g = group.weight_decay != 0 ? grad + param * group.weight_decay : grad;
  Tensor direction = g;
  if (momentum != 0) {
    auto it = state.find("momentum_buffer");
    if (it == state.end()) {
      it = state.emplace("momentum_buffer", g.clone()).first;  // first update: buf = g
    } else {
      Tensor& buf = it->second;
      buf.copy_(buf * momentum + g * (1 - options_.dampening));  // buf = m * buf + (1 - dampening) * g
    }
    const Tensor& buf = it->second;
    direction = options_.nesterov ? g + buf * momentum : buf;
  }
  param.copy_(param - direction * group.lr);  // p = p - lr * d
}

}  // namespace sc::nn
