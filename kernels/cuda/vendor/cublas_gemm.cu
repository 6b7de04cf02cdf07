// GEMM through cuBLAS: the "vendor" rung every hand-written kernel in kernels/cuda/gemm.cu
// is measured against, and the path gemm() takes when kernel_path() == KernelPath::Vendor.
//
// cuBLAS is column-major, our matrices are row-major. A row-major M x N matrix with row
// stride ldc is, byte for byte, a column-major N x M matrix with leading dimension ldc: its
// transpose. So instead of C = op(A) op(B) we ask cuBLAS for
//
//   C^T = op(B)^T op(A)^T        (N x M, column-major = our C, row-major)
//
// which swaps the operands (B first) and keeps each transpose flag with its own operand:
// a row-major B stored K x N is, to cuBLAS, already the N x K matrix op(B)^T (no transpose);
// a row-major B stored N x K (trans_b) reads as K x N and needs CUBLAS_OP_T. No data moves.
#include <cublas_v2.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/gemm.h"

namespace sc::kernels::cuda {

namespace {

// Every cuBLAS call is checked; a failure becomes an sc::Error naming the call.
#define SC_CUBLAS_CHECK(call)                                                                            \
  do {                                                                                                   \
    const cublasStatus_t sc_cublas_status_ = (call);                                                     \
    if (sc_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                      \
      throw ::sc::Error(::sc::detail::concat("cuBLAS error in ", #call, " (", __FILE__, ":", __LINE__, "): ", \
                                             cublasGetStatusName(sc_cublas_status_), ": ",              \
                                             cublasGetStatusString(sc_cublas_status_)));                \
  } while (0)

bool& allow_tf32_slot() {
  static bool allow = false;
  return allow;
}
bool& allow_bf16_slot() {
  static bool allow = false;
  return allow;
}

// One handle for the process, created on first use and bound to the backend's stream, so
// cuBLAS work is ordered with every other kernel. Never destroyed: it may be needed by
// tensors freed during static destruction, after the CUDA context is gone.
cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    SC_CUBLAS_CHECK(cublasCreate(&created));
    SC_CUBLAS_CHECK(cublasSetStream(created, stream()));
    SC_CUBLAS_CHECK(cublasSetPointerMode(created, CUBLAS_POINTER_MODE_HOST));  // alpha, beta live on the host
    return created;
  }();
  return h;
}

cublasOperation_t op(bool transposed) { return transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

void set_allow_tf32(bool on) { allow_tf32_slot() = on; }
void set_allow_bf16(bool on) { allow_bf16_slot() = on; }

namespace gemm_path {

template <typename T>
void cublas(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
            int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
            int64_t stride_c) {
  SC_CHECK(batch >= 0 && M >= 0 && N >= 0 && K >= 0, "gemm (cuBLAS): negative size (batch ", batch, ", M ", M,
           ", N ", N, ", K ", K, ")");
  if (batch == 0 || M == 0 || N == 0) return;
  // An empty sum: cuBLAS is not asked (some versions reject k == 0 with odd leading dims).
  if (K == 0) return scale_only<T>(batch, M, N, beta, C, ldc, stride_c);

  cublasHandle_t h = handle();
  // TF32 only matters for float32; CUBLAS_DEFAULT_MATH keeps full FP32 products.
  SC_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32_slot() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  // The _64 entry points take 64-bit sizes and strides, so no size needs a range check.
  // Arguments in cuBLAS order: C^T (N x M) = op(B)^T (N x K) * op(A)^T (K x M).
  if constexpr (std::is_same_v<T, float>) {
    if (allow_bf16_slot()) {
      // float32 in memory, BF16 on the tensor cores, FP32 accumulation: the general entry point.
      SC_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(h, op(trans_b), op(trans_a), N, M, K, &alpha, B, CUDA_R_32F, ldb,
                                                    stride_b, A, CUDA_R_32F, lda, stride_a, &beta, C, CUDA_R_32F, ldc,
                                                    stride_c, batch, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
      return;
    }
    if (batch == 1)
      SC_CUBLAS_CHECK(cublasSgemm_64(h, op(trans_b), op(trans_a), N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
    else
      SC_CUBLAS_CHECK(cublasSgemmStridedBatched_64(h, op(trans_b), op(trans_a), N, M, K, &alpha, B, ldb, stride_b, A,
                                                   lda, stride_a, &beta, C, ldc, stride_c, batch));
  } else {
    static_assert(std::is_same_v<T, double>, "cuBLAS GEMM is instantiated for float and double");
    if (batch == 1)
      SC_CUBLAS_CHECK(cublasDgemm_64(h, op(trans_b), op(trans_a), N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
    else
      SC_CUBLAS_CHECK(cublasDgemmStridedBatched_64(h, op(trans_b), op(trans_a), N, M, K, &alpha, B, ldb, stride_b, A,
                                                   lda, stride_a, &beta, C, ldc, stride_c, batch));
  }
}

template void cublas<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                            const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void cublas<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                             const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace gemm_path

}  // namespace sc::kernels::cuda
