#pragma once
// The CPU kernels' strided walk over Layouts (kernels/layout.h): coalescing and the
// parallel loop every elementwise-style CPU kernel runs on.
#include <algorithm>
#include <array>
#include <cstdint>

#include <omp.h>

#include "kernels/layout.h"

namespace sc::kernels {

// Below this many elements a loop runs on one thread: waking the pool costs more.
constexpr int64_t kParallelGrain = 32768;

// Merges neighbouring dims that every operand walks contiguously, so that for example a
// plain contiguous [64, 3, 32, 32] tensor becomes one dim of 196608 elements.
// All layouts must have the same ndim and sizes.
template <int K>
void coalesce(std::array<Layout*, K> ls) {
  Layout& first = *ls[0];
  int out = 0;
  for (int d = 1; d < first.ndim; ++d) {
    bool mergeable = true;
    for (Layout* l : ls)
      if (l->strides[out] != l->strides[d] * l->sizes[d]) mergeable = false;
    if (mergeable) {
      for (Layout* l : ls) {
        l->sizes[out] *= l->sizes[d];
        l->strides[out] = l->strides[d];
      }
    } else {
      ++out;
      for (Layout* l : ls) {
        l->sizes[out] = l->sizes[d];
        l->strides[out] = l->strides[d];
      }
    }
  }
  if (first.ndim > 0)
    for (Layout* l : ls) l->ndim = out + 1;
}

// Walks every index of the shape of ls[0] in row-major order, one piece of a row at a time:
// calls row(offsets, count, steps), where offsets[k] is the element offset of the piece's
// first element in operand k, count the piece's length and steps[k] operand k's stride along
// the row. A piece is at most kPiece elements of one row (a contiguous tensor coalesces into
// a single long row, so rows alone would leave all but one thread idle); pieces run in
// parallel, so row must only write to its own output elements.
//
// Handing over whole pieces, not single elements, lets the caller run the innermost loop on
// plain local pointers; with steps all 1 (the common, contiguous case) that loop vectorises.
constexpr int64_t kPiece = 16384;

template <int K>
using Offsets = std::array<int64_t, K>;

template <int K, typename RowFn>
void strided_loop(const std::array<const Layout*, K>& ls, RowFn&& row) {
  const Layout& shape = *ls[0];
  const int64_t n = shape.numel();
  if (n == 0) return;
  if (shape.ndim == 0) {
    row(Offsets<K>{}, int64_t(1), Offsets<K>{});
    return;
  }
  const int last = shape.ndim - 1;
  const int64_t inner = shape.sizes[last];
  const int64_t outer = n / inner;
  const int64_t pieces_per_row = (inner + kPiece - 1) / kPiece;
  const int64_t piece_len = (inner + pieces_per_row - 1) / pieces_per_row;
  const int64_t pieces = outer * pieces_per_row;
  Offsets<K> steps;
  for (int k = 0; k < K; ++k) steps[k] = ls[k]->strides[last];
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t piece = 0; piece < pieces; ++piece) {
    const int64_t row_index = piece / pieces_per_row;
    const int64_t begin = (piece % pieces_per_row) * piece_len;
    const int64_t end = std::min(inner, begin + piece_len);
    Offsets<K> off{};
    int64_t r = row_index;
    for (int d = last - 1; d >= 0; --d) {
      const int64_t i = r % shape.sizes[d];
      r /= shape.sizes[d];
      for (int k = 0; k < K; ++k) off[k] += i * ls[k]->strides[d];
    }
    for (int k = 0; k < K; ++k) off[k] += begin * steps[k];
    row(off, end - begin, steps);
  }
}

}  // namespace sc::kernels
