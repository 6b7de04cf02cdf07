// The GPU augmentation runner (kernels/cuda/augment.cu) against the CPU runner
// (kernels/cpu/augment.cpp), through the op (core/augment.h), on random plans that use every
// step kind. tests/test_augment_plan.cpp pins the CPU runner to augment/'s transforms, so
// together: GPU views == CPU runner == Transform::apply.
//
// The plans are made here from core only (no augment/ header), so the file also builds in
// bench/gpu_check.sh's core-only build. Random images (uint8, never all zero) and random
// parameters; the output is poisoned (NaN) while a test runs.
//
// Expected agreement: bit for bit. Both runners call the same augment_math functions, and both
// are compiled without multiply-add contraction. The one exception is contrast (a Blend with
// the mean luma): the CPU sums the mean in double in pixel order, the GPU as a tree, so the
// float mean may differ in its last bit; plans with contrast are compared at |d| <= 1e-6 and
// leave out solarize (whose threshold would turn a last-bit difference into a jump).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/augment.h"
#include "core/generator.h"
#include "core/ops.h"
#include "kernels/cuda_backend.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

double uniform(Generator& gen, double lo, double hi) { return lo + (hi - lo) * gen.uniform(); }

// A random plan: a random crop window resized to out_h x out_w, then up to 8 random steps of
// the kinds the channel count allows. with_contrast: Blend with the mean luma is allowed (and
// Solarize is not, see the file comment); otherwise the reverse.
AugmentPlan random_plan(Generator& gen, int32_t images, int64_t c, int64_t h, int64_t w, int64_t out_h, int64_t out_w,
                        bool with_contrast) {
  AugmentPlan plan;
  plan.source = static_cast<int32_t>(gen.below(static_cast<uint64_t>(images)));
  plan.channels = static_cast<int32_t>(c), plan.in_height = static_cast<int32_t>(h), plan.in_width = static_cast<int32_t>(w);
  plan.out_height = static_cast<int32_t>(out_h), plan.out_width = static_cast<int32_t>(out_w);
  plan.max_plane = static_cast<int32_t>(std::max(h * w, out_h * out_w));
  AugmentStep crop;
  crop.kind = AugmentStepKind::ResizedCrop;
  crop.height = static_cast<int32_t>(1 + gen.below(static_cast<uint64_t>(h)));
  crop.width = static_cast<int32_t>(1 + gen.below(static_cast<uint64_t>(w)));
  crop.top = static_cast<int32_t>(gen.below(static_cast<uint64_t>(h - crop.height + 1)));
  crop.left = static_cast<int32_t>(gen.below(static_cast<uint64_t>(w - crop.width + 1)));
  crop.out_height = static_cast<int32_t>(out_h), crop.out_width = static_cast<int32_t>(out_w);
  plan.steps[plan.num_steps++] = crop;

  const int64_t extra = static_cast<int64_t>(gen.below(9));
  for (int64_t i = 0; i < extra; ++i) {
    AugmentStep s;
    switch (gen.below(8)) {
      case 0: s.kind = AugmentStepKind::HorizontalFlip; break;
      case 1:
      case 2: {
        s.kind = AugmentStepKind::Blend;
        const double factor = uniform(gen, 0.0, 2.0);
        s.blend_self = static_cast<float>(factor), s.blend_other = static_cast<float>(1.0 - factor);
        const uint64_t partner = gen.below(3);
        s.blend_with = partner == 0 ? BlendWith::Black : partner == 1 && c == 3 ? BlendWith::PixelLuma : BlendWith::MeanLuma;
        if (s.blend_with == BlendWith::MeanLuma && !with_contrast) s.blend_with = BlendWith::Black;
        break;
      }
      case 3:
        if (c != 3) continue;
        s.kind = AugmentStepKind::Hue;
        s.hue_shift = static_cast<float>(uniform(gen, -0.5, 0.5));
        break;
      case 4:
        if (c != 3) continue;
        s.kind = AugmentStepKind::Grayscale;
        break;
      case 5: {
        s.kind = AugmentStepKind::Blur;
        const int64_t max_half = std::min<int64_t>({out_h - 1, out_w - 1, 7});
        s.kernel_size = static_cast<int32_t>(2 * gen.below(static_cast<uint64_t>(max_half + 1)) + 1);
        float sum = 0.0f;
        for (int32_t k = 0; k < s.kernel_size; ++k) sum += s.weights[k] = static_cast<float>(uniform(gen, 0.1, 1.0));
        for (int32_t k = 0; k < s.kernel_size; ++k) s.weights[k] /= sum;
        break;
      }
      case 6:
        if (with_contrast) continue;
        s.kind = AugmentStepKind::Solarize;
        s.threshold = static_cast<float>(gen.uniform());
        break;
      default: {
        s.kind = AugmentStepKind::Rotate;
        const double radians = uniform(gen, -M_PI, M_PI);
        s.cos_a = static_cast<float>(std::cos(radians)), s.sin_a = static_cast<float>(std::sin(radians));
        s.fill_per_channel = gen.below(2) == 0 ? 1 : 0;
        for (int64_t k = 0; k < (s.fill_per_channel ? c : 1); ++k) s.weights[k] = static_cast<float>(gen.uniform());
        break;
      }
    }
    plan.steps[plan.num_steps++] = s;
  }
  return plan;
}

struct Case {
  int64_t channels, height, width, out_height, out_width, images, views;
};

// Runs `views` random plans on both devices; returns the largest |gpu - cpu| and counts the
// elements whose bits differ.
double compare_devices(const Case& k, uint64_t seed, bool with_contrast, int64_t* differing_bits) {
  const std::vector<uint8_t> images = random_bytes(k.images * k.channels * k.height * k.width, seed);
  Generator gen(seed + 1);
  std::vector<AugmentPlan> plans;
  for (int64_t v = 0; v < k.views; ++v)
    plans.push_back(random_plan(gen, static_cast<int32_t>(k.images), k.channels, k.height, k.width, k.out_height, k.out_width,
                                with_contrast));
  const Tensor cpu = augment_views(images, k.images, k.channels, k.height, k.width, plans, Device::CPU);
  Tensor gpu;
  {
    PoisonGuard poison;
    gpu = augment_views(images, k.images, k.channels, k.height, k.width, plans, Device::CUDA).to(Device::CPU);
  }
  REQUIRE(gpu.shape() == cpu.shape());
  const float* a = gpu.data<float>();
  const float* b = cpu.data<float>();
  double worst = 0.0;
  *differing_bits = 0;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) ++*differing_bits;
    const double d = std::isnan(a[i]) ? INFINITY : std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::max(worst, d);
  }
  return worst;
}

void check_cases(const std::vector<Case>& cases, uint64_t seed) {
  for (const Case& k : cases) {
    CAPTURE(k.channels);
    CAPTURE(k.height);
    CAPTURE(k.width);
    CAPTURE(k.out_height);
    CAPTURE(k.out_width);
    int64_t differing = 0;
    CHECK(compare_devices(k, seed, false, &differing) == 0.0);
    CHECK(differing == 0);
    const double worst = compare_devices(k, seed + 100, true, &differing);
    CAPTURE(differing);
    CHECK(worst <= 1e-6);
  }
}

}  // namespace

TEST_CASE("cuda: augment: the GPU runs random plans (every step kind) as the CPU does") {
  SC_SKIP_WITHOUT_CUDA();
  check_cases({{1, 28, 28, 28, 28, 64, 256},    // Fashion-MNIST
               {3, 32, 32, 32, 32, 64, 256},    // CIFAR
               {3, 20, 36, 17, 23, 16, 64},     // not square, shrinking
               {3, 40, 30, 64, 48, 8, 32}},     // growing: the scratch holds the output plane
              11);
}

TEST_CASE("cuda small: augment: tiny views with every step kind") {
  SC_SKIP_WITHOUT_CUDA();
  check_cases({{1, 6, 6, 5, 7, 3, 8}, {3, 5, 7, 6, 6, 3, 8}}, 21);
}

// The two below need no GPU: they run everywhere.
TEST_CASE("augment plan: the random plans of the GPU tests are valid and run on the CPU") {
  for (const bool with_contrast : {false, true}) {
    Generator gen(8);
    const std::vector<uint8_t> images = random_bytes(4 * 3 * 20 * 36, 9);
    std::vector<AugmentPlan> plans;
    for (int v = 0; v < 200; ++v) plans.push_back(random_plan(gen, 4, 3, 20, 36, 17, 23, with_contrast));
    const Tensor views = augment_views(images, 4, 3, 20, 36, plans, Device::CPU);
    CHECK(views.shape() == Shape{200, 3, 17, 23});
    int64_t steps = 0;
    for (const AugmentPlan& p : plans) steps += p.num_steps;
    CHECK(steps > 200 * 3);  // one crop and about 3.5 drawn steps per plan
  }
}

TEST_CASE("augment plan: a bad plan for the GPU is refused before anything runs") {
  const std::vector<uint8_t> images = random_bytes(2 * 28 * 28, 4);
  Generator gen(3);
  AugmentPlan plan = random_plan(gen, 2, 1, 28, 28, 28, 28, true);
  plan.source = 5;
  CHECK(contains(message_of([&] { augment_views(images, 2, 1, 28, 28, std::vector<AugmentPlan>{plan}, Device::CUDA); }),
                 "augment plan of view 0: source image 5 is not in the batch of 2 images"));
}
