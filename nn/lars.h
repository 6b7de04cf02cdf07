#pragma once
// LARS (layer-wise adaptive rate scaling, You et al. 2017) as the SimCLR paper and its
// TensorFlow code use it: momentum SGD whose step for each parameter tensor is scaled by
// a "trust ratio" comparing the size of the weights with the size of their gradient.
// Per parameter, per step (v starts at 0):
//
//   adapted parameter (the default: 2-D and higher, i.e. conv and linear weights):
//     g     = grad + weight_decay * p
//     trust = eta * ||p|| / ||g||        (L2 norms over the whole tensor;
//                                         trust = 1 when ||p|| or ||g|| is 0)
//     v     = momentum * v + lr * trust * g
//     p     = p - v
//
//   excluded parameter (no weight decay and no adaptation):
//     v     = momentum * v + lr * grad
//     p     = p - v
//
// SimCLR excludes batch-norm parameters and biases by name. Here the choice is a predicate
// on (name, tensor); the default excludes every parameter with dim() <= 1, which in our
// layers are exactly the biases and the batch-norm weights and biases. Pass another
// predicate to decide by name instead.
//
// Note that lr multiplies the update after the trust ratio, so the effective step of an
// adapted weight is about lr * eta * ||p||: SimCLR uses lr = 0.3 * batch / 256 (4.8 at
// batch 4096) with eta = 0.001.
//
// lr and weight_decay come from the parameter's group; momentum, eta and the predicate
// are LarsOptions. State per parameter: "momentum_buffer" (v).
//
// Each update is one fused step (lars_step_ in core/ops.h) on the parameter's device: the two
// norms (double sums in a fixed order, so the same bits every run), then one pass over the
// elements. The state is made on that device too, so construct the optimizer after moving the
// model with Module::to(device), as in PyTorch.
#include <functional>

#include "nn/optimizer.h"

namespace sc::nn {

// True for a parameter that LARS leaves out of weight decay and trust-ratio adaptation.
using LarsExcludePredicate = std::function<bool(const std::string& name, const Tensor& param)>;

// The default: biases and batch-norm parameters, recognised as the 1-D (or 0-D) tensors.
bool lars_exclude_1d(const std::string& name, const Tensor& param);

struct LarsOptions {
  double momentum = 0.9;  // in [0, 1)
  double eta = 0.001;     // trust coefficient, > 0
  LarsExcludePredicate exclude = lars_exclude_1d;
};

class LARS : public Optimizer {
 public:
  LARS(std::vector<ParamGroup> groups, LarsOptions options = {});
  const LarsOptions& options() const { return options_; }
  std::vector<std::string> state_slots() const override;
  // Whether `param_name` is left out of decay and adaptation (the predicate's answer).
  bool excluded(const std::string& param_name) const;

 protected:
  void update(const ParamGroup& group, const std::string& param_name, Tensor param, const Tensor& grad,
              ParamState& state) override;

 private:
  LarsOptions options_;
  std::map<std::string, bool> excluded_;  // the predicate's answer, asked once per parameter
};

}  // namespace sc::nn
