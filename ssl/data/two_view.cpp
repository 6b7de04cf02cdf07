#include "ssl/data/two_view.h"

#include <algorithm>

#include "augment/plan.h"
#include "base/error.h"
#include "core/generator.h"
#include "core/ops.h"

namespace sc::ssl {

namespace {

Tensor labels_of(const Dataset& dataset, std::span<const int64_t> indices) {
  Tensor labels = empty({static_cast<int64_t>(indices.size())}, DType::Int64);
  int64_t* out = labels.data<int64_t>();
  for (size_t j = 0; j < indices.size(); ++j) out[j] = dataset.label(indices[j]);
  return labels;
}

}  // namespace

uint64_t view_seed(uint64_t seed, int64_t epoch, int64_t sample_index, int view) {
  SC_CHECK(view == 0 || view == 1, "view_seed: view must be 0 or 1, got ", view);
  SC_CHECK(sample_index >= 0, "view_seed: sample index must be >= 0, got ", sample_index);
  return mix_seed(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(sample_index) * 2 + static_cast<uint64_t>(view));
}

Batch make_two_view_batch(const Dataset& dataset, std::span<const int64_t> indices, const augment::Transform& transform,
                          uint64_t seed, int64_t epoch, bool pinned) {
  SC_CHECK(!indices.empty(), "make_two_view_batch(", dataset.name(), "): empty batch");
  const auto batch = static_cast<int64_t>(indices.size());
  Tensor images;
  int64_t c = 0, h = 0, w = 0;
  float* out = nullptr;
  for (int view = 0; view < 2; ++view) {
    for (int64_t j = 0; j < batch; ++j) {
      const int64_t sample = indices[j];
      Generator gen(view_seed(seed, epoch, sample, view));
      const augment::Image result = transform.apply(dataset.float_image(sample), gen);
      if (!images.defined()) {
        // The first view fixes the output shape (a crop may change the size).
        c = result.channels, h = result.height, w = result.width;
        images = pinned ? empty_pinned({2 * batch, c, h, w}) : empty({2 * batch, c, h, w});
        out = images.data<float>();
      }
      SC_CHECK(result.channels == c && result.height == h && result.width == w, "make_two_view_batch(", dataset.name(),
               "): transform ", transform.describe(), " gave a ", result.channels, "x", result.height, "x", result.width,
               " view of sample ", sample, " but a ", c, "x", h, "x", w, " view earlier in the batch; every view must share one size");
      SC_CHECK(result.pixels.size() == static_cast<size_t>(c * h * w), "make_two_view_batch(", dataset.name(), "): transform ",
               transform.describe(), " returned an image whose pixel buffer does not match its size");
      std::copy(result.pixels.begin(), result.pixels.end(), out + (view * batch + j) * c * h * w);
    }
  }
  return Batch{images, labels_of(dataset, indices), std::vector<int64_t>(indices.begin(), indices.end()), epoch, 0, std::nullopt};
}

Batch make_two_view_plans(const Dataset& dataset, std::span<const int64_t> indices, const augment::Transform& transform,
                          uint64_t seed, int64_t epoch) {
  SC_CHECK(!indices.empty(), "make_two_view_plans(", dataset.name(), "): empty batch");
  const auto batch = static_cast<int64_t>(indices.size());
  ViewPlans out;
  out.count = batch, out.channels = dataset.channels(), out.height = dataset.height(), out.width = dataset.width();
  const int64_t numel = dataset.image_numel();
  out.images.resize(static_cast<size_t>(batch * numel));
  for (int64_t j = 0; j < batch; ++j) {
    const std::span<const uint8_t> src = dataset.image(indices[j]);
    std::copy(src.begin(), src.end(), out.images.begin() + j * numel);
  }
  out.plans.reserve(static_cast<size_t>(2 * batch));
  for (int view = 0; view < 2; ++view) {
    for (int64_t j = 0; j < batch; ++j) {
      Generator gen(view_seed(seed, epoch, indices[j], view));
      out.plans.push_back(augment::draw_view_plan(transform, out.channels, out.height, out.width, gen, static_cast<int32_t>(j)));
      const AugmentPlan& first = out.plans.front();
      const AugmentPlan& plan = out.plans.back();
      SC_CHECK(plan.out_height == first.out_height && plan.out_width == first.out_width, "make_two_view_plans(", dataset.name(),
               "): transform ", transform.describe(), " gave a ", plan.out_height, "x", plan.out_width, " view of sample ",
               indices[j], " but a ", first.out_height, "x", first.out_width, " view earlier in the batch; every view must share one size");
    }
  }
  Batch result{Tensor(), labels_of(dataset, indices), std::vector<int64_t>(indices.begin(), indices.end()), epoch, 0, std::nullopt};
  result.plans = std::move(out);
  return result;
}

Tensor ViewPlans::run(Device device) const { return augment_views(images, count, channels, height, width, plans, device); }

Batch make_plain_batch(const Dataset& dataset, std::span<const int64_t> indices, bool pinned) {
  SC_CHECK(!indices.empty(), "make_plain_batch(", dataset.name(), "): empty batch");
  const auto batch = static_cast<int64_t>(indices.size());
  const int64_t numel = dataset.image_numel();
  const Shape shape{batch, dataset.channels(), dataset.height(), dataset.width()};
  Tensor images = pinned ? empty_pinned(shape) : empty(shape);
  float* out = images.data<float>();
  for (int64_t j = 0; j < batch; ++j) {
    const std::span<const uint8_t> src = dataset.image(indices[j]);
    for (int64_t k = 0; k < numel; ++k) out[j * numel + k] = src[k] / 255.0f;
  }
  return Batch{images, labels_of(dataset, indices), std::vector<int64_t>(indices.begin(), indices.end()), 0, 0, std::nullopt};
}

}  // namespace sc::ssl
