#pragma once
// Module: the base of every layer and model, as torch.nn.Module.
//
// A module owns
//   - parameters: float tensors with requires_grad, registered by name ("weight", "bias");
//   - buffers: tensors that are state but not trained ("running_mean", "num_batches_tracked");
//   - children: sub-modules registered by name ("conv1", "layer1", "0").
// Everything is kept in registration order, and the recursive views (named_parameters,
// state_dict) join names with dots exactly as PyTorch does ("layer1.0.conv1.weight"), so a
// PyTorch model with the same structure has the same state_dict keys.
//
// Each module also knows its own dotted name inside the model ("layer1.0.conv1"), set when
// it is registered into a parent, so a layer that gets a bad input can say which layer it is.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"

namespace sc::nn {

// An ordered name -> tensor map: what state_dict() returns and load_state_dict() takes.
// Insertion order is kept (it is the order PyTorch's state_dict has); lookups by name.
class StateDict {
 public:
  // Throws when `name` is already present.
  void insert(const std::string& name, const Tensor& tensor);
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws naming `name` when it is absent.
  const Tensor& at(const std::string& name) const;
  size_t size() const { return entries_.size(); }
  const std::vector<std::pair<std::string, Tensor>>& entries() const { return entries_; }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  // Every entry deep-copied (a snapshot that later training does not change).
  StateDict clone() const;

 private:
  std::vector<std::pair<std::string, Tensor>> entries_;
  std::map<std::string, size_t> index_;
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // "Conv2d", "ResNet", ...
  const std::string& type_name() const { return type_name_; }
  // The dotted path from the top-level module ("layer1.0.conv1"); "" for the top level.
  const std::string& name() const { return name_; }
  // For messages: "Conv2d 'layer1.0.conv1'", or "Conv2d (top-level module)".
  std::string describe() const;

  // ---- recursive views, in registration order (a module's own entries, then each child's)
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // This module (name "") and every descendant, depth first, parents before children.
  std::vector<std::pair<std::string, Module*>> named_modules();
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  // ---- mode
  // Sets training mode on this module and every descendant (BatchNorm reads it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- gradients and sizes
  // Drops every parameter's gradient (the next backward starts from zero).
  void zero_grad();
  int64_t parameter_count() const;
  int64_t parameter_bytes() const;

  // ---- state
  // Parameters and buffers by dotted name, each module's parameters then its buffers, then
  // its children's (PyTorch's order). The tensors share storage with the module's (detached):
  // call clone() on the result for a snapshot.
  StateDict state_dict() const;
  // Copies values into the module's tensors. Every name is checked first: shape and dtype
  // mismatches always throw, naming the entry; with strict, so do missing and unexpected
  // names (all of them listed). Nothing is written when a check fails.
  void load_state_dict(const StateDict& state, bool strict = true);

  // Converts every floating parameter and buffer to `dtype` (float32 or float64); integer
  // buffers (num_batches_tracked) stay int64. The tensors are changed in place, so handles
  // held elsewhere (an optimizer's) see the new data, as with PyTorch's module.double().
  void to(DType dtype);
  // Moves every parameter and buffer (integer buffers too) to `device`, in place as above:
  // handles held elsewhere see the moved data, and parameters stay leaves with requires_grad
  // (their gradients are dropped). Everything is copied before anything is repointed, so a
  // failure (no GPU, out of memory) leaves the module as it was.
  // Build the optimizer after this call, as in PyTorch: its state (momentum, moments) is made
  // on the device the parameters have when it first steps, and stays there.
  void to(Device device);

 protected:
  // Registration, in the order the state_dict will list things. Names must be non-empty,
  // contain no '.', and be unique within this module.
  void register_parameter(const std::string& name, Tensor& tensor);
  void register_buffer(const std::string& name, const Tensor& tensor);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name, const char* what) const;
  // Sets this module's dotted name and renames every descendant below it.
  void set_name_recursive(const std::string& name);
  void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_state(const std::string& prefix, StateDict& out) const;

  std::string type_name_;
  std::string name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace sc::nn
