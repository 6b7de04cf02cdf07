// Reductions: sum, mean, max/argmax, var over all dims or chosen dims.
// Every reduction permutes the reduced dims to the end and makes the tensor contiguous,
// so the kernel only ever sees [rows, cols] and reduces each row.
#include <algorithm>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/reduce.h"

namespace sc {

namespace {

struct ReducePlan {
  std::vector<int64_t> reduced;   // sorted, unique, non-negative
  std::vector<int64_t> perm;      // kept dims, then reduced dims
  int64_t rows = 1, cols = 1;
  Shape out_shape;                // without keepdim
  Shape keep_shape;               // with keepdim (1 on reduced dims)
};

// Empty `dims` means every dim, as torch.sum(x, dim=[]).
ReducePlan plan_reduction(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  ReducePlan p;
  std::vector<bool> is_reduced(x.dim(), dims.empty());
  for (int64_t d : dims) {
    const int64_t nd = normalize_dim(d, x.dim(), op);
    if (x.dim() == 0) continue;
    SC_CHECK(!is_reduced[nd], op, ": dim ", nd, " appears twice in the reduced dims");
    is_reduced[nd] = true;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (is_reduced[d]) {
      p.reduced.push_back(d);
      p.cols *= x.shape()[d];
      p.keep_shape.push_back(1);
    } else {
      p.perm.push_back(d);
      p.rows *= x.shape()[d];
      p.out_shape.push_back(x.shape()[d]);
      p.keep_shape.push_back(x.shape()[d]);
    }
  }
  for (int64_t d : p.reduced) p.perm.push_back(d);
  return p;
}

// x with the reduced dims moved last, contiguous: [rows, cols] in memory.
Tensor rows_view(const Tensor& x, const ReducePlan& p) { return contiguous(permute(x.detach(), p.perm)); }

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  trace::OpScope trace_scope("sum", x);
  detail::check_defined(x, "sum", "the input");
  detail::check_floating(x, "sum");
  ReducePlan p = plan_reduction(x, dims, "sum");
  Tensor out = empty(keepdim ? p.keep_shape : p.out_shape, x.dtype(), x.device());
  switch (x.device()) {
    case Device::CPU: {
      Tensor rows = rows_view(x, p);
      dispatch_float(x.dtype(), "sum", [&]<typename T>() {
        kernels::cpu::sum_rows<T>(rows.data<T>(), p.rows, p.cols, out.data<T>());
      });
      break;
    }
    case Device::CUDA: {
      Tensor rows = rows_view(x, p);
      SC_CUDA_BRANCH("sum", dispatch_float(x.dtype(), "sum", [&]<typename T>() {
        kernels::cuda::sum_rows<T>(rows.data<T>(), p.rows, p.cols, out.data<T>());
      }));
      break;
    }
  }
  if (any_requires_grad({x})) {
    // Every input element contributed once: the gradient is g broadcast back.
    record("sum", out, {x}, [in_shape = x.shape(), keep = p.keep_shape](const Tensor& g) {
      return std::vector<Tensor>{expand(reshape(g, keep), in_shape)};
    });
  }
  return out;
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  trace::OpScope trace_scope("mean", x);
  detail::check_defined(x, "mean", "the input");
  ReducePlan p = plan_reduction(x, dims, "mean");
  SC_CHECK(p.cols > 0, "mean: the reduced dims of ", x.describe(), " hold no elements");
  return div(sum(x, dims, keepdim), static_cast<double>(p.cols));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  trace::OpScope trace_scope("sum_to", x);
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  SC_CHECK(lead >= 0, "sum_to: cannot sum ", x.describe(), " to the larger shape ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && x.shape()[d] != 1) {
      dims.push_back(d);
    } else {
      SC_CHECK(shape[d - lead] == x.shape()[d], "sum_to: ", x.describe(), " does not broadcast from ", shape_str(shape));
    }
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

MaxResult max(const Tensor& x, int64_t dim, bool keepdim) {
  trace::OpScope trace_scope("max", x);
  detail::check_defined(x, "max", "the input");
  detail::check_floating(x, "max");
  SC_CHECK(x.dim() > 0, "max: a dim was given for the 0-dim tensor ", x.describe());
  dim = normalize_dim(dim, x.dim(), "max");
  SC_CHECK(x.shape()[dim] > 0, "max: dim ", dim, " of ", x.describe(), " is empty");
  ReducePlan p = plan_reduction(x, {dim}, "max");
  const Shape& shape = keepdim ? p.keep_shape : p.out_shape;
  MaxResult r{empty(shape, x.dtype(), x.device()), empty(shape, DType::Int64, x.device())};
  switch (x.device()) {
    case Device::CPU: {
      Tensor rows = rows_view(x, p);
      dispatch_float(x.dtype(), "max", [&]<typename T>() {
        kernels::cpu::max_rows<T>(rows.data<T>(), p.rows, p.cols, r.values.data<T>(), r.indices.data<int64_t>());
      });
      break;
    }
    case Device::CUDA: {
      Tensor rows = rows_view(x, p);
      SC_CUDA_BRANCH("max", dispatch_float(x.dtype(), "max", [&]<typename T>() {
        kernels::cuda::max_rows<T>(rows.data<T>(), p.rows, p.cols, r.values.data<T>(), r.indices.data<int64_t>());
      }));
      break;
    }
  }
  if (any_requires_grad({x})) {
    // Only the chosen element of each row receives the gradient.
    record("max", r.values, {x},
           [p, in_shape = x.shape(), si = SavedTensor(r.indices)](const Tensor& g) {
             Tensor gc = contiguous(g);
             Shape permuted;
             for (int64_t d : p.perm) permuted.push_back(in_shape[d]);
             Tensor gi = empty(permuted, g.dtype(), g.device());
             Tensor idx = contiguous(si.get());
             switch (g.device()) {
               case Device::CPU:
                 dispatch_float(g.dtype(), "max backward", [&]<typename T>() {
                   kernels::cpu::scatter_rows<T>(gc.data<T>(), idx.data<int64_t>(), p.rows, p.cols, gi.data<T>());
                 });
                 break;
               case Device::CUDA:
                 SC_CUDA_BRANCH("max backward", dispatch_float(g.dtype(), "max backward", [&]<typename T>() {
                   kernels::cuda::scatter_rows<T>(gc.data<T>(), idx.data<int64_t>(), p.rows, p.cols, gi.data<T>());
                 }));
                 break;
             }
             std::vector<int64_t> inverse(p.perm.size());
             for (size_t i = 0; i < p.perm.size(); ++i) inverse[p.perm[i]] = static_cast<int64_t>(i);
             return std::vector<Tensor>{permute(gi, inverse)};
           });
  }
  return r;
}

Tensor max(const Tensor& x) {
  detail::check_defined(x, "max", "the input");
  SC_CHECK(x.numel() > 0, "max: ", x.describe(), " has no elements");
  return reshape(max(reshape(x, {-1}), 0, false).values, {});
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return max(x, dim, keepdim).indices;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  trace::OpScope trace_scope("var", x);
  detail::check_defined(x, "var", "the input");
  ReducePlan p = plan_reduction(x, dims, "var");
  SC_CHECK(correction >= 0 && p.cols - correction > 0, "var: ", p.cols, " elements per reduction with correction ",
           correction, " leave no degrees of freedom (input ", x.describe(), ")");
  // Written with other ops, so its backward comes for free.
  Tensor centered = sub(x, mean(x, dims, true));
  return div(sum(mul(centered, centered), dims, keepdim), static_cast<double>(p.cols - correction));
}

Tensor var(const Tensor& x, int64_t correction) { return var(x, {}, correction, false); }

}  // namespace sc
