#pragma once
// The one CUDA stream every kernel, copy and library call runs on (kernels/cuda/runtime.cu).
// A host-only header, so plain C++ (benchmarks timing with CUDA events) can name the stream
// without including the device code of kernels/cuda/common.cuh.
#include <cuda_runtime.h>

namespace sc::kernels::cuda {

// A blocking stream, so it also stays ordered with plain cudaMemcpy calls on the legacy
// default stream.
cudaStream_t stream();

}  // namespace sc::kernels::cuda
