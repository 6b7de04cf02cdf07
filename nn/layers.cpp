#include "nn/layers.h"

#include <cmath>
#include <functional>
#include <sstream>

#include "nn/init.h"

namespace sc::nn {

void check_input(const Module& layer, const Tensor& x, int64_t dims, int64_t channels, const char* layout) {
  SC_CHECK(x.defined(), layer.describe(), ": the input is an undefined tensor");
  const bool ok = x.dim() == dims && (channels < 0 || x.size(1) == channels);
  if (ok) return;
  // "[N, 3, H, W]": the layout with the channel count filled in where the layer fixes it.
  std::ostringstream expected;
  expected << "[";
  std::istringstream names(layout);
  std::string dim_name;
  for (int64_t d = 0; std::getline(names, dim_name, ','); ++d) {
    if (!dim_name.empty() && dim_name[0] == ' ') dim_name.erase(0, 1);
    expected << (d ? ", " : "") << (d == 1 && channels >= 0 ? std::to_string(channels) : dim_name);
  }
  expected << "]";
  throw Error(detail::concat(layer.describe(), ": expected an input of shape ", expected.str(), " (", dims,
                             " dims), got ", x.shape_string()));
}

// ---- Linear -------------------------------------------------------------------------

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool has_bias)
    : Module("Linear"), in_features_(in_features), out_features_(out_features) {
  SC_CHECK(in_features > 0 && out_features > 0, "Linear: in_features and out_features must be positive, got ",
           in_features, " and ", out_features);
  weight = empty({out_features, in_features});
  init::kaiming_uniform_(weight, gen, std::sqrt(5.0));
  register_parameter("weight", weight);
  if (has_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    bias = empty({out_features});
    init::uniform_(bias, gen, -bound, bound);
    register_parameter("bias", bias);
  }
}

Tensor Linear::forward(const Tensor& x) {
  check_input(*this, x, 2, in_features_, "N, in_features");
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? add(y, bias) : y;
}

// ---- Conv2d -------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Generator& gen, int64_t stride,
               int64_t padding, bool has_bias)
    : Module("Conv2d"), in_channels_(in_channels), out_channels_(out_channels) {
  SC_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && padding >= 0,
           "Conv2d: channels, kernel_size and stride must be positive and padding >= 0, got in ", in_channels,
           ", out ", out_channels, ", kernel ", kernel_size, ", stride ", stride, ", padding ", padding);
  options_.stride_h = options_.stride_w = stride;
  options_.pad_h = options_.pad_w = padding;
  weight = empty({out_channels, in_channels, kernel_size, kernel_size});
  init::kaiming_uniform_(weight, gen, std::sqrt(5.0));
  register_parameter("weight", weight);
  if (has_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in(weight)));
    bias = empty({out_channels});
    init::uniform_(bias, gen, -bound, bound);
    register_parameter("bias", bias);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(*this, x, 4, in_channels_, "N, C, H, W");
  try {
    return conv2d(x, weight, bias, options_);
  } catch (const Error& e) {
    // E.g. an image smaller than the kernel: say which layer it happened in.
    throw Error(describe() + ": " + e.what());
  }
}

// ---- BatchNorm -----------------------------------------------------------------------

BatchNorm::BatchNorm(const char* type_name, int64_t input_dims, int64_t num_features, double momentum, double eps)
    : Module(type_name), input_dims_(input_dims), num_features_(num_features), momentum_(momentum), eps_(eps) {
  SC_CHECK(num_features > 0, type_name, ": num_features must be positive, got ", num_features);
  SC_CHECK(eps > 0, type_name, ": eps must be positive, got ", eps);
  weight = ones({num_features});
  bias = zeros({num_features});
  running_mean = zeros({num_features});
  running_var = ones({num_features});
  num_batches_tracked = zeros({}, DType::Int64);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
  register_buffer("num_batches_tracked", num_batches_tracked);
}

void BatchNorm::set_momentum(double momentum) {
  SC_CHECK(momentum >= 0.0 && momentum <= 1.0, type_name(), " '", name(), "': momentum must be in [0, 1], got ", momentum);
  momentum_ = momentum;
}

void BatchNorm::reset_running_stats() {
  NoGradGuard no_grad;
  running_mean.fill_(0.0);
  running_var.fill_(1.0);
  num_batches_tracked.fill_(0.0);
}

void BatchNorm::begin_forward(const Tensor& x) {
  check_input(*this, x, input_dims_, num_features_, input_dims_ == 2 ? "N, C" : "N, C, H, W");
  if (is_training()) {
    const int64_t values_per_channel = x.numel() / num_features_;
    SC_CHECK(values_per_channel > 1, describe(), ": training needs more than one value per channel to form a "
             "batch variance, got input ", x.shape_string());
    NoGradGuard no_grad;  // the counter is state, not part of the graph
    num_batches_tracked.fill_(num_batches_tracked.item() + 1);
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  begin_forward(x);
  if (sync_ && is_training())
    return sync_batch_norm(x, weight, bias, running_mean, running_var, true, momentum_, eps_, *sync_);
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum_, eps_);
}

Tensor BatchNorm::forward_relu(const Tensor& x) {
  if (sync_ && is_training()) return relu(forward(x));
  begin_forward(x);
  return batch_norm_relu(x, weight, bias, running_mean, running_var, is_training(), momentum_, eps_);
}

int64_t set_sync_batch_norm(Module& root, const dist::CommunicatorPtr& comm) {
  int64_t count = 0;
  for (const auto& [name, module] : root.named_modules()) {
    if (auto* bn = dynamic_cast<BatchNorm*>(module)) {
      bn->set_sync(comm);
      ++count;
    }
  }
  return count;
}

// ---- pooling, flatten -------------------------------------------------------------------

namespace {
Pool2dOptions pool_options(const char* type_name, int64_t kernel_size, int64_t stride, int64_t padding) {
  SC_CHECK(kernel_size > 0 && stride >= 0 && padding >= 0, type_name,
           ": kernel_size must be positive and stride, padding >= 0, got kernel ", kernel_size, ", stride ", stride,
           ", padding ", padding);
  Pool2dOptions options;
  options.kernel_h = options.kernel_w = kernel_size;
  options.stride_h = options.stride_w = stride == 0 ? kernel_size : stride;
  options.pad_h = options.pad_w = padding;
  return options;
}

Tensor with_layer_name(const Module& layer, const std::function<Tensor()>& op) {
  try {
    return op();
  } catch (const Error& e) {
    throw Error(layer.describe() + ": " + e.what());
  }
}
}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : Module("MaxPool2d"), options_(pool_options("MaxPool2d", kernel_size, stride, padding)) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_input(*this, x, 4, -1, "N, C, H, W");
  return with_layer_name(*this, [&] { return max_pool2d(x, options_); });
}

AvgPool2d::AvgPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : Module("AvgPool2d"), options_(pool_options("AvgPool2d", kernel_size, stride, padding)) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_input(*this, x, 4, -1, "N, C, H, W");
  return with_layer_name(*this, [&] { return avg_pool2d(x, options_); });
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  check_input(*this, x, 4, -1, "N, C, H, W");
  return global_avg_pool2d(x);
}

Tensor Flatten::forward(const Tensor& x) {
  SC_CHECK(x.defined(), describe(), ": the input is an undefined tensor");
  return with_layer_name(*this, [&] { return flatten(x, start_dim_, end_dim_); });
}

// ---- Sequential ------------------------------------------------------------------------

Tensor Sequential::forward(const Tensor& x) {
  Tensor out = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto* bn = dynamic_cast<BatchNorm*>(layers_[i].get());
    if (bn && i + 1 < layers_.size() && dynamic_cast<ReLU*>(layers_[i + 1].get())) {
      out = bn->forward_relu(out);  // the pair as one fused op
      ++i;
      continue;
    }
    out = layers_[i]->forward(out);
  }
  return out;
}

Module& Sequential::operator[](size_t i) const {
  SC_CHECK(i < layers_.size(), describe(), ": index ", i, " is out of range (", layers_.size(), " layers)");
  return *layers_[i];
}

}  // namespace sc::nn
