#pragma once
#include <ostream>

namespace sc {

// Where a tensor's storage lives. Every op dispatches with a plain switch on this,
// so a reader can step from the op into the kernel for that device.
enum class Device { CPU, CUDA };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline std::ostream& operator<<(std::ostream& os, Device d) { return os << device_name(d); }

// True when this build has the CUDA backend and a GPU is present (kernels/cuda).
bool cuda_available();
// A sentence saying why CUDA is not available ("built without CUDA", "no GPU found"...).
const char* cuda_unavailable_reason();

}  // namespace sc
