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

class BYOL : public MomentumMethod {
 public:
  BYOL(const MethodOptions& options, Generator& gen) : MomentumMethod("BYOL", options, gen) {}

  MethodOutput forward_views(const Tensor& views) override {
    Tensor z, p;
    online(views, z, p);
    const Tensor t = target(views);
    const Tensor loss1 = mean(rsub(2.0, mul(row_cosine(first_half(p), second_half(t)), 2.0)));
    const Tensor loss2 = mean(rsub(2.0, mul(row_cosine(second_half(p), first_half(t)), 2.0)));
    MethodOutput out;
    out.loss = add(loss1, loss2);
    const double spread = embedding_std(z);
    out.metrics = {{"embedding_std", spread}, {"momentum", momentum()}};
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }
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
