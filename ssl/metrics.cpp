#include "ssl/metrics.h"

#include <cmath>
#include <vector>

#include "core/ops.h"

namespace sc::ssl {

namespace {

// z as a float64 [rows, d] row-major copy with every row L2-normalised.
std::vector<double> normalised_rows(const Tensor& z, const char* what, int64_t& rows, int64_t& dim) {
  SC_CHECK(z.defined(), what, ": z is undefined");
  SC_CHECK(z.dim() == 2, what, ": z must be [2N, d], got ", z.shape_string());
  SC_CHECK(z.dtype() == DType::Float32 || z.dtype() == DType::Float64, what, ": z must be float32 or float64, got ",
           dtype_name(z.dtype()));
  rows = z.size(0);
  dim = z.size(1);
  SC_CHECK(rows >= 2 && rows % 2 == 0, what, ": z needs an even number of rows >= 2 (two views per image), got ",
           z.shape_string());
  SC_CHECK(dim >= 1, what, ": z has no columns: ", z.shape_string());
  NoGradGuard no_grad;
  std::vector<double> values = z.detach().to(Device::CPU).to(DType::Float64).contiguous().to_vector<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double norm = 0.0;
    for (int64_t c = 0; c < dim; ++c) norm += values[r * dim + c] * values[r * dim + c];
    // As torch.nn.functional.normalize: divide by max(||x||, eps).
    const double scale = 1.0 / std::max(std::sqrt(norm), 1e-12);
    for (int64_t c = 0; c < dim; ++c) values[r * dim + c] *= scale;
  }
  return values;
}

}  // namespace

double contrastive_top1(const Tensor& z) {
  int64_t rows = 0, dim = 0;
  const std::vector<double> u = normalised_rows(z, "contrastive_top1", rows, dim);
  // Every cosine similarity at once, as one float64 matrix product (the engine's GEMM; the
  // loop of dot products it replaced took about 20 ms of every 512-view training step).
  NoGradGuard no_grad;
  const Tensor units = from_vector(u, {rows, dim});
  const std::vector<double> similarity = matmul(units, transpose(units, 0, 1)).to_vector<double>();
  const int64_t half = rows / 2;
  int64_t hits = 0;
  for (int64_t i = 0; i < rows; ++i) {
    int64_t best = -1;
    double best_similarity = -INFINITY;
    for (int64_t j = 0; j < rows; ++j) {
      if (j == i) continue;
      const double s = similarity[i * rows + j];
      if (s > best_similarity) {  // strict: the lower index keeps a tie
        best_similarity = s;
        best = j;
      }
    }
    if (best == (i + half) % rows) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(rows);
}

double embedding_std(const Tensor& z) {
  int64_t rows = 0, dim = 0;
  const std::vector<double> u = normalised_rows(z, "embedding_std", rows, dim);
  double total = 0.0;
  for (int64_t c = 0; c < dim; ++c) {
    double mean = 0.0;
    for (int64_t r = 0; r < rows; ++r) mean += u[r * dim + c];
    mean /= static_cast<double>(rows);
    double var = 0.0;
    for (int64_t r = 0; r < rows; ++r) var += (u[r * dim + c] - mean) * (u[r * dim + c] - mean);
    total += std::sqrt(var / static_cast<double>(rows));
  }
  return total / static_cast<double>(dim);
}

bool collapse_warning(double std_value, int64_t dim) {
  SC_CHECK(dim >= 1, "collapse_warning: dim must be >= 1, got ", dim);
  return std_value < kCollapseFraction / std::sqrt(static_cast<double>(dim));
}

}  // namespace sc::ssl
