#pragma once
// General matrix multiply, BLAS style, over row-major pointers:
//
//   C = alpha * op(A) * op(B) + beta * C
//
// op(A) is M x K and op(B) is K x N; C is M x N.
//   trans_a = false: A is stored M x K, row i starting at A + i * lda (lda >= K).
//   trans_a = true:  A is stored K x M, row p starting at A + p * lda (lda >= M),
//                    so op(A) = A^T is read without a copy.
// B and ldb follow the same rule with K x N / N x K. C is M x N with row stride ldc (>= N).
// When beta == 0, C is only written, never read (NaN or garbage in C does not leak
// through), as BLAS does. C must not overlap A or B.
//
// This is the one GEMM entry point of the CPU kernels: matmul, and any other op that
// wants a plain matrix product, calls it. The CPU version hands the work to Eigen's
// GEMM (blocked, vectorised, multithreaded through OpenMP). The CUDA versions with the
// same signatures (kernels::cuda) arrive with the CUDA backend.
#include <cstdint>

namespace sc::kernels::cpu {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

// `batch` independent GEMMs with the same M, N, K and transposes. Matrix i of each operand
// starts at A + i * stride_a, B + i * stride_b, C + i * stride_c. A stride of 0 reuses one
// matrix for every product (a broadcast operand); the C matrices must not overlap.
template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c);

}  // namespace sc::kernels::cpu
