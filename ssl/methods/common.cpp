#include "ssl/methods/common.h"

#include <cmath>
#include <numbers>

namespace sc::ssl {

std::shared_ptr<nn::ProjectionHead> make_mlp(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, int64_t layers,
                                             Generator& gen) {
  nn::ProjectionHeadOptions o;
  o.in_dim = in_dim;
  o.hidden_dim = hidden_dim;
  o.out_dim = out_dim;
  o.num_layers = layers;
  return std::make_shared<nn::ProjectionHead>(o, gen);
}

Tensor row_cosine(const Tensor& a, const Tensor& b) { return sum(mul(normalize(a, 1), normalize(b, 1)), {1}); }

Tensor batch_standardize(const Tensor& z, double eps) {
  const Tensor centered = sub(z, mean(z, {0}, /*keepdim=*/true));
  return div(centered, sqrt(add(var(z, {0}, /*correction=*/0, /*keepdim=*/true), eps)));
}

Tensor first_half(const Tensor& x) { return narrow(x, 0, 0, x.size(0) / 2); }
Tensor second_half(const Tensor& x) { return narrow(x, 0, x.size(0) / 2, x.size(0) / 2); }

double momentum_at(double base, int64_t step, int64_t total_steps) {
  if (total_steps <= 0) return base;
  const double progress = static_cast<double>(step) / static_cast<double>(total_steps);
  return 1.0 - (1.0 - base) * (std::cos(std::numbers::pi * progress) + 1.0) / 2.0;
}

void ema_update(nn::Module& target, const nn::Module& online, double tau) {
  const auto t = target.named_parameters();
  const auto o = online.named_parameters();
  SC_CHECK(t.size() == o.size(), "ema_update: the target has ", t.size(), " parameters, the online network ", o.size());
  NoGradGuard no_grad;
  for (size_t i = 0; i < t.size(); ++i) {
    Tensor target_param = t[i].second;
    target_param.copy_(add(mul(target_param, tau), mul(o[i].second, 1.0 - tau)));
  }
}

std::vector<std::pair<std::string, Tensor>> without_prefix(const std::vector<std::pair<std::string, Tensor>>& named,
                                                           const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& entry : named)
    if (entry.first.rfind(prefix, 0) != 0) out.push_back(entry);
  return out;
}

void copy_state(nn::Module& target, const nn::Module& online) { target.load_state_dict(online.state_dict()); }

MomentumMethod::MomentumMethod(std::string type_name, const MethodOptions& options, Generator& gen)
    : Method(std::move(type_name), options, gen) {
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

void MomentumMethod::online(const Tensor& views, Tensor& z, Tensor& p) {
  z = projector_->forward(encode(views));
  p = predictor_->forward(z);
}

Tensor MomentumMethod::target(const Tensor& views) {
  NoGradGuard no_grad;  // the target gives targets only; it learns by EMA
  return target_projector_->forward(target_encoder_->forward(views));
}

void MomentumMethod::after_step(int64_t step, int64_t total_steps) {
  tau_ = momentum_at(hyper("base-momentum"), step, total_steps);
  ema_update(*target_encoder_, encoder(), tau_);
  ema_update(*target_projector_, *projector_, tau_);
}

std::vector<std::pair<std::string, Tensor>> MomentumMethod::trainable_parameters() const {
  return without_prefix(named_parameters(), "target_");
}

}  // namespace sc::ssl
