#pragma once
// A transform turns one image into another, drawing every random parameter from the
// generator it is given. The loader seeds that generator per sample and view from
// (run seed, epoch, sample index, view), so the same seed gives the same views whatever
// the number of worker threads.
#include <memory>
#include <string>
#include <vector>

#include "augment/image.h"
#include "core/generator.h"

namespace sc::augment {

class PlanBuilder;

class Transform {
 public:
  virtual ~Transform() = default;
  // The random form: draws its parameters from `gen`, then applies the deterministic form.
  // The default draws the steps (draw_steps) and runs them on the CPU (run_steps in
  // augment/plan.h); a transform without steps overrides it.
  virtual Image apply(const Image& in, Generator& gen) const;
  // Draws this transform's parameters from `gen` exactly as apply() does and appends them as
  // steps for an image of plan's current shape: the form the GPU runs (augment/plan.h).
  // The default throws sc::Error: the transform has no plan form.
  virtual void draw_steps(PlanBuilder& plan, Generator& gen) const;
  // A short description with the parameters, e.g. "RandomResizedCrop(28, scale=[0.2, 1])".
  virtual std::string describe() const = 0;
};

using TransformPtr = std::shared_ptr<const Transform>;

// Applies its transforms in order (implemented in augment/compose.cpp).
class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms) : transforms_(std::move(transforms)) {}
  Image apply(const Image& in, Generator& gen) const override;
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  std::vector<TransformPtr> transforms_;
};

// The named pipelines: "simclr-rgb" (the SimCLR paper's CIFAR setting, 32x32 crops),
// "simclr-gray" (one channel, 28x28 crops) and "blog" (rotation, brightness, flip, blur; no
// crop, so its views keep the image's size). crop_size > 0 sets the side of the simclr
// presets' random crops (the run's image size); 0 keeps 32 and 28.
// Throws sc::Error listing the known names for an unknown one (augment/presets.cpp).
TransformPtr make_preset(const std::string& name, int64_t crop_size = 0);
std::vector<std::string> preset_names();
// The preset for images with `channels` channels when none is named: "simclr-gray" for 1,
// "simclr-rgb" otherwise.
std::string default_preset(int64_t channels);

}  // namespace sc::augment
