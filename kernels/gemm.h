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
// GEMM (kernels/cpu/gemm_avx2.cpp) with an AVX-512 or an AVX2 + FMA micro-kernel, the
// widest the CPU has, checked at run time, so a build without -march flags is still fast
// and a binary built here runs on a CPU without AVX-512; float64 (the gradient checks), and
// float32 on CPUs without AVX2, go to Eigen's GEMM. The environment variable SC_CPU_GEMM
// (avx512, avx2 or eigen) forces one path for float32, for tests and benchmarks; a path the
// CPU cannot run is refused with an error. The same choice stands for the other hand-written
// float32 CPU paths: rows() and dot_rows() below (and so conv2d's grid), and the AVX-512 max pool.
//
// Threads: called outside an OpenMP parallel region, one GEMM uses all threads; called
// inside one (an op that splits its own work between threads), it runs on the calling
// thread only. Either way every element of C is summed by one thread in a fixed order,
// so results do not change from run to run. The CUDA versions with the same signatures
// are in namespace kernels::cuda at the bottom of this file.
#include <cstdint>
#include <string>

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

// The dot-product form, for products whose sum runs along both operands' contiguous axis:
//
//   C[i, j] = alpha * sum_k A[i * lda + k] * B[b_offsets[j] + k] + beta * C[i, j],   i < M, j < N
//
// Row i of A and row j of B are each K contiguous floats; B's rows may lie anywhere (the
// offsets need not be ordered or apart by a fixed stride). This is a convolution's weight
// gradient, dW = dy col^T, with dy's and col's rows read in place: gemm() with trans_b would
// first copy col^T into column strips, one value at a time. Each element is summed as 16
// interleaved partial sums (lane l takes k = l, l + 16, ...) added in a fixed tree at the end,
// so the AVX-512 and AVX2 paths give the same bits, on any number of threads (threads split
// the columns of C when called outside a parallel region). beta == 0 never reads C.
// float32 only, on the hand-written paths: call it only when dot_rows_available().
bool dot_rows_available();  // float32_path() is Avx512 or Avx2 (rows() too)
void dot_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
              const int64_t* b_offsets, float beta, float* C, int64_t ldc);

// The GEMM with B given by its rows: C = alpha * A * B + beta * C, A row-major M x K (lda),
// row k of B the N contiguous floats at B + b_offsets[k]. A stride-1 convolution over a
// zero-padded copy of its input is this product: row (c, kh, kw) of the im2col matrix is the
// padded input shifted by kh rows and kw columns, so it is read in place and never copied
// (kernels/cpu/conv2d.cpp). The micro-kernels and K slices of gemm(), so the AVX-512 and AVX2
// paths give the same bits; threads as gemm(). float32 only, where dot_rows_available().
void rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          const int64_t* b_offsets, float beta, float* C, int64_t ldc);

// The two implementations behind gemm(), with its signature and semantics. Only gemm()
// should be called from ops; these are declared here so the tests can compare the paths.
namespace gemm_path {

// Eigen's blocked GEMM: float64 always, float32 on CPUs without AVX2 + FMA.
template <typename T>
void eigen(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
           int64_t ldb, T beta, T* C, int64_t ldc);

// True when this CPU can run avx2() (an x86-64 with AVX2 and FMA).
bool avx2_available();

// The hand-written float32 GEMM, AVX2 micro-kernel. Only call it when avx2_available().
void avx2(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// True when this CPU can run avx512() (AVX-512 F).
bool avx512_available();

// The same GEMM with the AVX-512 micro-kernel: the same bits as avx2() (each element of C is
// the same chain of fused multiply-adds). Only call it when avx512_available().
void avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// rows() and dot_rows() on each micro-kernel (only call each where its *_available() is true).
void avx512_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                 const int64_t* b_offsets, float beta, float* C, int64_t ldc);
void avx2_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
               const int64_t* b_offsets, float beta, float* C, int64_t ldc);
void avx512_dot_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                     const int64_t* b_offsets, float beta, float* C, int64_t ldc);
void avx2_dot_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                   const int64_t* b_offsets, float beta, float* C, int64_t ldc);

// The float32 path gemm() takes: SC_CPU_GEMM if set (checked against the CPU), else the widest
// hand-written one the CPU has, else Eigen. Read once.
enum class Float32Path { Avx512, Avx2, Eigen };
Float32Path float32_path();
const char* path_name(Float32Path path);
// Parses "avx512", "avx2" or "eigen"; throws sc::Error naming the value otherwise, or when this
// CPU cannot run that path.
Float32Path parse_float32_path(const std::string& name);

}  // namespace gemm_path

}  // namespace sc::kernels::cpu

// ---- CUDA ------------------------------------------------------------------------------
// The same contract on device pointers (kernels/cuda/gemm.cu, kernels/cuda/vendor/
// cublas_gemm.cu): row-major, the same trans flags, leading dimensions and batch strides,
// beta == 0 never reads C, any M, N, K >= 0 (K == 0 gives C = beta * C, or 0). Every kernel
// runs on the backend's stream; nothing here synchronises. Each element of C is summed by
// one thread in a fixed order, so the hand-written results are the same bits run to run.
namespace sc::kernels::cuda {

// gemm / gemm_batched run cuBLAS when kernel_path() == KernelPath::Vendor, else the
// hand-written kernel picked by gemm_rung() (float32; float64 always runs the shared-memory
// tiled kernel, or the naive one when that rung is chosen).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c);

// The ladder of hand-written float32 kernels, slowest to fastest (kernels/cuda/gemm.cu
// explains what each rung adds). The first four compute the same exact-FP32 thing; only the
// speed differs. The tensor-core rungs round the inputs to TF32 (10-bit mantissa) or BF16
// (8-bit) and accumulate in FP32: faster, less precise, never the default.
enum class GemmRung { Naive, SharedTiled, RegisterBlocked, WarpTiled, TensorCoreTF32, TensorCoreBF16 };
// The rung gemm() uses. Default: the fastest exact one (WarpTiled). The first call reads the
// environment variable SC_GEMM_RUNG (naive | shared | register | warp | tf32 | bf16). float64
// runs the shared-memory rung for any float32 rung but naive.
GemmRung gemm_rung();
void set_gemm_rung(GemmRung rung);
const char* gemm_rung_name(GemmRung rung);  // "naive", "shared", "register", "warp", "tf32", "bf16"
// The inverse of gemm_rung_name; anything else throws sc::Error listing the valid names.
GemmRung parse_gemm_rung(const std::string& name);

// cuBLAS only: let float32 GEMMs use TF32 tensor cores (10-bit mantissa inputs). Off by
// default, so cuBLAS float32 results are comparable with the hand-written kernels.
void set_allow_tf32(bool on);
// cuBLAS only: let float32 GEMMs round their inputs to BF16 on the tensor cores
// (CUBLAS_COMPUTE_32F_FAST_16BF; the peer of the bf16 rung). Off by default; wins over TF32.
void set_allow_bf16(bool on);
// The warp rung's block shape: "small" (the default: 8x8 outputs per thread, 256 threads) or
// "wide" (8x16 per thread, 128 threads; measured slower). Env SC_GEMM_WARP_SHAPE sets the start.
void set_gemm_warp_shape(const std::string& name);

// The single paths behind gemm(), for the tests and benchmarks (ops call gemm()).
namespace gemm_path {

// One rung of the hand-written ladder, float32.
void handwritten(GemmRung rung, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                 int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c);

// cuBLAS (row-major through the column-major identity C^T = op(B)^T op(A)^T).
template <typename T>
void cublas(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
            int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
            int64_t stride_c);

// C = beta * C for every matrix of the batch (C = 0 when beta == 0, C never read): what a
// GEMM with K == 0 computes. Both paths use it, so cuBLAS is never called with K == 0.
template <typename T>
void scale_only(int64_t batch, int64_t M, int64_t N, T beta, T* C, int64_t ldc, int64_t stride_c);

}  // namespace gemm_path

}  // namespace sc::kernels::cuda
