// The augmentation op (core/augment.h): checks, the device switch, and the copies to the GPU.
#include "core/augment.h"

#include <algorithm>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/cuda_backend.h"

namespace sc {

Tensor augment_views(std::span<const uint8_t> images, int64_t image_count, int64_t channels, int64_t height, int64_t width,
                     std::span<const AugmentPlan> plans, Device device) {
  trace::OpScope trace_scope("augment_views", static_cast<double>(plans.size()));
  SC_CHECK(!plans.empty(), "augment_views: no plans (one per view to make)");
  SC_CHECK(image_count > 0 && channels > 0 && height > 0 && width > 0, "augment_views: ", image_count, " images of ", channels,
           "x", height, "x", width, ": every size must be positive");
  SC_CHECK(static_cast<int64_t>(images.size()) == image_count * channels * height * width, "augment_views: ", image_count,
           " images of ", channels, "x", height, "x", width, " need ", image_count * channels * height * width,
           " bytes, got ", images.size());
  const int64_t views = static_cast<int64_t>(plans.size());
  const int64_t out_height = plans[0].out_height, out_width = plans[0].out_width;
  int64_t max_plane = 0;
  for (int64_t v = 0; v < views; ++v) {
    kernels::cpu::check_augment_plan(plans[v], v, image_count, channels, height, width, out_height, out_width);
    max_plane = std::max<int64_t>(max_plane, plans[v].max_plane);
  }
  Tensor out = empty({views, channels, out_height, out_width}, DType::Float32, device);
  switch (device) {
    case Device::CPU:
      kernels::cpu::augment_views(images.data(), channels, height, width, plans.data(), views, out_height, out_width,
                                  out.data<float>());
      break;
    case Device::CUDA: {
      // The engine has no uint8 dtype: the images and the plans travel as raw bytes in Int32
      // tensors rounded up to whole elements (freed with them, from the caching allocator).
      const auto byte_buffer = [](size_t nbytes) {
        return empty({static_cast<int64_t>((nbytes + 3) / 4)}, DType::Int32, Device::CUDA);
      };
      const Tensor image_bytes = byte_buffer(images.size());
      const Tensor plan_bytes = byte_buffer(plans.size_bytes());
      kernels::cuda::copy_host_to_device(image_bytes.raw_data(), images.data(), images.size());
      kernels::cuda::copy_host_to_device(plan_bytes.raw_data(), plans.data(), plans.size_bytes());
      SC_CUDA_BRANCH("augment_views",
                     kernels::cuda::augment_views(static_cast<const uint8_t*>(image_bytes.raw_data()), channels, height, width,
                                                  static_cast<const AugmentPlan*>(plan_bytes.raw_data()), views, out_height,
                                                  out_width, max_plane, static_cast<float*>(out.raw_data())));
      break;
    }
  }
  return out;
}

void augment_step_cpu(const AugmentStep& step, const float* in, int64_t channels, int64_t height, int64_t width, float* out,
                      const char* where, int64_t index) {
  const std::string problem = kernels::cpu::augment_step_problem(step, channels, height, width);
  SC_CHECK(problem.empty(), where, " ", index, problem);
  kernels::cpu::augment_step(step, in, channels, height, width, out);
}

void blur_image_cpu(const float* in, int64_t channels, int64_t height, int64_t width, const float* taps, int64_t kernel_size,
                    float* out) {
  kernels::cpu::blur_image(in, channels, height, width, taps, kernel_size, out);
}

void rotate_image_cpu(const float* in, int64_t channels, int64_t height, int64_t width, float cos_a, float sin_a,
                      const float* fill, bool fill_per_channel, float* out) {
  kernels::cpu::rotate_image(in, channels, height, width, cos_a, sin_a, fill, fill_per_channel, out);
}

}  // namespace sc
