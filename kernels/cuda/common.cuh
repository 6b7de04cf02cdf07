#pragma once
// What every .cu file of the CUDA backend shares: error checks, the stream, launch sizes.
//
//   SC_CUDA_CHECK(cudaMemsetAsync(...));      // every CUDA API call is checked
//   my_kernel<<<grid, block, 0, stream()>>>(...);
//   check_launch("my_kernel");                 // after every launch
//
// check_launch throws sc::Error when the launch failed; with SC_CUDA_SYNC=1 it also
// synchronises, so a fault inside the kernel is reported with the kernel's name.
#include <cuda_runtime.h>

#include <cstdint>

#include "base/error.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda/stream.h"
#include "kernels/layout.h"

namespace sc::kernels::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);

#define SC_CUDA_CHECK(call)                                                                        \
  do {                                                                                             \
    cudaError_t sc_cuda_err_ = (call);                                                             \
    if (sc_cuda_err_ != cudaSuccess)                                                               \
      ::sc::kernels::cuda::throw_cuda_error(sc_cuda_err_, #call, __FILE__, __LINE__);              \
  } while (0)

void check_launch(const char* kernel_name);

// Number of streaming multiprocessors of the current device (for grid sizing).
int sm_count();

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over n elements with `threads` per block: enough to fill the
// GPU several times over, never more than needed, never zero.
inline unsigned grid_for(int64_t n, int threads) {
  int64_t blocks = ceil_div(n, threads);
  const int64_t cap = static_cast<int64_t>(sm_count()) * 32;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks);
}

// The element offset of linear index i (row-major over l.sizes) in a strided layout.
__device__ __forceinline__ int64_t strided_offset(int64_t i, const Layout& l) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    const int64_t size = l.sizes[d];
    off += (i % size) * l.strides[d];
    i /= size;
  }
  return off;
}

// A device buffer from the caching allocator, freed when it goes out of scope: scratch space
// for a kernel (partial sums, workspaces).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t nbytes) : p_(nbytes ? allocate(nbytes) : nullptr), n_(nbytes) {}
  ~DeviceBuffer() { deallocate(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  size_t size() const { return n_; }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// ---- small device helpers shared by the kernel files ----------------------------------------

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// kVec consecutive values moved with one load or store (16 bytes when kVec * sizeof(T) == 16;
// the caller guarantees the alignment, see aligned16).
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};
template <typename T, int kVec>
__device__ __forceinline__ Pack<T, kVec> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, kVec>*>(p);
}
template <typename T, int kVec>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, kVec>& pack) {
  *reinterpret_cast<Pack<T, kVec>*>(p) = pack;
}

// Integer division by a divisor fixed for the whole launch. Hardware has no integer divide:
// a 32-bit `n / d` compiles to some twenty instructions. With 32-bit indices a multiply-high,
// an add and a shift do it instead (Granlund and Montgomery, "Division by invariant integers
// using multiplication", 1994):
//   shift = ceil(log2 d),  magic = floor(2^32 * (2^shift - d) / d) + 1  (fits in 32 bits),
//   n / d = (umulhi(n, magic) + n) >> shift   for every 0 <= n < 2^31 (umulhi(n, magic) < n,
//   so the sum stays below 2^32).
// 64-bit indices (huge tensors) keep the plain division.
template <typename Index>
struct Divider;

template <>
struct Divider<int32_t> {
  uint32_t divisor = 1, magic = 1, shift = 0;
  Divider() = default;
  explicit Divider(int64_t d) : divisor(static_cast<uint32_t>(d)) {
    while ((uint64_t{1} << shift) < divisor) ++shift;
    magic = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - divisor)) / divisor + 1);
  }
  __device__ __forceinline__ int32_t div(int32_t n) const {
    const uint32_t u = static_cast<uint32_t>(n);
    return static_cast<int32_t>((__umulhi(u, magic) + u) >> shift);
  }
};

template <>
struct Divider<int64_t> {
  int64_t divisor = 1;
  Divider() = default;
  explicit Divider(int64_t d) : divisor(d) {}
  __device__ __forceinline__ int64_t div(int64_t n) const { return n / divisor; }
};

}  // namespace sc::kernels::cuda
