#pragma once
// Health metrics of a SimCLR batch, computed on the projections z [2N, d] (rows paired as
// in nt_xent: row i's partner is row (i + N) mod 2N). Neither needs labels.
//
//   contrastive top-1   the fraction of rows whose most similar OTHER row (cosine) is their
//                       partner: the "accuracy" of the task nt_xent trains. Chance is about
//                       1 / (2N - 1); it rises towards 1 as the views of an image line up.
//   embedding std       the mean over the d dims of the std (over rows) of the
//                       L2-normalised z. Rows spread over the unit sphere give about
//                       1 / sqrt(d); a collapsed model (every row the same) gives 0.
#include <cstdint>

#include "core/tensor.h"

namespace sc::ssl {

// Ties (two rows equally similar) go to the lower row index, so the answer does not
// depend on thread count. z float32 or float64, [2N, d] with N >= 1; gradients ignored.
double contrastive_top1(const Tensor& z);

// Population std (divide by the row count) per dim, averaged over dims.
double embedding_std(const Tensor& z);

// The collapse warning fires when the std falls below this fraction of 1 / sqrt(d), the
// value of rows spread evenly over the sphere.
inline constexpr double kCollapseFraction = 0.1;
bool collapse_warning(double embedding_std, int64_t dim);

}  // namespace sc::ssl
