#include "nn/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace sc::nn {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups) : name_(std::move(name)), groups_(std::move(groups)) {
  size_t total = 0;
  Device first_device = Device::CPU;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    SC_CHECK(group.names.size() == group.params.size(), name_, ": param group ", g, " has ", group.names.size(),
             " names but ", group.params.size(), " parameters (one name per parameter)");
    for (size_t i = 0; i < group.params.size(); ++i) {
      const std::string& param_name = group.names[i];
      const Tensor& p = group.params[i];
      SC_CHECK(!param_name.empty(), name_, ": param group ", g, " entry ", i, " has an empty name");
      SC_CHECK(where_.count(param_name) == 0, name_, ": parameter '", param_name,
               "' appears twice (each parameter belongs to one group, once)");
      SC_CHECK(p.defined(), name_, ": parameter '", param_name, "' is an undefined tensor");
      SC_CHECK(is_floating(p.dtype()), name_, ": parameter '", param_name, "' is ", p.describe(),
               "; parameters must be float32 or float64");
      if (total == 0 && i == 0) first_device = p.device();
      SC_CHECK(p.device() == first_device, name_, ": parameter '", param_name, "' is ", p.describe(),
               " but the first parameter is on ", device_name(first_device), "; all parameters of one optimizer must be on one device (move the model with to() before "
               "constructing the optimizer)");
      SC_CHECK(p.is_leaf() && p.requires_grad(), name_, ": parameter '", param_name,
               "' must be a leaf tensor with requires_grad (a tensor computed by an op gets no grad of its own)");
      where_[param_name] = {g, i};
    }
    total += group.params.size();
    base_lrs_.push_back(group.lr);
    check_group_hyperparameters(g);
  }
  SC_CHECK(total > 0, name_, ": got no parameters to optimize");
}

void Optimizer::require(bool ok, const char* what, const char* rule, double value) const {
  SC_CHECK(ok, name_, ": ", what, " must be ", rule, ", got ", value);
}

void Optimizer::check_group_hyperparameters(size_t index) const {
  const ParamGroup& group = groups_[index];
  const std::string lr_what = "lr of param group " + std::to_string(index);
  const std::string wd_what = "weight_decay of param group " + std::to_string(index);
  require(std::isfinite(group.lr) && group.lr >= 0, lr_what.c_str(), "a finite number >= 0 (was it set?)", group.lr);
  require(std::isfinite(group.weight_decay) && group.weight_decay >= 0, wd_what.c_str(), "a finite number >= 0",
          group.weight_decay);
}

const ParamGroup& Optimizer::group(size_t index) const {
  SC_CHECK(index < groups_.size(), name_, ": param group ", index, " does not exist (", groups_.size(), " groups)");
  return groups_[index];
}

double Optimizer::base_lr(size_t group_index) const {
  group(group_index);  // bounds check
  return base_lrs_[group_index];
}

void Optimizer::set_lr(size_t group_index, double lr) {
  group(group_index);
  const std::string what = "lr of param group " + std::to_string(group_index);
  require(std::isfinite(lr) && lr >= 0, what.c_str(), "a finite number >= 0", lr);
  groups_[group_index].lr = lr;
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (const ParamGroup& group : groups_) {
    for (size_t i = 0; i < group.params.size(); ++i) {
      const Tensor& param = group.params[i];
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;  // took no part in the loss: left alone, as PyTorch does
      SC_CHECK(grad.shape() == param.shape() && grad.dtype() == param.dtype(), name_, ": the gradient of '",
               group.names[i], "' is ", grad.describe(), " but the parameter is ", param.describe());
      update(group, group.names[i], param, grad, state_[group.names[i]]);
    }
  }
}

void Optimizer::zero_grad() {
  for (ParamGroup& group : groups_)
    for (Tensor& p : group.params) p.zero_grad();
}

int64_t Optimizer::increment_step(ParamState& state) {
  auto it = state.find("step");
  if (it == state.end()) it = state.emplace("step", scalar_tensor(0.0, DType::Int64)).first;
  const int64_t step = static_cast<int64_t>(it->second.item()) + 1;
  it->second.fill_(static_cast<double>(step));
  return step;
}

const Tensor& Optimizer::param_named(const std::string& param_name) const {
  auto it = where_.find(param_name);
  SC_CHECK(it != where_.end(), name_, ": no parameter is named '", param_name, "'");
  return groups_[it->second.first].params[it->second.second];
}

const Optimizer::ParamState& Optimizer::param_state(const std::string& param_name) const {
  param_named(param_name);  // a name check
  static const ParamState kEmpty;
  auto it = state_.find(param_name);
  return it == state_.end() ? kEmpty : it->second;
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  for (const auto& [param_name, slots] : state_)
    for (const auto& [slot, tensor] : slots) out[param_name + "." + slot] = tensor.clone();
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  const std::vector<std::string> slots = state_slots();
  const std::string where = name_ + ".load_state_dict: ";
  std::map<std::string, ParamState> loaded;
  for (const auto& [entry, tensor] : state) {
    // The slot is what follows the last dot; parameter names may hold dots themselves.
    const size_t dot = entry.rfind('.');
    const std::string slot = dot == std::string::npos ? "" : entry.substr(dot + 1);
    SC_CHECK(dot != std::string::npos && std::find(slots.begin(), slots.end(), slot) != slots.end(), where, "entry '",
             entry, "' is not '<parameter name>.<slot>' with a slot of ", name_, " (", join(slots), ")");
    const std::string param_name = entry.substr(0, dot);
    SC_CHECK(where_.count(param_name) != 0, where, "entry '", entry, "' names parameter '", param_name,
             "', which this optimizer does not hold");
    const Tensor& param = param_named(param_name);
    SC_CHECK(tensor.defined(), where, "entry '", entry, "' is an undefined tensor");
    if (slot == "step") {
      SC_CHECK(tensor.dtype() == DType::Int64 && tensor.numel() == 1 && tensor.dim() == 0, where, "entry '", entry,
               "' must be an int64 scalar (the update count), got ", tensor.describe());
      SC_CHECK(tensor.item() >= 1, where, "entry '", entry, "' must be >= 1 (updates done), got ", tensor.item());
    } else {
      SC_CHECK(tensor.shape() == param.shape() && tensor.dtype() == param.dtype(), where, "entry '", entry, "' is ",
               tensor.describe(), " but parameter '", param_name, "' is ", param.describe());
    }
    // State follows its parameter's device (a checkpoint is read on the CPU); the step count
    // stays on the CPU, where the update reads it.
    loaded[param_name][slot] = slot == "step" ? tensor.to(Device::CPU).clone() : tensor.to(param.device()).clone();
  }
  for (const auto& [param_name, param_slots] : loaded)
    for (const std::string& slot : slots)
      SC_CHECK(param_slots.count(slot) != 0, where, "parameter '", param_name, "' has state '",
               param_slots.begin()->first, "' but lacks '", param_name, ".", slot, "' (", name_,
               " keeps all of: ", join(slots), ")");
  state_ = std::move(loaded);
}

size_t Optimizer::state_bytes() const {
  size_t bytes = 0;
  for (const auto& [param_name, slots] : state_)
    for (const auto& [slot, tensor] : slots) bytes += static_cast<size_t>(tensor.numel()) * dtype_size(tensor.dtype());
  return bytes;
}

}  // namespace sc::nn
