#include "ssl/simclr.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

#include "nn/convnet.h"
#include "nn/resnet.h"
#include "ssl/data/two_view.h"
#include "ssl/export.h"

namespace sc::ssl {

SimCLR::SimCLR(const ModelOptions& options, Generator& gen) : nn::Module("SimCLR"), options_(options) {
  SC_CHECK(options.width > 0, "SimCLR: encoder width must be positive, got ", options.width);
  SC_CHECK(options.in_channels == 1 || options.in_channels == 3, "SimCLR: in_channels must be 1 or 3, got ",
           options.in_channels);
  SC_CHECK(options.projection_dim > 0, "SimCLR: projection dim must be positive, got ", options.projection_dim);
  if (options.encoder == "convnet") {
    auto net = std::make_shared<nn::ConvNet>(gen, options.width, options.in_channels);
    feature_dim_ = net->feature_dim();
    encoder = register_module("encoder", std::shared_ptr<nn::Module>(net));
  } else if (options.encoder == "resnet18") {
    auto net = std::make_shared<nn::ResNet18>(gen, options.in_channels, options.width);
    feature_dim_ = net->feature_dim();
    encoder = register_module("encoder", std::shared_ptr<nn::Module>(net));
  } else {
    throw Error("SimCLR: unknown encoder '" + options.encoder + "' (known: convnet, resnet18)");
  }
  // SimCLR's head: hidden size = the feature size, BN + ReLU, then the projection.
  nn::ProjectionHeadOptions head_options;
  head_options.in_dim = feature_dim_;
  head_options.hidden_dim = feature_dim_;
  head_options.out_dim = options.projection_dim;
  head = register_module("head", std::make_shared<nn::ProjectionHead>(head_options, gen));
}

Tensor SimCLR::forward(const Tensor& x) { return head->forward(encoder->forward(x)); }

NamedTensors model_tensors(const nn::Module& model) {
  NamedTensors out;
  // Always CPU tensors: checkpoints and exports write host memory.
  for (const auto& [name, tensor] : model.state_dict()) out.emplace_back(name, tensor.to(Device::CPU));
  return out;
}

void load_model_tensors(nn::Module& model, const NamedTensors& tensors, const std::string& source) {
  check_compatible(model_tensors(model), tensors, source);
  nn::StateDict state;
  for (const auto& [name, tensor] : tensors) state.insert(name, tensor);
  model.load_state_dict(state, /*strict=*/true);
}

Tensor encode_dataset(SimCLR& model, const Dataset& dataset, int64_t batch_size) {
  SC_CHECK(batch_size > 0, "encode_dataset: batch size must be positive, got ", batch_size);
  SC_CHECK(dataset.size() > 0, "encode_dataset: dataset '", dataset.name(), "' is empty");
  SC_CHECK(dataset.channels() == model.options().in_channels, "encode_dataset: dataset '", dataset.name(), "' has ",
           dataset.channels(), " channel(s) but the encoder takes ", model.options().in_channels);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  std::vector<int64_t> indices;
  for (int64_t start = 0; start < dataset.size(); start += batch_size) {
    const int64_t count = std::min(batch_size, dataset.size() - start);
    indices.resize(count);
    std::iota(indices.begin(), indices.end(), start);
    // Features come back to the CPU, where the evaluation (kNN, linear probe) runs.
    const bool on_gpu = model.device() == Device::CUDA;
    parts.push_back(model.encode(make_plain_batch(dataset, indices, on_gpu).images.to(model.device())).to(Device::CPU));
  }
  model.train(was_training);
  return parts.size() == 1 ? contiguous(parts[0]) : concat(parts, 0);
}

Dataset dataset_head(const Dataset& dataset, int64_t count) {
  if (count <= 0 || count >= dataset.size()) count = dataset.size();
  std::vector<uint8_t> pixels;
  pixels.reserve(static_cast<size_t>(count * dataset.image_numel()));
  std::vector<int64_t> labels(dataset.labels().begin(), dataset.labels().begin() + count);
  for (int64_t i = 0; i < count; ++i) {
    const auto img = dataset.image(i);
    pixels.insert(pixels.end(), img.begin(), img.end());
  }
  return Dataset(dataset.name(), dataset.channels(), dataset.height(), dataset.width(), std::move(pixels),
                 std::move(labels), dataset.num_classes());
}

void export_encoder_safetensors(const SimCLR& model, const std::string& path) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"architecture", model.options().encoder},
      {"width", std::to_string(model.options().width)},
      {"in_channels", std::to_string(model.options().in_channels)},
      {"feature_dim", std::to_string(model.feature_dim())},
  };
  write_safetensors(path, model_tensors(*model.encoder), metadata);
}

}  // namespace sc::ssl
