// SimSiam (Chen & He 2021): two views, one network, no negatives and no momentum encoder.
// A predictor maps one view's projection onto the other's, and the stop-gradient on the
// target side is what keeps the network from collapsing to a constant.
//
//   z1, z2 = projector(encoder(view 1, view 2))      3 Linears, BN on every layer
//   p1, p2 = predictor(z1, z2)                       bottleneck MLP
//   loss   = -(mean_i cos(p1_i, sg(z2_i)) + mean_i cos(p2_i, sg(z1_i))) / 2
//
// sg (stop-gradient) is detach(): no gradient flows into the target side.
#include "ssl/metrics.h"
#include "ssl/methods/common.h"
#include "ssl/methods/methods.h"

namespace sc::ssl {

namespace {

class SimSiam : public Method {
 public:
  SimSiam(const MethodOptions& options, Generator& gen) : Method("SimSiam", options, gen) {
    const auto hidden = static_cast<int64_t>(hyper("proj-hidden-dim"));
    const auto pred_hidden = static_cast<int64_t>(hyper("pred-hidden-dim"));
    projector_ = register_module("projector", make_mlp(feature_dim(), hidden, options.projection_dim, 3, gen));
    predictor_ = register_module("predictor", make_mlp(options.projection_dim, pred_hidden, options.projection_dim, 2, gen));
  }

  MethodOutput forward_views(const Tensor& views) override {
    // The projector's output layer is batch-normalised too (SimSiam's BN without affine).
    const Tensor z = batch_standardize(projector_->forward(encode(views)));
    const Tensor p = predictor_->forward(z);
    const Tensor target = z.detach();  // stop-gradient
    const Tensor cos12 = mean(row_cosine(first_half(p), second_half(target)));
    const Tensor cos21 = mean(row_cosine(second_half(p), first_half(target)));
    MethodOutput out;
    out.loss = mul(add(cos12, cos21), -0.5);
    const double spread = embedding_std(z);
    out.metrics = {{"embedding_std", spread}};
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }

 private:
  std::shared_ptr<nn::ProjectionHead> projector_, predictor_;
};

}  // namespace

MethodInfo simsiam_method() {
  MethodInfo info;
  info.name = "simsiam";
  info.title = "SimSiam";
  info.summary = "no negatives, no momentum: a predictor and a stop-gradient (Chen & He 2021)";
  info.hyper_parameters = {
      {"proj-hidden-dim", 2048, 1, 65536, "hidden width of the projector MLP (paper: 2048)", true},
      {"pred-hidden-dim", 512, 1, 65536, "hidden width of the predictor MLP (paper: 512, a bottleneck)", true},
  };
  info.make = [](const MethodOptions& options, Generator& gen) -> std::unique_ptr<Method> {
    return std::make_unique<SimSiam>(options, gen);
  };
  return info;
}

}  // namespace sc::ssl
