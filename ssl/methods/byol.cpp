// BYOL (Grill et al. 2020): no negatives. An online network (encoder, projector, predictor)
// learns to predict what a slowly moving target network (encoder, projector: an exponential
// moving average of the online ones) makes of the other view.
//
//   p1, p2 = predictor(projector(encoder(view 1, view 2)))         online, with gradients
//   t1, t2 = target_projector(target_encoder(view 1, view 2))     target, no gradients
//   loss   = mean_i (2 - 2 cos(p1_i, t2_i)) + mean_i (2 - 2 cos(p2_i, t1_i))
//   after each step: target = tau * target + (1 - tau) * online, with tau rising from
//   --base-momentum to 1 on a cosine over the run (momentum_at in common.h).
#include "ssl/metrics.h"
#include "ssl/methods/common.h"
#include "ssl/methods/methods.h"

namespace sc::ssl {

namespace {

class BYOL : public Method {
 public:
  BYOL(const MethodOptions& options, Generator& gen) : Method("BYOL", options, gen) {
    const auto hidden = static_cast<int64_t>(hyper("proj-hidden-dim"));
    const auto pred_hidden = static_cast<int64_t>(hyper("pred-hidden-dim"));
    projector_ = register_module("projector", make_mlp(feature_dim(), hidden, options.projection_dim, 2, gen));
    predictor_ = register_module("predictor", make_mlp(options.projection_dim, pred_hidden, options.projection_dim, 2, gen));
    // The target starts as a copy of the online encoder and projector. Its own generator
    // draws throwaway weights (overwritten at once), so the run's generator is not touched.
    Generator scratch(0);
    int64_t ignored = 0;
    target_encoder_ = register_module("target_encoder", make_encoder(options.encoder, scratch, ignored));
    target_projector_ = register_module("target_projector", make_mlp(feature_dim(), hidden, options.projection_dim, 2, scratch));
    copy_state(*target_encoder_, encoder());
    copy_state(*target_projector_, *projector_);
  }

  MethodOutput forward_views(const Tensor& views) override {
    const Tensor z = projector_->forward(encode(views));
    const Tensor p = predictor_->forward(z);
    Tensor t;
    {
      NoGradGuard no_grad;  // the target gives the regression targets only
      t = target_projector_->forward(target_encoder_->forward(views));
    }
    const Tensor loss1 = mean(rsub(2.0, mul(row_cosine(first_half(p), second_half(t)), 2.0)));
    const Tensor loss2 = mean(rsub(2.0, mul(row_cosine(second_half(p), first_half(t)), 2.0)));
    MethodOutput out;
    out.loss = add(loss1, loss2);
    const double spread = embedding_std(z);
    out.metrics = {{"embedding_std", spread}, {"momentum", tau_}};
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }

  void after_step(int64_t step, int64_t total_steps) override {
    tau_ = momentum_at(hyper("base-momentum"), step, total_steps);
    ema_update(*target_encoder_, encoder(), tau_);
    ema_update(*target_projector_, *projector_, tau_);
  }

  std::vector<std::pair<std::string, Tensor>> trainable_parameters() const override {
    return without_prefix(named_parameters(), "target_");
  }

 private:
  std::shared_ptr<nn::ProjectionHead> projector_, predictor_, target_projector_;
  std::shared_ptr<nn::Module> target_encoder_;
  double tau_ = 0.0;  // the momentum of the last update (logged)
};

}  // namespace

MethodInfo byol_method() {
  MethodInfo info;
  info.name = "byol";
  info.title = "BYOL";
  info.summary = "no negatives: an online network predicts an EMA target network's projection (Grill et al. 2020)";
  info.hyper_parameters = {
      {"base-momentum", 0.99, 0.0, 1.0, "EMA momentum of the target network at step 0, rising to 1 on a cosine (solo-learn CIFAR: 0.99)"},
      {"proj-hidden-dim", 4096, 1, 65536, "hidden width of the projector MLP (paper: 4096)", true},
      {"pred-hidden-dim", 4096, 1, 65536, "hidden width of the predictor MLP (paper: 4096)", true},
  };
  info.make = [](const MethodOptions& options, Generator& gen) -> std::unique_ptr<Method> {
    return std::make_unique<BYOL>(options, gen);
  };
  return info;
}

}  // namespace sc::ssl
