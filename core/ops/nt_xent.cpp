// SimCLR's NT-Xent loss in two steps:
//   zn = normalize(z, 1)                 a composite op: its backward comes for free;
//   loss = nt_xent_normalized(zn, t)     a dedicated op with its own forward and backward
//                                        kernels (kernels/cpu/nt_xent.cpp, and the fused
//                                        kernels/cuda/nt_xent.cu that never stores S).
#include <cmath>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/nt_xent.h"

namespace sc {

namespace {

// The loss on rows that are already L2-normalised (see kernels/nt_xent.h for the formulas).
Tensor nt_xent_normalized(const Tensor& zn, double temperature) {
  trace::OpScope trace_scope("nt_xent_normalized", zn);
  constexpr const char* op = "nt_xent_normalized";
  const int64_t rows = zn.shape()[0], d = zn.shape()[1];
  const double inv_temperature = 1.0 / temperature;
  Tensor zc = contiguous(zn.detach());
  Tensor loss = empty({}, zn.dtype(), zn.device());
  // Each row's log-sum-exp, as row_max + row_log_sum, is the O(rows) part kept for the backward.
  Tensor row_max = empty({rows}, zn.dtype(), zn.device());
  Tensor row_log_sum = empty({rows}, zn.dtype(), zn.device());
  // CPU: S = zn zn^T / t is kept for the backward; its rows * rows values cost less than a
  // second GEMM. CUDA: the fused kernels recompute S tile by tile and never store it.
  Tensor sim;
  switch (zn.device()) {
    case Device::CPU:
      sim = empty({rows, rows}, zn.dtype(), zn.device());
      dispatch_float(zn.dtype(), op, [&]<typename T>() {
        kernels::cpu::nt_xent_forward<T>(zc.data<T>(), rows, d, inv_temperature, sim.data<T>(), row_max.data<T>(),
                                         row_log_sum.data<T>(), loss.data<T>());
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH(op, dispatch_float(zn.dtype(), op, [&]<typename T>() {
        kernels::cuda::nt_xent_forward<T>(zc.data<T>(), rows, d, inv_temperature, row_max.data<T>(),
                                          row_log_sum.data<T>(), loss.data<T>());
      }));
      break;
  }
  if (any_requires_grad({zn})) {
    // dS[i, k] = (softmax_{k != i}(S[i, :]) - [k == pos(i)]) * g / rows;  dzn = (dS + dS^T) zn / t
    // (sim is undefined on CUDA: the fused backward recomputes S from zn.)
    record(op, loss, {zn},
           [rows, d, inv_temperature, sz = SavedTensor(zc), ssim = SavedTensor(sim), smax = SavedTensor(row_max),
            slog_sum = SavedTensor(row_log_sum)](const Tensor& g) {
             Tensor z = sz.get(), s = ssim.get(), m = smax.get(), log_sum = slog_sum.get();
             Tensor gc = contiguous(g);
             Tensor dz = empty({rows, d}, z.dtype(), z.device());
             switch (z.device()) {
               case Device::CPU: {
                 Tensor workspace = empty({rows, rows}, z.dtype(), z.device());
                 dispatch_float(z.dtype(), "nt_xent_normalized backward", [&]<typename T>() {
                   kernels::cpu::nt_xent_backward<T>(z.data<T>(), s.data<T>(), m.data<T>(), log_sum.data<T>(), rows, d,
                                                     inv_temperature, gc.data<T>(), workspace.data<T>(),
                                                     dz.data<T>());
                 });
                 break;
               }
               case Device::CUDA:
                 SC_CUDA_BRANCH("nt_xent_normalized backward",
                                dispatch_float(z.dtype(), "nt_xent_normalized backward", [&]<typename T>() {
                                  kernels::cuda::nt_xent_backward<T>(z.data<T>(), m.data<T>(), log_sum.data<T>(), rows,
                                                                     d, inv_temperature, gc.data<T>(), dz.data<T>());
                                }));
                 break;
             }
             return std::vector<Tensor>{dz};
           });
  }
  return loss;
}

}  // namespace

Tensor nt_xent(const Tensor& z, double temperature) {
  trace::OpScope trace_scope("nt_xent", z);
  constexpr const char* op = "nt_xent";
  detail::check_defined(z, op, "the embeddings");
  detail::check_floating(z, op);
  SC_CHECK(z.dim() == 2, op, ": embeddings must be [2N, d] (two views of N images), got ", z.describe());
  const int64_t rows = z.shape()[0];
  SC_CHECK(rows >= 2 && rows % 2 == 0, op, ": embeddings need an even number of rows 2N >= 2 (rows i and i + N are ",
           "the two views of image i), got ", z.describe());
  SC_CHECK(z.shape()[1] >= 1, op, ": embeddings have no features: ", z.describe());
  SC_CHECK(std::isfinite(temperature) && temperature > 0, op, ": temperature must be finite and > 0, got ",
           temperature);
  return nt_xent_normalized(normalize(z, 1), temperature);
}

}  // namespace sc
