#pragma once
// Tensor: a cheap handle (shared_ptr) to a TensorImpl, which holds
//   storage  - the shared memory block (views of one tensor share it),
//   shape, strides (in elements), offset (in elements),
//   dtype, device,
//   and the autograd fields: requires_grad, grad, grad_fn.
// Copying a Tensor copies the handle, never the data (like torch.Tensor in Python).
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "base/device.h"
#include "base/dtype.h"
#include "base/error.h"
#include "core/storage.h"

namespace sc {

using Shape = std::vector<int64_t>;

class Node;
class Generator;
struct GradReadyHooks;  // core/autograd.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
  Device device = Device::CPU;

  // Autograd. A leaf that requires grad collects its gradient in `grad`;
  // a tensor computed by an op points to the Node that computed it.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
  std::weak_ptr<Node> grad_accumulator;  // shared by every use of this leaf in a graph
  std::shared_ptr<GradReadyHooks> grad_ready_hooks;  // on_grad_ready (core/autograd.h); null: none
};

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// Turns a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- metadata
  const Shape& shape() const { return checked()->shape; }
  const Shape& strides() const { return checked()->strides; }
  int64_t offset() const { return checked()->offset; }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const { return checked()->dtype; }
  Device device() const { return checked()->device; }
  bool is_contiguous() const;
  // True for a CPU tensor in page-locked memory (empty_pinned).
  bool is_pinned() const { return storage().pinned(); }
  std::string shape_string() const { return shape_str(shape()); }
  // "float32[2, 3] on cpu": used in error messages.
  std::string describe() const;

  // ---- raw data (CPU). data<T>() checks T against the dtype and points at element 0.
  template <typename T>
  T* data() const {
    SC_CHECK(dtype() == dtype_of<T>::value, "data<", dtype_name(dtype_of<T>::value), ">() called on a ", dtype_name(dtype()), " tensor");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;
  Storage& storage() const { return *checked()->storage; }
  uint64_t version() const { return storage().version(); }
  // The single value of a one-element tensor, converted to double.
  double item() const;
  // Copies the elements out in row-major order (any layout, CPU only).
  template <typename T>
  std::vector<T> to_vector() const;

  // ---- autograd
  bool requires_grad() const { return checked()->requires_grad || checked()->grad_fn != nullptr; }
  // Marks a leaf as a parameter whose gradient backward() should collect.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return checked()->grad_fn == nullptr; }
  Tensor grad() const { return checked()->grad ? Tensor(checked()->grad) : Tensor(); }
  void set_grad(const Tensor& g);
  void zero_grad() { checked()->grad.reset(); }
  const std::shared_ptr<Node>& grad_fn() const { return checked()->grad_fn; }
  // Backpropagates from this tensor. `grad` may be omitted for a one-element tensor.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // A new handle on the same storage, cut off from the graph.
  Tensor detach() const;

  // ---- views (share storage) and copies; see core/ops.h for the free-function forms
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // ---- in-place writes (bump the storage version; never recorded by autograd)
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);

  // ---- math shortcuts (the same as the free functions in core/ops.h)
  Tensor matmul(const Tensor& other) const;
  Tensor sum() const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor relu() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor pow(double exponent) const;

  std::string to_string() const;

 private:
  TensorImpl* checked() const {
    SC_CHECK(impl_ != nullptr, "use of an undefined tensor (a default-constructed Tensor holds no data)");
    return impl_.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace sc
