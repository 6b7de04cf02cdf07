#pragma once
// The SimCLR projection head g(h) = z: an MLP applied to the encoder's features.
//
//   num_layers = 2 (default):  Linear(in, hidden) - BN1d(hidden) - ReLU - Linear(hidden, out)
//   num_layers = k:            k - 1 hidden blocks Linear - (BN1d) - ReLU, then Linear(., out)
//   num_layers = 1:            Linear(in, out)
//
// A hidden Linear has no bias when BatchNorm follows it (the BN's shift makes it redundant,
// as in SimCLR's code); without BN it has one. The last Linear has a bias. Children are
// named "0", "1", ... as in an nn.Sequential holding the same layers.
#include <cstdint>

#include "nn/layers.h"

namespace sc::nn {

struct ProjectionHeadOptions {
  int64_t in_dim = 512;
  int64_t hidden_dim = 512;
  int64_t out_dim = 128;
  int64_t num_layers = 2;  // Linear layers in total, >= 1
  bool batch_norm = true;
};

class ProjectionHead : public Sequential {
 public:
  ProjectionHead(const ProjectionHeadOptions& options, Generator& gen);
  const ProjectionHeadOptions& options() const { return options_; }

 private:
  ProjectionHeadOptions options_;
};

}  // namespace sc::nn
