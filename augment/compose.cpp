#include <sstream>

#include "augment/checks.h"
#include "augment/plan.h"
#include "augment/transform.h"

namespace sc::augment {

Image Transform::apply(const Image& in, Generator& gen) const {
  if (!(in.channels > 0 && in.height > 0 && in.width > 0 &&
        static_cast<int64_t>(in.pixels.size()) == in.channels * in.height * in.width)) {
    // Named only on failure: describe() formats numbers, too slow to run for every view.
    const std::string description = describe();
    const std::string name = description.substr(0, description.find('('));  // "HorizontalFlip(p=0.5)" -> "HorizontalFlip"
    detail::check_image(in, name.c_str());
  }
  PlanBuilder plan(in.channels, in.height, in.width);
  draw_steps(plan, gen);
  return run_steps(in, plan.steps());
}

void Transform::draw_steps(PlanBuilder& /*plan*/, Generator& /*gen*/) const {
  throw Error(sc::detail::concat(describe(), " has no plan form, so it cannot run on the GPU (augment on the CPU instead); ",
                             "the transforms with one: RandomResizedCrop, HorizontalFlip, RandomRotation, ColorJitter, ",
                             "RandomGrayscale, GaussianBlur, Solarize, Compose"));
}

// Each transform draws from the same generator in turn, so the whole pipeline's
// randomness is fixed by the generator's state at entry.
Image Compose::apply(const Image& in, Generator& gen) const {
  Image img = in;
  for (size_t i = 0; i < transforms_.size(); ++i) {
    SC_CHECK(transforms_[i] != nullptr, "Compose: transform ", i, " is null");
    img = transforms_[i]->apply(img, gen);
  }
  return img;
}

void Compose::draw_steps(PlanBuilder& plan, Generator& gen) const {
  for (size_t i = 0; i < transforms_.size(); ++i) {
    SC_CHECK(transforms_[i] != nullptr, "Compose: transform ", i, " is null");
    transforms_[i]->draw_steps(plan, gen);
  }
}

std::string Compose::describe() const {
  std::ostringstream os;
  os << "Compose(";
  for (size_t i = 0; i < transforms_.size(); ++i) os << (i ? ", " : "") << (transforms_[i] ? transforms_[i]->describe() : "null");
  os << ")";
  return os.str();
}

}  // namespace sc::augment
