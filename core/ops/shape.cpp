// Views (reshape, transpose, permute, narrow, expand, squeeze, unsqueeze) share the
// input's storage and only change shape/strides/offset; contiguous, clone and to()
// copy. The backward of each is the inverse reshuffle of the gradient.
#include <algorithm>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/cuda_backend.h"
#include "kernels/elementwise.h"

namespace sc {

namespace {
Tensor make_view(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  SC_CHECK(shape.size() <= static_cast<size_t>(kernels::kMaxDims), "views have at most ", kernels::kMaxDims,
           " dims, got ", shape_str(shape), " from ", x.describe());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = x.dtype();
  impl->device = x.device();
  return Tensor(std::move(impl));
}

// Replaces a single -1 by the size that keeps the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Tensor& x) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      SC_CHECK(infer_at < 0, op, ": only one dim may be -1, got ", shape_str(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      SC_CHECK(out[i] >= 0, op, ": invalid size in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer_at >= 0) {
    SC_CHECK(known != 0 && numel % known == 0, op, ": cannot reshape ", x.describe(), " to ", shape_str(shape));
    out[infer_at] = numel / known;
  }
  SC_CHECK(shape_numel(out) == numel, op, ": cannot reshape ", x.describe(), " (", numel, " elements) to ",
           shape_str(shape));
  return out;
}

void copy_into(const Tensor& src, const Tensor& dst) {
  switch (src.device()) {
    case Device::CPU:
      dispatch_all(src.dtype(), "copy", [&]<typename S>() {
        dispatch_all(dst.dtype(), "copy", [&]<typename D>() {
          kernels::cpu::copy_cast<S, D>(src.data<S>(), detail::layout_of(src), dst.data<D>(), detail::layout_of(dst));
        });
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("copy", dispatch_all(src.dtype(), "copy", [&]<typename S>() {
        dispatch_all(dst.dtype(), "copy", [&]<typename D>() {
          kernels::cuda::copy_cast<S, D>(src.data<S>(), detail::layout_of(src), dst.data<D>(), detail::layout_of(dst));
        });
      }));
      break;
  }
}

// The identity on gradients, cast back to the input's dtype when needed.
void record_passthrough(const char* op, const Tensor& out, const Tensor& x) {
  const DType in_dtype = x.dtype();
  record(op, out, {x}, [in_dtype](const Tensor& g) { return std::vector<Tensor>{g.to(in_dtype)}; });
}
}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  trace::OpScope trace_scope("view", x);
  detail::check_defined(x, "view", "the input");
  Shape s = infer_shape(shape, x.numel(), "view", x);
  SC_CHECK(x.is_contiguous(), "view: ", x.describe(), " is not contiguous; use reshape(), which copies when it must");
  Tensor out = make_view(x, s, contiguous_strides(s), x.offset());
  if (any_requires_grad({x})) {
    Shape in_shape = x.shape();
    record("view", out, {x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  trace::OpScope trace_scope("reshape", x);
  detail::check_defined(x, "reshape", "the input");
  if (x.is_contiguous()) return view(x, shape);
  return view(contiguous(x), shape);
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  trace::OpScope trace_scope("transpose", x);
  detail::check_defined(x, "transpose", "the input");
  d0 = normalize_dim(d0, x.dim(), "transpose");
  d1 = normalize_dim(d1, x.dim(), "transpose");
  Shape shape = x.shape(), strides = x.strides();
  if (x.dim() > 0) {
    std::swap(shape[d0], shape[d1]);
    std::swap(strides[d0], strides[d1]);
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (any_requires_grad({x}))
    record("transpose", out, {x}, [d0, d1](const Tensor& g) { return std::vector<Tensor>{transpose(g, d0, d1)}; });
  return out;
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  trace::OpScope trace_scope("permute", x);
  detail::check_defined(x, "permute", "the input");
  SC_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: ", dims.size(), " dims given for ", x.describe());
  std::vector<int64_t> perm(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape shape(dims.size()), strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    perm[i] = normalize_dim(dims[i], x.dim(), "permute");
    SC_CHECK(!seen[perm[i]], "permute: dim ", perm[i], " repeats in the permutation");
    seen[perm[i]] = true;
    inverse[perm[i]] = static_cast<int64_t>(i);
    shape[i] = x.shape()[perm[i]];
    strides[i] = x.strides()[perm[i]];
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (any_requires_grad({x}))
    record("permute", out, {x}, [inverse](const Tensor& g) { return std::vector<Tensor>{permute(g, inverse)}; });
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  trace::OpScope trace_scope("narrow", x);
  detail::check_defined(x, "narrow", "the input");
  SC_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  dim = normalize_dim(dim, x.dim(), "narrow");
  const int64_t n = x.shape()[dim];
  if (start < 0) start += n;
  // The message shows start and length, not start + length: with a huge length the sum would
  // overflow int64 (undefined behaviour) while building the very error that reports it.
  SC_CHECK(start >= 0 && start <= n && length >= 0 && length <= n - start, "narrow: start ", start, " and length ",
           length, " are out of range for dim ", dim, " (size ", n, ") of ", x.describe());
  Shape shape = x.shape();
  shape[dim] = length;
  Tensor out = make_view(x, shape, x.strides(), x.offset() + start * x.strides()[dim]);
  if (any_requires_grad({x})) {
    Shape in_shape = x.shape();
    record("narrow", out, {x}, [in_shape, dim, start, length](const Tensor& g) {
      Tensor gi = zeros(in_shape, g.dtype(), g.device());
      gi.narrow(dim, start, length).copy_(g);
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& target) {
  trace::OpScope trace_scope("expand", x);
  Shape shape = target;
  detail::check_defined(x, "expand", "the input");
  const int64_t lead = static_cast<int64_t>(shape.size()) - x.dim();
  SC_CHECK(lead >= 0, "expand: cannot expand ", x.describe(), " to fewer dims ", shape_str(shape));
  Shape strides(shape.size());
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const int64_t xd = d - lead;
    if (xd < 0) {
      SC_CHECK(shape[d] >= 0, "expand: size ", shape[d], " of the new leading dim ", d, " in ", shape_str(shape),
               " must be >= 0");
      strides[d] = 0;
      continue;
    }
    const int64_t have = x.shape()[xd];
    if (shape[d] == -1) shape[d] = have;  // as PyTorch: -1 keeps the size
    SC_CHECK(shape[d] >= 0, "expand: invalid size ", shape[d], " in ", shape_str(shape));
    SC_CHECK(have == shape[d] || have == 1, "expand: dim ", xd, " of ", x.describe(), " has size ", have,
             " and cannot be expanded to ", shape_str(shape));
    strides[d] = have == shape[d] ? x.strides()[xd] : 0;
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (any_requires_grad({x})) {
    Shape in_shape = x.shape();
    record("expand", out, {x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
  }
  return out;
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  trace::OpScope trace_scope("squeeze", x);
  detail::check_defined(x, "squeeze", "the input");
  dim = normalize_dim(dim, x.dim(), "squeeze");
  if (x.dim() == 0) return x;
  if (x.shape()[dim] != 1) return x;  // as PyTorch: squeezing a dim that is not 1 does nothing
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = make_view(x, shape, strides, x.offset());
  if (any_requires_grad({x})) {
    Shape in_shape = x.shape();
    record("squeeze", out, {x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  trace::OpScope trace_scope("unsqueeze", x);
  detail::check_defined(x, "unsqueeze", "the input");
  dim = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  const int64_t stride = dim < x.dim() ? x.strides()[dim] * x.shape()[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  Tensor out = make_view(x, shape, strides, x.offset());
  if (any_requires_grad({x})) {
    Shape in_shape = x.shape();
    record("unsqueeze", out, {x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  trace::OpScope trace_scope("flatten", x);
  detail::check_defined(x, "flatten", "the input");
  start_dim = normalize_dim(start_dim, x.dim(), "flatten");
  end_dim = normalize_dim(end_dim, x.dim(), "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  SC_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape shape;
  for (int64_t d = 0; d < start_dim; ++d) shape.push_back(x.shape()[d]);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  for (int64_t d = end_dim + 1; d < x.dim(); ++d) shape.push_back(x.shape()[d]);
  return reshape(x, shape);
}

Tensor contiguous(const Tensor& x) {
  trace::OpScope trace_scope("contiguous", x);
  detail::check_defined(x, "contiguous", "the input");
  if (x.is_contiguous()) return x;
  return clone(x);
}

Tensor clone(const Tensor& x) {
  trace::OpScope trace_scope("clone", x);
  detail::check_defined(x, "clone", "the input");
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  copy_into(x, out);
  if (any_requires_grad({x})) record_passthrough("clone", out, x);
  return out;
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  trace::OpScope trace_scope("to_dtype", x);
  detail::check_defined(x, "to", "the input");
  if (x.dtype() == dtype) return x;
  Tensor out = empty(x.shape(), dtype, x.device());
  copy_into(x, out);
  if (is_floating(dtype) && any_requires_grad({x})) record_passthrough("to_dtype", out, x);
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  trace::OpScope trace_scope("to_device", x);
  detail::check_defined(x, "to", "the input");
  if (x.device() == device) return x;
  SC_CHECK(cuda_available(), "to(", device_name(device), "): copying ", x.describe(),
           " needs the CUDA backend and a GPU: ", cuda_unavailable_reason());
  // One contiguous copy on the source device, then one bulk transfer of its bytes.
  const Tensor src = contiguous(x.detach());
  Tensor out = empty(x.shape(), x.dtype(), device);
  const size_t nbytes = static_cast<size_t>(x.numel()) * dtype_size(x.dtype());
  if (device == Device::CUDA)
    kernels::cuda::copy_host_to_device(out.raw_data(), src.raw_data(), nbytes);
  else
    kernels::cuda::copy_device_to_host(out.raw_data(), src.raw_data(), nbytes);
  if (any_requires_grad({x})) {
    // The gradient goes back to the device the input came from.
    record("to", out, {x}, [from = x.device()](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return out;
}

}  // namespace sc
