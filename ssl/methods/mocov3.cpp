// MoCo v3 (Chen, Xie & He 2021): contrastive like SimCLR, but the keys come from a momentum
// encoder, and the negatives of a query are the other images' keys in the same batch.
//
//   q1, q2 = predictor(projector(encoder(view 1, view 2)))               online, with gradients
//   k1, k2 = target_projector(target_encoder(view 1, view 2))           momentum, no gradients
//   ctr(q, k) = cross_entropy(normalize(q) normalize(k)^T / T, labels = 0..B-1) * 2T
//   loss   = ctr(q1, k2) + ctr(q2, k1)
//   after each step: target = tau * target + (1 - tau) * online (tau on BYOL's cosine).
//
// The factor 2T is MoCo v3's: it makes the gradient's scale independent of T.
#include "ssl/metrics.h"
#include "ssl/methods/common.h"
#include "ssl/methods/methods.h"

namespace sc::ssl {

namespace {

class MoCoV3 : public MomentumMethod {
 public:
  MoCoV3(const MethodOptions& options, Generator& gen) : MomentumMethod("MoCoV3", options, gen) {}

  MethodOutput forward_views(const Tensor& views) override {
    Tensor z, q;
    online(views, z, q);
    // Queries and keys of every rank: each query's negatives are the keys of the global batch.
    q = gather_views(q);
    const Tensor k = gather_views(target(views));
    const double t = hyper("temperature");
    MethodOutput out;
    out.loss = add(contrastive(first_half(q), second_half(k), t), contrastive(second_half(q), first_half(k), t));
    const double spread = embedding_std(z);
    out.metrics = {{"top1", top1_}, {"embedding_std", spread}, {"momentum", momentum()}};
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }

 private:
  // InfoNCE of queries against keys: query i's positive is key i, the other keys are its
  // negatives. Also records how often the positive is the best match (top1_).
  Tensor contrastive(const Tensor& q, const Tensor& k, double temperature) {
    const int64_t n = q.size(0);
    const Tensor logits = div(matmul(normalize(q, 1), transpose(normalize(k, 1), 0, 1)), temperature);
    std::vector<int64_t> diagonal(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) diagonal[i] = i;
    const Tensor labels = from_vector(diagonal, {n}).to(q.device());
    {
      NoGradGuard no_grad;
      const std::vector<int64_t> best = argmax(logits, 1).to(Device::CPU).to_vector<int64_t>();
      int64_t hits = 0;
      for (int64_t i = 0; i < n; ++i) hits += best[i] == i;
      top1_ = static_cast<double>(hits) / static_cast<double>(n);
    }
    return mul(cross_entropy(logits, labels), 2.0 * temperature);
  }

  double top1_ = 0.0;
};

}  // namespace

MethodInfo mocov3_method() {
  MethodInfo info;
  info.name = "mocov3";
  info.title = "MoCo v3";
  info.summary = "contrastive against a momentum encoder's keys, negatives from the batch (Chen, Xie & He 2021)";
  info.hyper_parameters = {
      {"temperature", 0.2, 0.01, 100.0, "InfoNCE temperature (solo-learn CIFAR: 0.2)"},
      {"base-momentum", 0.99, 0.0, 1.0, "EMA momentum of the target network at step 0, rising to 1 on a cosine (solo-learn CIFAR: 0.99)"},
      {"proj-hidden-dim", 4096, 1, 65536, "hidden width of the projector MLP (paper: 4096)", true},
      {"pred-hidden-dim", 4096, 1, 65536, "hidden width of the predictor MLP (paper: 4096)", true},
  };
  info.make = [](const MethodOptions& options, Generator& gen) -> std::unique_ptr<Method> {
    return std::make_unique<MoCoV3>(options, gen);
  };
  return info;
}

}  // namespace sc::ssl
