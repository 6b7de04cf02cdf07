#pragma once
// Stochastic gradient descent with momentum, as torch.optim.SGD. Per parameter, per step:
//
//   g   = grad + weight_decay * p                      (coupled decay: an L2 term in the loss)
//   buf = g                                            on the parameter's first update,
//   buf = momentum * buf + (1 - dampening) * g         after that
//   d   = g + momentum * buf   (Nesterov)   or   d = buf   (classic)
//   p   = p - lr * d
//
// With momentum 0 there is no buffer and the update is p = p - lr * g.
// lr and weight_decay come from the parameter's group; the rest is SGDOptions.
// State per parameter: "momentum_buffer" (only when momentum > 0).
//
// Each update is one fused pass over the parameter (sgd_step_ in core/ops.h), on the
// parameter's device; the state is made on that device too, so construct the optimizer after
// moving the model with Module::to(device), as in PyTorch.
#include "nn/optimizer.h"

namespace sc::nn {

struct SGDOptions {
  double momentum = 0.0;   // in [0, 1)
  double dampening = 0.0;  // in [0, 1]; must be 0 with Nesterov
  bool nesterov = false;   // needs momentum > 0
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions options = {});
  const SGDOptions& options() const { return options_; }
  std::vector<std::string> state_slots() const override;

 protected:
  void update(const ParamGroup& group, const std::string& param_name, Tensor param, const Tensor& grad,
              ParamState& state) override;

 private:
  SGDOptions options_;
};

}  // namespace sc::nn
