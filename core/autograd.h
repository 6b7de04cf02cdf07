#pragma once
// Reverse-mode autograd.
//
// During the forward pass every op that has an input requiring grad calls record(),
// which hangs a Node on the op's output. The Node knows (a) how to turn the gradient
// of the output into gradients of the inputs (a lambda written right beside the
// forward code, micrograd style) and (b) which Nodes produced those inputs (`next`).
// backward() walks that graph from the loss in reverse topological order, iteratively.
// on_grad_ready() lets a caller act on a leaf's gradient as soon as backward has finished it
// (the data-parallel gradient reducer all-reduces gradients while backward goes on).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sc {

// ---- grad mode -------------------------------------------------------------
bool grad_enabled();
void set_grad_enabled(bool on);

// Turns graph recording off for its lifetime (evaluation, optimizer updates, backward itself).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// The shape and dtype of a tensor, without its data.
struct TensorInfo {
  Shape shape;
  DType dtype = DType::Float32;
};

// ---- saved tensors ---------------------------------------------------------
// A tensor a backward function needs. It keeps the data (detached, so the graph
// has no cycles) and the storage version at save time; get() refuses to hand out a
// tensor that was written in place since, because the gradient would be wrong.
// Ops make their SavedTensors in the capture list of the lambda they pass to record(); the
// constructor notes the tensor's shape on this thread, and that record() hangs the notes on
// its Node (Node::saved), which is how the graph picture knows what each op saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor get() const;

 private:
  Tensor data_;
  uint64_t version_ = 0;
};

// ---- graph nodes -----------------------------------------------------------
class Node {
 public:
  explicit Node(std::string name) : name_(std::move(name)) {}
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  // Gradients of the inputs, one per entry of `next` (undefined where not needed).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Drops saved tensors once backward is done (unless retain_graph).
  virtual void release() {}

  // next[i] receives the gradient of input i; null when input i needs none.
  std::vector<std::shared_ptr<Node>> next;
  // Shape and dtype of each input, to check what apply() returns.
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;
  // For the graph picture (core/graph_dot.h) only: which inputs were given (a conv without
  // bias has an undefined one), the output, and the tensors the backward saved. Shapes and
  // dtypes, never data, so they cost nothing to keep after release().
  std::vector<bool> input_defined;
  TensorInfo output;
  std::vector<TensorInfo> saved;

 private:
  std::string name_;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// The Node every op uses: a backward lambda plus its captured SavedTensors.
class FunctionNode : public Node {
 public:
  FunctionNode(std::string name, BackwardFn fn) : Node(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void release() override { fn_ = nullptr; }

 private:
  BackwardFn fn_;
};

// The end of the graph for a leaf with requires_grad: adds the incoming gradient to leaf.grad,
// then runs the leaf's gradient-ready hooks (on_grad_ready below).
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// ---- gradient-ready hooks ----------------------------------------------------
// on_grad_ready(leaf, hook) makes every later backward pass call hook(leaf) as soon as it has
// finished leaf.grad() for that pass, while backward goes on with the rest of the graph.
//
// When is a leaf's gradient final? Every use of a leaf in one graph shares one AccumulateGrad
// node (TensorImpl::grad_accumulator), and run_backward runs a node only after every node that
// sends it a gradient has run, having summed what they sent. So that node runs once per pass,
// with the whole gradient, however many ops used the leaf (weights shared by both views): the
// hook fires once, right after it. Nothing later in the pass touches that leaf's gradient.
//
// A leaf that gets no gradient in a pass (not reached from the loss, or reached only through
// inputs whose backward gave none) gets no call. Whoever needs an answer for every leaf (the
// gradient reducer in ssl/distributed.h) deals with the rest after backward.
//
// The hook runs on the thread that called backward(), with grad mode off; an exception it
// throws ends backward with that error. The returned handle removes the hook when destroyed.
using GradReadyHook = std::function<void(const Tensor& leaf)>;

// The hooks of one leaf (TensorImpl::grad_ready_hooks), each with the id its handle removes.
struct GradReadyHooks {
  int64_t next_id = 0;
  std::vector<std::pair<int64_t, GradReadyHook>> hooks;
};

// Owns one registration; move-only. Destroying it (or remove()) unregisters the hook.
class GradReadyHandle {
 public:
  GradReadyHandle() = default;
  GradReadyHandle(std::weak_ptr<TensorImpl> leaf, int64_t id) : leaf_(std::move(leaf)), id_(id) {}
  GradReadyHandle(GradReadyHandle&& other) noexcept;
  GradReadyHandle& operator=(GradReadyHandle&& other) noexcept;
  GradReadyHandle(const GradReadyHandle&) = delete;
  GradReadyHandle& operator=(const GradReadyHandle&) = delete;
  ~GradReadyHandle() { remove(); }
  void remove();

 private:
  std::weak_ptr<TensorImpl> leaf_;
  int64_t id_ = -1;
};

// Throws sc::Error unless `leaf` is a leaf tensor that requires grad (only those accumulate).
[[nodiscard]] GradReadyHandle on_grad_ready(const Tensor& leaf, GradReadyHook hook);

// ---- what an op calls ------------------------------------------------------
// True when grad mode is on and any defined input requires grad.
bool any_requires_grad(std::initializer_list<Tensor> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches a FunctionNode named `op` to `out`, wired to the given inputs
// (undefined inputs are allowed: they get no gradient).
void record(const char* op, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn fn);

// The backward pass; Tensor::backward() calls this.
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace sc
