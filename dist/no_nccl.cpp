// Stand-in for dist/nccl.cpp in a build without CUDA or without NCCL.
#include "base/error.h"
#include "dist/backends.h"

#ifndef SC_NCCL_REASON
#define SC_NCCL_REASON "built without NCCL"
#endif

namespace sc::dist::detail {

bool nccl_built() { return false; }
const char* nccl_unavailable_reason() { return SC_NCCL_REASON; }

std::unique_ptr<DeviceCollectives> make_nccl_collectives(int, int, const std::function<void(void*, int64_t)>&) {
  throw Error(std::string("no NCCL backend: ") + SC_NCCL_REASON);
}

}  // namespace sc::dist::detail
