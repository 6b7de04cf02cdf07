// Collectives on tensors: all_gather (with its gradient), all_reduce_sum_, broadcast_ and
// sync_batch_norm. The bytes move in the communicator (dist/communicator.h); this file checks
// the tensors, agrees on shapes between ranks and records the backward.
#include <cmath>
#include <cstring>
#include <string>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/batch_norm.h"

namespace sc {

namespace {

std::string shape_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Every rank's shape, dtype and device, gathered, so that a rank whose tensor differs is
// named on every rank instead of corrupting memory or hanging in the collective.
void check_same_on_every_rank(const Tensor& x, dist::Communicator& comm, const char* op) {
  if (comm.world_size() == 1) return;
  constexpr int64_t kMaxDims = 8;
  SC_CHECK(x.dim() <= kMaxDims, op, ": at most ", kMaxDims, " dims across ranks, got ", x.describe());
  constexpr int64_t kWords = kMaxDims + 3;  // dim count, dtype, device, sizes padded with -1
  std::vector<int64_t> mine(kWords, -1);
  mine[0] = x.dim();
  mine[1] = static_cast<int64_t>(x.dtype());
  mine[2] = static_cast<int64_t>(x.device());
  for (int64_t d = 0; d < x.dim(); ++d) mine[static_cast<size_t>(3 + d)] = x.shape()[static_cast<size_t>(d)];
  std::vector<int64_t> all(static_cast<size_t>(kWords * comm.world_size()));
  comm.all_gather(mine.data(), all.data(), kWords, DType::Int64, Device::CPU);
  for (int r = 0; r < comm.world_size(); ++r) {
    const int64_t* theirs = all.data() + static_cast<size_t>(r) * kWords;
    if (std::memcmp(theirs, mine.data(), sizeof(int64_t) * kWords) == 0) continue;
    Shape their_shape;
    for (int64_t d = 0; d < theirs[0] && d < kMaxDims; ++d) their_shape.push_back(theirs[3 + d]);
    throw Error(detail::concat(op, ": rank ", r, " has ", dtype_name(static_cast<DType>(theirs[1])),
                               shape_string(their_shape), " on ", device_name(static_cast<Device>(theirs[2])),
                               " but rank ", comm.rank(), " has ", x.describe(),
                               ": every rank must pass the same shape, dtype and device"));
  }
}

// In-place sum over the ranks of a contiguous tensor this file made itself, whose shape every
// rank already agreed on: no shape check (one collective, not two, on the hot path).
void sum_over_ranks_unchecked(Tensor& t, dist::Communicator& comm) {
  comm.all_reduce_sum(t.raw_data(), t.numel(), t.dtype(), t.device());
}

}  // namespace

Tensor all_gather(const Tensor& x, dist::Communicator& comm) {
  constexpr const char* op = "all_gather";
  trace::OpScope trace_scope(op, x);
  detail::check_defined(x, op, "the input");
  SC_CHECK(x.dim() >= 1, op, ": the input needs at least one dim (the rows to gather), got ", x.describe());
  check_same_on_every_rank(x, comm, op);
  const int world = comm.world_size();
  Shape out_shape = x.shape();
  out_shape[0] *= world;
  Tensor xc = contiguous(x.detach());
  Tensor out = empty(out_shape, x.dtype(), x.device());
  comm.all_gather(xc.raw_data(), out.raw_data(), xc.numel(), x.dtype(), x.device());
  if (any_requires_grad({x})) {
    const int64_t rows = x.shape()[0];
    const int rank = comm.rank();
    // The communicator is the job's: it outlives every graph of a training step.
    dist::Communicator* c = &comm;
    record(op, out, {x}, [rows, rank, c](const Tensor& g) {
      Tensor summed = clone(contiguous(g));  // the forward checked the shapes agree
      sum_over_ranks_unchecked(summed, *c);
      return std::vector<Tensor>{contiguous(narrow(summed, 0, rank * rows, rows))};
    });
  }
  return out;
}

void all_reduce_sum_(Tensor& x, dist::Communicator& comm) {
  constexpr const char* op = "all_reduce_sum_";
  trace::OpScope trace_scope(op, x);
  detail::check_defined(x, op, "the input");
  SC_CHECK(x.is_contiguous(), op, ": the tensor is reduced in place, so it must be contiguous, got ", x.describe());
  check_same_on_every_rank(x, comm, op);
  comm.all_reduce_sum(x.raw_data(), x.numel(), x.dtype(), x.device());
  x.storage().bump_version();
}

void broadcast_(Tensor& x, dist::Communicator& comm, int root) {
  constexpr const char* op = "broadcast_";
  trace::OpScope trace_scope(op, x);
  detail::check_defined(x, op, "the input");
  SC_CHECK(x.is_contiguous(), op, ": the tensor is written in place, so it must be contiguous, got ", x.describe());
  SC_CHECK(root >= 0 && root < comm.world_size(), op, ": root must be a rank in [0, ", comm.world_size(), "), got ",
           root);
  check_same_on_every_rank(x, comm, op);
  comm.broadcast(x.raw_data(), x.numel(), x.dtype(), x.device(), root);
  x.storage().bump_version();
}

// ---------------------------------------------------------------------------------------
// Synchronised batch norm.
//
// Forward (training): per channel, the sum of x and the count go through one all-reduce,
// giving the global mean; the sum of (x - mean)^2 through a second, giving the biased global
// variance. Both sums are taken in double, so the result matches one process with the whole
// batch to float32 rounding. Then the fused evaluation kernel normalises with them.
// Backward: the evaluation-mode kernel gives dx_eval = gamma * invstd * dy and the local
// sums sum(dy) and sum(dy * xhat); one all-reduce makes those global, and
//   dx = dx_eval - gamma * invstd / M * (sum(dy) + xhat * sum(dy * xhat))
// is batch norm's training backward with M the global count. dgamma and dbeta stay this
// rank's own sums (the trainer averages parameter gradients over the ranks).
// ---------------------------------------------------------------------------------------
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps,
                       dist::Communicator& comm) {
  constexpr const char* op = "sync_batch_norm";
  if (!training) return batch_norm(x, weight, bias, running_mean, running_var, false, momentum, eps);
  trace::OpScope trace_scope(op, x, weight, bias, running_mean, running_var);
  detail::check_defined(x, op, "the input");
  detail::check_floating(x, op);
  SC_CHECK(x.dim() == 2 || x.dim() == 4, op, ": the input must be [N, C] or [N, C, H, W], got ", x.describe());
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t HW = x.dim() == 4 ? x.shape()[2] * x.shape()[3] : 1;
  for (const auto& [t, what] : {std::pair{weight, "weight"}, std::pair{bias, "bias"},
                                std::pair{running_mean, "running_mean"}, std::pair{running_var, "running_var"}}) {
    if (!t.defined()) continue;
    SC_CHECK(t.dim() == 1 && t.shape()[0] == C, op, ": ", what, " must be [", C, "] for the input ", x.describe(),
             ", got ", t.describe());
    SC_CHECK(t.dtype() == x.dtype() && t.device() == x.device(), op, ": ", what, " ", t.describe(),
             " must have the dtype and device of the input ", x.describe());
  }
  SC_CHECK(running_mean.defined() == running_var.defined(), op,
           ": running_mean and running_var must be given together (got only one)");
  SC_CHECK(std::isfinite(eps) && eps >= 0, op, ": eps must be finite and >= 0, got ", eps);
  SC_CHECK(std::isfinite(momentum), op, ": momentum must be finite, got ", momentum);
  // Every rank must bring the same channels; the row counts may differ.
  {
    Tensor channels = from_vector(std::vector<int64_t>{C, HW, static_cast<int64_t>(x.dtype())}, {3});
    check_same_on_every_rank(channels, comm, op);
  }

  Tensor xc = contiguous(x.detach());
  Tensor mean, var;
  double count = 0;
  {
    NoGradGuard no_grad;
    const Tensor x64 = reshape(to_dtype(xc, DType::Float64), {N, C, HW});
    // [C sums, the row count] in one all-reduce.
    Tensor sums = concat({sum(x64, {0, 2}), full({1}, static_cast<double>(N * HW), DType::Float64, x.device())});
    sum_over_ranks_unchecked(sums, comm);  // C + 1 doubles on every rank: checked just above
    count = to_device(narrow(sums, 0, C, 1), Device::CPU).item();
    SC_CHECK(count > 1, op, ": training needs more than one value per channel over all ranks, got ", count,
             " for ", x.describe(), " on rank ", comm.rank());
    const Tensor mean64 = div(narrow(sums, 0, 0, C), count);
    Tensor squares = contiguous(sum(pow(sub(x64, reshape(mean64, {1, C, 1})), 2.0), {0, 2}));
    sum_over_ranks_unchecked(squares, comm);
    const Tensor var64 = div(squares, count);
    mean = contiguous(to_dtype(mean64, x.dtype()));
    var = contiguous(to_dtype(var64, x.dtype()));
    if (running_mean.defined()) {
      Tensor new_mean = add(mul(running_mean.detach(), 1.0 - momentum), mul(mean, momentum));
      Tensor new_var = add(mul(running_var.detach(), 1.0 - momentum), mul(var, momentum * count / (count - 1)));
      Tensor rm = running_mean, rv = running_var;
      rm.copy_(new_mean);
      rv.copy_(new_var);
    }
  }

  Tensor gamma = weight.defined() ? contiguous(weight.detach()) : Tensor();
  Tensor beta = bias.defined() ? contiguous(bias.detach()) : Tensor();
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = empty({C}, x.dtype(), x.device()), save_invstd = empty({C}, x.dtype(), x.device());
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    const T* g = gamma.defined() ? gamma.data<T>() : nullptr;
    const T* b = beta.defined() ? beta.data<T>() : nullptr;
    switch (x.device()) {
      case Device::CPU:
        kernels::cpu::batch_norm_forward_eval<T>(xc.data<T>(), N, C, HW, g, b, mean.data<T>(), var.data<T>(), eps,
                                                 out.data<T>(), save_mean.data<T>(), save_invstd.data<T>());
        break;
      case Device::CUDA:
        SC_CUDA_BRANCH(op, kernels::cuda::batch_norm_forward_eval<T>(xc.data<T>(), N, C, HW, g, b, mean.data<T>(),
                                                                     var.data<T>(), eps, out.data<T>(),
                                                                     save_mean.data<T>(), save_invstd.data<T>()));
        break;
    }
  });

  if (any_requires_grad({x, weight, bias})) {
    dist::Communicator* c = &comm;  // the job's communicator outlives the graph
    const bool need_weight = weight.defined() && weight.requires_grad();
    const bool need_bias = bias.defined() && bias.requires_grad();
    record(op, out, {x, weight, bias},
           [N, C, HW, count, c, need_weight, need_bias, sx = SavedTensor(xc), sgamma = SavedTensor(gamma), smean = SavedTensor(save_mean),
            sinvstd = SavedTensor(save_invstd)](const Tensor& grad) {
             Tensor xs = sx.get(), mu = smean.get(), invstd = sinvstd.get(), gam = sgamma.get();
             Tensor dy = contiguous(grad);
             Tensor dx_eval = empty(xs.shape(), xs.dtype(), xs.device());
             // [sum(dy * xhat) | sum(dy)] side by side, so one all-reduce makes both global.
             Tensor local_sums = empty({2 * C}, xs.dtype(), xs.device());
             dispatch_float(xs.dtype(), "sync_batch_norm backward", [&]<typename T>() {
               const T* g = gam.defined() ? gam.data<T>() : nullptr;
               T* dgamma = local_sums.data<T>();
               T* dbeta = local_sums.data<T>() + C;
               switch (xs.device()) {
                 case Device::CPU:
                   kernels::cpu::batch_norm_backward<T>(xs.data<T>(), dy.data<T>(), N, C, HW, g, mu.data<T>(),
                                                        invstd.data<T>(), false, dx_eval.data<T>(), dgamma, dbeta);
                   break;
                 case Device::CUDA:
                   SC_CUDA_BRANCH("sync_batch_norm backward",
                                  kernels::cuda::batch_norm_backward<T>(xs.data<T>(), dy.data<T>(), N, C, HW, g,
                                                                        mu.data<T>(), invstd.data<T>(), false,
                                                                        dx_eval.data<T>(), dgamma, dbeta));
                   break;
               }
             });
             const Tensor dgamma_local = need_weight ? clone(narrow(local_sums, 0, 0, C)) : Tensor();
             const Tensor dbeta_local = need_bias ? clone(narrow(local_sums, 0, C, C)) : Tensor();
             Tensor global_sums = local_sums;
             sum_over_ranks_unchecked(global_sums, *c);
             const Tensor sum_dy_xhat = reshape(narrow(global_sums, 0, 0, C), {1, C, 1});
             const Tensor sum_dy = reshape(narrow(global_sums, 0, C, C), {1, C, 1});
             const Tensor inv = reshape(invstd, {1, C, 1});
             const Tensor xhat = mul(sub(reshape(xs, {N, C, HW}), reshape(mu, {1, C, 1})), inv);
             Tensor coef = div(inv, count);
             if (gam.defined()) coef = mul(coef, reshape(gam, {1, C, 1}));
             const Tensor correction = mul(coef, add(sum_dy, mul(xhat, sum_dy_xhat)));
             const Tensor dx = reshape(sub(reshape(dx_eval, {N, C, HW}), correction), xs.shape());
             return std::vector<Tensor>{dx, dgamma_local, dbeta_local};
           });
  }
  return out;
}

}  // namespace sc
