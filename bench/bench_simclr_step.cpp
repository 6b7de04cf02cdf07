// The SimCLR training step as `simclr train` runs it, timed: issue 14's instrument
// (bench/cpu_step_bench.sh runs it next to its PyTorch twin, bench/torch_simclr_step.py).
//
// One step is ssl::train_step (ssl/trainer.cpp), the function the trainer calls: lr from the
// warmup-cosine schedule, zero_grad, the SimCLR method's forward_views (both views through the
// encoder and the projection head in one batch, NT-Xent, the two health metrics), the loss
// check, backward, the gradient check, Adam. The method, encoder, head and optimizer are the
// project's own (ssl/methods/simclr.cpp, nn/convnet.h or nn/resnet.h, nn/projection_head.h,
// nn/adam.h), built from a TrainConfig with the `quick` recipe's defaults (temperature 0.2,
// Adam lr 3e-3, weight decay 1e-6, 128-d projection), so this times what users run.
//
// Models (--model):
//   convnet-w16, convnet-w32   ConvNet(w), 1x28x28 views, batch 256 images = 512 views;
//                              images: Fashion-MNIST's training split when it is installed,
//                              else generated (uniform random bytes); the simclr-gray preset
//   resnet18-w16               ResNet-18 (CIFAR stem, base width 16), 3x32x32 views, batch 128
//                              images = 256 views; images generated; the simclr-rgb preset
// Throughput is images/s where an image is one PAIR of views (batch / step time), the same
// unit as the twin's.
//
// Modes (--mode):
//   speed    for "step" (the model step alone, on one fixed two-view batch made once by the
//            preset) and "step+augment" (each step first builds a new two-view batch of random
//            images with ssl::make_two_view_batch, the function the loader's workers call, on
//            this thread, then steps): --warmup steps, then steps until --min-time seconds
//            and --min-steps steps have passed. Prints JSON.
//   memory   a fresh process that builds the model and its fixed batch, reads VmRSS, runs 2
//            warm-up steps and 5 steps, reads VmHWM (/proc/self/status); step memory = peak
//            RSS - RSS before the first step, as bench_train_step --memory and the twin do.
//   profile  2 warm-up steps, then --profile-steps steps with the op trace (core/trace.h) sent
//            into a buffer and the profiler (core/profiler.h) on: every op call and every
//            backward Node with its input shapes and time, summed per (name, shapes), and the
//            shapes of every node of the autograd graph (inputs, output, which inputs need a
//            gradient) so bench/step_cost_model.py can count each row's FLOPs or bytes.
//
//   bench_simclr_step --mode speed --model convnet-w32 --threads 2 --min-time 5
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "augment/transform.h"
#include "bench/process_memory.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "core/storage.h"
#include "core/trace.h"
#include "nn/adam.h"
#include "nn/schedule.h"
#include "ssl/config.h"
#include "ssl/data/idx.h"
#include "ssl/data/two_view.h"
#include "ssl/trainer.h"

using namespace sc;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

// ---- what is measured ------------------------------------------------------------------

struct ModelSpec {
  std::string name;
  std::string encoder;  // ssl::EncoderOptions::encoder
  int64_t width;
  int64_t channels;
  int64_t image_size;
  int64_t batch;  // images per step (pairs of views)
};

const std::vector<ModelSpec>& model_specs() {
  static const std::vector<ModelSpec> specs = {
      {"convnet-w16", "convnet", 16, 1, 28, 256},
      {"convnet-w32", "convnet", 32, 1, 28, 256},
      {"resnet18-w16", "resnet18", 16, 3, 32, 128},
  };
  return specs;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelSpec& spec : model_specs()) names.push_back(spec.name);
  return names;
}

const ModelSpec& find_spec(const std::string& name) {
  for (const ModelSpec& spec : model_specs())
    if (spec.name == name) return spec;
  throw Error("--model: unknown model '" + name + "'");  // CLI11 checks it first; this is the backstop
}

// Generated images stand in where no dataset of the model's size is installed: random bytes,
// 10,000 of them (enough that the random batches of a run do not repeat).
ssl::Dataset generated_images(const ModelSpec& spec) {
  constexpr int64_t kCount = 10000;
  Generator gen(2026);
  std::vector<uint8_t> pixels(static_cast<size_t>(kCount * spec.channels * spec.image_size * spec.image_size));
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(gen.below(256));
  return ssl::Dataset::unlabeled("generated", spec.channels, spec.image_size, spec.image_size, std::move(pixels));
}

// data: "auto" (Fashion-MNIST for the 1x28x28 models when installed), "generated" or
// "fashion-mnist" (an error when it is missing or the model does not take 1x28x28).
ssl::Dataset bench_images(const ModelSpec& spec, const std::string& data) {
  const bool fits_fashion_mnist = spec.channels == 1 && spec.image_size == 28;
  const bool installed = std::filesystem::exists(ssl::kFashionMnistDir);
  if (data == "fashion-mnist") {
    SC_CHECK(fits_fashion_mnist, "--data fashion-mnist: model ", spec.name, " takes ", spec.channels, "x",
             spec.image_size, "x", spec.image_size, " images, Fashion-MNIST is 1x28x28 (use --data generated or auto)");
    SC_CHECK(installed, "--data fashion-mnist: ", ssl::kFashionMnistDir,
             " does not exist (apt-get install dataset-fashion-mnist, or --data generated)");
  }
  if (data != "generated" && fits_fashion_mnist && installed) return ssl::load_fashion_mnist("train");
  return generated_images(spec);
}

// ---- one step, as the trainer takes it ---------------------------------------------------

struct SimclrStep {
  ModelSpec spec;
  const ssl::Dataset& images;
  ssl::TrainConfig config;
  std::unique_ptr<ssl::Method> method;
  std::unique_ptr<nn::Adam> adam;
  nn::WarmupCosineSchedule schedule{10, 1000000};  // as a long run: 10 warmup steps, then cosine
  augment::TransformPtr transform;
  Tensor fixed_views;      // [2B, C, H, W]: one two-view batch, made once
  Generator index_gen{7};  // picks the images of the augmented batches
  int64_t step = 0;
  ssl::TrainHooks hooks;

  SimclrStep(const ModelSpec& model, const ssl::Dataset& dataset) : spec(model), images(dataset) {
    hooks.quiet = true;
    config.encoder = spec.encoder;
    config.width = spec.width;
    config.batch_size = spec.batch;
    Generator init_gen(ssl::model_init_seed(config.seed));
    method = ssl::make_method(config.method, ssl::method_options(config, spec.channels), init_gen);
    nn::ParamGroup group;
    for (const auto& [name, parameter] : method->trainable_parameters()) {
      group.names.push_back(name);
      group.params.push_back(parameter);
    }
    group.lr = config.lr;
    group.weight_decay = config.weight_decay;
    adam = std::make_unique<nn::Adam>(std::vector<nn::ParamGroup>{group});
    transform = augment::make_preset(ssl::augment_preset(config, spec.channels), spec.image_size);
    std::vector<int64_t> first(static_cast<size_t>(spec.batch));
    for (int64_t i = 0; i < spec.batch; ++i) first[static_cast<size_t>(i)] = i % images.size();
    fixed_views = ssl::make_two_view_batch(images, first, *transform, config.seed, 0).images;
  }

  int64_t parameter_count() const {
    int64_t count = 0;
    for (const auto& entry : method->trainable_parameters()) count += entry.second.numel();
    return count;
  }

  // A new two-view batch of `spec.batch` random images, as a loader worker makes it.
  Tensor augmented_batch() {
    std::vector<int64_t> indices(static_cast<size_t>(spec.batch));
    for (int64_t& index : indices) index = static_cast<int64_t>(index_gen.below(static_cast<uint64_t>(images.size())));
    return ssl::make_two_view_batch(images, indices, *transform, config.seed, step).images;
  }

  void run(const Tensor& views) {
    ssl::train_step(*method, *adam, schedule, views, step, hooks);
    ++step;
  }
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// ---- speed -------------------------------------------------------------------------------

struct SpeedOptions {
  double min_time = 5.0;
  int64_t min_steps = 3;
  int64_t warmup = 2;
};

Json time_steps(const ModelSpec& spec, const ssl::Dataset& images, bool with_augmentation, const SpeedOptions& o) {
  SimclrStep step(spec, images);
  auto one_step = [&](double& augment_seconds) {
    if (!with_augmentation) return step.run(step.fixed_views);
    const Clock::time_point start = Clock::now();
    const Tensor views = step.augmented_batch();
    augment_seconds += seconds_since(start);
    step.run(views);
  };
  double ignored = 0.0;
  for (int64_t i = 0; i < o.warmup; ++i) one_step(ignored);
  std::vector<double> step_ms;
  double augment_seconds = 0.0;
  const Clock::time_point start = Clock::now();
  double elapsed = 0.0;
  while (elapsed < o.min_time || static_cast<int64_t>(step_ms.size()) < o.min_steps) {
    const Clock::time_point step_start = Clock::now();
    one_step(augment_seconds);
    step_ms.push_back(seconds_since(step_start) * 1e3);
    elapsed = seconds_since(start);
  }
  const auto steps = static_cast<double>(step_ms.size());
  std::vector<double> sorted = step_ms;
  std::sort(sorted.begin(), sorted.end());
  Json out;
  out["steps"] = step_ms.size();
  out["seconds"] = elapsed;
  out["ms_per_step"] = elapsed * 1e3 / steps;
  out["median_step_ms"] = sorted[sorted.size() / 2];
  out["images_per_s"] = static_cast<double>(spec.batch) * steps / elapsed;
  if (with_augmentation) out["augment_ms_per_step"] = augment_seconds * 1e3 / steps;
  return out;
}

// ---- memory ------------------------------------------------------------------------------

using sc::bench::status_kb;  // VmRSS / VmHWM in kB (bench/process_memory.h)

Json memory_run(const ModelSpec& spec, const ssl::Dataset& images) {
  SimclrStep step(spec, images);
  const long rss_before_kb = status_kb("VmRSS");
  for (int i = 0; i < 2; ++i) step.run(step.fixed_views);
  // One step as the engine's allocator counts it: the bytes held above what was held after
  // zero_grad (parameters, Adam state, the batch), at the step's peak.
  step.adam->zero_grad();
  const int64_t held_before = memory_stats(Device::CPU).bytes_in_use;
  reset_peak_memory(Device::CPU);
  step.run(step.fixed_views);
  const int64_t engine_step_peak = memory_stats(Device::CPU).peak_bytes - held_before;
  for (int i = 0; i < 4; ++i) step.run(step.fixed_views);
  Json out;
  out["rss_before_first_step_kb"] = rss_before_kb;
  out["peak_rss_kb"] = status_kb("VmHWM");
  out["engine_step_peak_bytes"] = engine_step_peak;
  return out;
}

// ---- profile -----------------------------------------------------------------------------

// Every node of the graph behind `loss`, once each, as shapes: what the cost model needs to
// count a backward row's work (the trace line of a backward Node shows only its gradient).
// Identical nodes (same name and shapes) are counted, not repeated.
Json graph_nodes(const Tensor& loss) {
  std::map<std::string, std::pair<Json, int64_t>> unique;
  std::vector<const Node*> stack;
  std::set<const Node*> seen;
  if (loss.grad_fn()) stack.push_back(loss.grad_fn().get());
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    for (const auto& next : node->next)
      if (next) stack.push_back(next.get());
    if (node->name() == "AccumulateGrad") continue;
    Json entry;
    entry["name"] = node->name();
    Json inputs = Json::array();
    Json needs_grad = Json::array();
    for (size_t i = 0; i < node->input_shapes.size(); ++i) {
      const bool defined = i >= node->input_defined.size() || node->input_defined[i];
      inputs.push_back(defined ? Json(node->input_shapes[i]) : Json());
      needs_grad.push_back(i < node->next.size() && node->next[i] != nullptr);
    }
    entry["inputs"] = inputs;
    entry["needs_grad"] = needs_grad;
    entry["output"] = node->output.shape;
    const std::string key = entry.dump();
    auto [it, fresh] = unique.try_emplace(key, entry, 0);
    ++it->second.second;
  }
  Json out = Json::array();
  for (auto& [key, value] : unique) {
    value.first["count"] = value.second;
    out.push_back(value.first);
  }
  return out;
}

// "[trace] backward conv2d  float32[512, 32, 28, 28]  cpu  2.871 ms" -> the part between
// "[trace] " and the time, and the time in ms; false for any other line.
bool parse_trace_line(const std::string& line, std::string& head, double& ms) {
  const std::string prefix = "[trace] ";
  if (line.rfind(prefix, 0) != 0 || line.size() < prefix.size() + 4 || line.substr(line.size() - 3) != " ms") return false;
  const size_t time_start = line.rfind("  ", line.size() - 4);
  if (time_start == std::string::npos || time_start < prefix.size()) return false;
  head = line.substr(prefix.size(), time_start - prefix.size());
  ms = std::atof(line.c_str() + time_start + 2);
  return true;
}

Json profile_run(const ModelSpec& spec, const ssl::Dataset& images, int64_t steps) {
  SimclrStep step(spec, images);
  step.run(step.fixed_views);
  // The graph's shapes come from the second warm-up step, so walking it costs no profiled time.
  Json nodes;
  step.hooks.after_forward = [&nodes](int64_t, ssl::Method&, const Tensor& loss) { nodes = graph_nodes(loss); };
  step.run(step.fixed_views);
  step.hooks.after_forward = nullptr;
  std::ostringstream trace_text;
  trace::set_stream(&trace_text);
  trace::set_level(1);
  profiler::reset();
  profiler::enable();
  profiler::time_ops();
  std::vector<double> step_ms;
  for (int64_t i = 0; i < steps; ++i) {
    const Clock::time_point start = Clock::now();
    step.run(step.fixed_views);
    step_ms.push_back(seconds_since(start) * 1e3);
  }
  profiler::time_ops(false);
  profiler::enable(false);
  trace::set_level(0);
  trace::set_stream(nullptr);
  double total_ms = 0.0;
  for (double ms : step_ms) total_ms += ms;

  // Sum the trace per (name, input shapes), in order of first appearance.
  std::map<std::string, size_t> row_of;
  Json rows = Json::array();
  std::istringstream lines(trace_text.str());
  std::string line, head;
  double ms = 0.0;
  while (std::getline(lines, line)) {
    if (!parse_trace_line(line, head, ms)) continue;
    auto [it, fresh] = row_of.try_emplace(head, rows.size());
    if (fresh) rows.push_back(Json{{"head", head}, {"calls", 0}, {"total_ms", 0.0}});
    Json& row = rows[it->second];
    row["calls"] = row["calls"].get<int64_t>() + 1;
    row["total_ms"] = row["total_ms"].get<double>() + ms;
  }
  Json out;
  out["steps"] = steps;
  out["step_ms"] = step_ms;
  out["mean_step_ms"] = total_ms / static_cast<double>(steps);
  out["rows"] = rows;
  out["graph_nodes"] = nodes;
  out["op_table_md"] = profiler::table(total_ms / 1e3);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The SimCLR training step (ssl::train_step) timed, its memory or its per-op profile, "
               "for bench/cpu_step_bench.sh"};
  std::string mode = "speed", model = "convnet-w16", data = "auto";
  int threads = 0;
  int64_t batch = 0, profile_steps = 5;
  SpeedOptions speed;
  app.add_option("--mode", mode, "speed | memory | profile")->check(CLI::IsMember({"speed", "memory", "profile"}));
  app.add_option("--model", model, "the model")->check(CLI::IsMember(model_names()));
  app.add_option("--threads", threads, "compute threads")->required()->check(CLI::Range(1, ssl::max_threads()));
  app.add_option("--data", data, "auto (Fashion-MNIST for the 1x28x28 models when installed) | generated | fashion-mnist")
      ->check(CLI::IsMember({"auto", "generated", "fashion-mnist"}));
  app.add_option("--batch", batch, "images (pairs of views) per step; 0: the model's own (256, ResNet-18 128)")
      ->check(CLI::Range(int64_t{0}, ssl::kMaxBatchSize));
  app.add_option("--min-time", speed.min_time, "speed: seconds of timed steps, at least")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--min-steps", speed.min_steps, "speed: timed steps, at least")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  app.add_option("--warmup", speed.warmup, "speed: untimed steps first")->check(CLI::Range(int64_t{0}, int64_t{1000}));
  app.add_option("--profile-steps", profile_steps, "profile: profiled steps")->check(CLI::Range(int64_t{1}, int64_t{1000}));
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(threads);
    ModelSpec spec = find_spec(model);
    if (batch > 0) spec.batch = batch;
    const ssl::Dataset images = bench_images(spec, data);
    SC_CHECK(images.size() >= spec.batch, "--batch ", spec.batch, " is more than the ", images.size(), " images of ",
             images.name());
    Json out;
    out["side"] = "simclr.cpp";
    out["model"] = spec.name;
    out["mode"] = mode;
    out["threads"] = num_threads();
    out["batch"] = spec.batch;
    out["views"] = 2 * spec.batch;
    out["view_shape"] = {spec.channels, spec.image_size, spec.image_size};
    out["images"] = images.name();
    if (mode == "speed") {
      out["parameters"] = SimclrStep(spec, images).parameter_count();
      out["results"]["step"] = time_steps(spec, images, false, speed);
      out["results"]["step+augment"] = time_steps(spec, images, true, speed);
    } else if (mode == "memory") {
      out["memory"] = memory_run(spec, images);
    } else {
      out["profile"] = profile_run(spec, images, profile_steps);
    }
    std::cout << out.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
