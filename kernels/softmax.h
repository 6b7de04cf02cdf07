#pragma once
// Softmax, log-softmax and the fused cross-entropy (log-softmax + negative log-likelihood).
//
// Softmax along one dim of a contiguous tensor: the op layer views the tensor as
// [outer, dim, inner] (dims before, the softmax dim, dims after), so element (o, j, i) sits
// at o * dim * inner + j * inner + i, and one kernel serves every dim. Each (o, i) column
// is max-subtracted before exp, so large inputs (1000, 1001) do not overflow.
//
// The CUDA versions (kernels/cuda/softmax.cu, namespace sc::kernels::cuda below) honour the
// same contracts on device pointers.
#include <cstdint>

namespace sc::kernels::cpu {

// y = softmax(x) (log == false) or log_softmax(x) (log == true) along the middle dim.
template <typename T>
void softmax_forward(const T* x, int64_t outer, int64_t dim, int64_t inner, bool log, T* y);

// The backward, from the forward's output y and the incoming gradient dy:
//   softmax:      dx = y * (dy - sum_j dy_j y_j)
//   log_softmax:  dx = dy - exp(y) * sum_j dy_j
template <typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t dim, int64_t inner, bool log, T* dx);

// Cross-entropy over logits [rows, classes] and targets [rows] (each in [0, classes); the
// op layer checks). Each row's log-sum-exp is written in two parts, what the backward needs:
//   lse_r = row_max[r] + row_log_sum[r],  row_log_sum[r] = log sum_c exp(logits[r, c] - row_max[r])
// (kept apart so float32 does not round the small part away when logits are large), and
//   loss[0] = mean_r (lse_r - logits[r, target_r]).
template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* targets, int64_t rows, int64_t classes, T* row_max,
                           T* row_log_sum, T* loss);

// dlogits[r, c] = (softmax(logits)[r, c] - [c == target_r]) * grad_loss[0] / rows,
// with the softmax recomputed from the forward's row_max and row_log_sum.
template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* targets, const T* row_max, const T* row_log_sum,
                            int64_t rows, int64_t classes, const T* grad_loss, T* dlogits);

}  // namespace sc::kernels::cpu

// The same four functions on the GPU (kernels/cuda/softmax.cu): every pointer is device
// memory (grad_loss too: it is read on the device, so nothing waits for the host). Only
// `cross_entropy_forward` needs scratch (rows doubles for the per-row losses, summed by one
// block in a fixed order). Results are the same bits from run to run (no atomics); they
// differ from the CPU's by float rounding (the CPU sums in double, the GPU in the input's type).
namespace sc::kernels::cuda {

template <typename T>
void softmax_forward(const T* x, int64_t outer, int64_t dim, int64_t inner, bool log, T* y);

template <typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t dim, int64_t inner, bool log, T* dx);

template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* targets, int64_t rows, int64_t classes, T* row_max,
                           T* row_log_sum, T* loss);

template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* targets, const T* row_max, const T* row_log_sum,
                            int64_t rows, int64_t classes, const T* grad_loss, T* dlogits);

}  // namespace sc::kernels::cuda
