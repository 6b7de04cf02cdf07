// The CUDA runtime hooks the core needs: device detection and raw allocation.
// The caching allocator and the hand-written kernels arrive with the CUDA backend issue.
#include <cuda_runtime.h>

#include <string>

#include "core/device.h"
#include "core/error.h"

namespace sc {

namespace {
std::string& reason() {
  static std::string r;
  return r;
}
}  // namespace

bool cuda_available() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    reason() = std::string("no usable GPU: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return false;
  }
  if (count == 0) {
    reason() = "no GPU found";
    return false;
  }
  return true;
}

const char* cuda_unavailable_reason() {
  if (reason().empty()) cuda_available();
  return reason().c_str();
}

void* cuda_allocate(size_t nbytes) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, nbytes);
  if (err != cudaSuccess) {
    throw Error(detail::concat("cudaMalloc of ", nbytes, " bytes failed: ", cudaGetErrorString(err)));
  }
  return p;
}

void cuda_free(void* p) {
  if (p) cudaFree(p);
}

}  // namespace sc
