// Row gathers and scatter-adds on the GPU: index_select and its backward
// (contracts in kernels/index.h; kernels/cpu/index.cpp is the reference).
//
// Both see contiguous tensors as [outer, rows, inner] (see kernels/index.h).
//   gather_rows       one thread per output element: a pure copy, any order is fine.
//   scatter_add_rows  a repeated index makes two gradient rows add into the same output
//                     row. Instead of atomics (whose order, and so whose float rounding,
//                     changes from run to run), one thread owns one output column (o, k)
//                     and walks the index in order j = 0, 1, ...: every output element
//                     receives its additions in the order of j, as on the CPU, so the result
//                     is the CPU's, bit for bit, on every run.
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/index.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void gather_rows_kernel(const T* in, int64_t in_rows, int64_t inner, const int64_t* index,
                                   int64_t index_len, int64_t n, T* out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += step) {
    // i = (o * index_len + j) * inner + k
    const int64_t k = i % inner, pair = i / inner;
    const int64_t j = pair % index_len, o = pair / index_len;
    const int64_t row = index[j];
    // The op checked every index; the guard only keeps a bad one from reading outside `in`.
    out[i] = (row >= 0 && row < in_rows) ? in[(o * in_rows + row) * inner + k] : T(0);
  }
}

// out must be zero already. Thread t owns column (o, k) = (t / inner, t % inner) of every
// output row of slice o; neighbouring threads own neighbouring k, so reads and writes of
// one j are coalesced when inner is large.
template <typename T>
__global__ void scatter_add_columns(const T* grad, int64_t inner, const int64_t* index, int64_t index_len,
                                    int64_t out_rows, int64_t columns, T* out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < columns; t += step) {
    const int64_t o = t / inner, k = t % inner;
    const T* g = grad + o * index_len * inner + k;
    T* dst = out + o * out_rows * inner + k;
    for (int64_t j = 0; j < index_len; ++j) {
      const int64_t row = index[j];
      if (row >= 0 && row < out_rows) dst[row * inner] += g[j * inner];  // checked by the op; kept in bounds
    }
  }
}

}  // namespace

template <typename T>
void gather_rows(const T* in, int64_t outer, int64_t in_rows, int64_t inner, const int64_t* index, int64_t index_len,
                 T* out) {
  const int64_t n = outer * index_len * inner;
  if (n == 0) return;
  gather_rows_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(in, in_rows, inner, index, index_len, n, out);
  check_launch("gather_rows");
}

template <typename T>
void scatter_add_rows(const T* grad, int64_t outer, int64_t index_len, int64_t inner, const int64_t* index,
                      int64_t out_rows, T* out) {
  const int64_t out_numel = outer * out_rows * inner;
  if (out_numel == 0) return;
  // All-zero bytes are +0.0 in IEEE floats: the output starts at zero.
  SC_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<size_t>(out_numel) * sizeof(T), stream()));
  const int64_t columns = outer * inner;
  if (index_len == 0) return;  // nothing to add (columns > 0 here, since out_numel > 0)
  scatter_add_columns<<<grid_for(columns, kThreads), kThreads, 0, stream()>>>(grad, inner, index, index_len, out_rows,
                                                                              columns, out);
  check_launch("scatter_add_rows");
}

// Gathers serve every dtype (int64 labels too); scatter-adds only gradients.
// Every thread looks at a stride of v; the smallest bad position wins through an integer
// atomicMin, which gives the same answer whatever the order (unlike a float atomic sum).
__global__ void first_out_of_range_kernel(const int64_t* v, int64_t n, int64_t low, int64_t high,
                                          unsigned long long* first) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (v[i] < low || v[i] >= high) {
      atomicMin(first, static_cast<unsigned long long>(i));
      return;  // this thread's later positions are larger
    }
  }
}

int64_t first_out_of_range(const int64_t* v, int64_t n, int64_t low, int64_t high) {
  if (n <= 0) return -1;
  DeviceBuffer first(sizeof(unsigned long long));
  const unsigned long long none = ~0ull;
  SC_CUDA_CHECK(cudaMemcpyAsync(first.as<unsigned long long>(), &none, sizeof none, cudaMemcpyHostToDevice, stream()));
  constexpr int kThreads = 256;
  first_out_of_range_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(v, n, low, high,
                                                                             first.as<unsigned long long>());
  check_launch("first_out_of_range_kernel");
  unsigned long long result = none;
  copy_device_to_host(&result, first.as<unsigned long long>(), sizeof result);
  return result == none ? -1 : static_cast<int64_t>(result);
}

template void gather_rows<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, float*);
template void gather_rows<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, double*);
template void gather_rows<int64_t>(const int64_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t*);
template void gather_rows<int32_t>(const int32_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int32_t*);
template void scatter_add_rows<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, float*);
template void scatter_add_rows<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, double*);

}  // namespace sc::kernels::cuda
