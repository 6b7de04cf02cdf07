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
// The CUDA versions (kernels/cuda/nt_xent.cu, namespace sc::kernels::cuda below) are fused:
// they never form S, so their signatures have no sim and no workspace.
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

// The fused GPU kernels (kernels/cuda/nt_xent.cu); every pointer is device memory
// (grad_loss too: it is read on the device). Same formulas and outputs as the CPU's, but
// S = zn zn^T / t is never stored: it is computed in 64 x 64 tiles, used, and dropped.
//
// Tiling: a block owns a tile of 64 rows and walks the 64-row column tiles in a fixed
// order. zn of both tiles is staged in shared memory 512 bytes of d at a time, and 256
// threads each compute a 4 x 4 piece of the S tile in registers. The forward folds each
// tile into a running (max, sum of exp) per row (online softmax: a larger max rescales the
// sum) and never looks at a tile again; the backward recomputes the same tiles bit for bit.
// When there are too few row tiles to fill the GPU, the column tiles are split into ranges
// that other blocks take, and the ranges are combined in a fixed order afterwards.
// Results are the same bits on every run (no atomics); float32 S and exp are computed in
// float, the lse sums and the loss mean in double.
// Requires rows even and >= 2, d >= 1 (throws sc::Error otherwise).
namespace sc::kernels::cuda {

// Fused forward: tiles of S with an online log-sum-exp per row (the self-similarity left out).
// Writes row_max[rows], row_log_sum[rows] (lse_i = row_max[i] + row_log_sum[i], as the CPU)
// and loss[0]. Scratch: O(rows) (one (max, sum) per row and column range).
template <typename T>
void nt_xent_forward(const T* zn, int64_t rows, int64_t d, double inv_temperature, T* row_max, T* row_log_sum,
                     T* loss);

// Fused backward: recomputes S tile by tile;
//   dzn_i = g / (rows t) * ( sum_{k != i} (P_ik + P_ki) zn_k - 2 zn_pos(i) ),  P_ik = exp(S_ik - lse_i),
// which is the CPU's (dS + dS^T) zn / t. No scratch when the row tiles fill the GPU; for
// small batches one partial dzn per column range (bounded by the GPU's size, not by rows).
template <typename T>
void nt_xent_backward(const T* zn, const T* row_max, const T* row_log_sum, int64_t rows, int64_t d,
                      double inv_temperature, const T* grad_loss, T* dzn);

}  // namespace sc::kernels::cuda
