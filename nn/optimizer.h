#pragma once
// Optimizer: what SGD, Adam/AdamW and LARS share.
//
//   - Parameter groups (PyTorch's param_groups): each group has its own lr and weight decay;
//     the other hyperparameters (momentum, betas, ...) belong to the optimizer.
//   - step(): for every parameter that has a gradient, one update under NoGradGuard, written
//     in place with Tensor::copy_ (so the storage version bumps and a graph that still
//     holds the old value refuses to run backward). A parameter whose grad() is undefined
//     (it took no part in the loss) is skipped, as PyTorch does: no update, no state.
//   - Per-parameter state (momentum buffers, Adam moments, step counts), saved and loaded
//     as a flat name -> Tensor map with names "<parameter name>.<slot>", e.g.
//     "fc1.weight.exp_avg" or "fc1.weight.step".
//
// A subclass says which state slots it keeps (state_slots()) and writes update(), one short
// function holding its formula.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sc::nn {

// A set of parameters updated with the same learning rate and weight decay.
struct ParamGroup {
  std::vector<std::string> names;  // one per parameter, unique over all groups ("fc1.weight")
  std::vector<Tensor> params;      // float leaf tensors with requires_grad, all on one device
  // Must be set (>= 0); NaN means "not set" and the optimizer refuses it.
  double lr = std::numeric_limits<double>::quiet_NaN();
  double weight_decay = 0.0;
};

class Optimizer {
 public:
  // One parameter's state: slot name ("exp_avg") -> tensor.
  using ParamState = std::map<std::string, Tensor>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // "SGD", "Adam", "AdamW", "LARS": the first word of every error message.
  const std::string& name() const { return name_; }

  // One update of every parameter that has a gradient.
  void step();
  // Drops every parameter's gradient (the next backward() starts from nothing).
  void zero_grad();

  // ---- learning rates (what a schedule drives)
  size_t num_groups() const { return groups_.size(); }
  const ParamGroup& group(size_t index) const;
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // The lr a group was given at construction: a schedule scales this one.
  double base_lr(size_t group_index) const;
  void set_lr(size_t group_index, double lr);
  // Sets every group's lr to the same value.
  void set_lr(double lr);

  // ---- state
  // Every state tensor, cloned, under "<parameter name>.<slot>". A parameter that has not
  // been updated yet has no entries.
  std::map<std::string, Tensor> state_dict() const;
  // Replaces the whole state with `state` (cloned). Every name must be "<parameter>.<slot>"
  // for a parameter of this optimizer and one of its slots; a parameter that appears must
  // have all its slots; each tensor must have the parameter's shape and dtype (a "step"
  // slot: an int64 scalar >= 1). Anything else throws sc::Error naming the entry, and the
  // optimizer is left as it was.
  void load_state_dict(const std::map<std::string, Tensor>& state);
  // The slots this optimizer keeps per parameter ("momentum_buffer"; "step", "exp_avg", ...).
  virtual std::vector<std::string> state_slots() const = 0;
  // Bytes held by the state tensors (for the memory report).
  size_t state_bytes() const;
  // The state of one parameter (empty before its first update); for tests and debugging.
  const ParamState& param_state(const std::string& param_name) const;

 protected:
  Optimizer(std::string name, std::vector<ParamGroup> groups);
  // Updates `param` in place (it is a handle on the parameter's storage: write with copy_)
  // from `grad` (its gradient, same shape and dtype), reading and writing `state`. Called under NoGradGuard, once per parameter that has a gradient.
  virtual void update(const ParamGroup& group, const std::string& param_name, Tensor param,
                      const Tensor& grad, ParamState& state) = 0;

  // Checks a hyperparameter: throws "<Optimizer>: <what> must be <rule>, got <value>".
  void require(bool ok, const char* what, const char* rule, double value) const;
  // The step counter kept in state["step"] (an int64 scalar): incremented, then returned.
  static int64_t increment_step(ParamState& state);

 private:
  void check_group_hyperparameters(size_t index) const;

  std::string name_;
  std::vector<ParamGroup> groups_;
  std::vector<double> base_lrs_;
  const Tensor& param_named(const std::string& param_name) const;

  std::map<std::string, std::pair<size_t, size_t>> where_;  // parameter name -> (group, index)
  std::map<std::string, ParamState> state_;  // keyed by parameter name
};

}  // namespace sc::nn
