// The CUDA runner of augmentation plans (kernels/augment.h); kernels/cpu/augment.cpp is its
// reference, step for step.
//
// One block per view. The view lives in two scratch buffers in global memory (channels *
// max_plane floats each, small enough to stay in L1/L2: 3 KiB for Fashion-MNIST, 12 KiB for
// CIFAR). Every step reads one buffer and writes the other, its threads striding over the
// output pixels; a __syncthreads() separates the steps. The pixel arithmetic is the shared
// augment_math, and this file is compiled with -fmad=false (CMakeLists.txt) so no multiply-add
// is fused: each pixel is the CPU's float, bit for bit.
//
// The one place the two may differ: a contrast step blends with the mean luma, which the CPU
// sums in double in pixel order and the block sums in double as a tree. Both round the same
// double-precision sum of at most a few thousand floats to float, so they differ only when
// that sum falls within a few double ulps of a float rounding boundary.
#include <cstdint>

#include "kernels/augment.h"
#include "kernels/cuda/common.cuh"

namespace sc::kernels::cuda {

using namespace augment_math;

namespace {

constexpr int kThreads = 256;

// The block's sum of one double per thread, returned to every thread.
__device__ double block_sum(double value) {
  __shared__ double partial[kThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  const double total = partial[0];
  __syncthreads();  // every thread has read partial[0] before the array is used again
  return total;
}

__device__ float block_mean_luma(const float* in, int64_t channels, int64_t plane) {
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < plane; i += blockDim.x)
    sum += channels == 3 ? static_cast<double>(luma(in[i], in[plane + i], in[2 * plane + i])) : static_cast<double>(in[i]);
  return static_cast<float>(block_sum(sum) / static_cast<double>(plane));
}

// One step of a view, from `in` (channels x h x w) to `out`. Called by every thread of the
// block; returns after a __syncthreads(), so `out` is complete for the next step.
__device__ void run_step(const AugmentStep& s, const float* in, int64_t channels, int64_t h, int64_t w, float* out,
                         float* spare) {
  const int64_t plane = h * w, n = channels * plane;
  switch (s.kind) {
    case AugmentStepKind::ResizedCrop: {
      const int64_t oh = s.out_height, ow = s.out_width;
      const float row_scale = resize_scale(s.height, oh), column_scale = resize_scale(s.width, ow);
      for (int64_t i = threadIdx.x; i < channels * oh * ow; i += blockDim.x) {
        const int64_t x = i % ow, y = (i / ow) % oh, c = i / (oh * ow);
        const LinearTap r = linear_tap(row_scale, s.height, y);
        const float* row0 = in + (c * h + s.top + r.i0) * w + s.left;
        const float* row1 = in + (c * h + s.top + r.i1) * w + s.left;
        out[i] = bilinear(row0, row1, r.w1, linear_tap(column_scale, s.width, x));
      }
      break;
    }
    case AugmentStepKind::HorizontalFlip:
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const int64_t x = i % w;
        out[i] = in[i - x + (w - 1 - x)];
      }
      break;
    case AugmentStepKind::Blend:
      if (s.blend_with == BlendWith::PixelLuma) {
        for (int64_t i = threadIdx.x; i < plane; i += blockDim.x) {
          const float gray = luma(in[i], in[plane + i], in[2 * plane + i]);
          for (int64_t c = 0; c < 3; ++c) out[c * plane + i] = blend(s.blend_self, s.blend_other, in[c * plane + i], gray);
        }
      } else {
        // block_mean_luma synchronises the block, so every thread must reach it.
        const float other = s.blend_with == BlendWith::MeanLuma ? block_mean_luma(in, channels, plane) : 0.0f;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = blend(s.blend_self, s.blend_other, in[i], other);
      }
      break;
    case AugmentStepKind::Hue:
      for (int64_t i = threadIdx.x; i < plane; i += blockDim.x) {
        float r = in[i], g = in[plane + i], b = in[2 * plane + i];
        shift_hue(r, g, b, s.hue_shift);
        out[i] = r, out[plane + i] = g, out[2 * plane + i] = b;
      }
      break;
    case AugmentStepKind::Grayscale:
      for (int64_t i = threadIdx.x; i < plane; i += blockDim.x) {
        const float y = luma(in[i], in[plane + i], in[2 * plane + i]);
        for (int64_t c = 0; c < 3; ++c) out[c * plane + i] = y;
      }
      break;
    case AugmentStepKind::Blur: {
      // Rows into `spare`, then columns into `out`, each summing its taps in kernel order from 0.
      const int64_t half = s.kernel_size / 2;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const int64_t x = i % w;
        const float* row = in + (i - x);
        float acc = 0.0f;
        for (int64_t k = 0; k < s.kernel_size; ++k) acc += s.weights[k] * row[reflect(x + k - half, w)];
        spare[i] = acc;
      }
      __syncthreads();
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const int64_t x = i % w, y = (i / w) % h, c = i / plane;
        const float* column = spare + c * plane + x;
        float acc = 0.0f;
        for (int64_t k = 0; k < s.kernel_size; ++k) acc += s.weights[k] * column[reflect(y + k - half, h) * w];
        out[i] = acc;
      }
      break;
    }
    case AugmentStepKind::Solarize:
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = solarize(in[i], s.threshold);
      break;
    case AugmentStepKind::Rotate: {
      const RotationGrid grid = rotation_grid(s.cos_a, s.sin_a, h, w);
      for (int64_t i = threadIdx.x; i < plane; i += blockDim.x) {
        const int64_t x = i % w, y = i / w;
        int64_t sx = 0, sy = 0;
        rotation_source(grid, h, w, x, y, &sx, &sy);
        const bool inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
        for (int64_t c = 0; c < channels; ++c)
          out[c * plane + i] = inside ? in[c * plane + sy * w + sx] : s.weights[s.fill_per_channel ? c : 0];
      }
      break;
    }
  }
  __syncthreads();
}

// Block v makes view v. scratch holds 3 buffers of channels * max_plane floats per view:
// the two the steps alternate between, and the blur's intermediate.
__global__ void augment_views_kernel(const uint8_t* images, int64_t channels, int64_t height, int64_t width,
                                     const AugmentPlan* plans, int64_t out_height, int64_t out_width, int64_t max_plane,
                                     float* scratch, float* out) {
  const int64_t v = blockIdx.x;
  const AugmentPlan& plan = plans[v];
  const int64_t room = channels * max_plane;
  float* current = scratch + v * 3 * room;
  float* next = current + room;
  float* spare = next + room;

  const int64_t image_numel = channels * height * width;
  const uint8_t* image = images + static_cast<int64_t>(plan.source) * image_numel;
  for (int64_t i = threadIdx.x; i < image_numel; i += blockDim.x) current[i] = image[i] / 255.0f;
  __syncthreads();

  int64_t h = height, w = width;
  for (int32_t k = 0; k < plan.num_steps; ++k) {
    const AugmentStep& s = plan.steps[k];
    run_step(s, current, channels, h, w, next, spare);
    if (s.kind == AugmentStepKind::ResizedCrop) h = s.out_height, w = s.out_width;
    float* t = current;
    current = next;
    next = t;
  }
  const int64_t out_numel = channels * out_height * out_width;
  float* dst = out + v * out_numel;
  for (int64_t i = threadIdx.x; i < out_numel; i += blockDim.x) dst[i] = current[i];
}

}  // namespace

void augment_views(const uint8_t* images, int64_t channels, int64_t height, int64_t width, const AugmentPlan* plans,
                   int64_t views, int64_t out_height, int64_t out_width, int64_t max_plane, float* out) {
  if (views == 0) return;
  DeviceBuffer scratch(static_cast<size_t>(views * 3 * channels * max_plane) * sizeof(float));
  augment_views_kernel<<<static_cast<unsigned>(views), kThreads, 0, stream()>>>(
      images, channels, height, width, plans, out_height, out_width, max_plane, scratch.as<float>(), out);
  check_launch("augment_views_kernel");
}

}  // namespace sc::kernels::cuda
