// Joining and indexing: concat, stack, index_select.
// concat copies each input into its slot of the output; its backward hands each input
// its slot of the gradient (a narrow view). stack is unsqueeze + concat. index_select
// gathers rows along a dim; its backward scatter-adds the gradient rows back, so a row
// picked twice receives the sum of both gradients.
#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/elementwise.h"
#include "kernels/index.h"

namespace sc {

namespace {

// Every input defined, and all of one dtype and one device (those of tensor 0).
void check_joinable(const std::vector<Tensor>& tensors, const char* op) {
  SC_CHECK(!tensors.empty(), op, ": needs at least one tensor, got an empty list");
  for (size_t i = 0; i < tensors.size(); ++i)
    SC_CHECK(tensors[i].defined(), op, ": tensor ", i, " is an undefined tensor");
  const Tensor& first = tensors[0];
  for (size_t i = 1; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    SC_CHECK(t.dtype() == first.dtype(), op, ": dtypes differ: tensor 0 is ", first.describe(), ", tensor ", i, " is ",
             t.describe());
    SC_CHECK(t.device() == first.device(), op, ": devices differ: tensor 0 is ", first.describe(), ", tensor ", i,
             " is ", t.describe());
  }
}

// A tensor viewed as [outer, rows, inner] around `dim`.
struct RowsView {
  int64_t outer = 1, rows = 1, inner = 1;
};

RowsView rows_around(const Shape& shape, int64_t dim) {
  RowsView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) v.outer *= shape[d];
    if (d > dim) v.inner *= shape[d];
  }
  v.rows = shape[dim];
  return v;
}

// The backward of index_select: a zero tensor of the input's shape, with gradient row j
// added at row index[j] (the adjoint of a gather is a scatter-add).
Tensor index_add_rows(const Tensor& grad, const Tensor& index, const Shape& in_shape, int64_t dim) {
  const RowsView in = rows_around(in_shape, dim);
  Tensor g = contiguous(grad);
  Tensor out = empty(in_shape, grad.dtype(), grad.device());
  switch (grad.device()) {
    case Device::CPU:
      dispatch_float(grad.dtype(), "index_select backward", [&]<typename T>() {
        kernels::cpu::scatter_add_rows<T>(g.data<T>(), in.outer, index.numel(), in.inner, index.data<int64_t>(), in.rows,
                                          out.data<T>());
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("index_select backward", dispatch_float(grad.dtype(), "index_select backward", [&]<typename T>() {
        kernels::cuda::scatter_add_rows<T>(g.data<T>(), in.outer, index.numel(), in.inner, index.data<int64_t>(),
                                           in.rows, out.data<T>());
      }));
      break;
  }
  return out;
}

// Every index is checked before any is used: the kernels trust them.
void check_indices(const Tensor& index, int64_t rows, int64_t dim, const Tensor& x) {
  const int64_t j = detail::first_out_of_range(index, rows);
  SC_CHECK(j < 0, "index_select: index[", j, "] = ", static_cast<int64_t>(index.narrow(0, j, 1).item()),
           " is out of range for dim ", dim, " of ", x.describe(), " (valid: 0 to ", rows - 1, ")");
}

}  // namespace

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  trace::OpScope trace_scope("concat", tensors);
  check_joinable(tensors, "concat");
  const Tensor& first = tensors[0];
  SC_CHECK(first.dim() > 0, "concat: cannot concatenate 0-dim tensors such as ", first.describe(), " (stack them)");
  dim = normalize_dim(dim, first.dim(), "concat");
  Shape shape = first.shape();
  shape[dim] = 0;
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    SC_CHECK(t.dim() == first.dim(), "concat: tensor 0 is ", first.describe(), " but tensor ", i, " is ", t.describe(),
             " (different numbers of dims)");
    for (int64_t d = 0; d < t.dim(); ++d)
      SC_CHECK(d == dim || t.shape()[d] == first.shape()[d], "concat: tensor 0 is ", first.describe(), " but tensor ",
               i, " is ", t.describe(), "; they must match in every dim but dim ", dim, " (dim ", d, ": ",
               first.shape()[d], " vs ", t.shape()[d], ")");
    lengths.push_back(t.shape()[dim]);
    shape[dim] += t.shape()[dim];
  }

  Tensor out = empty(shape, first.dtype(), first.device());
  int64_t start = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const Tensor slot = out.narrow(dim, start, lengths[i]);  // a view: the copy writes into out
    switch (first.device()) {
      case Device::CPU:
        dispatch_all(t.dtype(), "concat", [&]<typename T>() {
          kernels::cpu::copy_cast<T, T>(t.data<T>(), detail::layout_of(t), slot.data<T>(), detail::layout_of(slot));
        });
        break;
      case Device::CUDA:
        SC_CUDA_BRANCH("concat", dispatch_all(t.dtype(), "concat", [&]<typename T>() {
          kernels::cuda::copy_cast<T, T>(t.data<T>(), detail::layout_of(t), slot.data<T>(), detail::layout_of(slot));
        }));
        break;
    }
    start += lengths[i];
  }

  if (any_requires_grad(tensors)) {
    // out is the inputs side by side along dim: input i's gradient is its slot of g.
    std::vector<bool> needs;
    for (const Tensor& t : tensors) needs.push_back(t.requires_grad());
    record("concat", out, tensors, [dim, lengths, needs](const Tensor& g) {
      std::vector<Tensor> grads;
      int64_t start = 0;
      for (size_t i = 0; i < lengths.size(); ++i) {
        grads.push_back(needs[i] ? narrow(g, dim, start, lengths[i]) : Tensor());
        start += lengths[i];
      }
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  trace::OpScope trace_scope("stack", tensors);
  check_joinable(tensors, "stack");
  const Tensor& first = tensors[0];
  dim = normalize_dim(dim, first.dim() + 1, "stack");  // the new dim may also go last
  for (size_t i = 1; i < tensors.size(); ++i)
    SC_CHECK(tensors[i].shape() == first.shape(), "stack: tensor 0 is ", first.describe(), " but tensor ", i, " is ",
             tensors[i].describe(), " (stack needs equal shapes)");
  // Each input gets a new size-1 dim; concat joins them along it. Both record their
  // own backward, so stack needs none of its own.
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, dim));
  return concat(parts, dim);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  trace::OpScope trace_scope("index_select", x, index);
  detail::check_defined(x, "index_select", "the input");
  detail::check_defined(index, "index_select", "the index");
  SC_CHECK(x.dim() > 0, "index_select: cannot select from the 0-dim tensor ", x.describe());
  dim = normalize_dim(dim, x.dim(), "index_select");
  SC_CHECK(index.dtype() == DType::Int64 && index.dim() == 1, "index_select: the index must be a 1-D int64 tensor, got ",
           index.describe());
  SC_CHECK(index.device() == x.device(), "index_select: devices differ: ", x.describe(), " and index ",
           index.describe());
  const RowsView in = rows_around(x.shape(), dim);
  const int64_t picked = index.numel();
  Shape out_shape = x.shape();
  out_shape[dim] = picked;

  Tensor out = empty(out_shape, x.dtype(), x.device());
  Tensor idx = contiguous(index);
  check_indices(idx, in.rows, dim, x);
  switch (x.device()) {
    case Device::CPU: {
      const int64_t* p = idx.data<int64_t>();
      Tensor xc = contiguous(x.detach());
      dispatch_all(x.dtype(), "index_select", [&]<typename T>() {
        kernels::cpu::gather_rows<T>(xc.data<T>(), in.outer, in.rows, in.inner, p, picked, out.data<T>());
      });
      break;
    }
    case Device::CUDA: {
      Tensor xc = contiguous(x.detach());
      SC_CUDA_BRANCH("index_select", dispatch_all(x.dtype(), "index_select", [&]<typename T>() {
        kernels::cuda::gather_rows<T>(xc.data<T>(), in.outer, in.rows, in.inner, idx.data<int64_t>(), picked,
                                      out.data<T>());
      }));
      break;
    }
  }

  if (any_requires_grad({x})) {
    // out[.., j, ..] = x[.., index[j], ..]  =>  dL/dx[.., r, ..] = sum over j with index[j] = r of g[.., j, ..]
    record("index_select", out, {x}, [dim, in_shape = x.shape(), si = SavedTensor(idx)](const Tensor& g) {
      return std::vector<Tensor>{index_add_rows(g, si.get(), in_shape, dim)};
    });
  }
  return out;
}

}  // namespace sc
