#include "tests/cuda_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace sc::test {

double cuda_worst_ratio(const Tensor& a, const Tensor& b, double atol, double rtol) {
  REQUIRE(a.shape() == b.shape());
  const Tensor x = a.to(Device::CPU).to(DType::Float64).contiguous();
  const Tensor y = b.to(Device::CPU).to(DType::Float64).contiguous();
  const double* px = x.data<double>();
  const double* py = y.data<double>();
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::isnan(px[i]) != std::isnan(py[i])) return std::numeric_limits<double>::infinity();
    if (std::isnan(px[i])) continue;
    const double diff = std::abs(px[i] - py[i]);
    const double r = diff == 0 ? 0.0 : diff / (atol + rtol * std::abs(py[i]));  // equal values pass even at tolerance 0
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to(Device::CPU).to(DType::Float64).contiguous().to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.to(Device::CPU).contiguous();
  const Tensor y = b.to(Device::CPU).contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), static_cast<size_t>(x.numel()) * dtype_size(x.dtype())) == 0;
}

}  // namespace sc::test
