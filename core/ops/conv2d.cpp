// conv2d: checks, the forward kernel, and a backward that calls the dedicated
// grad-input / grad-weight / grad-bias kernels (kernels/conv2d.h) for the inputs that
// need a gradient.
#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/conv2d.h"

namespace sc {

namespace {

// Validates the inputs and works out the kernel's shape struct.
kernels::Conv2dShape conv2d_shape(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o) {
  const char* op = "conv2d";
  detail::check_defined(x, op, "the input");
  detail::check_defined(weight, op, "the weight");
  detail::check_floating(x, op);
  detail::check_same_dtype_device(x, weight, op);
  SC_CHECK(x.dim() == 4, op, ": the input must be [N, C, H, W] (4 dims), got ", x.describe());
  SC_CHECK(weight.dim() == 4, op, ": the weight must be [O, C, KH, KW] (4 dims), got ", weight.describe());
  SC_CHECK(x.size(1) == weight.size(1), op, ": the input has ", x.size(1), " channels but the weight expects ",
           weight.size(1), " (input ", x.describe(), ", weight ", weight.describe(), "; groups are not supported)");
  SC_CHECK(weight.size(0) > 0 && weight.size(1) > 0 && weight.size(2) > 0 && weight.size(3) > 0, op,
           ": the weight has an empty dim: ", weight.describe());
  if (bias.defined()) {
    detail::check_same_dtype_device(x, bias, op);
    SC_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, ": the bias must be [", weight.size(0),
             "] (one per output channel of ", weight.describe(), "), got ", bias.describe());
  }
  SC_CHECK(o.stride_h >= 1 && o.stride_w >= 1, op, ": stride must be >= 1, got (", o.stride_h, ", ", o.stride_w, ")");
  SC_CHECK(o.dilation_h >= 1 && o.dilation_w >= 1, op, ": dilation must be >= 1, got (", o.dilation_h, ", ",
           o.dilation_w, ")");
  SC_CHECK(o.pad_h >= 0 && o.pad_w >= 0, op, ": padding must be >= 0, got (", o.pad_h, ", ", o.pad_w, ")");

  kernels::Conv2dShape s;
  s.N = x.size(0), s.C = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.O = weight.size(0), s.KH = weight.size(2), s.KW = weight.size(3);
  s.stride_h = o.stride_h, s.stride_w = o.stride_w;
  s.pad_h = o.pad_h, s.pad_w = o.pad_w;
  s.dilation_h = o.dilation_h, s.dilation_w = o.dilation_w;
  detail::check_spatial_sizes(op, {s.H, s.W, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
                                   s.dilation_w}, x);
  const int64_t span_h = s.dilation_h * (s.KH - 1) + 1, span_w = s.dilation_w * (s.KW - 1) + 1;
  SC_CHECK(span_h <= s.H + 2 * s.pad_h && span_w <= s.W + 2 * s.pad_w, op, ": the kernel (", span_h, " x ", span_w,
           " with dilation) is larger than the padded input (", s.H + 2 * s.pad_h, " x ", s.W + 2 * s.pad_w,
           "): input ", x.describe(), ", weight ", weight.describe());
  s.OH = kernels::conv2d_output_size(s.H, s.KH, s.stride_h, s.pad_h, s.dilation_h);
  s.OW = kernels::conv2d_output_size(s.W, s.KW, s.stride_w, s.pad_w, s.dilation_w);
  return s;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
  trace::OpScope trace_scope("conv2d", x, weight, bias);
  const kernels::Conv2dShape s = conv2d_shape(x, weight, bias, options);
  // The kernels read dense NCHW / OIHW buffers. detach(): these copies are not part of the graph.
  const Tensor xc = contiguous(x.detach());
  const Tensor wc = contiguous(weight.detach());
  const Tensor bc = bias.defined() ? contiguous(bias.detach()) : Tensor();
  Tensor out = empty({s.N, s.O, s.OH, s.OW}, x.dtype(), x.device());
  switch (x.device()) {
    case Device::CPU:
      dispatch_float(x.dtype(), "conv2d", [&]<typename T>() {
        kernels::cpu::conv2d_forward<T>(xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr,
                                        out.data<T>(), s);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("conv2d", dispatch_float(x.dtype(), "conv2d", [&]<typename T>() {
        kernels::cuda::conv2d_forward<T>(xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr,
                                         out.data<T>(), s);
      }));
      break;
  }

  if (any_requires_grad({x, weight, bias})) {
    const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
    const bool need_b = bias.defined() && bias.requires_grad();
    // x is only needed for the weight's gradient, the weight only for the input's.
    record("conv2d", out, {x, weight, bias},
           [s, need_x, need_w, need_b, sx = need_w ? SavedTensor(xc) : SavedTensor(),
            sw = need_x ? SavedTensor(wc) : SavedTensor()](const Tensor& grad) {
             const Tensor g = contiguous(grad);
             Tensor gx = need_x ? empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device()) : Tensor();
             Tensor gw = need_w ? empty({s.O, s.C, s.KH, s.KW}, g.dtype(), g.device()) : Tensor();
             Tensor gb = need_b ? empty({s.O}, g.dtype(), g.device()) : Tensor();
             switch (g.device()) {
               case Device::CPU:
                 dispatch_float(g.dtype(), "conv2d backward", [&]<typename T>() {
                   if (need_x) kernels::cpu::conv2d_backward_input<T>(g.data<T>(), sw.get().data<T>(), gx.data<T>(), s);
                   if (need_w) kernels::cpu::conv2d_backward_weight<T>(g.data<T>(), sx.get().data<T>(), gw.data<T>(), s);
                   if (need_b) kernels::cpu::conv2d_backward_bias<T>(g.data<T>(), gb.data<T>(), s);
                 });
                 break;
               case Device::CUDA:
                 SC_CUDA_BRANCH("conv2d backward", dispatch_float(g.dtype(), "conv2d backward", [&]<typename T>() {
                   namespace kc = kernels::cuda;
                   if (need_x) kc::conv2d_backward_input<T>(g.data<T>(), sw.get().data<T>(), gx.data<T>(), s);
                   if (need_w) kc::conv2d_backward_weight<T>(g.data<T>(), sx.get().data<T>(), gw.data<T>(), s);
                   if (need_b) kc::conv2d_backward_bias<T>(g.data<T>(), gb.data<T>(), s);
                 }));
                 break;
             }
             return std::vector<Tensor>{gx, gw, gb};
           });
  }
  return out;
}

}  // namespace sc
