// conv2d through cuDNN: the "vendor" rung that the hand-written implicit GEMM
// (kernels/cuda/conv2d.cu) is measured and checked against.
//
// It uses cuDNN's legacy convolution API (deprecated in cuDNN 9 but still shipped):
// cudnnConvolutionForward / BackwardData / BackwardFilter on NCHW tensors, float or double.
//   - Math: CUDNN_FMA_MATH, plain FP32 (or FP64) FMAs. No TF32 and no tensor cores, so the
//     results and timings are comparable with hand-written FP32 kernels.
//   - Algorithm: the first one cuDNN's heuristics (cudnnGet*Algorithm_v7) rank that is
//     supported for this shape with FMA math; for the two backward passes also one that is
//     deterministic, so a training step gives the same bits every run. (The heuristics do not
//     time anything: cudnnFind* would, at the cost of running every algorithm once.)
//   - Workspace: from the caching allocator (DeviceBuffer), for each call.
// Descriptors and chosen algorithms are kept per shape in a small map: a training step sees
// the same handful of shapes every step, so the heuristics run once per shape.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda/vendor/cudnn_common.cuh"

namespace sc::kernels::cuda {

namespace {

// Everything cuDNN needs for one (dtype, shape): descriptors, and the algorithm chosen for each
// direction the first time that direction runs.
struct ConvPlan {
  ConvPlan(cudnnDataType_t dtype, const Conv2dShape& s)
      : x(dtype, s.N, s.C, s.H, s.W),
        y(dtype, s.N, s.O, s.OH, s.OW),
        bias(dtype, 1, s.O, 1, 1),
        w(dtype, s.O, s.C, s.KH, s.KW),
        conv(dtype, s.pad_h, s.pad_w, s.stride_h, s.stride_w, s.dilation_h, s.dilation_w) {}

  TensorDescriptor x, y, bias;
  FilterDescriptor w;
  ConvolutionDescriptor conv;  // FMA math, always (see ConvolutionDescriptor)

  bool forward_ready = false, backward_data_ready = false, backward_filter_ready = false;
  cudnnConvolutionFwdAlgo_t forward_algo{};
  cudnnConvolutionBwdDataAlgo_t backward_data_algo{};
  cudnnConvolutionBwdFilterAlgo_t backward_filter_algo{};
  size_t forward_workspace = 0, backward_data_workspace = 0, backward_filter_workspace = 0;
};

// The first of cuDNN's ranked candidates that is supported, deterministic when asked, and runs
// with plain FMA math. The descriptor is set to CUDNN_FMA_MATH, so candidates should report
// that; one reported as CUDNN_DEFAULT_MATH is accepted in a second pass, and still runs under
// the descriptor's FMA setting (we never switch the descriptor to a math type that would allow
// TF32 or tensor cores). Null when none qualifies.
template <typename Perf>
const Perf* pick_algorithm(const Perf* perf, int count, bool need_deterministic) {
  for (const cudnnMathType_t wanted : {CUDNN_FMA_MATH, CUDNN_DEFAULT_MATH}) {
    for (int i = 0; i < count; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].mathType != wanted) continue;
      if (need_deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      return &perf[i];
    }
  }
  return nullptr;
}

std::string shape_text(const Conv2dShape& s) {
  return detail::concat("input [", s.N, ", ", s.C, ", ", s.H, ", ", s.W, "], weight [", s.O, ", ", s.C, ", ", s.KH,
                        ", ", s.KW, "], stride (", s.stride_h, ", ", s.stride_w, "), padding (", s.pad_h, ", ",
                        s.pad_w, "), dilation (", s.dilation_h, ", ", s.dilation_w, ")");
}

void choose_forward(ConvPlan& p, const Conv2dShape& s) {
  std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
  int returned = 0;
  SC_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_handle(), p.x.get(), p.w.get(), p.conv.get(),
                                                        p.y.get(), static_cast<int>(perf.size()), &returned,
                                                        perf.data()));
  const auto* best = pick_algorithm(perf.data(), returned, /*need_deterministic=*/false);
  SC_CHECK(best != nullptr, "conv2d (cuDNN): no forward algorithm with FMA math for ", shape_text(s));
  p.forward_algo = best->algo;
  SC_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn_handle(), p.x.get(), p.w.get(), p.conv.get(),
                                                         p.y.get(), p.forward_algo, &p.forward_workspace));
  p.forward_ready = true;
}

void choose_backward_data(ConvPlan& p, const Conv2dShape& s) {
  std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf{};
  int returned = 0;
  SC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_handle(), p.w.get(), p.y.get(), p.conv.get(),
                                                             p.x.get(), static_cast<int>(perf.size()), &returned,
                                                             perf.data()));
  const auto* best = pick_algorithm(perf.data(), returned, /*need_deterministic=*/true);
  SC_CHECK(best != nullptr, "conv2d (cuDNN): no deterministic backward-data algorithm with FMA math for ",
           shape_text(s));
  p.backward_data_algo = best->algo;
  SC_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_handle(), p.w.get(), p.y.get(), p.conv.get(),
                                                              p.x.get(), p.backward_data_algo,
                                                              &p.backward_data_workspace));
  p.backward_data_ready = true;
}

void choose_backward_filter(ConvPlan& p, const Conv2dShape& s) {
  std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> perf{};
  int returned = 0;
  SC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn_handle(), p.x.get(), p.y.get(), p.conv.get(),
                                                               p.w.get(), static_cast<int>(perf.size()), &returned,
                                                               perf.data()));
  const auto* best = pick_algorithm(perf.data(), returned, /*need_deterministic=*/true);
  SC_CHECK(best != nullptr, "conv2d (cuDNN): no deterministic backward-filter algorithm with FMA math for ",
           shape_text(s));
  p.backward_filter_algo = best->algo;
  SC_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_handle(), p.x.get(), p.y.get(), p.conv.get(),
                                                                p.w.get(), p.backward_filter_algo,
                                                                &p.backward_filter_workspace));
  p.backward_filter_ready = true;
}

enum class Direction { Forward, BackwardData, BackwardFilter };

// The plan for (dtype, shape) with the algorithm for `direction` chosen. Plans are never
// removed, so the reference stays valid; the lock covers creating and completing them.
const ConvPlan& plan_for(cudnnDataType_t dtype, const Conv2dShape& s, Direction direction) {
  using Key = std::array<int64_t, 15>;
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<ConvPlan>> plans;
  const Key key{static_cast<int64_t>(dtype), s.N, s.C, s.H, s.W, s.O, s.KH, s.KW, s.stride_h, s.stride_w,
                s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.OH * s.OW};
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<ConvPlan>& slot = plans[key];
  if (!slot) slot = std::make_unique<ConvPlan>(dtype, s);
  ConvPlan& p = *slot;
  switch (direction) {
    case Direction::Forward:
      if (!p.forward_ready) choose_forward(p, s);
      break;
    case Direction::BackwardData:
      if (!p.backward_data_ready) choose_backward_data(p, s);
      break;
    case Direction::BackwardFilter:
      if (!p.backward_filter_ready) choose_backward_filter(p, s);
      break;
  }
  return p;
}

// cuDNN rejects tensors with a zero size; the callers handle empty problems themselves.
bool is_empty(const Conv2dShape& s) { return s.N == 0 || s.C == 0 || s.H == 0 || s.W == 0 || s.OH <= 0 || s.OW <= 0; }

}  // namespace

namespace conv_path {

template <typename T>
void cudnn_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  if (s.O == 0 || s.N == 0 || s.OH <= 0 || s.OW <= 0) return;  // y is empty
  SC_CHECK(!is_empty(s), "conv2d (cuDNN): an empty input cannot produce a non-empty output: ", shape_text(s));
  const ConvPlan& p = plan_for(cudnn_data_type<T>(), s, Direction::Forward);
  DeviceBuffer workspace(p.forward_workspace);
  const T one = 1, zero = 0;
  SC_CUDNN_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, p.x.get(), x, p.w.get(), weight, p.conv.get(),
                                         p.forward_algo, workspace.as<void>(), workspace.size(), &zero, p.y.get(),
                                         y));
  // y += bias, broadcast over n, oh, ow.
  if (bias != nullptr)
    SC_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(), &one, p.bias.get(), bias, &one, p.y.get(), y));
}

template <typename T>
void cudnn_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s) {
  const int64_t x_size = s.N * s.C * s.H * s.W;
  if (x_size == 0) return;  // grad_x is empty
  if (s.O == 0 || s.OH <= 0 || s.OW <= 0) {  // no output pixel read x: its gradient is zero
    SC_CUDA_CHECK(cudaMemsetAsync(grad_x, 0, static_cast<size_t>(x_size) * sizeof(T), stream()));
    return;
  }
  const ConvPlan& p = plan_for(cudnn_data_type<T>(), s, Direction::BackwardData);
  DeviceBuffer workspace(p.backward_data_workspace);
  const T one = 1, zero = 0;
  SC_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_handle(), &one, p.w.get(), weight, p.y.get(), grad_y,
                                              p.conv.get(), p.backward_data_algo, workspace.as<void>(),
                                              workspace.size(), &zero, p.x.get(), grad_x));
}

template <typename T>
void cudnn_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s) {
  const int64_t weight_size = s.O * s.C * s.KH * s.KW;
  if (weight_size == 0) return;
  if (is_empty(s)) {  // an empty sum
    SC_CUDA_CHECK(cudaMemsetAsync(grad_weight, 0, static_cast<size_t>(weight_size) * sizeof(T), stream()));
    return;
  }
  const ConvPlan& p = plan_for(cudnn_data_type<T>(), s, Direction::BackwardFilter);
  DeviceBuffer workspace(p.backward_filter_workspace);
  const T one = 1, zero = 0;
  SC_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, p.x.get(), x, p.y.get(), grad_y,
                                                p.conv.get(), p.backward_filter_algo,
                                                workspace.as<void>(), workspace.size(), &zero, p.w.get(),
                                                grad_weight));
}

#define SC_INSTANTIATE_CUDNN_CONV2D(T)                                                      \
  template void cudnn_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);     \
  template void cudnn_backward_input<T>(const T*, const T*, T*, const Conv2dShape&);        \
  template void cudnn_backward_weight<T>(const T*, const T*, T*, const Conv2dShape&);
SC_INSTANTIATE_CUDNN_CONV2D(float)
SC_INSTANTIATE_CUDNN_CONV2D(double)
#undef SC_INSTANTIATE_CUDNN_CONV2D

}  // namespace conv_path

}  // namespace sc::kernels::cuda
