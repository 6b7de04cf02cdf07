// Batch normalisation: dedicated forward and backward kernels (kernels/batch_norm.h: CPU in
// kernels/cpu/batch_norm.cpp, CUDA in kernels/cuda/batch_norm.cu or cuDNN).
// The op checks its inputs, views x as [N, C, HW], picks the training or evaluation kernel,
// updates the running statistics in place (training) and records one backward node for
// x, weight and bias.
#include <cmath>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/batch_norm.h"
#include "kernels/elementwise.h"

namespace sc {

namespace {

// A per-channel tensor (weight, bias, running stats): undefined, or [C] like x's dtype and device.
void check_channel_tensor(const char* kOp, const Tensor& t, const Tensor& x, int64_t C, const char* what) {
  if (!t.defined()) return;
  SC_CHECK(t.dim() == 1 && t.shape()[0] == C, kOp, ": ", what, " must be [", C, "] for the input ", x.describe(),
           ", got ", t.describe());
  SC_CHECK(t.dtype() == x.dtype() && t.device() == x.device(), kOp, ": ", what, " ", t.describe(),
           " must have the dtype and device of the input ", x.describe());
}

// Raw pointer to a defined [C] tensor's values (made contiguous), or null when undefined.
template <typename T>
const T* data_or_null(const Tensor& contiguous_or_undefined) {
  return contiguous_or_undefined.defined() ? contiguous_or_undefined.data<T>() : nullptr;
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? contiguous(t.detach()) : Tensor(); }

// The CUDA side of the fused op, from the elementwise kernels: out = max(out, 0) in place, and
// the ReLU's backward dy * (out > 0).
template <typename T>
void relu_in_place_cuda(Tensor& out) {
  SC_CUDA_BRANCH("batch_norm_relu", {
    const kernels::Layout layout = detail::layout_of(out);
    kernels::cuda::unary<T>(kernels::UnaryOp::Relu, 0, 0, out.data<T>(), layout, out.data<T>(), layout);
  });
}

Tensor relu_backward_cuda(const Tensor& dy, const Tensor& relu_out) {
  Tensor masked = empty(dy.shape(), dy.dtype(), dy.device());
  dispatch_float(dy.dtype(), "batch_norm_relu backward", [&]<typename T>() {
    SC_CUDA_BRANCH("batch_norm_relu backward",
                   kernels::cuda::binary<T>(kernels::BinaryOp::ReluGrad, dy.data<T>(), detail::layout_of(dy),
                                            relu_out.data<T>(), detail::layout_of(relu_out), masked.data<T>(),
                                            detail::layout_of(masked)));
  });
  return masked;
}

// batch_norm, and with fuse_relu the fused batch_norm_relu: relu(batch_norm(x)) with the ReLU
// applied in the normalising pass and its backward folded into batch norm's (CPU); on CUDA the
// same result from the existing kernels one after the other.
Tensor batch_norm_impl(const char* kOp, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                       double eps, bool fuse_relu) {
  trace::OpScope trace_scope(kOp, x, weight, bias, running_mean, running_var);
  detail::check_defined(x, kOp, "the input");
  detail::check_floating(x, kOp);
  SC_CHECK(x.dim() == 2 || x.dim() == 4, kOp, ": the input must be [N, C] or [N, C, H, W], got ", x.describe());
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t HW = x.dim() == 4 ? x.shape()[2] * x.shape()[3] : 1;
  check_channel_tensor(kOp, weight, x, C, "weight");
  check_channel_tensor(kOp, bias, x, C, "bias");
  check_channel_tensor(kOp, running_mean, x, C, "running_mean");
  check_channel_tensor(kOp, running_var, x, C, "running_var");
  SC_CHECK(running_mean.defined() == running_var.defined(), kOp,
           ": running_mean and running_var must be given together (got only one)");
  SC_CHECK(training || running_mean.defined(), kOp,
           ": evaluation mode (training = false) needs running_mean and running_var, got undefined tensors");
  SC_CHECK(!training || N * HW > 1, kOp, ": training needs more than one value per channel to compute a variance, got ",
           x.describe());
  if (training) {
    for (auto [running, what] : {std::pair{running_mean, "running_mean"}, std::pair{running_var, "running_var"}})
      SC_CHECK(!running.defined() || C <= 1 || running.strides()[0] != 0, kOp, ": ", what, " ", running.describe(),
               " is an expanded view; it is updated in place, so it needs its own memory");
  }
  SC_CHECK(std::isfinite(eps) && eps >= 0, kOp, ": eps must be finite and >= 0, got ", eps);
  SC_CHECK(std::isfinite(momentum), kOp, ": momentum must be finite, got ", momentum);

  Tensor xc = contiguous(x.detach());
  Tensor gamma = contiguous_or_undefined(weight), beta = contiguous_or_undefined(bias);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  // The per-channel mean and 1/sqrt(var + eps) the forward used: what the backward needs.
  Tensor save_mean = empty({C}, x.dtype(), x.device()), save_invstd = empty({C}, x.dtype(), x.device());
  // The fused op on the CPU: the coefficients of y = max(x * scale + shift, 0) per channel, from
  // which the backward recomputes the ReLU's mask, so that y itself need not be kept.
  const bool mask_from_x = fuse_relu && x.device() == Device::CPU;
  Tensor relu_scale = mask_from_x ? empty({C}, x.dtype(), x.device()) : Tensor();
  Tensor relu_shift = mask_from_x ? empty({C}, x.dtype(), x.device()) : Tensor();

  const Device device = x.device();
  dispatch_float(x.dtype(), kOp, [&]<typename T>() {
    if (!training) {
      Tensor rm = contiguous(running_mean.detach()), rv = contiguous(running_var.detach());
      switch (device) {
        case Device::CPU:
          if (fuse_relu)
            kernels::cpu::batch_norm_relu_forward_eval<T>(xc.data<T>(), N, C, HW, data_or_null<T>(gamma),
                                                          data_or_null<T>(beta), rm.data<T>(), rv.data<T>(), eps,
                                                          out.data<T>(), save_mean.data<T>(), save_invstd.data<T>(),
                                                          relu_scale.data<T>(), relu_shift.data<T>());
          else
            kernels::cpu::batch_norm_forward_eval<T>(xc.data<T>(), N, C, HW, data_or_null<T>(gamma),
                                                     data_or_null<T>(beta), rm.data<T>(), rv.data<T>(), eps,
                                                     out.data<T>(), save_mean.data<T>(), save_invstd.data<T>());
          break;
        case Device::CUDA:
          SC_CUDA_BRANCH(kOp, kernels::cuda::batch_norm_forward_eval<T>(
                                  xc.data<T>(), N, C, HW, data_or_null<T>(gamma), data_or_null<T>(beta), rm.data<T>(),
                                  rv.data<T>(), eps, out.data<T>(), save_mean.data<T>(), save_invstd.data<T>()));
          if (fuse_relu) relu_in_place_cuda<T>(out);
          break;
      }
      return;
    }
    // The kernel updates contiguous running statistics in place; a strided one is
    // updated through a contiguous copy written back with copy_.
    Tensor rm = contiguous_or_undefined(running_mean), rv = contiguous_or_undefined(running_var);
    T* rm_ptr = rm.defined() ? rm.data<T>() : nullptr;
    T* rv_ptr = rv.defined() ? rv.data<T>() : nullptr;
    switch (device) {
      case Device::CPU:
        if (fuse_relu)
          kernels::cpu::batch_norm_relu_forward_train<T>(
              xc.data<T>(), N, C, HW, data_or_null<T>(gamma), data_or_null<T>(beta), eps, momentum, out.data<T>(),
              save_mean.data<T>(), save_invstd.data<T>(), rm_ptr, rv_ptr, relu_scale.data<T>(), relu_shift.data<T>());
        else
          kernels::cpu::batch_norm_forward_train<T>(xc.data<T>(), N, C, HW, data_or_null<T>(gamma),
                                                    data_or_null<T>(beta), eps, momentum, out.data<T>(),
                                                    save_mean.data<T>(), save_invstd.data<T>(), rm_ptr, rv_ptr);
        break;
      case Device::CUDA:
        SC_CUDA_BRANCH(kOp, kernels::cuda::batch_norm_forward_train<T>(
                                xc.data<T>(), N, C, HW, data_or_null<T>(gamma), data_or_null<T>(beta), eps, momentum,
                                out.data<T>(), save_mean.data<T>(), save_invstd.data<T>(), rm_ptr, rv_ptr));
        if (fuse_relu) relu_in_place_cuda<T>(out);
        break;
    }
    if (!running_mean.defined()) return;
    NoGradGuard no_grad;  // a statistics update, never part of the graph
    for (auto [running, updated] : {std::pair{running_mean, rm}, std::pair{running_var, rv}}) {
      if (&updated.storage() == &running.storage()) {
        running.storage().bump_version();  // written in place: graphs holding it must notice
      } else {
        running.copy_(updated);  // copy_ bumps the version itself
      }
    }
  });

  if (any_requires_grad({x, weight, bias})) {
    const bool need_x = x.requires_grad();
    const bool need_weight = weight.defined() && weight.requires_grad();
    const bool need_bias = bias.defined() && bias.requires_grad();
    // The fused op needs the ReLU's mask in the backward. On the CPU it is recomputed from x
    // and two [C] coefficients, so the output is not kept: after a max-pool (which keeps only
    // its argmax) nothing holds it once the pool has run. On CUDA the output is kept and the
    // mask is out > 0.
    record(kOp, out, {x, weight, bias},
           [N, C, HW, training, need_x, need_weight, need_bias, fuse_relu, sx = SavedTensor(xc),
            sgamma = SavedTensor(gamma), smean = SavedTensor(save_mean), sinvstd = SavedTensor(save_invstd),
            sscale = SavedTensor(relu_scale), sshift = SavedTensor(relu_shift),
            sout = fuse_relu && !mask_from_x ? SavedTensor(out) : SavedTensor()](const Tensor& g) {
             Tensor xs = sx.get(), mean = smean.get(), invstd = sinvstd.get();
             Tensor gam = sgamma.get();  // undefined without affine weight
             Tensor relu_out = sout.get();  // the fused op on CUDA only
             Tensor dy = contiguous(g);
             // On CUDA the ReLU's backward runs first, as its own kernel.
             if (fuse_relu && xs.device() == Device::CUDA) dy = relu_backward_cuda(dy, relu_out);
             Tensor dx = need_x ? empty(xs.shape(), xs.dtype(), xs.device()) : Tensor();
             Tensor dgamma = need_weight ? empty({C}, xs.dtype(), xs.device()) : Tensor();
             Tensor dbeta = need_bias ? empty({C}, xs.dtype(), xs.device()) : Tensor();
             dispatch_float(xs.dtype(), "batch_norm backward", [&]<typename T>() {
               auto out_ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
               switch (xs.device()) {
                 case Device::CPU:
                   if (fuse_relu)
                     kernels::cpu::batch_norm_relu_backward<T>(
                         xs.data<T>(), sscale.get().data<T>(), sshift.get().data<T>(), dy.data<T>(), N, C, HW,
                         data_or_null<T>(gam), mean.data<T>(), invstd.data<T>(), training, out_ptr(dx), out_ptr(dgamma),
                         out_ptr(dbeta));
                   else
                     kernels::cpu::batch_norm_backward<T>(xs.data<T>(), dy.data<T>(), N, C, HW, data_or_null<T>(gam),
                                                          mean.data<T>(), invstd.data<T>(), training, out_ptr(dx),
                                                          out_ptr(dgamma), out_ptr(dbeta));
                   break;
                 case Device::CUDA:
                   SC_CUDA_BRANCH("batch_norm backward",
                                  kernels::cuda::batch_norm_backward<T>(
                                      xs.data<T>(), dy.data<T>(), N, C, HW, data_or_null<T>(gam), mean.data<T>(),
                                      invstd.data<T>(), training, out_ptr(dx), out_ptr(dgamma), out_ptr(dbeta)));
                   break;
               }
             });
             return std::vector<Tensor>{dx, dgamma, dbeta};
           });
  }
  return out;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl("batch_norm", x, weight, bias, running_mean, running_var, training, momentum, eps, false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl("batch_norm_relu", x, weight, bias, running_mean, running_var, training, momentum, eps,
                         true);
}

}  // namespace sc
