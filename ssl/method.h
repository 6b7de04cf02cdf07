#pragma once
// The method seam: what a self-supervised method is to the trainer.
//
// A Method is an nn::Module that owns everything it trains: the encoder f (a child named
// "encoder", built here from EncoderOptions) and whatever the method adds on top of it
// (SimCLR: a projection head "head"; BYOL: a predictor and a target network ...). Because
// they are all children, the module's state_dict is exactly what a checkpoint stores, and
// its named_parameters give the optimizer's names.
//
// The trainer (ssl/trainer.cpp, train_step) only ever calls three things:
//
//   out = method.forward_views(views)   two-view batch [2B, C, H, W] -> loss + named metrics
//   out.loss.backward(); optimizer.step()
//   method.after_step(step, total)      e.g. an EMA update of a target network
//
// so adding a method means one file under ssl/methods/ that subclasses Method, plus one line
// in ssl/methods/registry.cpp (docs/EXTENDING.md walks through it).
//
// Evaluation reads only the encoder: encode(x) = f(x), the features before any head.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dist/communicator.h"
#include "nn/module.h"
#include "ssl/checkpoint.h"
#include "ssl/data/dataset.h"

namespace sc::ssl {

// Which encoder f, how wide, for how many image channels.
struct EncoderOptions {
  std::string encoder = "convnet";  // "convnet" (nn/convnet.h) or "resnet18" (nn/resnet.h)
  int64_t width = 16;               // ConvNet width w, or ResNet-18 base width
  int64_t in_channels = 1;          // 1 (gray) or 3 (RGB)
};

// A method's hyper-parameters by name, as the flags spell them without "--"
// ("temperature" -> 0.5).
using HyperParameters = std::map<std::string, double>;

struct MethodOptions {
  EncoderOptions encoder;
  int64_t projection_dim = 128;  // the size of the embedding the loss sees
  HyperParameters hyper;         // every hyper-parameter of the method (resolve_hyper_parameters)
};

// What a method returns for one two-view batch.
struct MethodOutput {
  Tensor loss;  // a scalar; backward() starts here
  // Health metrics logged every step, in this order ("top1", "embedding_std" for SimCLR).
  std::vector<std::pair<std::string, double>> metrics;
  std::string warning;  // non-empty: shown on the progress line ("embeddings collapsing")
};

class Method : public nn::Module {
 public:
  // Builds the encoder from `options.encoder`, drawing its weights from `gen`, and
  // registers it as the child "encoder". Subclasses register their own children after it.
  Method(std::string type_name, const MethodOptions& options, Generator& gen);

  // The loss and metrics of a two-view batch: rows 0..B-1 are the first views of B images,
  // rows B..2B-1 the second views in the same order (ssl/data/two_view.h).
  virtual MethodOutput forward_views(const Tensor& views) = 0;

  // Called once after every optimizer step; `step` is the step just taken (0-based) of
  // `total_steps`. Methods with a momentum/target network update it here.
  virtual void after_step(int64_t step, int64_t total_steps) {}

  // The parameters the optimizer updates, with their names. Default: all of them; a
  // method with a target network leaves that network out.
  virtual std::vector<std::pair<std::string, Tensor>> trainable_parameters() const { return named_parameters(); }

  // x [N, C, H, W] -> h [N, feature_dim()]: the encoder alone. forward() is the same, so a
  // Method can stand wherever a Module that makes features is expected.
  Tensor encode(const Tensor& x) { return encoder_->forward(x); }
  Tensor forward(const Tensor& x) override { return encode(x); }

  nn::Module& encoder() { return *encoder_; }
  const nn::Module& encoder() const { return *encoder_; }
  int64_t feature_dim() const { return feature_dim_; }
  const MethodOptions& options() const { return options_; }
  double hyper(const std::string& name) const;  // one resolved hyper-parameter (sc::Error if absent)
  // Where the parameters live (Module::to(Device) moves them).
  Device device() const { return parameters().front().device(); }

  // Data-parallel training (ssl/distributed.h): the ranks this method's batch is spread over.
  // The default is the local communicator (one rank), under which nothing changes. With
  // `sync_batch_norm`, every BatchNorm of the method uses the statistics of all ranks.
  void set_communicator(dist::CommunicatorPtr comm, bool sync_batch_norm);
  dist::Communicator& communicator() const { return *comm_; }

 protected:
  // A two-view embedding [2B, D] of this rank -> [2NB, D] of all N ranks, laid out as one
  // two-view batch: every rank's first views (in rank order), then every rank's second views.
  // So a loss over in-batch negatives or batch statistics computed from it equals the loss
  // of one process on the global batch of N*B images (the gradient flows back to each rank's
  // rows: all_gather in core/ops.h). With one rank it returns z itself.
  Tensor gather_views(const Tensor& z) const;

 private:
  MethodOptions options_;
  dist::CommunicatorPtr comm_ = dist::local_communicator();
  std::shared_ptr<nn::Module> encoder_;
  int64_t feature_dim_ = 0;
};

// ---- the registry: methods found by name ------------------------------------------------

// One hyper-parameter: its flag, default, allowed closed range and help text.
struct HyperParameter {
  std::string name;  // the flag without "--": "temperature"
  double default_value = 0.0;
  double min = 0.0, max = 0.0;
  std::string help;
  bool integer = false;  // a size or count: the value must be a whole number
};

struct MethodInfo {
  std::string name;     // what --method takes: "simclr"
  std::string title;    // how tables and logs name it: "SimCLR"
  std::string summary;  // one line for --help
  std::vector<HyperParameter> hyper_parameters;
  std::unique_ptr<Method> (*make)(const MethodOptions& options, Generator& gen) = nullptr;
};

// Every method, in the order --help lists them (ssl/methods/registry.cpp).
const std::vector<MethodInfo>& method_registry();
// The method called `name`; an unknown name is an sc::Error listing the known ones.
const MethodInfo& find_method(const std::string& name);
// `given` completed with the defaults of `method`. A name the method does not have, or a
// value outside its range (or not finite), is an sc::Error naming the flag and the range.
HyperParameters resolve_hyper_parameters(const MethodInfo& method, const HyperParameters& given);
// Builds method `name` (options.hyper may be partial: it is resolved first).
std::unique_ptr<Method> make_method(const std::string& name, MethodOptions options, Generator& gen);

// ---- what every method shares ------------------------------------------------------------

// The encoder named by `options`, with its output size. Throws for an unknown encoder name
// or a non-positive width, or a channel count other than 1 or 3.
std::shared_ptr<nn::Module> make_encoder(const EncoderOptions& options, Generator& gen, int64_t& feature_dim);
// Throws unless the encoder takes height x width images, naming the size, the encoder and
// the smallest size it takes, so a dataset of tiny images is refused before training rather
// than failing inside a max-pool (`dataset` names the data in the message).
void check_image_size(const EncoderOptions& options, int64_t height, int64_t width, const std::string& dataset);

// The model's state (parameters and buffers) as checkpoint entries, in state_dict order.
NamedTensors model_tensors(const nn::Module& model);
// Loads checkpoint entries into `model` after check_compatible (so a ResNet checkpoint
// loaded into a ConvNet names the first missing or mis-shaped tensor and `source`).
void load_model_tensors(nn::Module& model, const NamedTensors& tensors, const std::string& source);

// Features h of every image of `dataset` (unaugmented, in [0, 1]), in dataset order:
// float32 [N, feature_dim] on the CPU. The method runs in eval mode (BatchNorm uses its
// running statistics) with gradients off; its training mode is restored afterwards.
Tensor encode_dataset(Method& method, const Dataset& dataset, int64_t batch_size = 512);

// Writes the encoder's state_dict (plain nn/ names, "features.0.weight", ...) as
// safetensors, with metadata naming the architecture, width and channels.
void export_encoder_safetensors(const Method& method, const std::string& path);

}  // namespace sc::ssl
