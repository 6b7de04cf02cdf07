#include "nn/memory_report.h"

#include <cstdio>
#include <sstream>

namespace sc::nn {

int64_t MemoryReport::total_bytes() const {
  return parameter_bytes + gradient_bytes + optimizer_state_bytes + input_bytes + step_peak_bytes;
}

std::string MemoryReport::table() const {
  std::ostringstream os;
  os << "memory of one training step: " << model << ", input " << shape_str(input_shape) << ", " << parameter_count
     << " parameters\n";
  auto row = [&](const char* what, int64_t bytes) {
    char line[128];
    std::snprintf(line, sizeof line, "| %-28s | %14lld | %10.2f |\n", what, static_cast<long long>(bytes),
                  static_cast<double>(bytes) / (1024.0 * 1024.0));
    os << line;
  };
  os << "| item                         |          bytes |        MiB |\n";
  os << "|------------------------------|----------------|------------|\n";
  row("parameters", parameter_bytes);
  row("gradients", gradient_bytes);
  row("optimizer state", optimizer_state_bytes);
  row("input batch", input_bytes);
  row("step peak above pre-step", step_peak_bytes);
  row("total", total_bytes());
  return os.str();
}

MemoryReport measure_step_memory(Module& model, const Shape& input_shape, Generator& gen,
                                 int64_t optimizer_state_bytes, DType dtype) {
  SC_CHECK(optimizer_state_bytes >= 0, "measure_step_memory: optimizer_state_bytes must be >= 0, got ",
           optimizer_state_bytes);
  MemoryReport report;
  report.model = model.type_name();
  report.input_shape = input_shape;
  report.parameter_count = model.parameter_count();
  report.parameter_bytes = model.parameter_bytes();
  report.optimizer_state_bytes = optimizer_state_bytes;

  // Saved before the baseline is taken, so the snapshot does not count as step memory.
  const StateDict saved_state = model.state_dict().clone();
  const bool was_training = model.is_training();
  model.zero_grad();
  model.train();
  Tensor input = randn(input_shape, gen, dtype);
  report.input_bytes = input.numel() * static_cast<int64_t>(dtype_size(dtype));

  const int64_t before = memory_stats(Device::CPU).bytes_in_use;
  reset_peak_memory(Device::CPU);
  {
    Tensor out = model.forward(input);
    Tensor loss = sum(mul(out, out));
    loss.backward();
  }
  report.step_peak_bytes = memory_stats(Device::CPU).peak_bytes - before;

  for (const auto& [name, parameter] : model.named_parameters()) {
    const Tensor grad = parameter.grad();
    if (grad.defined()) report.gradient_bytes += grad.numel() * static_cast<int64_t>(dtype_size(grad.dtype()));
  }
  model.zero_grad();
  model.load_state_dict(saved_state);
  model.train(was_training);
  return report;
}

}  // namespace sc::nn
