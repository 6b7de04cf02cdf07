#pragma once
// A transform's random draws, kept as data: the steps of a kernels::AugmentPlan.
//
// Every built-in transform draws its parameters in draw_steps() and its apply() runs those
// steps on the CPU (run_steps), so a view made from a plan and the view apply() makes from
// the same generator state are the same view, by construction. The loader draws plans on its
// worker threads and the GPU runs them (kernels/augment.h says why and how).
#include <cstdint>
#include <vector>

#include "augment/image.h"
#include "core/generator.h"
#include "core/augment.h"

namespace sc::augment {

class Transform;

// The steps drawn so far for one view, and the image's shape after them.
class PlanBuilder {
 public:
  PlanBuilder(int64_t channels, int64_t height, int64_t width);

  int64_t channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  const std::vector<kernels::AugmentStep>& steps() const { return steps_; }

  // Appends a step; a ResizedCrop moves the current shape to its output size.
  void add(const kernels::AugmentStep& step);

  // The fixed-size plan of view `source` (the index of its image in the batch). Throws
  // sc::Error when there are more steps than a plan holds.
  kernels::AugmentPlan plan(int32_t source) const;

 private:
  int64_t channels_, in_height_, in_width_, height_, width_, max_plane_;
  std::vector<kernels::AugmentStep> steps_;
};

// The steps that need a factor: a blend (brightness, contrast, saturation) of the image with
// `with`, both weights rounded to float as torchvision's _blend (factor, 1 - factor).
kernels::AugmentStep blend_step(double factor, kernels::BlendWith with);

// Runs steps on the CPU (kernels::cpu::augment_step), the image's shape changing with each.
Image run_steps(const Image& in, const std::vector<kernels::AugmentStep>& steps);

// One view's plan: transform.draw_steps for a channels x height x width image.
kernels::AugmentPlan draw_view_plan(const Transform& transform, int64_t channels, int64_t height, int64_t width,
                                    Generator& gen, int32_t source);

}  // namespace sc::augment
