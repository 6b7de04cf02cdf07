#include "ssl/method.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "core/ops.h"
#include "nn/convnet.h"
#include "nn/layers.h"
#include "nn/resnet.h"
#include "ssl/data/two_view.h"
#include "ssl/export.h"

namespace sc::ssl {

// ---- the encoder ------------------------------------------------------------------------

std::shared_ptr<nn::Module> make_encoder(const EncoderOptions& options, Generator& gen, int64_t& feature_dim) {
  SC_CHECK(options.width > 0, "encoder width must be positive, got ", options.width);
  SC_CHECK(options.in_channels == 1 || options.in_channels == 3, "encoder in_channels must be 1 or 3, got ",
           options.in_channels);
  if (options.encoder == "convnet") {
    auto net = std::make_shared<nn::ConvNet>(gen, options.width, options.in_channels);
    feature_dim = net->feature_dim();
    return net;
  }
  if (options.encoder == "resnet18") {
    auto net = std::make_shared<nn::ResNet18>(gen, options.in_channels, options.width);
    feature_dim = net->feature_dim();
    return net;
  }
  throw Error("unknown encoder '" + options.encoder + "' (known: convnet, resnet18)");
}

void check_image_size(const EncoderOptions& options, int64_t height, int64_t width, const std::string& dataset) {
  // ResNet-18's CIFAR stem downsamples only with padded strided convolutions, which take
  // any size down to 1x1; the ConvNet's max-pools need room.
  if (options.encoder != "convnet") return;
  constexpr int64_t min = nn::ConvNet::kMinInputSize;
  SC_CHECK(height >= min && width >= min, "the images of ", dataset, " are ", height, "x", width,
           " (height x width), too small for the convnet encoder: its 2 max-pools need at least ", min, "x", min,
           " (use larger images, or --encoder resnet18)");
}

Method::Method(std::string type_name, const MethodOptions& options, Generator& gen)
    : nn::Module(std::move(type_name)), options_(options) {
  encoder_ = register_module("encoder", make_encoder(options.encoder, gen, feature_dim_));
}

void Method::set_communicator(dist::CommunicatorPtr comm, bool sync_batch_norm) {
  SC_CHECK(comm != nullptr, type_name(), ": set_communicator needs a communicator (dist::local_communicator() for one rank)");
  comm_ = std::move(comm);
  nn::set_sync_batch_norm(*this, sync_batch_norm ? comm_ : nullptr);
}

Tensor Method::gather_views(const Tensor& z) const {
  if (comm_->world_size() == 1) return z;
  SC_CHECK(z.dim() >= 1 && z.size(0) % 2 == 0, type_name(), ": gather_views needs a two-view embedding [2B, ...], got ",
           z.describe());
  const int64_t b = z.size(0) / 2;
  return concat({all_gather(narrow(z, 0, 0, b), *comm_), all_gather(narrow(z, 0, b, b), *comm_)}, 0);
}

double Method::hyper(const std::string& name) const {
  auto it = options_.hyper.find(name);
  SC_CHECK(it != options_.hyper.end(), type_name(), ": no hyper-parameter '", name, "' (was it resolved?)");
  return it->second;
}

// ---- the registry -----------------------------------------------------------------------

const MethodInfo& find_method(const std::string& name) {
  for (const MethodInfo& m : method_registry())
    if (m.name == name) return m;
  std::string known;
  for (const MethodInfo& m : method_registry()) known += (known.empty() ? "" : ", ") + m.name;
  throw Error("--method: unknown method '" + name + "' (known: " + known + ")");
}

HyperParameters resolve_hyper_parameters(const MethodInfo& method, const HyperParameters& given) {
  for (const auto& entry : given) {
    const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
    const bool known = std::any_of(method.hyper_parameters.begin(), method.hyper_parameters.end(),
                                   [&](const HyperParameter& h) { return h.name == name; });
    if (known) continue;
    std::string own;
    for (const HyperParameter& h : method.hyper_parameters) own += (own.empty() ? "--" : ", --") + h.name;
    throw Error("--" + name + " is not a hyper-parameter of " + method.name + " (" + method.name + " takes " +
                (own.empty() ? "none" : own) + ")");
  }
  HyperParameters resolved;
  for (const HyperParameter& h : method.hyper_parameters) {
    auto it = given.find(h.name);
    const double value = it != given.end() ? it->second : h.default_value;
    SC_CHECK(std::isfinite(value) && value >= h.min && value <= h.max, "--", h.name, " must be in [", h.min, ", ",
             h.max, "] for ", method.name, ", got ", value);
    SC_CHECK(!h.integer || value == std::floor(value), "--", h.name, " must be a whole number, got ", value);
    resolved[h.name] = value;
  }
  return resolved;
}

std::unique_ptr<Method> make_method(const std::string& name, MethodOptions options, Generator& gen) {
  const MethodInfo& info = find_method(name);
  options.hyper = resolve_hyper_parameters(info, options.hyper);
  return info.make(options, gen);
}

// ---- checkpoints, features, export ------------------------------------------------------

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

Tensor encode_dataset(Method& method, const Dataset& dataset, int64_t batch_size) {
  SC_CHECK(batch_size > 0, "encode_dataset: batch size must be positive, got ", batch_size);
  SC_CHECK(dataset.size() > 0, "encode_dataset: dataset '", dataset.name(), "' is empty");
  SC_CHECK(dataset.channels() == method.options().encoder.in_channels, "encode_dataset: dataset '", dataset.name(),
           "' has ", dataset.channels(), " channel(s) but the encoder takes ", method.options().encoder.in_channels);
  const bool was_training = method.is_training();
  method.eval();
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  std::vector<int64_t> indices;
  for (int64_t start = 0; start < dataset.size(); start += batch_size) {
    const int64_t count = std::min(batch_size, dataset.size() - start);
    indices.resize(count);
    std::iota(indices.begin(), indices.end(), start);
    // Features come back to the CPU, where the evaluation (kNN, linear probe) runs.
    const bool on_gpu = method.device() == Device::CUDA;
    parts.push_back(
        method.encode(make_plain_batch(dataset, indices, on_gpu).images.to(method.device())).to(Device::CPU));
  }
  method.train(was_training);
  return parts.size() == 1 ? contiguous(parts[0]) : concat(parts, 0);
}

void export_encoder_safetensors(const Method& method, const std::string& path) {
  const EncoderOptions& e = method.options().encoder;
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"architecture", e.encoder},
      {"width", std::to_string(e.width)},
      {"in_channels", std::to_string(e.in_channels)},
      {"feature_dim", std::to_string(method.feature_dim())},
  };
  write_safetensors(path, model_tensors(method.encoder()), metadata);
}

}  // namespace sc::ssl
