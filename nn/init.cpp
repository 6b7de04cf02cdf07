#include "nn/init.h"

#include <cmath>

namespace sc::nn::init {

namespace {
int64_t receptive_field(const Tensor& weight, const char* what) {
  SC_CHECK(weight.dim() >= 2, "init::", what, ": needs a weight with at least 2 dims, got ", weight.describe());
  int64_t size = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) size *= weight.size(d);
  return size;
}
}  // namespace

int64_t fan_in(const Tensor& weight) { return weight.size(1) * receptive_field(weight, "fan_in"); }
int64_t fan_out(const Tensor& weight) { return weight.size(0) * receptive_field(weight, "fan_out"); }

double leaky_relu_gain(double negative_slope) { return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope)); }

double kaiming_uniform_bound(int64_t fan_in, double a) {
  SC_CHECK(fan_in > 0, "init::kaiming_uniform_: fan_in must be positive, got ", fan_in);
  return leaky_relu_gain(a) * std::sqrt(3.0 / static_cast<double>(fan_in));
}

Tensor& uniform_(Tensor& t, Generator& gen, double low, double high) {
  SC_CHECK(low <= high, "init::uniform_: low ", low, " is above high ", high);
  NoGradGuard no_grad;  // parameters require grad; writing them is not part of any graph
  t.copy_(rand(t.shape(), gen, t.dtype(), low, high));
  return t;
}

Tensor& kaiming_uniform_(Tensor& t, Generator& gen, double a) {
  const double bound = kaiming_uniform_bound(fan_in(t), a);
  return uniform_(t, gen, -bound, bound);
}

}  // namespace sc::nn::init
