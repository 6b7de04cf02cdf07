#pragma once
// Pieces the methods share: their MLPs, the row-wise cosine, batch standardisation, and the
// momentum (EMA) target networks of BYOL and MoCo v3.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "nn/projection_head.h"
#include "ssl/method.h"

namespace sc::ssl {

// Linear - BN - ReLU blocks, then a last Linear (nn/projection_head.h): `layers` Linears in all.
std::shared_ptr<nn::ProjectionHead> make_mlp(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, int64_t layers,
                                             Generator& gen);

// cos(a_i, b_i) for every row i: [N, D] x [N, D] -> [N].
Tensor row_cosine(const Tensor& a, const Tensor& b);

// (z - mean) / sqrt(var + eps) per column over the batch, with the biased variance: what
// BatchNorm1d(affine=False) does in training mode.
Tensor batch_standardize(const Tensor& z, double eps = 1e-5);

// Rows 0..B-1 and B..2B-1 of a two-view tensor [2B, ...]: the first and the second views.
Tensor first_half(const Tensor& x);
Tensor second_half(const Tensor& x);

// The target network's momentum after step `step` of `total_steps` (BYOL's cosine
// schedule): base at step 0, rising to 1 at the last step.
//   tau = 1 - (1 - base) * (cos(pi * step / total_steps) + 1) / 2
double momentum_at(double base, int64_t step, int64_t total_steps);

// target = tau * target + (1 - tau) * online, parameter by parameter (buffers are the
// target's own: its BatchNorm statistics come from its own forward passes). Both modules
// must have the same structure.
void ema_update(nn::Module& target, const nn::Module& online, double tau);

// The entries whose name does not start with `prefix` (a method's trainable parameters
// without its target networks).
std::vector<std::pair<std::string, Tensor>> without_prefix(const std::vector<std::pair<std::string, Tensor>>& named,
                                                           const std::string& prefix);

// A copy of `online`'s parameters and buffers into `target` (the target networks start as
// the online ones).
void copy_state(nn::Module& target, const nn::Module& online);

// The shared shape of BYOL and MoCo v3: an online branch encoder -> projector -> predictor
// (2-layer MLPs of proj-hidden-dim / pred-hidden-dim), and a target branch (children
// "target_encoder", "target_projector") that starts as a copy of the online encoder and
// projector and follows them by EMA after every step, with the momentum of momentum_at.
class MomentumMethod : public Method {
 public:
  void after_step(int64_t step, int64_t total_steps) override;
  // Everything but the target branch.
  std::vector<std::pair<std::string, Tensor>> trainable_parameters() const override;

 protected:
  MomentumMethod(std::string type_name, const MethodOptions& options, Generator& gen);
  // The online branch: z = projector(encoder(views)), p = predictor(z).
  void online(const Tensor& views, Tensor& z, Tensor& p);
  // The target branch's projection of `views`, without gradients.
  Tensor target(const Tensor& views);
  double momentum() const { return tau_; }  // of the last update (logged)

 private:
  std::shared_ptr<nn::ProjectionHead> projector_, predictor_, target_projector_;
  std::shared_ptr<nn::Module> target_encoder_;
  double tau_ = 0.0;
};

}  // namespace sc::ssl
