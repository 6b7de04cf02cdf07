// Fused optimizer steps: check the tensors, run the kernel for their device, bump the versions
// of what was written. No autograd: an optimizer step is not part of any graph (the
// optimizers call these under NoGradGuard), and the version bump is what makes a graph that
// saved the old parameter refuse to run backward.
#include <initializer_list>
#include <utility>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/optim.h"

namespace sc {

namespace {

using NamedTensor = std::pair<const char*, const Tensor*>;

// The checks every fused step makes: the parameter is a defined float tensor; every tensor
// matches it in shape, dtype and device, is contiguous, and has its own storage (the kernels
// read and write each array once, in place, assuming no two overlap).
void check_step_tensors(const char* op, std::initializer_list<NamedTensor> tensors) {
  const Tensor& param = *tensors.begin()->second;
  detail::check_defined(param, op, "the parameter");
  detail::check_floating(param, op);
  SC_CHECK(!grad_enabled() || !param.requires_grad(), op, ": in-place update of ", param.describe(),
           ", which requires grad, with grad mode on; call it under NoGradGuard (as Optimizer::step does)");
  for (const auto& [what, t] : tensors) {
    detail::check_defined(*t, op, what);
    SC_CHECK(t->device() == param.device(), op, ": ", what, " is ", t->describe(), " but the parameter is ",
             param.describe(), "; all must be on one device (an optimizer's state stays where its first step "
             "made it: construct the optimizer after Module::to(device), as in PyTorch)");
    SC_CHECK(t->shape() == param.shape() && t->dtype() == param.dtype() && t->device() == param.device(), op, ": ",
             what, " is ", t->describe(), " but the parameter is ", param.describe(),
             " (the gradient and the state must match it)");
    SC_CHECK(t->is_contiguous(), op, ": ", what, " (", t->describe(), ") must be contiguous");
  }
  for (auto a = tensors.begin(); a != tensors.end(); ++a)
    for (auto b = a + 1; b != tensors.end(); ++b)
      SC_CHECK(&a->second->storage() != &b->second->storage(), op, ": ", a->first, " and ", b->first,
               " share memory; each must be a tensor of its own");
}

}  // namespace

void sgd_step_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, double weight_decay,
               double momentum, double dampening, bool nesterov, bool first_step) {
  trace::OpScope trace_scope("sgd_step_", param, grad);
  const bool has_buffer = momentum != 0;  // with momentum 0 SGD keeps no buffer
  if (has_buffer)
    check_step_tensors("sgd_step_",
                       {{"the parameter", &param}, {"the gradient", &grad}, {"momentum_buffer", &momentum_buffer}});
  else
    check_step_tensors("sgd_step_", {{"the parameter", &param}, {"the gradient", &grad}});
  const int64_t n = param.numel();
  switch (param.device()) {
    case Device::CPU:
      dispatch_float(param.dtype(), "sgd_step_", [&]<typename T>() {
        kernels::cpu::sgd_step<T>(param.data<T>(), grad.data<T>(), has_buffer ? momentum_buffer.data<T>() : nullptr,
                                  n, lr, weight_decay, momentum, dampening, nesterov, first_step);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("sgd_step_", dispatch_float(param.dtype(), "sgd_step_", [&]<typename T>() {
                       kernels::cuda::sgd_step<T>(param.data<T>(), grad.data<T>(),
                                                  has_buffer ? momentum_buffer.data<T>() : nullptr, n, lr,
                                                  weight_decay, momentum, dampening, nesterov, first_step);
                     }));
      break;
  }
  param.storage().bump_version();
  if (has_buffer) momentum_buffer.storage().bump_version();
}

void adam_step_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, int64_t step, double lr,
                double beta1, double beta2, double eps, double weight_decay, bool decoupled_weight_decay) {
  trace::OpScope trace_scope("adam_step_", param, grad);
  check_step_tensors("adam_step_", {{"the parameter", &param},
                                    {"the gradient", &grad},
                                    {"exp_avg", &exp_avg},
                                    {"exp_avg_sq", &exp_avg_sq}});
  SC_CHECK(step >= 1, "adam_step_: step must be >= 1 (it counts this update), got ", step);
  const int64_t n = param.numel();
  switch (param.device()) {
    case Device::CPU:
      dispatch_float(param.dtype(), "adam_step_", [&]<typename T>() {
        kernels::cpu::adam_step<T>(param.data<T>(), grad.data<T>(), exp_avg.data<T>(), exp_avg_sq.data<T>(), n, lr,
                                   beta1, beta2, eps, weight_decay, decoupled_weight_decay, step);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("adam_step_", dispatch_float(param.dtype(), "adam_step_", [&]<typename T>() {
                       kernels::cuda::adam_step<T>(param.data<T>(), grad.data<T>(), exp_avg.data<T>(),
                                                   exp_avg_sq.data<T>(), n, lr, beta1, beta2, eps, weight_decay,
                                                   decoupled_weight_decay, step);
                     }));
      break;
  }
  param.storage().bump_version();
  exp_avg.storage().bump_version();
  exp_avg_sq.storage().bump_version();
}

void lars_step_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, double weight_decay,
                double momentum, double eta, bool adapt, bool first_step) {
  trace::OpScope trace_scope("lars_step_", param, grad);
  check_step_tensors("lars_step_",
                     {{"the parameter", &param}, {"the gradient", &grad}, {"momentum_buffer", &momentum_buffer}});
  const int64_t n = param.numel();
  switch (param.device()) {
    case Device::CPU:
      dispatch_float(param.dtype(), "lars_step_", [&]<typename T>() {
        kernels::cpu::lars_step<T>(param.data<T>(), grad.data<T>(), momentum_buffer.data<T>(), n, lr, weight_decay,
                                   momentum, eta, adapt, first_step);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("lars_step_", dispatch_float(param.dtype(), "lars_step_", [&]<typename T>() {
                       kernels::cuda::lars_step<T>(param.data<T>(), grad.data<T>(), momentum_buffer.data<T>(), n, lr,
                                                   weight_decay, momentum, eta, adapt, first_step);
                     }));
      break;
  }
  param.storage().bump_version();
  momentum_buffer.storage().bump_version();
}

}  // namespace sc
