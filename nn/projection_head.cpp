#include "nn/projection_head.h"

namespace sc::nn {

ProjectionHead::ProjectionHead(const ProjectionHeadOptions& options, Generator& gen)
    : Sequential("ProjectionHead"), options_(options) {
  SC_CHECK(options.in_dim > 0 && options.hidden_dim > 0 && options.out_dim > 0 && options.num_layers >= 1,
           "ProjectionHead: dims must be positive and num_layers >= 1, got in_dim ", options.in_dim, ", hidden_dim ",
           options.hidden_dim, ", out_dim ", options.out_dim, ", num_layers ", options.num_layers);
  int64_t dim = options.in_dim;
  for (int64_t i = 0; i + 1 < options.num_layers; ++i) {
    push_back(std::make_shared<Linear>(dim, options.hidden_dim, gen, /*bias=*/!options.batch_norm));
    if (options.batch_norm) push_back(std::make_shared<BatchNorm1d>(options.hidden_dim));
    push_back(std::make_shared<ReLU>());
    dim = options.hidden_dim;
  }
  push_back(std::make_shared<Linear>(dim, options.out_dim, gen, /*bias=*/true));
}

}  // namespace sc::nn
