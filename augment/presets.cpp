// The named pipelines. Each ends with values in [0, 1] and no Normalize: the model sees
// the augmented image itself (add a Normalize in code if an encoder wants standardized input).
#include <sstream>

#include "augment/blur.h"
#include "augment/color.h"
#include "augment/geometry.h"
#include "augment/transform.h"

namespace sc::augment {

namespace {

// SimCLR's CIFAR-10 setting (Chen et al. 2020, appendix B.9): crop 0.08-1 with the usual
// 3/4-4/3 aspect range, flip, color jitter of strength 0.5 (0.8 * 0.5 = 0.4 brightness,
// contrast and saturation, 0.2 * 0.5 = 0.1 hue) applied 80% of the time, grayscale 20%.
// No blur: the paper leaves it out at 32x32.
TransformPtr simclr_rgb(int64_t crop_size) {
  return std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<RandomResizedCrop>(crop_size > 0 ? crop_size : 32, 0.08, 1.0),
      std::make_shared<HorizontalFlip>(0.5),
      std::make_shared<ColorJitter>(0.4, 0.4, 0.4, 0.1, 0.8),
      std::make_shared<RandomGrayscale>(0.2),
  });
}

// The same recipe for 28x28 one-channel images (Fashion-MNIST): a gentler crop (0.2-1,
// since 8% of a 28x28 image is a 8x8 patch with little left of the garment), and only
// brightness and contrast, since saturation, hue and grayscale do nothing on one channel.
TransformPtr simclr_gray(int64_t crop_size) {
  return std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<RandomResizedCrop>(crop_size > 0 ? crop_size : 28, 0.2, 1.0),
      std::make_shared<HorizontalFlip>(0.5),
      std::make_shared<ColorJitter>(0.4, 0.4, 0.0, 0.0, 0.8),
  });
}

// The blog's set with sane parameters: any rotation, a brightness factor in [0.6, 1.4]
// (the blog's 123 saturates every image to white), a flip, and a light blur with a 3x3
// kernel (the blog's 501x501 kernel on a 28x28 image averages it to a flat patch).
TransformPtr blog() {
  return std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<RandomRotation>(180.0),
      std::make_shared<ColorJitter>(0.4, 0.0, 0.0, 0.0, 1.0),
      std::make_shared<HorizontalFlip>(0.5),
      std::make_shared<GaussianBlur>(3, 0.1, 2.0, 1.0),
  });
}

}  // namespace

std::vector<std::string> preset_names() { return {"simclr-rgb", "simclr-gray", "blog"}; }

std::string default_preset(int64_t channels) { return channels == 1 ? "simclr-gray" : "simclr-rgb"; }

TransformPtr make_preset(const std::string& name, int64_t crop_size) {
  SC_CHECK(crop_size >= 0, "make_preset: crop size must be >= 0 (0: the preset's own), got ", crop_size);
  if (name == "simclr-rgb") return simclr_rgb(crop_size);
  if (name == "simclr-gray") return simclr_gray(crop_size);
  if (name == "blog") return blog();
  std::ostringstream known;
  for (const std::string& n : preset_names()) known << (known.tellp() > 0 ? ", " : "") << n;
  throw Error("make_preset: unknown augmentation preset '" + name + "' (known: " + known.str() + ")");
}

}  // namespace sc::augment
