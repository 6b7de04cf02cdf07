#include "augment/plan.h"

#include <algorithm>

#include "augment/checks.h"
#include "augment/transform.h"
#include "base/error.h"

namespace sc::augment {

PlanBuilder::PlanBuilder(int64_t channels, int64_t height, int64_t width)
    : channels_(channels), in_height_(height), in_width_(width), height_(height), width_(width), max_plane_(height * width) {
  SC_CHECK(channels > 0 && height > 0 && width > 0, "PlanBuilder: channels, height and width must be positive, got ", channels,
           "x", height, "x", width);
}

void PlanBuilder::add(const kernels::AugmentStep& step) {
  steps_.push_back(step);
  if (step.kind == kernels::AugmentStepKind::ResizedCrop) {
    height_ = step.out_height, width_ = step.out_width;
    max_plane_ = std::max(max_plane_, height_ * width_);
  }
}

kernels::AugmentPlan PlanBuilder::plan(int32_t source) const {
  SC_CHECK(steps_.size() <= static_cast<size_t>(kernels::kAugmentMaxSteps), "augment plan: the transform drew ", steps_.size(),
           " steps, but a plan holds at most ", kernels::kAugmentMaxSteps);
  const auto narrow = [](int64_t v, const char* what) {
    SC_CHECK(v <= INT32_MAX, "augment plan: ", what, " ", v, " does not fit a plan's 32-bit field");
    return static_cast<int32_t>(v);
  };
  kernels::AugmentPlan p;
  p.source = source;
  p.channels = narrow(channels_, "channel count");
  p.in_height = narrow(in_height_, "height"), p.in_width = narrow(in_width_, "width");
  p.out_height = narrow(height_, "height"), p.out_width = narrow(width_, "width");
  p.max_plane = narrow(max_plane_, "plane size");
  p.num_steps = static_cast<int32_t>(steps_.size());
  std::copy(steps_.begin(), steps_.end(), p.steps);
  return p;
}

kernels::AugmentStep blend_step(double factor, kernels::BlendWith with) {
  kernels::AugmentStep s;
  s.kind = kernels::AugmentStepKind::Blend;
  s.blend_with = with;
  s.blend_self = static_cast<float>(factor);
  s.blend_other = static_cast<float>(1.0 - factor);
  return s;
}

Image run_steps(const Image& in, const std::vector<kernels::AugmentStep>& steps) {
  detail::check_image(in, "run_steps");
  Image current = in;
  for (size_t i = 0; i < steps.size(); ++i) {
    const kernels::AugmentStep& s = steps[i];
    const bool resizes = s.kind == kernels::AugmentStepKind::ResizedCrop;
    Image next(current.channels, resizes ? s.out_height : current.height, resizes ? s.out_width : current.width);
    augment_step_cpu(s, current.pixels.data(), current.channels, current.height, current.width, next.pixels.data(),
                     "run_steps: step", static_cast<int64_t>(i));
    current = std::move(next);
  }
  return current;
}

kernels::AugmentPlan draw_view_plan(const Transform& transform, int64_t channels, int64_t height, int64_t width,
                                    Generator& gen, int32_t source) {
  PlanBuilder builder(channels, height, width);
  transform.draw_steps(builder, gen);
  return builder.plan(source);
}

}  // namespace sc::augment
