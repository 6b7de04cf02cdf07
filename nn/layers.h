#pragma once
// The basic layers, each a Module over the core op API, with PyTorch's parameter names
// ("weight", "bias", "running_mean", ...) and default initialisation (see nn/init.h).
// Every constructor that creates random weights takes the Generator to draw them from.
//
// A layer given an input of the wrong rank or channel count throws sc::Error naming the
// layer by its dotted name, the shape it expected and the shape it got.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "nn/module.h"

namespace sc::nn {

// y = x W^T + b. x [N, in_features] -> [N, out_features]. weight [out, in], bias [out].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x) override;
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_features_, out_features_;
};

// 2-D convolution, square kernel, groups = 1. x [N, in, H, W]; weight [out, in, k, k], bias [out].
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Generator& gen, int64_t stride = 1,
         int64_t padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) override;
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  // Stride, padding and dilation (the kernel size is the weight's last two dims).
  const Conv2dOptions& options() const { return options_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_channels_, out_channels_;
  Conv2dOptions options_;
};

// Batch normalisation with affine weight/bias and running statistics (track_running_stats).
// Training mode normalises with the batch statistics and updates
//   running = (1 - momentum) * running + momentum * batch   (the unbiased variance for var)
// and counts num_batches_tracked (int64, as PyTorch); eval mode uses the running statistics.
// BatchNorm1d takes [N, C]; BatchNorm2d takes [N, C, H, W].
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) through the fused batch_norm_relu op (core/ops.h), the same values:
  // what Sequential runs for a BatchNorm followed by a ReLU, and the ResNet blocks call.
  // Synchronised batch norm has no fused form: it runs the two ops.
  Tensor forward_relu(const Tensor& x);
  int64_t num_features() const { return num_features_; }
  double momentum() const { return momentum_; }
  // Momentum 1/(k+1) for the k-th batch (from 0) after reset_running_stats() makes the running
  // statistics the plain average over the batches (PyTorch's momentum=None).
  void set_momentum(double momentum);
  void reset_running_stats();
  double eps() const { return eps_; }
  // Synchronised batch norm: with a communicator, training statistics cover the batch of
  // every rank (sync_batch_norm in core/ops.h); null (the default) goes back to this
  // process's batch alone. Evaluation is the same either way.
  void set_sync(dist::CommunicatorPtr comm) { sync_ = std::move(comm); }
  bool is_synced() const { return sync_ != nullptr; }
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 protected:
  BatchNorm(const char* type_name, int64_t input_dims, int64_t num_features, double momentum, double eps);

 private:
  void begin_forward(const Tensor& x);  // checks x and, in training, counts the batch
  int64_t input_dims_;
  int64_t num_features_;
  double momentum_, eps_;
  dist::CommunicatorPtr sync_;
};

// Every BatchNorm in `root`'s tree synchronised over `comm` (null: none); returns how many
// (PyTorch's SyncBatchNorm.convert_sync_batchnorm, without replacing the modules).
int64_t set_sync_batch_norm(Module& root, const dist::CommunicatorPtr& comm);

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double momentum = 0.1, double eps = 1e-5)
      : BatchNorm("BatchNorm1d", 2, num_features, momentum, eps) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double momentum = 0.1, double eps = 1e-5)
      : BatchNorm("BatchNorm2d", 4, num_features, momentum, eps) {}
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

// Max pooling over [N, C, H, W]; stride defaults to the kernel size (as PyTorch).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

// Average pooling over [N, C, H, W]; padding counts as zeros (count_include_pad = True).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

// AdaptiveAvgPool2d with output size 1 (the only size the encoders need): [N,C,H,W] -> [N,C,1,1].
class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d() : Module("AdaptiveAvgPool2d") {}
  Tensor forward(const Tensor& x) override;
};

// Joins dims start_dim..end_dim into one (default: everything after the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  int64_t start_dim() const { return start_dim_; }
  int64_t end_dim() const { return end_dim_; }

 private:
  int64_t start_dim_, end_dim_;
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Runs its children in order. Children are named "0", "1", ... as in nn.Sequential.
// Runs its layers in order. One pattern is fused: a BatchNorm directly followed by a ReLU
// runs as BatchNorm::forward_relu (one op, batch_norm_relu), which gives the same values.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  // Appends `module` as child number size(); returns it (typed) for convenience.
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    const std::string name = std::to_string(layers_.size());
    register_module(name, module);
    layers_.push_back(module);
    return module;
  }
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) const;

 protected:
  explicit Sequential(std::string type_name) : Module(std::move(type_name)) {}

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

// Throws sc::Error naming `layer` when x has not `dims` dims or, for channels >= 0, its
// dim 1 is not `channels`. `layout` names the dims for the message ("N, C, H, W").
void check_input(const Module& layer, const Tensor& x, int64_t dims, int64_t channels, const char* layout);

}  // namespace sc::nn
