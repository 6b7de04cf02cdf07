#pragma once
// Weight initialisation as torch.nn.init, drawing from an explicit generator.
//
// PyTorch's default for Linear and Conv2d weights is kaiming_uniform_(w, a = sqrt(5)):
//   gain  = sqrt(2 / (1 + a^2))            (leaky_relu gain; sqrt(1/3) for a = sqrt(5))
//   bound = gain * sqrt(3 / fan_in)        (= 1 / sqrt(fan_in) for a = sqrt(5))
// and the bias is uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in = in_features for a
// Linear weight [out, in], in_channels * kh * kw for a conv weight [out, in, kh, kw].
// The values differ from PyTorch's (another random stream); the distribution is the same.
#include <cstdint>

#include "core/ops.h"

namespace sc::nn::init {

// Inputs feeding one output: weight.size(1) * (product of dims 2..). Needs >= 2 dims.
int64_t fan_in(const Tensor& weight);
// Outputs fed by one input: weight.size(0) * (product of dims 2..).
int64_t fan_out(const Tensor& weight);
// The leaky_relu gain sqrt(2 / (1 + a^2)).
double leaky_relu_gain(double negative_slope);
// The bound kaiming_uniform_ uses: leaky_relu_gain(a) * sqrt(3 / fan_in).
double kaiming_uniform_bound(int64_t fan_in, double a);

// Each overwrites `t` in place (no graph is recorded) and returns it.
Tensor& uniform_(Tensor& t, Generator& gen, double low, double high);
Tensor& kaiming_uniform_(Tensor& t, Generator& gen, double a);

}  // namespace sc::nn::init
