// The device-independent part of the CUDA backend's switches (kernels/cuda_backend.h):
// which kernel path runs and whether every launch is synchronised. Built in every
// configuration, so the switches parse and report the same way with or without CUDA.
#include "kernels/cuda_backend.h"

#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace sc::kernels::cuda {

const char* kernel_path_name(KernelPath path) { return path == KernelPath::Handwritten ? "handwritten" : "vendor"; }

KernelPath parse_kernel_path(const std::string& name) {
  if (name == "handwritten") return KernelPath::Handwritten;
  if (name == "vendor") return KernelPath::Vendor;
  throw Error(detail::concat("unknown CUDA kernel path '", name,
                             "': expected 'handwritten' (our kernels) or 'vendor' (cuBLAS / cuDNN)"));
}

namespace {

KernelPath& path_slot() {
  static KernelPath p = [] {
    const char* v = std::getenv("SC_KERNELS");
    return (v && *v) ? parse_kernel_path(v) : KernelPath::Handwritten;
  }();
  return p;
}

bool& sync_slot() {
  static bool on = [] {
    const char* v = std::getenv("SC_CUDA_SYNC");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

}  // namespace

KernelPath kernel_path() { return path_slot(); }
void set_kernel_path(KernelPath path) { path_slot() = path; }
bool sync_after_each_kernel() { return sync_slot(); }
void set_sync_after_each_kernel(bool on) { sync_slot() = on; }

}  // namespace sc::kernels::cuda
