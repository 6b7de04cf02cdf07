// Stand-ins used when the project is built without CUDA (SC_CUDA=OFF or no nvcc):
// every CUDA request fails with a clear sc::Error instead of a link error.
#include <cstddef>

#include "core/device.h"
#include "core/error.h"

namespace sc {

bool cuda_available() { return false; }
const char* cuda_unavailable_reason() { return "this build has no CUDA backend (configured with SC_CUDA=OFF or nvcc not found)"; }

void* cuda_allocate(size_t) { throw Error(cuda_unavailable_reason()); }
void cuda_free(void*) {}

}  // namespace sc
