#pragma once
// The SimCLR model: an encoder f (ConvNet or ResNet-18 from nn/) followed by a projection
// head g (nn/projection_head.h):  x -> h = f(x) -> z = g(h).
//
// Training takes a two-view batch [2B, C, H, W] (rows 0..B-1 first views, B..2B-1 second
// views, see ssl/data/two_view.h) and runs BOTH views through the encoder in ONE forward
// pass, so BatchNorm sees the statistics of all 2B views at once, as in SimCLR.
// Evaluation uses h, the features before the head (encode_dataset below).
//
// The children are named "encoder" and "head", so state_dict keys are
// "encoder.features.0.weight", "head.0.weight", ...; the encoder's own state_dict (what
// export writes) has the plain nn/ names ("features.0.weight") that a PyTorch model with
// the same structure loads directly.
#include <cstdint>
#include <memory>
#include <string>

#include "nn/module.h"
#include "nn/projection_head.h"
#include "ssl/checkpoint.h"
#include "ssl/data/dataset.h"

namespace sc::ssl {

struct ModelOptions {
  std::string encoder = "convnet";  // "convnet" or "resnet18"
  int64_t width = 16;               // ConvNet width w, or ResNet-18 base width
  int64_t in_channels = 1;          // 1 (gray) or 3 (RGB)
  int64_t projection_dim = 128;     // z's size (the blog's project_dim)
};

class SimCLR : public nn::Module {
 public:
  // Every weight is drawn from `gen`. Throws sc::Error for an unknown encoder name or a
  // non-positive width / channel count / projection dim.
  SimCLR(const ModelOptions& options, Generator& gen);

  // x [N, C, H, W] -> z [N, projection_dim] (what nt_xent takes).
  Tensor forward(const Tensor& x) override;
  // x -> h [N, feature_dim()]: the encoder alone.
  Tensor encode(const Tensor& x) { return encoder->forward(x); }
  // Where the parameters live (Module::to(Device) moves them).
  Device device() const { return parameters().front().device(); }

  int64_t feature_dim() const { return feature_dim_; }
  const ModelOptions& options() const { return options_; }

  std::shared_ptr<nn::Module> encoder;
  std::shared_ptr<nn::ProjectionHead> head;

 private:
  ModelOptions options_;
  int64_t feature_dim_ = 0;
};

// The model's state (parameters and buffers) as checkpoint entries, in state_dict order.
NamedTensors model_tensors(const nn::Module& model);
// Loads checkpoint entries into `model` after check_compatible (so a ResNet checkpoint
// loaded into a ConvNet names the first missing or mis-shaped tensor and `source`).
void load_model_tensors(nn::Module& model, const NamedTensors& tensors, const std::string& source);

// Features h of every image of `dataset` (unaugmented, in [0, 1]), in dataset order:
// float32 [N, feature_dim]. The model runs in eval mode (BatchNorm uses its running
// statistics) with gradients off; its training mode is restored afterwards.
Tensor encode_dataset(SimCLR& model, const Dataset& dataset, int64_t batch_size = 512);

// The first `count` images of `dataset` as a new Dataset (count <= 0 or >= size: a copy of
// all of it). Used for quick runs and tests.
Dataset dataset_head(const Dataset& dataset, int64_t count);

// Writes the encoder's state_dict (plain nn/ names, "features.0.weight", ...) as
// safetensors, with metadata naming the architecture, width and channels.
void export_encoder_safetensors(const SimCLR& model, const std::string& path);

}  // namespace sc::ssl
