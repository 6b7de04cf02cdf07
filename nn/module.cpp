#include "nn/module.h"

#include <set>
#include <sstream>
#include <vector>

namespace sc::nn {

// ---- StateDict ------------------------------------------------------------------

void StateDict::insert(const std::string& name, const Tensor& tensor) {
  SC_CHECK(!contains(name), "StateDict: duplicate entry '", name, "'");
  SC_CHECK(tensor.defined(), "StateDict: entry '", name, "' is an undefined tensor");
  index_[name] = entries_.size();
  entries_.emplace_back(name, tensor);
}

const Tensor& StateDict::at(const std::string& name) const {
  auto it = index_.find(name);
  SC_CHECK(it != index_.end(), "StateDict: no entry named '", name, "'");
  return entries_[it->second].second;
}

StateDict StateDict::clone() const {
  StateDict copy;
  for (const auto& [name, tensor] : entries_) copy.insert(name, tensor.detach().clone());
  return copy;
}

// ---- Module: names and registration --------------------------------------------------

std::string Module::describe() const {
  if (name_.empty()) return type_name_ + " (top-level module)";
  return type_name_ + " '" + name_ + "'";
}

void Module::check_new_name(const std::string& name, const char* what) const {
  SC_CHECK(!name.empty(), describe(), ": cannot register a ", what, " with an empty name");
  SC_CHECK(name.find('.') == std::string::npos, describe(), ": ", what, " name '", name,
           "' must not contain '.' (dots separate the levels of a dotted name)");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  SC_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), describe(), ": cannot register ", what, " '",
           name, "': the name is already used in this module");
}

void Module::register_parameter(const std::string& name, Tensor& tensor) {
  check_new_name(name, "parameter");
  SC_CHECK(tensor.defined() && is_floating(tensor.dtype()), describe(), ": parameter '", name,
           "' must be a float32 or float64 tensor");
  SC_CHECK(tensor.is_leaf(), describe(), ": parameter '", name, "' must be a leaf tensor (not computed by an op)");
  tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
}

void Module::register_buffer(const std::string& name, const Tensor& tensor) {
  check_new_name(name, "buffer");
  SC_CHECK(tensor.defined(), describe(), ": buffer '", name, "' is an undefined tensor");
  buffers_.emplace_back(name, tensor);
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name, "child module");
  SC_CHECK(child != nullptr, describe(), ": child module '", name, "' is null");
  child->set_name_recursive(name_.empty() ? name : name_ + "." + name);
  child->train(training_);
  children_.emplace_back(name, std::move(child));
}

void Module::set_name_recursive(const std::string& name) {
  name_ = name;
  for (auto& [child_name, child] : children_) child->set_name_recursive(name + "." + child_name);
}

// ---- recursive views ---------------------------------------------------------------

namespace {
std::string join(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }
}  // namespace

void Module::collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, tensor] : parameters_) out.emplace_back(join(prefix, name), tensor);
  for (const auto& [name, child] : children_) child->collect_parameters(join(prefix, name), out);
}

void Module::collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, tensor] : buffers_) out.emplace_back(join(prefix, name), tensor);
  for (const auto& [name, child] : children_) child->collect_buffers(join(prefix, name), out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_parameters("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  // An explicit stack rather than recursion only for symmetry with the engine; depth is small.
  std::vector<std::pair<std::string, Module*>> stack{{"", this}};
  while (!stack.empty()) {
    auto [prefix, module] = stack.back();
    stack.pop_back();
    out.emplace_back(prefix, module);
    for (auto it = module->children_.rbegin(); it != module->children_.rend(); ++it)
      stack.emplace_back(join(prefix, it->first), it->second.get());
  }
  return out;
}

// ---- mode, gradients, sizes ------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, tensor] : named_parameters()) tensor.zero_grad();
}

int64_t Module::parameter_count() const {
  int64_t count = 0;
  for (const auto& [name, tensor] : named_parameters()) count += tensor.numel();
  return count;
}

int64_t Module::parameter_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, tensor] : named_parameters())
    bytes += tensor.numel() * static_cast<int64_t>(dtype_size(tensor.dtype()));
  return bytes;
}

// ---- state ---------------------------------------------------------------------------

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const auto& [name, tensor] : parameters_) out.insert(join(prefix, name), tensor.detach());
  for (const auto& [name, tensor] : buffers_) out.insert(join(prefix, name), tensor.detach());
  for (const auto& [name, child] : children_) child->collect_state(join(prefix, name), out);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

namespace {
std::string list_names(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << "'" << names[i] << "'";
  return os.str();
}
}  // namespace

void Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  // Check everything before writing anything, so a failed load leaves the module as it was.
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, target] : own) {
    if (!state.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const Tensor& source = state.at(name);
    SC_CHECK(source.shape() == target.shape(), "load_state_dict into ", describe(), ": '", name, "' has shape ",
             source.shape_string(), " in the state dict but ", target.shape_string(), " in the model");
    SC_CHECK(source.dtype() == target.dtype(), "load_state_dict into ", describe(), ": '", name, "' has dtype ",
             dtype_name(source.dtype()), " in the state dict but ", dtype_name(target.dtype()), " in the model");
    SC_CHECK(source.device() == target.device(), "load_state_dict into ", describe(), ": '", name,
             "' is on another device in the state dict (", source.describe(), ") than in the model (",
             target.describe(), ")");
  }
  for (const auto& [name, source] : state)
    if (!own.contains(name)) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::ostringstream os;
    os << "load_state_dict into " << describe() << ":";
    if (!missing.empty()) os << " missing " << missing.size() << " entries: " << list_names(missing) << ".";
    if (!unexpected.empty()) os << " unexpected " << unexpected.size() << " entries: " << list_names(unexpected) << ".";
    throw Error(os.str());
  }
  NoGradGuard no_grad;  // parameters require grad; copy_ into them is only allowed without recording
  for (const auto& [name, target] : own) {
    if (!state.contains(name)) continue;
    Tensor destination = target;
    destination.copy_(state.at(name));
  }
}

void Module::to(DType dtype) {
  SC_CHECK(is_floating(dtype), describe(), ".to: only float32 or float64 is allowed, got ", dtype_name(dtype));
  NoGradGuard no_grad;
  // Repoints the TensorImpl at converted data: every handle to the tensor sees the change.
  auto convert = [&](Tensor& t) {
    if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
    Tensor converted = t.detach().to(dtype).contiguous();
    TensorImpl* impl = t.impl();
    impl->storage = converted.impl()->storage;
    impl->shape = converted.shape();
    impl->strides = converted.strides();
    impl->offset = converted.offset();
    impl->dtype = dtype;
    impl->grad.reset();  // a gradient of the old dtype would no longer fit
  };
  for (auto& [name, tensor] : parameters_) convert(tensor);
  for (auto& [name, tensor] : buffers_) convert(tensor);
  for (auto& [name, child] : children_) child->to(dtype);
}

void Module::to(Device device) {
  SC_CHECK(device == Device::CPU || cuda_available(), describe(), ".to(", device_name(device),
           "): moving the model needs the CUDA backend and a GPU: ", cuda_unavailable_reason());
  NoGradGuard no_grad;
  // Every registered tensor of the whole tree, once each (a tensor may be registered twice).
  std::vector<Tensor> tensors;
  std::set<const TensorImpl*> seen;
  for (const auto& entries : {named_parameters(), named_buffers()})
    for (const auto& [name, tensor] : entries)
      if (tensor.device() != device && seen.insert(tensor.impl()).second) tensors.push_back(tensor);
  // First all the copies (this is where a failure can happen), then repoint the TensorImpls,
  // so every handle to a tensor (the layer's member, an optimizer's) sees it on the new device.
  std::vector<Tensor> moved;
  moved.reserve(tensors.size());
  for (const Tensor& t : tensors) moved.push_back(t.detach().to(device).contiguous());
  for (size_t i = 0; i < tensors.size(); ++i) {
    TensorImpl* impl = tensors[i].impl();
    impl->storage = moved[i].impl()->storage;
    impl->shape = moved[i].shape();
    impl->strides = moved[i].strides();
    impl->offset = moved[i].offset();
    impl->device = device;
    impl->grad.reset();  // a gradient on the old device would no longer fit
  }
}

}  // namespace sc::nn
