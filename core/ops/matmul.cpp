// matmul: [m,k] x [k,n] -> [m,n] and its batched form [b,m,k] x [b,k,n] -> [b,m,n].
// The work is one call of the shared GEMM kernel (kernels/gemm.h). A transposed view of a
// contiguous matrix is handed to GEMM as "transposed" instead of being copied, which is
// what makes the backward (g b^T, a^T g: both transposed views) copy-free.
#include <algorithm>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/gemm.h"

namespace sc {

namespace {

// One operand as GEMM reads it: a pointer source, whether its matrices are stored
// transposed (column-major), the leading dimension, and the distance between matrices.
struct GemmOperand {
  Tensor data;  // the input itself, or a contiguous copy when its layout does not fit GEMM
  bool transposed = false;
  int64_t ld = 0;
  int64_t batch_stride = 0;
};

// Looks at the strides of the last two dims [rows, cols]:
//   row-major    (col stride 1, row stride >= cols): GEMM reads it as is;
//   column-major (row stride 1, col stride >= rows): the transpose of a row-major
//                [cols, rows] matrix, so GEMM reads it with trans = true;
//   anything else (a slice with a step, an expanded dim): copied to contiguous first.
// A dim of size 1 is never stepped along, so its stride does not matter.
GemmOperand gemm_operand(const Tensor& x) {
  const int64_t nd = x.dim();
  const int64_t rows = x.shape()[nd - 2], cols = x.shape()[nd - 1];
  const int64_t row_stride = x.strides()[nd - 2], col_stride = x.strides()[nd - 1];
  GemmOperand op;
  op.data = x.detach();  // only the data is read here; the op records its own Node
  const bool row_major = (cols <= 1 || col_stride == 1) && (rows <= 1 || row_stride >= std::max<int64_t>(cols, 1));
  const bool col_major = (rows <= 1 || row_stride == 1) && (cols <= 1 || col_stride >= std::max<int64_t>(rows, 1));
  if (row_major) {
    op.ld = rows <= 1 ? std::max<int64_t>(cols, 1) : row_stride;
  } else if (col_major) {
    op.transposed = true;
    op.ld = cols <= 1 ? std::max<int64_t>(rows, 1) : col_stride;
  } else {
    op.data = contiguous(op.data);
    op.ld = std::max<int64_t>(cols, 1);
  }
  // Any batch stride works, 0 included (an expanded batch reuses one matrix).
  op.batch_stride = nd == 3 ? op.data.strides()[0] : 0;
  return op;
}

// The transpose of the last two dims.
Tensor matrix_transpose(const Tensor& t) { return transpose(t, -2, -1); }

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  trace::OpScope trace_scope("matmul", a, b);
  detail::check_defined(a, "matmul", "the first input");
  detail::check_defined(b, "matmul", "the second input");
  SC_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3),
           "matmul: expected two 2-D matrices [m,k] x [k,n] or two 3-D batches [b,m,k] x [b,k,n], got ", a.describe(),
           " and ", b.describe());
  detail::check_same_dtype_device(a, b, "matmul");
  detail::check_floating(a, "matmul");
  const bool batched = a.dim() == 3;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  SC_CHECK(b.size(-2) == K, "matmul: inner dims differ: ", a.describe(), " x ", b.describe(), " (", K, " vs ",
           b.size(-2), ")");
  const int64_t batch = batched ? a.size(0) : 1;
  SC_CHECK(!batched || b.size(0) == batch, "matmul: batch sizes differ: ", a.describe(), " x ", b.describe(), " (",
           batch, " vs ", b.size(0), ")");

  Tensor out = empty(batched ? Shape{batch, M, N} : Shape{M, N}, a.dtype(), a.device());
  // Both devices take the same operands: GEMM reads transposed views in place on either.
  const GemmOperand oa = gemm_operand(a), ob = gemm_operand(b);
  switch (a.device()) {
    case Device::CPU:
      dispatch_float(a.dtype(), "matmul", [&]<typename T>() {
        kernels::cpu::gemm_batched<T>(oa.transposed, ob.transposed, batch, M, N, K, T(1), oa.data.data<T>(), oa.ld,
                                      oa.batch_stride, ob.data.data<T>(), ob.ld, ob.batch_stride, T(0), out.data<T>(),
                                      N, M * N);
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH("matmul", dispatch_float(a.dtype(), "matmul", [&]<typename T>() {
                       kernels::cuda::gemm_batched<T>(oa.transposed, ob.transposed, batch, M, N, K, T(1),
                                                      oa.data.data<T>(), oa.ld, oa.batch_stride, ob.data.data<T>(),
                                                      ob.ld, ob.batch_stride, T(0), out.data<T>(), N, M * N);
                     }));
      break;
  }

  if (any_requires_grad({a, b})) {
    // out = a b   =>   dL/da = g b^T,   dL/db = a^T g   (per matrix of the batch).
    // Each side saves only what the other side's gradient needs.
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    record("matmul", out, {a, b},
           [need_a, need_b, sa = need_b ? SavedTensor(a) : SavedTensor(),
            sb = need_a ? SavedTensor(b) : SavedTensor()](const Tensor& g) {
             return std::vector<Tensor>{need_a ? matmul(g, matrix_transpose(sb.get())) : Tensor(),
                                        need_b ? matmul(matrix_transpose(sa.get()), g) : Tensor()};
           });
  }
  return out;
}

}  // namespace sc
