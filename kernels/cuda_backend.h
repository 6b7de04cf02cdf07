#pragma once
// The CUDA backend's host-side API: memory, copies, the stream, and which kernels run.
// It includes no CUDA header, so core/ and tests can use it in any build; in a build
// without CUDA (kernels/cuda/no_cuda.cpp) every call that needs a GPU throws sc::Error.
//
// Memory comes from a caching allocator (kernels/cuda/runtime.cu). Sizes are rounded up to
// a size class; a freed block goes back into a per-class cache and the next request of
// that class reuses it, so a training step that allocates the same tensors every step
// stops calling cudaMalloc after its first step. All kernels run on one stream, in order,
// which is what makes handing a freed block to the next request safe without events.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sc::kernels::cuda {

// ---- memory --------------------------------------------------------------------------
void* allocate(size_t nbytes);  // device memory, at least nbytes; never null
void deallocate(void* p);       // returns the block to the cache (null is ignored)

struct AllocatorStats {
  int64_t cuda_malloc_calls = 0;  // blocks obtained from cudaMalloc since start
  int64_t cache_hits = 0;         // requests served from the cache
  int64_t bytes_reserved = 0;     // held from CUDA: in use + cached
  int64_t bytes_cached = 0;       // free blocks kept for reuse
  int64_t peak_bytes_reserved = 0;
};
AllocatorStats allocator_stats();
// Gives every cached (free) block back to CUDA.
void empty_cache();
// When on, every block handed out is first filled with 0xFF bytes (NaN for floats, -1 for
// integers), so a kernel that leaves part of its output unwritten shows up in a test.
void set_poison_allocations(bool on);
bool poison_allocations();

// Page-locked host memory, for fast and asynchronous host <-> device copies (the loader's
// hand-off buffers). Freed with free_pinned.
void* allocate_pinned(size_t nbytes);
void free_pinned(void* p);

// ---- copies and synchronisation --------------------------------------------------------
// Host to device: returns once `src` may be reused.
void copy_host_to_device(void* dst, const void* src, size_t nbytes);
// Device to host: waits for the kernels queued before it, then copies.
void copy_device_to_host(void* dst, const void* src, size_t nbytes);
// Device to device, queued on the stream.
void copy_device_to_device(void* dst, const void* src, size_t nbytes);
// Waits until every kernel queued so far has finished (and reports a fault they hit).
void synchronize();

// ---- which kernels run -------------------------------------------------------------------
// Handwritten: our own kernels (the default). Vendor: cuBLAS for GEMM and cuDNN for
// convolution and batch norm; the other ops have only the hand-written kernels.
// The first call reads the environment variable SC_KERNELS (handwritten | vendor).
enum class KernelPath { Handwritten, Vendor };
KernelPath kernel_path();
void set_kernel_path(KernelPath path);
const char* kernel_path_name(KernelPath path);
// "handwritten" or "vendor"; anything else throws sc::Error naming the accepted values.
KernelPath parse_kernel_path(const std::string& name);

// True when SC_CUDA_SYNC=1: every kernel launch is followed by a synchronisation, so an
// illegal address or other fault is reported with the name of the kernel that hit it.
bool sync_after_each_kernel();
void set_sync_after_each_kernel(bool on);

// Name of the GPU, "sm_XY", memory: one line for reports.
std::string device_description();

}  // namespace sc::kernels::cuda
