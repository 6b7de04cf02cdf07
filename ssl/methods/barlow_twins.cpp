// Barlow Twins (Zbontar et al. 2021): make the cross-correlation matrix of the two views'
// embeddings close to the identity: each dimension agrees across views (diagonal 1) and
// carries different information than the others (off-diagonal 0).
//
//   z1, z2 = batch_standardize(projector(encoder(view 1, view 2)))    per dimension, over the batch
//   C      = z1^T z2 / B                                              [D, D]
//   loss   = scale * ( sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2 )
//
// The off-diagonal sum is computed as sum(C^2) - sum(diag(C)^2), with diag(C) =
// sum_b z1_bi z2_bi / B, so no diagonal mask is needed.
#include "ssl/metrics.h"
#include "ssl/methods/common.h"
#include "ssl/methods/methods.h"

namespace sc::ssl {

namespace {

class BarlowTwins : public Method {
 public:
  BarlowTwins(const MethodOptions& options, Generator& gen) : Method("BarlowTwins", options, gen) {
    const auto hidden = static_cast<int64_t>(hyper("proj-hidden-dim"));
    projector_ = register_module("projector", make_mlp(feature_dim(), hidden, options.projection_dim, 3, gen));
  }

  MethodOutput forward_views(const Tensor& views) override {
    // The whole global batch (every rank's views), so the cross-correlation is the global one.
    const Tensor z = gather_views(projector_->forward(encode(views)));
    const Tensor z1 = batch_standardize(first_half(z));
    const Tensor z2 = batch_standardize(second_half(z));
    const double b = static_cast<double>(z1.size(0));
    const Tensor c = div(matmul(transpose(z1, 0, 1), z2), b);
    const Tensor diagonal = div(sum(mul(z1, z2), {0}), b);
    const Tensor on_diagonal = sum(pow(rsub(1.0, diagonal), 2.0));
    const Tensor off_diagonal = sub(sum(mul(c, c)), sum(mul(diagonal, diagonal)));
    MethodOutput out;
    out.loss = mul(add(on_diagonal, mul(off_diagonal, hyper("lambda"))), hyper("scale-loss"));
    const double spread = embedding_std(z);
    out.metrics = {{"on_diagonal", on_diagonal.item()}, {"off_diagonal", off_diagonal.item()}, {"embedding_std", spread}};
    if (collapse_warning(spread, z.size(1))) out.warning = "embeddings collapsing";
    return out;
  }

 private:
  std::shared_ptr<nn::ProjectionHead> projector_;
};

}  // namespace

MethodInfo barlow_twins_method() {
  MethodInfo info;
  info.name = "barlowtwins";
  info.title = "Barlow Twins";
  info.summary = "redundancy reduction: the views' cross-correlation pushed to the identity (Zbontar et al. 2021)";
  info.hyper_parameters = {
      {"lambda", 0.0051, 0.0, 1e3, "weight of the off-diagonal term (paper: 0.0051)"},
      {"scale-loss", 0.1, 1e-6, 1e6, "factor on the whole loss (solo-learn CIFAR: 0.1)"},
      {"proj-hidden-dim", 2048, 1, 65536, "hidden width of the projector MLP (solo-learn CIFAR: 2048)", true},
  };
  info.make = [](const MethodOptions& options, Generator& gen) -> std::unique_ptr<Method> {
    return std::make_unique<BarlowTwins>(options, gen);
  };
  return info;
}

}  // namespace sc::ssl
