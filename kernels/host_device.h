#pragma once
// SC_HOST_DEVICE marks a small inline function that both the CPU code and the CUDA kernels
// call (the same arithmetic on both sides: kernels/augment.h, kernels/winograd.h,
// Layout::numel, kernels/optim.h). Under nvcc it is __host__ __device__, elsewhere nothing;
// a function defined in a header says `SC_HOST_DEVICE inline`.
#if defined(__CUDACC__)
#define SC_HOST_DEVICE __host__ __device__
#else
#define SC_HOST_DEVICE
#endif
