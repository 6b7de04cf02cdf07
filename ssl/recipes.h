#pragma once
// Named recipes: whole training configs under one name, so scripts and the README say
// `--recipe quick` instead of restating numbers. Flags given next to --recipe override it.
//
//   quick   a first try (`simclr train` with no flags): ConvNet w=16, 1 epoch at batch 128,
//           Adam lr 3e-3, weight decay 1e-6, half an epoch of warmup then cosine, SimCLR at
//           temperature 0.2, kNN bank of 10,000 images. TrainConfig's defaults are this recipe.
//   main    the README main job (scripts/run.sh): quick for 3 epochs at temperature 0.1.
//   R       the reference recipe compared with PyTorch (bench/torch_recipe_r.py,
//           bench/results/simclr-quality-2026-11-28.md): as quick but 3 epochs at batch 256,
//           lr 1e-3, temperature 0.5.
#include <string>
#include <vector>

#include "ssl/config.h"

namespace sc::ssl {

struct Recipe {
  std::string name;
  std::string summary;  // one line for --help
  TrainConfig config;
};

const std::vector<Recipe>& recipes();
// The config of recipe `name`; an unknown name is an sc::Error listing the known ones.
TrainConfig recipe_config(const std::string& name);

}  // namespace sc::ssl
