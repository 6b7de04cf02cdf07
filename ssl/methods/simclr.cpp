// SimCLR (Chen et al. 2020): an encoder f, a projection head g, and the NT-Xent loss.
//
//   views [2B, C, H, W] -> h = f(views) [2B, D] -> z = g(h) [2B, projection_dim]
//   loss = nt_xent(z, temperature): each row must pick its partner (the other view of the
//          same image) out of the 2B - 1 other rows, by cosine similarity / temperature.
//
// Both views go through the encoder in ONE forward pass, so BatchNorm sees the statistics
// of all 2B views at once, as in SimCLR. The head's hidden layer is as wide as the features,
// with BatchNorm and ReLU (nn/projection_head.h).
#include "core/ops.h"
#include "nn/projection_head.h"
#include "ssl/metrics.h"
#include "ssl/methods/methods.h"

namespace sc::ssl {

namespace {

class SimCLR : public Method {
 public:
  SimCLR(const MethodOptions& options, Generator& gen) : Method("SimCLR", options, gen) {
    SC_CHECK(options.projection_dim > 0, "SimCLR: projection dim must be positive, got ", options.projection_dim);
    nn::ProjectionHeadOptions head_options;
    head_options.in_dim = feature_dim();
    head_options.hidden_dim = feature_dim();
    head_options.out_dim = options.projection_dim;
    head_ = register_module("head", std::make_shared<nn::ProjectionHead>(head_options, gen));
  }

  MethodOutput forward_views(const Tensor& views) override {
    // With several ranks, z holds the views of every rank: the negatives of the global batch.
    const Tensor z = gather_views(head_->forward(encode(views)));
    MethodOutput out;
    out.loss = nt_xent(z, hyper("temperature"));
    // How well the task is solved, and whether the embeddings spread out (ssl/metrics.h).
    const double spread = embedding_std(z);
    out.metrics = {{"top1", contrastive_top1(z)}, {"embedding_std", spread}};
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }

 private:
  std::shared_ptr<nn::ProjectionHead> head_;
};

}  // namespace

MethodInfo simclr_method() {
  MethodInfo info;
  info.name = "simclr";
  info.title = "SimCLR";
  info.summary = "contrastive: NT-Xent over the 2B views of a batch (Chen et al. 2020)";
  info.hyper_parameters = {
      {"temperature", 0.5, 0.01, 100.0, "NT-Xent temperature (SimCLR's CIFAR-10 setting: 0.5)"},
  };
  info.make = [](const MethodOptions& options, Generator& gen) -> std::unique_ptr<Method> {
    return std::make_unique<SimCLR>(options, gen);
  };
  return info;
}

}  // namespace sc::ssl
