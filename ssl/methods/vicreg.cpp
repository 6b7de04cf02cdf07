// VICReg (Bardes, Ponce & LeCun 2022): three terms on the two views' embeddings, no
// negatives, no momentum encoder.
//
//   z1, z2 = projector(encoder(view 1, view 2))                     [B, D] each
//   invariance  = mean((z1 - z2)^2)                                 the views agree
//   variance    = mean_j relu(1 - sqrt(var_j(z1) + 1e-4)) + same for z2    each dim keeps spread
//   covariance  = (sum_{i != j} cov(z1)_ij^2 + same for z2) / D     dims decorrelate
//   loss = sim * invariance + var * variance + cov * covariance
//
// Variances and covariances are unbiased (divide by B - 1). As in Barlow Twins, the
// off-diagonal sum is sum(cov^2) - sum(diag(cov)^2).
#include "ssl/metrics.h"
#include "ssl/methods/common.h"
#include "ssl/methods/methods.h"

namespace sc::ssl {

namespace {

// relu(1 - std) averaged over the dims, and the off-diagonal covariance term, of one view.
void spread_terms(const Tensor& z, Tensor& variance, Tensor& covariance) {
  const double b = static_cast<double>(z.size(0)), d = static_cast<double>(z.size(1));
  const Tensor centered = sub(z, mean(z, {0}, /*keepdim=*/true));
  const Tensor var_unbiased = div(sum(mul(centered, centered), {0}), b - 1.0);
  variance = mean(relu(rsub(1.0, sqrt(add(var_unbiased, 1e-4)))));
  const Tensor cov = div(matmul(transpose(centered, 0, 1), centered), b - 1.0);
  covariance = div(sub(sum(mul(cov, cov)), sum(mul(var_unbiased, var_unbiased))), d);
}

class VICReg : public Method {
 public:
  VICReg(const MethodOptions& options, Generator& gen) : Method("VICReg", options, gen) {
    const auto hidden = static_cast<int64_t>(hyper("proj-hidden-dim"));
    projector_ = register_module("projector", make_mlp(feature_dim(), hidden, options.projection_dim, 3, gen));
  }

  MethodOutput forward_views(const Tensor& views) override {
    // The whole global batch (every rank's views), so variance and covariance are global.
    const Tensor z = gather_views(projector_->forward(encode(views)));
    const Tensor z1 = first_half(z), z2 = second_half(z);
    const Tensor difference = sub(z1, z2);
    const Tensor invariance = mean(mul(difference, difference));
    Tensor var1, cov1, var2, cov2;
    spread_terms(z1, var1, cov1);
    spread_terms(z2, var2, cov2);
    const Tensor variance = add(var1, var2);
    const Tensor covariance = add(cov1, cov2);
    MethodOutput out;
    out.loss = add(add(mul(invariance, hyper("sim-weight")), mul(variance, hyper("var-weight"))),
                   mul(covariance, hyper("cov-weight")));
    out.metrics = {{"invariance", invariance.item()}, {"variance", variance.item()}, {"covariance", covariance.item()}};
    const double spread = embedding_std(z);
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }

 private:
  std::shared_ptr<nn::ProjectionHead> projector_;
};

}  // namespace

MethodInfo vicreg_method() {
  MethodInfo info;
  info.name = "vicreg";
  info.title = "VICReg";
  info.summary = "variance, invariance and covariance terms on the embeddings (Bardes, Ponce & LeCun 2022)";
  info.hyper_parameters = {
      {"sim-weight", 25.0, 0.0, 1e4, "weight of the invariance (mean squared error) term (paper: 25)"},
      {"var-weight", 25.0, 0.0, 1e4, "weight of the variance term (paper: 25)"},
      {"cov-weight", 1.0, 0.0, 1e4, "weight of the covariance term (paper: 1)"},
      {"proj-hidden-dim", 2048, 1, 65536, "hidden width of the projector MLP (solo-learn CIFAR: 2048)", true},
  };
  info.make = [](const MethodOptions& options, Generator& gen) -> std::unique_ptr<Method> {
    return std::make_unique<VICReg>(options, gen);
  };
  return info;
}

}  // namespace sc::ssl
