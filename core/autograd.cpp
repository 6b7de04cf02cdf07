#include "core/autograd.h"

#include <algorithm>
#include <unordered_map>

#include "core/ops.h"
#include "core/trace.h"

namespace sc {

namespace {
thread_local bool g_grad_enabled = true;
// What the SavedTensors made since the last record() on this thread hold (see SavedTensor).
thread_local std::vector<TensorInfo> t_saved_since_record;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

// ---- SavedTensor -----------------------------------------------------------

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  data_ = t.detach();
  version_ = t.version();
  t_saved_since_record.push_back({t.shape(), t.dtype()});
}

Tensor SavedTensor::get() const {
  if (!data_.defined()) return data_;
  SC_CHECK(data_.version() == version_, "a tensor saved for backward (", data_.describe(),
           ") was modified by an in-place operation after it was saved (its version is ", data_.version(),
           ", it was ", version_, "); clone it before writing to it");
  return data_;
}

// ---- Node ------------------------------------------------------------------

Node::~Node() {
  // A chain of 10,000 ops would otherwise free itself recursively (each Node's
  // destructor releasing the next) and overflow the stack. Take the children and
  // free them with an explicit stack instead.
  std::vector<std::shared_ptr<Node>> pending = std::move(next);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    if (n && n.use_count() == 1) {
      for (auto& child : n->next) pending.push_back(std::move(child));
      n->next.clear();
    }
  }
}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_output) {
  SC_CHECK(fn_ != nullptr, "backward through '", name(),
           "' a second time: the graph was freed by the first backward(); pass retain_graph=true to keep it");
  return fn_(grad_output);
}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  if (!leaf_->grad) {
    // A fresh copy: the incoming gradient may share storage with other tensors.
    leaf_->grad = grad_output.contiguous().clone().impl_ptr();
  } else {
    Tensor acc(leaf_->grad);
    acc.copy_(add(acc, grad_output));
  }
  // This node runs once per backward pass, with every use's gradient summed (see run_backward):
  // the leaf's gradient is final now.
  if (leaf_->grad_ready_hooks && !leaf_->grad_ready_hooks->hooks.empty()) {
    // A copy: a hook may remove itself (or others) while they run.
    const std::vector<std::pair<int64_t, GradReadyHook>> hooks = leaf_->grad_ready_hooks->hooks;
    const Tensor leaf(leaf_);
    for (const auto& entry : hooks) entry.second(leaf);
  }
  return {};
}

// ---- gradient-ready hooks ----------------------------------------------------

GradReadyHandle on_grad_ready(const Tensor& leaf, GradReadyHook hook) {
  SC_CHECK(leaf.defined(), "on_grad_ready: the tensor is undefined");
  SC_CHECK(leaf.is_leaf() && leaf.requires_grad(), "on_grad_ready: ", leaf.describe(),
           " is not a leaf that requires grad (only those accumulate a gradient: parameters, inputs with "
           "requires_grad_())");
  SC_CHECK(hook != nullptr, "on_grad_ready: the hook is empty");
  std::shared_ptr<GradReadyHooks>& hooks = leaf.impl()->grad_ready_hooks;
  if (!hooks) hooks = std::make_shared<GradReadyHooks>();
  const int64_t id = hooks->next_id++;
  hooks->hooks.emplace_back(id, std::move(hook));
  return GradReadyHandle(leaf.impl_ptr(), id);
}

GradReadyHandle::GradReadyHandle(GradReadyHandle&& other) noexcept
    : leaf_(std::move(other.leaf_)), id_(other.id_) {
  other.id_ = -1;
}

GradReadyHandle& GradReadyHandle::operator=(GradReadyHandle&& other) noexcept {
  if (this != &other) {
    remove();
    leaf_ = std::move(other.leaf_);
    id_ = other.id_;
    other.id_ = -1;
  }
  return *this;
}

void GradReadyHandle::remove() {
  const std::shared_ptr<TensorImpl> leaf = leaf_.lock();  // a leaf already freed has nothing to remove
  if (leaf && leaf->grad_ready_hooks && id_ >= 0) {
    auto& hooks = leaf->grad_ready_hooks->hooks;
    hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [&](const auto& entry) { return entry.first == id_; }),
                hooks.end());
  }
  leaf_.reset();
  id_ = -1;
}

// ---- recording ---------------------------------------------------------------

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
// Where the gradient of `t` should go: the Node that made it, or its leaf accumulator.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
  }
  return acc;
}
}  // namespace

void record(const char* op, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn fn) {
  auto node = std::make_shared<FunctionNode>(op, std::move(fn));
  for (const Tensor& t : inputs) {
    node->next.push_back(gradient_edge(t));
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
    node->input_dtypes.push_back(t.defined() ? t.dtype() : DType::Float32);
    node->input_defined.push_back(t.defined());
  }
  node->output = {out.shape(), out.dtype()};
  node->saved = std::move(t_saved_since_record);
  t_saved_since_record.clear();
  out.impl()->grad_fn = std::move(node);
}

// ---- the backward pass -------------------------------------------------------

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  SC_CHECK(root.requires_grad(), "backward: ", root.describe(),
           " does not require grad (no input of the computation had requires_grad set)");
  Tensor seed = grad;
  if (!seed.defined()) {
    SC_CHECK(root.numel() == 1, "backward: a gradient can be created implicitly only for a one-element output, but the output is ",
             root.describe(), "; pass the gradient explicitly");
    seed = ones(root.shape(), root.dtype(), root.device());
  }
  SC_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype(), "backward: the gradient ", seed.describe(),
           " does not match the output ", root.describe());

  NoGradGuard no_grad;  // the backward pass itself is not recorded

  std::shared_ptr<Node> root_node = root.is_leaf() ? gradient_edge(root) : root.grad_fn();

  // 1. Count, for every reachable Node, how many edges point into it. Iterative DFS.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack{root_node.get()};
  std::vector<Node*> visited_order;
  dependencies[root_node.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    visited_order.push_back(n);
    for (auto& child : n->next) {
      if (!child) continue;
      auto [it, inserted] = dependencies.try_emplace(child.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(child.get());
    }
  }

  // 2. Kahn's algorithm: a Node runs once every Node that feeds it a gradient has run,
  //    so its incoming gradients are complete (summed) when it runs.
  std::unordered_map<Node*, Tensor> pending_grad;
  pending_grad[root_node.get()] = seed;
  std::vector<Node*> ready{root_node.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    auto git = pending_grad.find(n);
    std::vector<Tensor> input_grads;
    if (git != pending_grad.end()) {
      Tensor g = std::move(git->second);
      pending_grad.erase(git);
      try {
        // The trace (SC_TRACE) prints this Node as "backward <name>"; the profiler times it so.
        trace::OpScope scope(trace::Kind::Backward, n->name(), g);
        input_grads = n->apply(g);
      } catch (const Error& e) {
        throw Error(detail::concat("backward of '", n->name(), "': ", e.what()));
      }
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* child = n->next[i].get();
      if (!child) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        const Tensor& gi = input_grads[i];
        SC_CHECK(gi.shape() == n->input_shapes[i], "backward of '", n->name(), "' produced a gradient of shape ",
                 gi.shape_string(), " for input ", i, " of shape ", shape_str(n->input_shapes[i]), " (a bug in that op)");
        SC_CHECK(gi.dtype() == n->input_dtypes[i], "backward of '", n->name(), "' produced a ", dtype_name(gi.dtype()),
                 " gradient for the ", dtype_name(n->input_dtypes[i]), " input ", i, " (a bug in that op)");
        Tensor& slot = pending_grad[child];
        if (slot.defined()) {
          trace::OpScope scope(trace::Kind::Backward, "(gradient sums)", slot, gi);
          slot = add(slot, gi);
        } else {
          slot = gi;
        }
      }
      if (--dependencies[child] == 0) ready.push_back(child);
    }
  }

  if (!retain_graph)
    for (Node* n : visited_order) n->release();
}

}  // namespace sc
