// One full training step of the ConvNet encoder, the step SimCLR repeats:
//   forward  ConvNet(w, 1 input channel) + Linear(8w -> 10) head on a batch of 512 random
//            1x28x28 images (training mode: BatchNorm uses batch statistics)
//   loss     cross_entropy against random labels
//   backward through the whole graph
//   Adam     step (lr 1e-3) on every parameter
// for w = 16 and w = 32, reported as images/s. bench/torch_train_step.py does exactly the same
// step in PyTorch; bench/train_step_bench.sh runs both and writes the table.
//
// Modes (the first argument):
//   (none)         Google Benchmark: BM_train_step/16 and /32.
//   --memory=W     a process that only builds the model, runs 2 warm-up steps and 5 steps,
//                  and prints JSON: its peak RSS (VmHWM) and its RSS just before the first
//                  step (VmRSS), read from /proc/self/status, the bytes the engine counted
//                  at the peak of one step, and then nn::measure_step_memory's report.
//   --profile=W    2 warm-up steps, then 5 steps with core/profiler.h on: prints the mean
//                  step time and the per-op table (each layer's forward by layer type,
//                  each backward Node by op name, the optimizer step).
// Threads: SC_BENCH_THREADS (default: all cores).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/process_memory.h"
#include "core/profiler.h"
#include "core/storage.h"
#include "nn/adam.h"
#include "nn/convnet.h"
#include "nn/memory_report.h"

using namespace sc;

namespace {

constexpr int64_t kBatch = 512;
constexpr int64_t kClasses = 10;

int bench_threads() {
  const char* s = std::getenv("SC_BENCH_THREADS");
  return s ? std::atoi(s) : num_threads();
}

// The model, its optimizer and one fixed random batch.
struct TrainStep {
  Generator gen;
  std::shared_ptr<nn::Sequential> model;  // "0": ConvNet, "1": Linear head
  std::shared_ptr<nn::ConvNet> encoder;
  std::shared_ptr<nn::Linear> head;
  std::unique_ptr<nn::Adam> adam;
  Tensor images, labels;

  explicit TrainStep(int64_t width) : gen(1234 + static_cast<uint64_t>(width)) {
    model = std::make_shared<nn::Sequential>();
    encoder = model->push_back(std::make_shared<nn::ConvNet>(gen, width, /*in_channels=*/1));
    head = model->push_back(std::make_shared<nn::Linear>(encoder->feature_dim(), kClasses, gen));
    nn::ParamGroup group;
    for (const auto& [name, parameter] : model->named_parameters()) {
      group.names.push_back(name);
      group.params.push_back(parameter);
    }
    group.lr = 1e-3;
    adam = std::make_unique<nn::Adam>(std::vector<nn::ParamGroup>{group});
    images = randn({kBatch, 1, 28, 28}, gen);
    std::vector<int64_t> label_values(kBatch);
    for (int64_t& label : label_values) label = static_cast<int64_t>(gen.below(kClasses));
    labels = from_vector(label_values, {kBatch});
    model->train();
  }

  // The forward pass; with the profiler on, each layer is run and timed on its own (the
  // same calls ConvNet::forward and Sequential::forward make, in the same order).
  Tensor forward() {
    if (!profiler::enabled()) return model->forward(images);
    Tensor x = images;
    auto timed = [&x](nn::Module& layer) {
      profiler::ScopedTimer timer("forward " + layer.type_name());
      x = layer.forward(x);
    };
    for (size_t i = 0; i < encoder->features->size(); ++i) timed((*encoder->features)[i]);
    timed(*encoder->pool);
    timed(*encoder->flatten);
    timed(*head);
    return x;
  }

  void run() {
    adam->zero_grad();
    Tensor loss;
    {
      Tensor logits = forward();
      profiler::ScopedTimer timer("forward cross_entropy");
      loss = cross_entropy(logits, labels);
    }
    {
      profiler::ScopedTimer timer("backward (whole pass)");
      loss.backward();
    }
    profiler::ScopedTimer timer("optimizer step (Adam)");
    adam->step();
  }
};

void BM_train_step(benchmark::State& state) {
  TrainStep step(state.range(0));
  step.run();  // warm-up: Adam's state and the allocator's first blocks
  for (auto _ : state) step.run();
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

using sc::bench::status_kb;  // VmRSS / VmHWM in kB (bench/process_memory.h)

int memory_run(int64_t width) {
  TrainStep step(width);
  const long rss_before_kb = status_kb("VmRSS");
  for (int i = 0; i < 2; ++i) step.run();
  // One step measured by the engine's allocator: the bytes held above what was held after
  // zero_grad (parameters, Adam state, the batch), at the step's peak.
  step.adam->zero_grad();
  const int64_t before = memory_stats(Device::CPU).bytes_in_use;
  reset_peak_memory(Device::CPU);
  step.run();
  const int64_t engine_step_peak = memory_stats(Device::CPU).peak_bytes - before;
  for (int i = 0; i < 4; ++i) step.run();
  const long hwm_kb = status_kb("VmHWM");

  // The nn memory report (its own forward + backward with loss sum(out^2), after the RSS
  // was read, so it does not count in the process peak above).
  Generator gen(7);
  const nn::MemoryReport report = nn::measure_step_memory(*step.model, {kBatch, 1, 28, 28}, gen,
                                                          static_cast<int64_t>(step.adam->state_bytes()));
  std::printf(
      "{\"width\": %lld, \"threads\": %d, \"rss_before_first_step_kb\": %ld, \"peak_rss_kb\": %ld, "
      "\"engine_step_peak_bytes\": %lld, \"report\": {\"parameter_bytes\": %lld, \"gradient_bytes\": %lld, "
      "\"optimizer_state_bytes\": %lld, \"input_bytes\": %lld, \"step_peak_bytes\": %lld, \"total_bytes\": %lld}}\n",
      static_cast<long long>(width), num_threads(), rss_before_kb, hwm_kb, static_cast<long long>(engine_step_peak),
      static_cast<long long>(report.parameter_bytes), static_cast<long long>(report.gradient_bytes),
      static_cast<long long>(report.optimizer_state_bytes), static_cast<long long>(report.input_bytes),
      static_cast<long long>(report.step_peak_bytes), static_cast<long long>(report.total_bytes()));
  return 0;
}

int profile_run(int64_t width) {
  TrainStep step(width);
  for (int i = 0; i < 2; ++i) step.run();
  constexpr int kSteps = 5;
  profiler::reset();
  profiler::enable();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSteps; ++i) step.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  profiler::enable(false);
  std::printf("Per-op time of %d training steps, ConvNet w = %lld, batch %lld, %d threads: %.1f ms per step "
              "(%.0f images/s with the profiler on). Shares are of the total step time; forward rows are per layer "
              "type, backward rows per autograd Node; 'backward (whole pass)' contains the backward rows.\n\n",
              kSteps, static_cast<long long>(width), static_cast<long long>(kBatch), num_threads(),
              seconds * 1e3 / kSteps, kSteps * kBatch / seconds);
  std::printf("%s", profiler::table(seconds).c_str());
  return 0;
}

// "--memory=16" -> 16; -1 when `arg` does not start with `flag=`.
int64_t flag_value(const std::string& arg, const std::string& flag) {
  if (arg.rfind(flag + "=", 0) != 0) return -1;
  return std::atoll(arg.c_str() + flag.size() + 1);
}

}  // namespace

BENCHMARK(BM_train_step)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

int main(int argc, char** argv) {
  set_num_threads(bench_threads());
  if (argc > 1) {
    const std::string arg = argv[1];
    if (const int64_t w = flag_value(arg, "--memory"); w > 0) return memory_run(w);
    if (const int64_t w = flag_value(arg, "--profile"); w > 0) return profile_run(w);
  }
  benchmark::AddCustomContext("sc_threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("batch", std::to_string(kBatch));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
