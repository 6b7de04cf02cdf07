// Pooling: max_pool2d (saves the argmax of each window for its backward), avg_pool2d
// and global_avg_pool2d, each with a dedicated backward kernel (kernels/pool.h).
#include <limits>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/pool.h"

namespace sc {

namespace {

void check_pool_input(const Tensor& x, const char* op) {
  detail::check_defined(x, op, "the input");
  detail::check_floating(x, op);
  SC_CHECK(x.dim() == 4, op, ": the input must be [N, C, H, W] (4 dims), got ", x.describe());
}

// Validates the options against x with PyTorch's rules and works out the output size.
kernels::Pool2dShape pool_shape(const Tensor& x, const Pool2dOptions& o, const char* op) {
  check_pool_input(x, op);
  SC_CHECK(o.kernel_h >= 1 && o.kernel_w >= 1, op, ": kernel size must be >= 1, got (", o.kernel_h, ", ", o.kernel_w,
           ")");
  SC_CHECK(o.stride_h >= 1 && o.stride_w >= 1, op, ": stride must be >= 1, got (", o.stride_h, ", ", o.stride_w, ")");
  SC_CHECK(o.pad_h >= 0 && o.pad_w >= 0, op, ": padding must be >= 0, got (", o.pad_h, ", ", o.pad_w, ")");
  // A larger padding would let a window hold nothing but padding.
  SC_CHECK(o.pad_h <= o.kernel_h / 2 && o.pad_w <= o.kernel_w / 2, op, ": padding (", o.pad_h, ", ", o.pad_w,
           ") must be at most half the kernel size (", o.kernel_h, ", ", o.kernel_w, ")");
  kernels::Pool2dShape s;
  s.N = x.size(0), s.C = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.KH = o.kernel_h, s.KW = o.kernel_w;
  s.stride_h = o.stride_h, s.stride_w = o.stride_w;
  s.pad_h = o.pad_h, s.pad_w = o.pad_w;
  detail::check_spatial_sizes(op, {s.H, s.W, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h, s.pad_w}, x);
  const int64_t room_h = s.H + 2 * s.pad_h - s.KH, room_w = s.W + 2 * s.pad_w - s.KW;
  s.OH = room_h < 0 ? 0 : room_h / s.stride_h + 1;
  s.OW = room_w < 0 ? 0 : room_w / s.stride_w + 1;
  SC_CHECK(s.OH >= 1 && s.OW >= 1, op, ": the output would be empty: a (", s.KH, ", ", s.KW,
           ") window does not fit in the padded input ", x.describe(), " with padding (", s.pad_h, ", ", s.pad_w, ")");
  return s;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  trace::OpScope trace_scope("max_pool2d", x);
  const kernels::Pool2dShape s = pool_shape(x, options, "max_pool2d");
  // The argmax is an index into one H x W plane, kept as int32: half the memory of int64 in
  // every pooling layer's saved state.
  SC_CHECK(s.H * s.W <= std::numeric_limits<int32_t>::max(), "max_pool2d: an input plane of ", s.H, " x ", s.W,
           " = ", s.H * s.W, " values is too large: its argmax is int32, so a plane may hold at most 2^31 - 1");
  const Tensor xc = contiguous(x.detach());
  Tensor out = empty({s.N, s.C, s.OH, s.OW}, x.dtype(), x.device());
  Tensor argmax = empty({s.N, s.C, s.OH, s.OW}, DType::Int32, x.device());
  switch (x.device()) {
    case Device::CPU:
      dispatch_float(x.dtype(), "max_pool2d", [&]<typename T>() {
        kernels::cpu::max_pool2d_forward<T>(xc.data<T>(), out.data<T>(), argmax.data<int32_t>(), s);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("max_pool2d", dispatch_float(x.dtype(), "max_pool2d", [&]<typename T>() {
        kernels::cuda::max_pool2d_forward<T>(xc.data<T>(), out.data<T>(), argmax.data<int32_t>(), s);
      }));
      break;
  }
  if (any_requires_grad({x})) {
    // d max / d x_i is 1 for the window's argmax and 0 elsewhere.
    record("max_pool2d", out, {x}, [s, sa = SavedTensor(argmax)](const Tensor& grad) {
      const Tensor g = contiguous(grad);
      Tensor gx = empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
      switch (g.device()) {
        case Device::CPU:
          dispatch_float(g.dtype(), "max_pool2d backward", [&]<typename T>() {
            kernels::cpu::max_pool2d_backward<T>(g.data<T>(), sa.get().data<int32_t>(), gx.data<T>(), s);
          });
          break;
        case Device::CUDA:
          SC_CUDA_BRANCH("max_pool2d backward", dispatch_float(g.dtype(), "max_pool2d backward", [&]<typename T>() {
            kernels::cuda::max_pool2d_backward<T>(g.data<T>(), sa.get().data<int32_t>(), gx.data<T>(), s);
          }));
          break;
      }
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  trace::OpScope trace_scope("avg_pool2d", x);
  const kernels::Pool2dShape s = pool_shape(x, options, "avg_pool2d");
  const Tensor xc = contiguous(x.detach());
  Tensor out = empty({s.N, s.C, s.OH, s.OW}, x.dtype(), x.device());
  switch (x.device()) {
    case Device::CPU:
      dispatch_float(x.dtype(), "avg_pool2d", [&]<typename T>() {
        kernels::cpu::avg_pool2d_forward<T>(xc.data<T>(), out.data<T>(), s);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("avg_pool2d", dispatch_float(x.dtype(), "avg_pool2d", [&]<typename T>() {
        kernels::cuda::avg_pool2d_forward<T>(xc.data<T>(), out.data<T>(), s);
      }));
      break;
  }
  if (any_requires_grad({x})) {
    // Each window element gets 1 / (KH*KW) of the window's gradient; nothing else is needed.
    record("avg_pool2d", out, {x}, [s](const Tensor& grad) {
      const Tensor g = contiguous(grad);
      Tensor gx = empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
      switch (g.device()) {
        case Device::CPU:
          dispatch_float(g.dtype(), "avg_pool2d backward",
                         [&]<typename T>() { kernels::cpu::avg_pool2d_backward<T>(g.data<T>(), gx.data<T>(), s); });
          break;
        case Device::CUDA:
          SC_CUDA_BRANCH("avg_pool2d backward", dispatch_float(g.dtype(), "avg_pool2d backward", [&]<typename T>() {
            kernels::cuda::avg_pool2d_backward<T>(g.data<T>(), gx.data<T>(), s);
          }));
          break;
      }
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

Tensor global_avg_pool2d(const Tensor& x) {
  trace::OpScope trace_scope("global_avg_pool2d", x);
  const char* op = "global_avg_pool2d";
  check_pool_input(x, op);
  SC_CHECK(x.size(2) > 0 && x.size(3) > 0, op, ": the feature maps of ", x.describe(), " are empty");
  const Shape in_shape = x.shape();
  const int64_t planes = x.size(0) * x.size(1), plane_size = x.size(2) * x.size(3);
  const Tensor xc = contiguous(x.detach());
  Tensor out = empty({x.size(0), x.size(1), 1, 1}, x.dtype(), x.device());
  switch (x.device()) {
    case Device::CPU:
      dispatch_float(x.dtype(), op, [&]<typename T>() {
        kernels::cpu::global_avg_pool2d_forward<T>(xc.data<T>(), out.data<T>(), planes, plane_size);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH(op, dispatch_float(x.dtype(), op, [&]<typename T>() {
        kernels::cuda::global_avg_pool2d_forward<T>(xc.data<T>(), out.data<T>(), planes, plane_size);
      }));
      break;
  }
  if (any_requires_grad({x})) {
    // d mean / d x_i = 1 / (H*W) for every element of the plane.
    record(op, out, {x}, [in_shape, planes, plane_size](const Tensor& grad) {
      const Tensor g = contiguous(grad);
      Tensor gx = empty(in_shape, g.dtype(), g.device());
      switch (g.device()) {
        case Device::CPU:
          dispatch_float(g.dtype(), "global_avg_pool2d backward", [&]<typename T>() {
            kernels::cpu::global_avg_pool2d_backward<T>(g.data<T>(), gx.data<T>(), planes, plane_size);
          });
          break;
        case Device::CUDA:
          SC_CUDA_BRANCH("global_avg_pool2d backward",
                         dispatch_float(g.dtype(), "global_avg_pool2d backward", [&]<typename T>() {
                           kernels::cuda::global_avg_pool2d_backward<T>(g.data<T>(), gx.data<T>(), planes, plane_size);
                         }));
          break;
      }
      return std::vector<Tensor>{gx};
    });
  }
  return out;
}

}  // namespace sc
