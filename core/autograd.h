#pragma once
// Reverse-mode autograd.
//
// During the forward pass every op that has an input requiring grad calls record(),
// which hangs a Node on the op's output. The Node knows (a) how to turn the gradient
// of the output into gradients of the inputs (a lambda written right beside the
// forward code, micrograd style) and (b) which Nodes produced those inputs (`next`).
// backward() walks that graph from the loss in reverse topological order, iteratively.
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

// The end of the graph for a leaf with requires_grad: adds the incoming gradient to leaf.grad.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

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
