#pragma once
// Row reductions over a contiguous [rows, cols] block. The op layer permutes the
// reduced dims to the end first, so every reduction (any dims, keepdim or not)
// reaches the kernel in this one shape.
#include <cstdint>

namespace sc::kernels::cpu {

// out[r] = sum_c in[r, c]. Float32 accumulates in double.
template <typename T>
void sum_rows(const T* in, int64_t rows, int64_t cols, T* out);

// values[r] = max_c in[r, c], indices[r] = the first c reaching it (NaN counts as the max).
template <typename T>
void max_rows(const T* in, int64_t rows, int64_t cols, T* values, int64_t* indices);

// The backward of max_rows: out[r, indices[r]] = grad[r], every other element 0.
template <typename T>
void scatter_rows(const T* grad, const int64_t* indices, int64_t rows, int64_t cols, T* out);

}  // namespace sc::kernels::cpu

// The same reductions on the GPU (kernels/cuda/reduce.cu), on device pointers, queued on the
// CUDA stream. sum_rows accumulates in double like the CPU and is deterministic (a fixed
// partition of each row, partial sums combined in a fixed order, no atomics); its float
// result may differ from the CPU's in the last bit (a tree instead of a left-to-right sum).
// max_rows returns exactly the CPU's values and indices (NaN counts as the max, ties go to
// the first index); it needs cols >= 1. scatter_rows is exact.
namespace sc::kernels::cuda {

template <typename T>
void sum_rows(const T* in, int64_t rows, int64_t cols, T* out);

template <typename T>
void max_rows(const T* in, int64_t rows, int64_t cols, T* values, int64_t* indices);

template <typename T>
void scatter_rows(const T* grad, const int64_t* indices, int64_t rows, int64_t cols, T* out);

}  // namespace sc::kernels::cuda
