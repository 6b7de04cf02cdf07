#include "core/tensor.h"

#include <cstdio>
#include <sstream>

#include "core/autograd.h"
#include "core/gdb_autoload.h"
#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/elementwise.h"

namespace sc {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  // The product of the non-zero sizes must fit, even when a zero size makes the count 0:
  // strides are products of the same sizes.
  int64_t n = 1;
  bool has_zero = false;
  for (int64_t d : s) {
    SC_CHECK(d >= 0, "negative size in shape ", shape_str(s));
    if (d == 0) {
      has_zero = true;
      continue;
    }
    SC_CHECK(!__builtin_mul_overflow(n, d, &n), "shape ", shape_str(s), " has too many elements to count in 64 bits");
  }
  return has_zero ? 0 : n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= s[d];
  }
  return st;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  SC_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " is out of range for a tensor with ", ndim,
           " dims (expected ", lo, " to ", hi, ")");
  return dim < 0 ? dim + (ndim == 0 ? 1 : ndim) : dim;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return detail::concat(dtype_name(dtype()), shape_str(shape()), " on ", device_name(device()));
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage().data()) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

double Tensor::item() const {
  SC_CHECK(numel() == 1, "item(): the tensor must have exactly one element, got ", describe());
  Tensor c = device() == Device::CPU ? *this : to(Device::CPU);
  return dispatch_all(c.dtype(), "item", [&]<typename T>() { return static_cast<double>(*c.data<T>()); });
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  SC_CHECK(dtype() == dtype_of<T>::value, "to_vector<", dtype_name(dtype_of<T>::value), ">() called on ", describe());
  Tensor c = (device() == Device::CPU ? *this : to(Device::CPU)).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;

Tensor& Tensor::requires_grad_(bool on) {
  SC_CHECK(!on || is_floating(dtype()), "requires_grad_: only float tensors can require grad, got ", describe());
  SC_CHECK(is_leaf() || on, "requires_grad_(false) on a tensor computed by an op; use detach()");
  checked()->requires_grad = on;
  return *this;
}

void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    zero_grad();
    return;
  }
  SC_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(), "set_grad: gradient ",
           g.describe(), " does not match the tensor ", describe());
  checked()->grad = g.detach().contiguous().impl_ptr();  // never part of a graph, never a broadcast view
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked()->storage;
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  impl->device = device();
  return Tensor(std::move(impl));
}

Tensor Tensor::reshape(const Shape& s) const { return sc::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return sc::view(*this, s); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return sc::transpose(*this, d0, d1); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return sc::permute(*this, dims); }
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const { return sc::narrow(*this, d, start, length); }
Tensor Tensor::expand(const Shape& s) const { return sc::expand(*this, s); }
Tensor Tensor::squeeze(int64_t d) const { return sc::squeeze(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return sc::unsqueeze(*this, d); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return sc::flatten(*this, s, e); }
Tensor Tensor::contiguous() const { return sc::contiguous(*this); }
Tensor Tensor::clone() const { return sc::clone(*this); }
Tensor Tensor::to(DType d) const { return sc::to_dtype(*this, d); }
Tensor Tensor::to(Device d) const { return sc::to_device(*this, d); }
Tensor Tensor::matmul(const Tensor& o) const { return sc::matmul(*this, o); }
Tensor Tensor::sum() const { return sc::sum(*this); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return sc::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return sc::mean(*this); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const { return sc::mean(*this, dims, keepdim); }
Tensor Tensor::relu() const { return sc::relu(*this); }
Tensor Tensor::exp() const { return sc::exp(*this); }
Tensor Tensor::log() const { return sc::log(*this); }
Tensor Tensor::sqrt() const { return sc::sqrt(*this); }
Tensor Tensor::abs() const { return sc::abs(*this); }
Tensor Tensor::pow(double e) const { return sc::pow(*this, e); }

namespace {
// In-place writes into a view with a stride-0 dim would write one element many times.
void check_writable(const Tensor& t, const char* op) {
  // In-place writes are not recorded by autograd. Writing into a tensor that is part of a
  // graph (a parameter, or a result of an op that records) would make backward() silently
  // wrong, so it is refused unless grad mode is off (optimizer updates, initialisation).
  SC_CHECK(!grad_enabled() || !t.requires_grad(), op, ": in-place write into ", t.describe(),
           ", which requires grad; do it under NoGradGuard (e.g. an optimizer step) or on a detached copy");
  if (t.numel() == 0) return;  // nothing is written; zero-size dims also give stride 0
  for (int64_t d = 0; d < t.dim(); ++d)
    SC_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1, op, ": cannot write into an expanded (broadcast) view ",
             t.describe());
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  trace::OpScope trace_scope("fill_", *this);
  check_writable(*this, "fill_");
  switch (device()) {
    case Device::CPU:
      dispatch_all(dtype(), "fill_", [&]<typename T>() {
        kernels::cpu::fill<T>(data<T>(), detail::layout_of(*this), static_cast<T>(value));
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("fill_", dispatch_all(dtype(), "fill_", [&]<typename T>() {
        kernels::cuda::fill<T>(data<T>(), detail::layout_of(*this), static_cast<T>(value));
      }));
      break;
  }
  storage().bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  trace::OpScope trace_scope("copy_", *this, src);
  detail::check_defined(src, "copy_", "the source");
  check_writable(*this, "copy_");
  SC_CHECK(!grad_enabled() || !src.requires_grad(), "copy_: the source ", src.describe(),
           " requires grad, but copy_ is not differentiable; use clone() (differentiable) or copy from src.detach()");
  Shape target = broadcast_shapes(shape(), src.shape(), "copy_");
  SC_CHECK(target == shape(), "copy_: source ", src.describe(), " cannot be broadcast to the destination ", describe());
  SC_CHECK(src.device() == device(), "copy_: devices differ: source ", src.describe(), ", destination ", describe());
  // A source that overlaps the destination must be read in full before it is written.
  Tensor from = (&src.storage() == &storage()) ? src.clone() : src;
  switch (device()) {
    case Device::CPU:
      dispatch_all(from.dtype(), "copy_", [&]<typename S>() {
        dispatch_all(dtype(), "copy_", [&]<typename D>() {
          kernels::cpu::copy_cast<S, D>(from.data<S>(), detail::broadcast_layout(from, shape()), data<D>(),
                                        detail::layout_of(*this));
        });
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("copy_", dispatch_all(from.dtype(), "copy_", [&]<typename S>() {
        dispatch_all(dtype(), "copy_", [&]<typename D>() {
          kernels::cuda::copy_cast<S, D>(from.data<S>(), detail::broadcast_layout(from, shape()), data<D>(),
                                         detail::layout_of(*this));
        });
      }));
      break;
  }
  storage().bump_version();
  return *this;
}

namespace {
void print_values(std::ostringstream& os, const Tensor& c, int64_t dim, int64_t offset, int indent) {
  constexpr int64_t kEdge = 3;  // elements shown at each end of a long dim
  const int64_t n = c.shape()[dim];
  const int64_t stride = c.strides()[dim];
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdge && i == kEdge) {
      os << (dim + 1 == c.dim() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdge;
    }
    if (dim + 1 == c.dim()) {
      dispatch_all(c.dtype(), "print", [&]<typename T>() {
        const T v = static_cast<const T*>(c.storage().data())[offset + i * stride];
        if constexpr (std::is_floating_point_v<T>) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.4g", static_cast<double>(v));
          os << buf;
        } else {
          os << v;
        }
      });
      if (i + 1 < n) os << ", ";
    } else {
      print_values(os, c, dim + 1, offset + i * stride, indent + 1);
      if (i + 1 < n) os << ",\n" << std::string(indent + 1, ' ');
    }
  }
  os << "]";
}
}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  Tensor c = device() == Device::CPU ? *this : to(Device::CPU);
  os << "Tensor(";
  if (c.dim() == 0) {
    os << c.item();
  } else if (c.numel() == 0) {
    os << "[]";
  } else {
    print_values(os, c, 0, c.offset(), 7);
  }
  os << ", " << describe();
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace sc
