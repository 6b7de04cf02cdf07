// The softmax family: softmax, log_softmax, cross_entropy (dedicated kernels, forward and
// backward, in kernels/cpu/softmax.cpp and kernels/cuda/softmax.cu) and normalize (a
// composite of other ops).
#include <cmath>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/softmax.h"

namespace sc {

namespace {

// A contiguous tensor seen as [outer, dim, inner] around the softmax dim.
struct SoftmaxGeometry {
  int64_t outer = 1, dim = 1, inner = 1;
};

SoftmaxGeometry geometry_of(const Shape& shape, int64_t dim) {
  SoftmaxGeometry g;
  if (shape.empty()) return g;  // a 0-d tensor is one column of one element
  for (int64_t d = 0; d < dim; ++d) g.outer *= shape[d];
  g.dim = shape[dim];
  for (int64_t d = dim + 1; d < static_cast<int64_t>(shape.size()); ++d) g.inner *= shape[d];
  return g;
}

// softmax (log == false) and log_softmax (log == true) share everything but the kernel flag.
Tensor softmax_impl(const Tensor& x, int64_t dim, bool log, const char* op) {
  trace::OpScope trace_scope(op, x);
  detail::check_defined(x, op, "the input");
  detail::check_floating(x, op);
  dim = normalize_dim(dim, x.dim(), op);
  const SoftmaxGeometry geo = geometry_of(x.shape(), dim);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  Tensor xc = contiguous(x.detach());
  switch (x.device()) {
    case Device::CPU:
      dispatch_float(x.dtype(), op, [&]<typename T>() {
        kernels::cpu::softmax_forward<T>(xc.data<T>(), geo.outer, geo.dim, geo.inner, log, out.data<T>());
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH(op, dispatch_float(x.dtype(), op, [&]<typename T>() {
        kernels::cuda::softmax_forward<T>(xc.data<T>(), geo.outer, geo.dim, geo.inner, log, out.data<T>());
      }));
      break;
  }
  if (any_requires_grad({x})) {
    // Both backwards need only the output:
    //   softmax:      dx = y * (dy - sum(dy * y))
    //   log_softmax:  dx = dy - exp(y) * sum(dy)
    record(op, out, {x}, [geo, log, op, so = SavedTensor(out)](const Tensor& g) {
      Tensor y = so.get();
      Tensor gc = contiguous(g);
      Tensor dx = empty(y.shape(), y.dtype(), y.device());
      switch (y.device()) {
        case Device::CPU:
          dispatch_float(y.dtype(), op, [&]<typename T>() {
            kernels::cpu::softmax_backward<T>(y.data<T>(), gc.data<T>(), geo.outer, geo.dim, geo.inner, log,
                                              dx.data<T>());
          });
          break;
        case Device::CUDA:
          SC_CUDA_BRANCH(op, dispatch_float(y.dtype(), op, [&]<typename T>() {
            kernels::cuda::softmax_backward<T>(y.data<T>(), gc.data<T>(), geo.outer, geo.dim, geo.inner, log,
                                               dx.data<T>());
          }));
          break;
      }
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  trace::OpScope trace_scope("cross_entropy", logits, targets);
  constexpr const char* op = "cross_entropy";
  detail::check_defined(logits, op, "the logits");
  detail::check_defined(targets, op, "the targets");
  detail::check_floating(logits, op);
  SC_CHECK(logits.dim() == 2, op, ": logits must be [N, C], got ", logits.describe());
  SC_CHECK(targets.dtype() == DType::Int64, op, ": targets must be int64 class indices, got ", targets.describe());
  SC_CHECK(targets.dim() == 1 && targets.shape()[0] == logits.shape()[0], op, ": targets must be [N] = [",
           logits.shape()[0], "] to match the logits ", logits.describe(), ", got ", targets.describe());
  SC_CHECK(logits.device() == targets.device(), op, ": devices differ: logits ", logits.describe(), ", targets ",
           targets.describe());
  const int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  SC_CHECK(rows > 0, op, ": the mean over N = 0 rows is undefined (logits ", logits.describe(), ")");
  SC_CHECK(classes > 0, op, ": logits ", logits.describe(), " have no classes");
  // An index outside [0, C) would read outside the row: name the first bad one.
  const int64_t bad_row = detail::first_out_of_range(targets, classes);
  SC_CHECK(bad_row < 0, op, ": target ", static_cast<int64_t>(targets.narrow(0, bad_row, 1).item()), " in row ",
           bad_row, " is out of range for ", classes, " classes (expected 0 to ", classes - 1, ")");

  Tensor loss = empty({}, logits.dtype(), logits.device());
  // Each row's log-sum-exp as max + log-sum (see kernels/softmax.h): all the backward needs besides the logits.
  Tensor row_max = empty({rows}, logits.dtype(), logits.device());
  Tensor row_log_sum = empty({rows}, logits.dtype(), logits.device());
  Tensor lc = contiguous(logits.detach());
  Tensor tc = contiguous(targets);
  switch (logits.device()) {
    case Device::CPU:
      dispatch_float(logits.dtype(), op, [&]<typename T>() {
        kernels::cpu::cross_entropy_forward<T>(lc.data<T>(), tc.data<int64_t>(), rows, classes, row_max.data<T>(),
                                               row_log_sum.data<T>(), loss.data<T>());
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH(op, dispatch_float(logits.dtype(), op, [&]<typename T>() {
        kernels::cuda::cross_entropy_forward<T>(lc.data<T>(), tc.data<int64_t>(), rows, classes, row_max.data<T>(),
                                                row_log_sum.data<T>(), loss.data<T>());
      }));
      break;
  }
  if (any_requires_grad({logits})) {
    // loss = mean_r [lse_r - logits[r, t_r]]  =>  dlogits = (softmax(logits) - onehot(t)) * g / N
    record(op, loss, {logits},
           [rows, classes, sl = SavedTensor(lc), st = SavedTensor(tc), smax = SavedTensor(row_max),
            slog_sum = SavedTensor(row_log_sum)](const Tensor& g) {
             Tensor l = sl.get(), t = st.get(), m = smax.get(), log_sum = slog_sum.get();
             Tensor gc = contiguous(g);
             Tensor dlogits = empty(l.shape(), l.dtype(), l.device());
             switch (l.device()) {
               case Device::CPU:
                 dispatch_float(l.dtype(), "cross_entropy backward", [&]<typename T>() {
                   kernels::cpu::cross_entropy_backward<T>(l.data<T>(), t.data<int64_t>(), m.data<T>(), log_sum.data<T>(),
                                                           rows, classes, gc.data<T>(), dlogits.data<T>());
                 });
                 break;
               case Device::CUDA:
                 SC_CUDA_BRANCH("cross_entropy backward",
                                dispatch_float(l.dtype(), "cross_entropy backward", [&]<typename T>() {
                                  kernels::cuda::cross_entropy_backward<T>(l.data<T>(), t.data<int64_t>(), m.data<T>(),
                                                                           log_sum.data<T>(), rows, classes,
                                                                           gc.data<T>(), dlogits.data<T>());
                                }));
                 break;
             }
             return std::vector<Tensor>{dlogits};
           });
  }
  return loss;
}

Tensor normalize(const Tensor& x, int64_t dim, double eps) {
  trace::OpScope trace_scope("normalize", x);
  constexpr const char* op = "normalize";
  detail::check_defined(x, op, "the input");
  detail::check_floating(x, op);
  SC_CHECK(x.dim() > 0, op, ": needs at least one dim, got ", x.describe());
  dim = normalize_dim(dim, x.dim(), op);
  SC_CHECK(eps >= 0 && std::isfinite(eps), op, ": eps must be finite and >= 0, got ", eps);
  // x / max(||x||, eps), written with other ops so the backward comes for free.
  // max(sqrt(s), eps) equals sqrt(max(s, eps^2)); the second order keeps an all-zero row's
  // gradient finite: the clamp stops the gradient before it reaches sqrt'(0) = inf.
  Tensor squared_norm = sum(mul(x, x), {dim}, /*keepdim=*/true);
  Tensor norm = sqrt(clamp_min(squared_norm, eps * eps));
  return div(x, norm);
}

}  // namespace sc
