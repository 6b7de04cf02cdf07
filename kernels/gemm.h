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
// This is the one GEMM entry point of the CPU kernels: matmul, conv2d, nt_xent and any
// other op that wants a plain matrix product call it. float32 runs on a hand-written
// AVX2 + FMA GEMM (kernels/cpu/gemm_avx2.cpp) when the CPU has those instructions,
// checked at run time, so a build without -march flags is still fast; float64 (the
// gradient checks), and float32 on other CPUs, go to Eigen's GEMM.
//
// Threads: called outside an OpenMP parallel region, one GEMM uses all threads; called
// inside one (an op that splits its own work between threads), it runs on the calling
// thread only. Either way every element of C is summed by one thread in a fixed order,
// so results do not change from run to run. The CUDA versions with the same signatures
// (kernels::cuda) arrive with the CUDA backend.
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

// The two implementations behind gemm(), with its signature and semantics. Only gemm()
// should be called from ops; these are declared here so the tests can compare the paths.
namespace gemm_path {

// Eigen's blocked GEMM: float64 always, float32 on CPUs without AVX2 + FMA.
template <typename T>
void eigen(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
           int64_t ldb, T beta, T* C, int64_t ldc);

// True when this CPU can run avx2() (an x86-64 with AVX2 and FMA).
bool avx2_available();

// The hand-written float32 GEMM. Only call it when avx2_available().
void avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace gemm_path

}  // namespace sc::kernels::cpu
