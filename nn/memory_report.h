#pragma once
// How much memory one training step of a model takes, counted by the engine's allocator
// (sc::memory_stats, core/storage.h), not estimated from shapes.
//
// measure_step_memory() runs one real step on random input: forward in training mode,
// loss = sum(out^2), backward. It reports
//   - parameter_bytes:  the parameters' data;
//   - gradient_bytes:   the gradients backward left in the parameters;
//   - optimizer_state_bytes: what the caller says its optimizer holds (momentum buffers ...),
//                       since the optimizer is not part of this step; 0 when not given;
//   - input_bytes:      the random input batch;
//   - step_peak_bytes:  the most bytes held at any moment during forward + backward, above
//                       what was held just before the step (activations saved for backward,
//                       temporaries, gradients): what the autograd graph costs.
// The model is left as it was: its gradients are dropped and its state_dict (BN running
// statistics) and train/eval mode are restored afterwards.
#include <cstdint>
#include <string>

#include "nn/module.h"

namespace sc::nn {

struct MemoryReport {
  std::string model;  // the model's type name
  Shape input_shape;
  int64_t parameter_count = 0;
  int64_t parameter_bytes = 0;
  int64_t gradient_bytes = 0;
  int64_t optimizer_state_bytes = 0;
  int64_t input_bytes = 0;
  int64_t step_peak_bytes = 0;
  // Parameters + gradients + optimizer state + input + step peak.
  int64_t total_bytes() const;
  // A printable table, one row per item, in bytes and MiB.
  std::string table() const;
};

MemoryReport measure_step_memory(Module& model, const Shape& input_shape, Generator& gen,
                                 int64_t optimizer_state_bytes = 0, DType dtype = DType::Float32);

}  // namespace sc::nn
