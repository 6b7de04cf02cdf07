#pragma once
// NT-Xent (SimCLR's normalised-temperature cross-entropy) on already L2-normalised rows.
//
// zn is a contiguous [rows, d] block, rows = 2N: rows 0..N-1 are the first views, rows
// N..2N-1 the second views in the same order, so row i's positive is row (i + N) mod 2N.
//   S[i, k] = zn_i . zn_k / temperature
//   lse_i   = log sum_{k != i} exp(S[i, k])      (the self-similarity is left out of the sum)
//   loss    = mean_i (lse_i - S[i, pos(i)])
// Both GEMMs go through the shared kernels::cpu::gemm; the per-row log-sum-exps run in parallel (OpenMP), each
// max-subtracted and accumulated in double.
//
// The CUDA versions (kernels/cuda/nt_xent.cu) with the same signatures arrive with the
// CUDA backend.
#include <cstdint>

namespace sc::kernels::cpu {

// The positive partner of row i among `rows` = 2N rows.
inline int64_t nt_xent_positive(int64_t i, int64_t rows) { return (i + rows / 2) % rows; }

// Writes sim[rows, rows] = S (kept for the backward), loss[0], and each row's lse in two
// parts, lse_i = row_max[i] + row_log_sum[i] with row_max[i] = max_{k != i} S[i, k] (kept
// apart so float32 does not round the small part into the large one).
template <typename T>
void nt_xent_forward(const T* zn, int64_t rows, int64_t d, double inv_temperature, T* sim, T* row_max,
                     T* row_log_sum, T* loss);

// From the forward's S, row_max, row_log_sum and the incoming gradient grad_loss[0]:
//   dS[i, k] = (softmax over k != i of S[i, :] - [k == pos(i)]) * grad_loss / rows   (dS[i, i] = 0)
//   dzn      = (dS + dS^T) zn / temperature          (S is symmetric in zn)
// `workspace` holds rows * rows values (dS); dzn is [rows, d].
template <typename T>
void nt_xent_backward(const T* zn, const T* sim, const T* row_max, const T* row_log_sum, int64_t rows, int64_t d,
                      double inv_temperature, const T* grad_loss, T* workspace, T* dzn);

}  // namespace sc::kernels::cpu
