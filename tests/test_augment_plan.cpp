// Augmentation plans (augment/plan.h, kernels/augment.h, core/augment.h): a view drawn as a
// plan and run by the batch runner is the view Transform::apply makes from the same
// generator, bit for bit; bad plans and transforms without a plan form are refused by name.
// The GPU runner is checked against the CPU one in tests/test_cuda_augment.cpp.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "augment/augment.h"
#include "augment/plan.h"
#include "core/augment.h"
#include "core/ops.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::augment;

namespace {

struct Pipeline {
  std::string name;
  TransformPtr transform;
  int64_t channels, height, width;
};

// Every step kind and every blend partner, on RGB and on one channel, square and not.
std::vector<Pipeline> pipelines() {
  const TransformPtr everything = std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<RandomResizedCrop>(24, 0.3, 1.0),
      std::make_shared<HorizontalFlip>(0.5),
      std::make_shared<ColorJitter>(0.4, 0.4, 0.4, 0.1, 0.8),
      std::make_shared<RandomGrayscale>(0.2),
      std::make_shared<GaussianBlur>(5, 0.1, 2.0, 0.5),
      std::make_shared<Solarize>(0.5, 0.3),
      std::make_shared<RandomRotation>(30.0, std::vector<float>{0.1f, 0.2f, 0.3f}),
  });
  return {
      {"simclr-gray", make_preset("simclr-gray"), 1, 28, 28},
      {"simclr-rgb", make_preset("simclr-rgb"), 3, 32, 32},
      {"blog", make_preset("blog"), 1, 28, 28},
      {"every step, RGB, 20x36", everything, 3, 20, 36},
  };
}

// The batch runner's view of one image under `plan`, on the CPU.
Tensor run_plan(const std::vector<uint8_t>& image, const Pipeline& p, const AugmentPlan& plan) {
  return augment_views(image, 1, p.channels, p.height, p.width, std::span<const AugmentPlan>(&plan, 1), Device::CPU);
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("augment plan: a drawn plan run by the batch runner is the view apply() makes, bit for bit") {
  for (const Pipeline& p : pipelines()) {
    CAPTURE(p.name);
    std::set<std::string> seen;  // the step kinds the draws produced, so the check is not vacuous
    for (uint64_t seed = 0; seed < 150; ++seed) {
      CAPTURE(seed);
      const std::vector<uint8_t> image = random_bytes(p.channels * p.height * p.width, 1000 + seed);
      Generator plan_gen(seed), apply_gen(seed);
      const AugmentPlan plan = draw_view_plan(*p.transform, p.channels, p.height, p.width, plan_gen, 0);
      const Image expected = p.transform->apply(Image::from_u8(image.data(), p.channels, p.height, p.width), apply_gen);
      const Tensor view = run_plan(image, p, plan);
      REQUIRE(view.shape() == Shape{1, expected.channels, expected.height, expected.width});
      CHECK(same_bits(view.data<float>(), expected.pixels.data(), expected.pixels.size()));
      // Both consumed the same draws: the generators are in the same state after.
      CHECK(plan_gen.next_u64() == apply_gen.next_u64());
      for (int32_t i = 0; i < plan.num_steps; ++i) {
        const AugmentStep& s = plan.steps[i];
        seen.insert(std::to_string(static_cast<int>(s.kind)) + "/" +
                    (s.kind == AugmentStepKind::Blend ? std::to_string(static_cast<int>(s.blend_with)) : "-"));
      }
    }
    if (p.name == "every step, RGB, 20x36") CHECK(seen.size() == 10);  // 7 kinds, Blend with 3 partners
    if (p.name == "simclr-gray") CHECK(seen.size() == 4);             // crop, flip, brightness, contrast
  }
}

TEST_CASE("augment plan: each view of a batch starts from its own source image") {
  const Pipeline p = pipelines()[1];  // simclr-rgb
  const int64_t images = 5, numel = p.channels * p.height * p.width;
  const std::vector<uint8_t> batch = random_bytes(images * numel, 7);
  std::vector<AugmentPlan> plans;
  for (int32_t v = 0; v < 12; ++v) {
    Generator gen(100 + static_cast<uint64_t>(v));
    plans.push_back(draw_view_plan(*p.transform, p.channels, p.height, p.width, gen, (v * 3) % static_cast<int32_t>(images)));
  }
  const Tensor views = augment_views(batch, images, p.channels, p.height, p.width, plans, Device::CPU);
  REQUIRE(views.shape() == Shape{12, 3, 32, 32});
  for (int32_t v = 0; v < 12; ++v) {
    CAPTURE(v);
    const int32_t source = plans[v].source;
    const std::vector<uint8_t> one(batch.begin() + source * numel, batch.begin() + (source + 1) * numel);
    AugmentPlan alone = plans[v];
    alone.source = 0;
    const Tensor expected = run_plan(one, p, alone);
    CHECK(same_bits(views.data<float>() + v * 3 * 32 * 32, expected.data<float>(), 3 * 32 * 32));
  }
}

TEST_CASE("augment plan: bad plans are refused, naming the view and the step") {
  const Pipeline p = pipelines()[0];  // simclr-gray, 1x28x28
  const std::vector<uint8_t> images = random_bytes(2 * 28 * 28, 3);
  Generator gen(5);
  AugmentPlan good = draw_view_plan(*p.transform, 1, 28, 28, gen, 1);
  REQUIRE(good.num_steps >= 1);
  REQUIRE(good.steps[0].kind == AugmentStepKind::ResizedCrop);
  const auto refusal = [&](const AugmentPlan& bad) {
    const std::vector<AugmentPlan> plans{good, bad};
    return message_of([&] { augment_views(images, 2, 1, 28, 28, plans, Device::CPU); });
  };
  CHECK(contains(refusal(good), "no error"));

  AugmentPlan bad = good;
  bad.source = 2;
  CHECK(contains(refusal(bad), "augment plan of view 1: source image 2 is not in the batch of 2 images"));
  bad = good;
  bad.in_height = 27;
  CHECK(contains(refusal(bad), "view 1: made for a 1x27x28 image"));
  bad = good;
  bad.out_width = 27;
  CHECK(contains(refusal(bad), "view 1: gives a 28x27 view, but the batch's views are 28x28"));
  bad = good;
  bad.steps[0].top = 28 - bad.steps[0].height + 1;
  CHECK(contains(refusal(bad), "view 1, step 0 (ResizedCrop): the window rows"));
  bad = good;
  bad.steps[0].out_height = 30;
  CHECK(contains(refusal(bad), "its steps give a 30x28 view, but it states 28x28"));
  bad = good;
  bad.num_steps = kernels::kAugmentMaxSteps + 1;
  CHECK(contains(refusal(bad), "steps (at most 16)"));
  bad = good;
  bad.steps[0].kind = static_cast<AugmentStepKind>(99);
  CHECK(contains(refusal(bad), "view 1, step 0: unknown step kind 99"));
  bad = good;
  bad.steps[bad.num_steps] = AugmentStep{};
  bad.steps[bad.num_steps].kind = AugmentStepKind::Hue;
  ++bad.num_steps;
  CHECK(contains(refusal(bad), "(Hue): needs 3 channels (RGB), got 1"));
  bad = good;
  bad.steps[bad.num_steps] = AugmentStep{};
  bad.steps[bad.num_steps].kind = AugmentStepKind::Blur;
  bad.steps[bad.num_steps].kernel_size = 57;
  ++bad.num_steps;
  CHECK(contains(refusal(bad), "(Blur): kernel size 57 must be odd and in [1, 32]"));
  {
    PlanBuilder small(1, 4, 4);
    AugmentStep blur;
    blur.kind = AugmentStepKind::Blur;
    blur.kernel_size = 9;
    small.add(blur);
    const AugmentPlan wide = small.plan(0);
    CHECK(contains(message_of([&] {
                     augment_views(random_bytes(16, 1), 1, 1, 4, 4, std::span<const AugmentPlan>(&wide, 1), Device::CPU);
                   }),
                   "view 0, step 0 (Blur): reflect padding needs kernel_size / 2 (4) smaller than the 4x4 image"));
  }
  bad = good;
  bad.max_plane = 28 * 28 - 1;
  CHECK(contains(refusal(bad), "max_plane 783 is smaller than the largest plane its steps use (784)"));

  CHECK(contains(message_of([&] { augment_views(images, 3, 1, 28, 28, std::vector<AugmentPlan>{good}, Device::CPU); }),
                 "3 images of 1x28x28 need 2352 bytes, got 1568"));
  CHECK(contains(message_of([&] { augment_views(images, 2, 1, 28, 28, {}, Device::CPU); }), "augment_views: no plans"));
}

TEST_CASE("augment plan: transforms without a plan form are refused by name, and the CPU still runs them") {
  const TransformPtr normalized = std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<HorizontalFlip>(0.5), std::make_shared<Normalize>(std::vector<float>{0.5f}, std::vector<float>{0.25f})});
  Generator gen(1);
  CHECK(contains(message_of([&] { draw_view_plan(*normalized, 1, 8, 8, gen, 0); }),
                 "Normalize(mean=0.5, std=0.25) has no plan form, so it cannot run on the GPU"));

  // A blur wider than a step holds, and more fill values than a step holds: apply() runs
  // them on the CPU; only the plan refuses.
  const GaussianBlur wide(33, 1.0, 1.0, 1.0);
  Image img(1, 40, 40, 0.5f);
  Generator apply_gen(2);
  CHECK(wide.apply(img, apply_gen).height == 40);
  CHECK(contains(message_of([&] { draw_view_plan(wide, 1, 40, 40, gen, 0); }),
                 "GaussianBlur: a plan holds kernels of at most 32 taps, got kernel_size 33"));
  const RandomRotation many_fills(10.0, std::vector<float>(40, 0.5f));
  CHECK(many_fills.apply(Image(40, 6, 6, 0.25f), apply_gen).channels == 40);
  CHECK(contains(message_of([&] { draw_view_plan(many_fills, 40, 6, 6, gen, 0); }), "RandomRotation: a plan holds at most 32 fill values"));

  // More steps than a plan holds.
  std::vector<TransformPtr> flips(kernels::kAugmentMaxSteps + 1, std::make_shared<HorizontalFlip>(1.0));
  const Compose too_long(flips);
  CHECK(contains(message_of([&] { draw_view_plan(too_long, 1, 4, 4, gen, 0); }), "drew 17 steps, but a plan holds at most 16"));
  // ... while a plan of exactly 16 is fine, and 16 flips are the identity.
  flips.pop_back();
  const AugmentPlan sixteen = draw_view_plan(Compose(flips), 1, 4, 4, gen, 0);
  CHECK(sixteen.num_steps == 16);
  const std::vector<uint8_t> image = random_bytes(16, 9);
  const Tensor view = augment_views(image, 1, 1, 4, 4, std::span<const AugmentPlan>(&sixteen, 1), Device::CPU);
  for (int64_t i = 0; i < 16; ++i) CHECK(view.data<float>()[i] == image[i] / 255.0f);
}
