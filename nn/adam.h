#pragma once
// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW (without amsgrad).
// Per parameter, per step (t counts this parameter's updates, starting at 1):
//
//   Adam:   g = grad + weight_decay * p           (coupled: L2 added to the gradient)
//   AdamW:  p = p * (1 - lr * weight_decay)       (decoupled: decay the weights directly)
//           g = grad
//   m = beta1 * m + (1 - beta1) * g               (first moment; starts at 0)
//   v = beta2 * v + (1 - beta2) * g * g           (second moment; starts at 0)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p = p - lr / (1 - beta1^t) * m / denom        (bias-corrected step)
//
// lr and weight_decay come from the parameter's group; betas and eps are AdamOptions.
// State per parameter: "step" (int64 scalar t, on the CPU), "exp_avg" (m), "exp_avg_sq" (v).
//
// Each update is one fused pass over the parameter (adam_step_ in core/ops.h), on the
// parameter's device; the moments are made on that device too, so construct the optimizer
// after moving the model with Module::to(device), as in PyTorch.
#include "nn/optimizer.h"

namespace sc::nn {

struct AdamOptions {
  double beta1 = 0.9;    // in [0, 1)
  double beta2 = 0.999;  // in [0, 1)
  double eps = 1e-8;     // > 0
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  const AdamOptions& options() const { return options_; }
  std::vector<std::string> state_slots() const override;

 protected:
  // decoupled_weight_decay: false for Adam, true for AdamW.
  Adam(std::string name, bool decoupled_weight_decay, std::vector<ParamGroup> groups, AdamOptions options);
  void update(const ParamGroup& group, const std::string& param_name, Tensor param, const Tensor& grad,
              ParamState& state) override;

 private:
  AdamOptions options_;
  bool decoupled_weight_decay_;
};

// Adam with decoupled weight decay (Loshchilov & Hutter); see the formula above.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamOptions options = {});
};

}  // namespace sc::nn
