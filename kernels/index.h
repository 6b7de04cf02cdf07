#pragma once
// Row gathers and scatter-adds: the kernels of index_select and of its backward.
//
// The op views a contiguous tensor as [outer, rows, inner], where `rows` is the
// indexed dim, `outer` the product of the dims before it and `inner` the product of
// the dims after it. A "row" is then a run of `inner` contiguous elements.
// Every index must already be in [0, rows): the op checks them before calling.
// The CUDA versions (kernels::cuda, below) have the same signatures and contracts.
#include <cstdint>

namespace sc::kernels::cpu {

// out[o, j, :] = in[o, index[j], :]   for o < outer, j < index_len.
// in is [outer, in_rows, inner], out is [outer, index_len, inner], both contiguous.
template <typename T>
void gather_rows(const T* in, int64_t outer, int64_t in_rows, int64_t inner, const int64_t* index, int64_t index_len,
                 T* out);

// The adjoint of gather_rows:
//   out = 0;  out[o, index[j], :] += grad[o, j, :]   for o < outer, j < index_len.
// grad is [outer, index_len, inner], out is [outer, out_rows, inner], both contiguous;
// out is overwritten. A repeated index adds up. Deterministic: the additions into one
// element always happen in the order of j, whatever the thread count.
template <typename T>
void scatter_add_rows(const T* grad, int64_t outer, int64_t index_len, int64_t inner, const int64_t* index,
                      int64_t out_rows, T* out);

}  // namespace sc::kernels::cpu

// The same kernels on the GPU (kernels/cuda/index.cu): device pointers (the index too),
// queued on the CUDA stream. Both give exactly the CPU's results; scatter_add_rows keeps
// the order of the additions (that of j) without atomics, so it is deterministic.
namespace sc::kernels::cuda {

template <typename T>
void gather_rows(const T* in, int64_t outer, int64_t in_rows, int64_t inner, const int64_t* index, int64_t index_len,
                 T* out);

template <typename T>
void scatter_add_rows(const T* grad, int64_t outer, int64_t index_len, int64_t inner, const int64_t* index,
                      int64_t out_rows, T* out);

// The position of the first value of v[0..n) outside [low, high), or -1 when all are inside:
// the range check of indices and class targets, done on the GPU so only 8 bytes come back
// (instead of copying every index to the host). Waits for the result.
int64_t first_out_of_range(const int64_t* v, int64_t n, int64_t low, int64_t high);

}  // namespace sc::kernels::cuda
