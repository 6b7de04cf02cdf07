#include "ssl/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "augment/preview.h"
#include "augment/transform.h"
#include "core/ops.h"
#include "dist/watchdog.h"
#include "nn/adam.h"
#include "nn/lars.h"
#include "nn/sgd.h"
#include "ssl/checkpoint.h"
#include "ssl/data/loader.h"
#include "ssl/distributed.h"
#include "ssl/evaluation.h"
#include "ssl/interrupt.h"
#include "ssl/plots.h"
#include "ssl/run_dir.h"

namespace fs = std::filesystem;

namespace sc::ssl {

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The first trainable parameter (in order) whose gradient holds a NaN or Inf, or "".
template <typename T>
bool all_finite(const Tensor& t) {
  const Tensor host = t.contiguous().to(Device::CPU);
  const T* p = host.data<T>();
  for (int64_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

std::string first_non_finite_gradient(const Method& method) {
  for (const auto& [name, p] : method.trainable_parameters()) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const bool ok = g.dtype() == DType::Float64 ? all_finite<double>(g) : all_finite<float>(g);
    if (!ok) return name;
  }
  return "";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// One step. Everything a training step does is here, in order.
// ---------------------------------------------------------------------------------------
StepResult train_step(Method& method, nn::Optimizer& optimizer, const nn::WarmupCosineSchedule& schedule,
                      const Tensor& views, int64_t step, const TrainHooks& hooks, GradientReducer* reducer) {
  // 1. This step's learning rate: warmup, then cosine.
  schedule.apply(optimizer, step);
  // 2. Gradients start from zero: backward adds into them.
  optimizer.zero_grad();
  // 3. Forward: both views through the method, down to one loss.
  MethodOutput out = method.forward_views(views);
  if (hooks.after_forward) hooks.after_forward(step, method, out.loss);
  // (The mean over the ranks of a data-parallel run, so every rank stops together on a NaN.)
  const double loss = mean_over_ranks(out.loss.item(), method.communicator());
  SC_CHECK(std::isfinite(loss), "step ", step, ": the loss is ", loss);
  // 4. Backward: autograd fills every parameter's .grad(). With several ranks each gradient is
  // averaged over them (ssl/distributed.h), so every rank takes the same step: the reducer's
  // buckets are all-reduced while backward runs, and finish() waits for them.
  out.loss.backward();
  if (reducer)
    reducer->finish();
  else
    average_gradients(method.trainable_parameters(), method.communicator());
  if (hooks.after_backward) hooks.after_backward(step, method);
  // 5. One bad gradient would poison the weights and the optimizer state: stop before the update.
  const std::string bad = first_non_finite_gradient(method);
  SC_CHECK(bad.empty(), "step ", step, ": the gradient of parameter '", bad, "' holds NaN or Inf (loss ", loss, ")");
  // 6. The update, then whatever the method does after it (a target network's EMA).
  optimizer.step();
  method.after_step(step, schedule.total_steps());
  return {loss, optimizer.group(0).lr, std::move(out.metrics), std::move(out.warning)};
}

// ---------------------------------------------------------------------------------------
// The pieces of a run
// ---------------------------------------------------------------------------------------
namespace {

std::string format_duration(double s) {
  const int64_t total = static_cast<int64_t>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(total / 60), static_cast<int>(total % 60));
  return buf;
}

std::unique_ptr<nn::Optimizer> make_optimizer(const TrainConfig& c, const Method& method) {
  nn::ParamGroup group;
  for (const auto& [name, p] : method.trainable_parameters()) {
    group.names.push_back(name);
    group.params.push_back(p);
  }
  group.lr = c.lr;
  group.weight_decay = c.weight_decay;
  std::vector<nn::ParamGroup> groups{group};
  if (c.optimizer == "adam") return std::make_unique<nn::Adam>(groups);
  if (c.optimizer == "adamw") return std::make_unique<nn::AdamW>(groups);
  if (c.optimizer == "sgd") {
    nn::SGDOptions o;
    o.momentum = c.momentum;
    return std::make_unique<nn::SGD>(groups, o);
  }
  nn::LarsOptions o;
  o.momentum = c.momentum;
  return std::make_unique<nn::LARS>(groups, o);
}

// kNN accuracy of the encoder's features: test split against (the first knn_bank_size of)
// the training split.
double knn_monitor(Method& method, const Dataset& train, const Dataset& test, const TrainConfig& c) {
  const Dataset bank = c.knn_bank_size > 0 && c.knn_bank_size < train.size() ? dataset_head(train, c.knn_bank_size)
                                                                             : Dataset();
  const Dataset& bank_ref = bank.size() > 0 ? bank : train;
  const Tensor train_features = encode_dataset(method, bank_ref);
  const Tensor test_features = encode_dataset(method, test);
  KnnOptions options;
  options.k = c.knn_k;
  options.num_classes = std::max(train.num_classes(), test.num_classes());
  return knn_evaluate(train_features, from_vector(bank_ref.labels(), {bank_ref.size()}), test_features,
                      from_vector(test.labels(), {test.size()}), options)
      .accuracy;
}

// The progress line: in place on a terminal, every log_every steps otherwise.
class Progress {
 public:
  Progress(bool quiet, int64_t log_every)
      : verbose_(!quiet), tty_(!quiet && isatty(fileno(stdout))), log_every_(std::max<int64_t>(1, log_every)) {}

  bool verbose() const { return verbose_; }
  std::ostream& out() { return std::cout; }

  void step(int64_t epoch, int64_t epochs, int64_t step, int64_t total, const StepResult& r, double images_per_s,
            double eta_seconds, bool epoch_end) {
    if (!verbose_) return;
    std::ostringstream line;
    char head[160];
    std::snprintf(head, sizeof head, "epoch %lld/%lld  step %lld/%lld  loss %.4f", static_cast<long long>(epoch + 1),
                  static_cast<long long>(epochs), static_cast<long long>(step), static_cast<long long>(total), r.loss);
    line << head;
    for (const auto& [name, value] : r.metrics) {
      char m[64];
      std::snprintf(m, sizeof m, "  %s %.4g", name.c_str(), value);
      line << m;
    }
    char tail[96];
    std::snprintf(tail, sizeof tail, "  lr %.2e  %.0f img/s  ETA %s", r.lr, images_per_s,
                  format_duration(eta_seconds).c_str());
    line << tail;
    if (!r.warning.empty()) line << "  WARNING: " << r.warning;
    if (tty_) {
      std::cout << "\r\033[K" << line.str() << std::flush;
      if (epoch_end) std::cout << "\n";
    } else if (step % log_every_ == 0 || epoch_end || !r.warning.empty()) {
      std::cout << line.str() << "\n" << std::flush;
    }
  }

 private:
  bool verbose_, tty_;
  int64_t log_every_;
};

// A step, epoch or kNN record of metrics.jsonl.
Json record(const char* type, int64_t epoch, int64_t step) {
  Json r;
  r["type"] = type;
  r["epoch"] = epoch;
  r["step"] = step;
  return r;
}

}  // namespace

TrainResult train(const TrainConfig& config, StartMode mode, const TrainHooks& hooks) {
  validate_config(config);
  // What can be refused without the data is refused before it loads.
  setup_data_parallel(config, dist::world());  // a batch that does not divide, --sync-bn alone, differing configs
  gradient_bucket_bytes();                     // a bad SC_DIST_BUCKET_MB
  const RunDir run(config.out_dir);
  if (mode == StartMode::Resume) {
    std::ostringstream quiet;  // the real load below says it, if it falls back
    check_resume_compatible(run.load_latest(quiet).config, config);
  } else {
    run.check_new_run_allowed(mode == StartMode::Replace);
  }
  return train(config, load_run_data(config), mode, hooks);
}

TrainData load_run_data(const TrainConfig& config) {
  DataOptions options = data_options(config);
  if (config.eval_data.empty()) return load_train_data(config.data, options);
  // --eval-data: the training images come from --data (all of them: --val-fraction splits the
  // evaluation data), the kNN monitor's bank and test images from --eval-data, brought to
  // the training images' channels so that one encoder reads both.
  options.val_fraction = 0;
  TrainData data;
  data.train = load_train_data(config.data, options).train;
  DataOptions eval_options = data_options(config);
  eval_options.train_subset = 0;
  eval_options.channels = static_cast<int>(data.train.channels());
  TrainData eval = load_train_data(config.eval_data, eval_options);
  SC_CHECK(eval.train.labeled(), "--eval-data: ", eval.train.name(),
           " has no labels; give a labeled folder (root/<class>/<image>, or root/train/<class>/ and root/test/<class>/)");
  SC_CHECK(eval.test.has_value(), "--eval-data: ", eval.train.name(),
           " has no test split; give one with train/ and test/ subfolders, or add --val-fraction");
  SC_CHECK(eval.test->labeled(), "--eval-data: the test images in ", eval.test->name(),
           " have no labels (root/test/<class>/<image>)");
  data.knn_bank = std::move(eval.train);
  data.test = std::move(eval.test);
  return data;
}

TrainResult train(const TrainConfig& config, const TrainData& data, StartMode mode, const TrainHooks& hooks) {
  validate_config(config);
  check_image_size({config.encoder, config.width, data.train.channels()}, data.train.height(), data.train.width(),
                   data.train.name());
  // Data parallel (mpirun -np N): this rank's share of each batch; rank 0 alone writes the run.
  const DataParallel dp = setup_data_parallel(config, dist::world());
  const auto run_start = Clock::now();
  if (config.threads > 0) set_num_threads(config.threads);
  Progress progress(hooks.quiet || !dp.is_root(), config.log_every);
  TrainResult result;
  auto warn = [&](const std::string& what) {
    result.warnings.push_back(what);
    std::cerr << "warning: " << what << "\n";
  };

  // ---- the run folder: a new run, or the newest readable checkpoint of the one there
  const RunDir run(config.out_dir);
  std::optional<Checkpoint> resumed;
  if (mode == StartMode::Resume) {
    resumed = run.load_latest(std::cerr, &result.resumed_from);
    check_resume_compatible(resumed->config, config);
    if (dp.is_root() && result.resumed_from == run.previous_checkpoint() && fs::exists(run.checkpoint()))
      warn("the unreadable newest checkpoint was moved to " + run.set_aside_newest());
  } else if (dp.is_root()) {
    run.start_new(mode == StartMode::Replace, progress.out());
  }

  // ---- the data: every epoch a new shuffle and new views, from (seed, epoch, sample) only
  const Dataset& train_set = data.train;
  const Dataset& knn_bank = data.knn_bank ? *data.knn_bank : train_set;  // labeled images for the kNN monitor
  SC_CHECK(train_set.size() >= config.batch_size, "training set '", train_set.name(), "' has ", train_set.size(),
           " images, fewer than one batch of ", config.batch_size, " (lower --batch-size)");
  const std::string preset = augment_preset(config, train_set.channels());
  const Device device = config.device == "cuda" ? Device::CUDA : Device::CPU;
  LoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.num_workers = config.workers;
  loader_options.seed = config.seed;
  loader_options.pin_memory = device == Device::CUDA;  // batches land in page-locked memory
  // --augment-device cuda: the workers only draw the views' parameters; the GPU makes them.
  loader_options.draw_plans = config.augment_device == "cuda";
  loader_options.shard_index = dp.rank;
  loader_options.shard_count = dp.world_size;
  // The views are as large as the images (their shorter side, for images of their own size
  // that are not square), so training and evaluation see one size.
  const int64_t view_size = std::min(train_set.height(), train_set.width());
  Loader loader(train_set, loader_options, augment::make_preset(preset, view_size));
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  const int64_t total_steps =
      config.max_steps > 0 ? std::min(config.epochs * steps_per_epoch, config.max_steps) : config.epochs * steps_per_epoch;
  const int64_t warmup_steps = std::min<int64_t>(
      total_steps, static_cast<int64_t>(std::llround(config.warmup_epochs * static_cast<double>(steps_per_epoch))));
  const nn::WarmupCosineSchedule schedule(warmup_steps, total_steps);

  // ---- the method: initial weights from the run seed, or the checkpoint's; then its device,
  // then the optimizer on the moved parameters (its state follows them)
  Generator init_gen(model_init_seed(config.seed));
  std::unique_ptr<Method> method =
      make_method(config.method, method_options(config, train_set.channels()), init_gen);
  if (resumed) load_model_tensors(*method, resumed->model, result.resumed_from);
  if (device != Device::CPU) method->to(device);
  method->set_communicator(dp.comm, config.sync_bn);
  broadcast_from_root(*method, *dp.comm);  // every rank starts from rank 0's weights
  std::unique_ptr<nn::Optimizer> optimizer = make_optimizer(config, *method);
  GradientReducer reducer(method->trainable_parameters(), dp.comm, gradient_bucket_bytes());
  int64_t step = 0;
  if (resumed) {
    optimizer->load_state_dict(std::map<std::string, Tensor>(resumed->optimizer.begin(), resumed->optimizer.end()));
    init_gen.set_state(resumed->rng_state("model_init"));
    step = resumed->step;
    SC_CHECK(step <= total_steps, "--resume: the checkpoint is at step ", step, " but this run has only ", total_steps,
             " steps (raise --epochs or --steps)");
    const int64_t dropped = dp.is_root() ? run.trim_metrics(step) : 0;
    if (progress.verbose())
      progress.out() << "resumed " << result.resumed_from << " at step " << step << " (epoch "
                     << step / steps_per_epoch + 1 << ")"
                     << (dropped > 0 ? "; dropped " + std::to_string(dropped) + " metrics records after that step" : "")
                     << "\n";
  }
  if (dp.is_root()) run.write_config(config_to_json(config));
  MetricsLog metrics(dp.is_root() ? run.metrics() : "");

  auto save = [&](int64_t at_step) {
    if (!dp.is_root()) return;  // the ranks hold the same weights; one writes them
    Checkpoint ckpt;
    ckpt.config = config_to_json(config);
    ckpt.step = at_step;
    ckpt.epoch = at_step / steps_per_epoch;
    ckpt.model = model_tensors(*method);
    for (const auto& [name, t] : optimizer->state_dict()) ckpt.optimizer.emplace_back(name, t.to(Device::CPU));
    ckpt.rng = {{"model_init", init_gen.state()}};
    run.save(ckpt);
  };
  // A stop (NaN, a failing op) says where the last good checkpoint is.
  auto stopped = [&](const Error& e, int64_t epoch) {
    return Error("training stopped in epoch " + std::to_string(epoch + 1) + " at " + e.what() +
                 "; the last good checkpoint is " + run.checkpoint() +
                 (fs::exists(run.checkpoint()) ? "" : " (none written yet)"));
  };

  if (progress.verbose()) {
    progress.out() << "simclr train: " << find_method(config.method).title << " on " << train_set.name() << " ("
                   << train_set.size() << " images, " << train_set.channels() << "x" << train_set.height() << "x"
                   << train_set.width() << "), " << config.encoder << " w=" << config.width << " ("
                   << method->parameter_count() << " parameters), batch " << config.batch_size
                   << (dp.world_size > 1 ? " (" + std::to_string(dp.world_size) + " ranks x " +
                                               std::to_string(dp.local_batch) + (config.sync_bn ? ", sync BN)" : ")")
                                         : std::string())
                   << ", "
                   << config.optimizer << " lr " << config.lr << ", " << total_steps << " steps (" << steps_per_epoch
                   << " per epoch, warmup " << warmup_steps << "), augment " << preset << ", out " << run.path() << "\n";
    if (config.knn_k > 0 && !knn_bank.labeled())
      progress.out() << "no kNN monitor: the training images have no labels (give a labeled folder with --eval-data)\n";
  }
  if (!resumed && dp.is_root()) {
    // What the network sees, before it sees it. Optional: a failure is a warning.
    try {
      write_augment_preview(train_set, preset, run.file("augment-preview.png"), 8, config.seed, view_size);
    } catch (const std::exception& e) {
      warn(std::string("augmentation preview not written: ") + e.what());
    }
  }

  result.checkpoint_path = run.checkpoint();
  const int64_t first_step_this_call = step;
  const auto train_start = Clock::now();
  method->train();
  const InterruptScope interrupts;  // Ctrl-C / SIGTERM: finish the step, save, return (ssl/interrupt.h)
  bool interrupted = false;         // on any rank: every rank stops after the same step
  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    const auto epoch_start = Clock::now();
    loader.start_epoch(epoch);
    // Resuming mid-epoch: the batches already trained on are skipped (rebuilt, not used).
    for (int64_t k = 0; k < step % steps_per_epoch; ++k) loader.next();
    double loss_sum = 0;
    std::vector<std::pair<std::string, double>> metric_sums;
    int64_t epoch_steps = 0;
    const int64_t epoch_end = std::min(total_steps, (epoch + 1) * steps_per_epoch);
    while (step < epoch_end) {
      std::optional<Batch> batch = loader.next();
      SC_CHECK(batch.has_value(), "loader ended epoch ", epoch, " early at step ", step);
      const auto step_start = Clock::now();
      const double communication_before = dist::collective_seconds();
      StepResult r;
      if (hooks.on_step_start) hooks.on_step_start(step);
      try {
        // The views on the training device: made there from plans, or copied there.
        const Tensor views = batch->plans ? batch->plans->run(device) : batch->images.to(device);
        if (hooks.on_batch) hooks.on_batch(step, views);
        r = train_step(*method, *optimizer, schedule, views, step, hooks, &reducer);
      } catch (const Error& e) {
        throw stopped(e, epoch);
      }
      if (hooks.on_step_end) hooks.on_step_end(step);
      const double images_per_s = static_cast<double>(config.batch_size) / seconds_since(step_start);
      Json line = record("step", epoch, step);
      line["loss"] = r.loss;
      line["lr"] = r.lr;
      for (const auto& [name, value] : r.metrics) line[name] = value;
      line["images_per_s"] = images_per_s;
      if (dp.world_size > 1) line["communication_s"] = dist::collective_seconds() - communication_before;
      metrics.append(line.dump());
      if (metric_sums.empty()) metric_sums.assign(r.metrics.size(), {"", 0.0});
      for (size_t i = 0; i < r.metrics.size() && i < metric_sums.size(); ++i) {
        metric_sums[i].first = r.metrics[i].first;
        metric_sums[i].second += r.metrics[i].second;
      }
      loss_sum += r.loss;
      ++epoch_steps;
      ++step;
      result.last_loss = r.loss;
      const double per_step = seconds_since(train_start) / static_cast<double>(step - first_step_this_call);
      progress.step(epoch, config.epochs, step, total_steps, r, images_per_s,
                    per_step * static_cast<double>(total_steps - step), step == epoch_end);
      interrupted = any_rank(interrupts.requested(), *dp.comm);
      if (interrupted) break;  // the checkpoint below is written, then we return
    }

    // ---- end of the epoch: its record, then the checkpoint, then the optional monitor
    EpochSummary summary;
    summary.epoch = epoch;
    const double n = static_cast<double>(std::max<int64_t>(1, epoch_steps));
    summary.mean_loss = loss_sum / n;
    for (const auto& [name, sum] : metric_sums) summary.mean_metrics.emplace_back(name, sum / n);
    summary.seconds = seconds_since(epoch_start);
    const bool epoch_complete = step % steps_per_epoch == 0;
    Json epoch_line = record("epoch", epoch, step);
    epoch_line["loss"] = summary.mean_loss;
    for (const auto& [name, mean] : summary.mean_metrics) epoch_line[name] = mean;
    epoch_line["steps"] = epoch_steps;
    epoch_line["complete"] = epoch_complete;
    epoch_line["seconds"] = summary.seconds;
    metrics.append(epoch_line.dump());
    save(step);
    if (config.knn_k > 0 && data.test && knn_bank.labeled() && data.test->labeled() && epoch_complete &&
        !interrupted && dp.is_root()) {
      try {
        summary.knn_accuracy = knn_monitor(*method, knn_bank, *data.test, config);
        Json knn_line = record("knn", epoch, step);
        knn_line["knn_accuracy"] = summary.knn_accuracy;
        knn_line["k"] = config.knn_k;
        metrics.append(knn_line.dump());
      } catch (const std::exception& e) {
        warn("the kNN monitor failed after epoch " + std::to_string(epoch + 1) + " (the checkpoint is saved): " +
             e.what());
      }
      method->train();
    }
    result.epochs.push_back(summary);
    if (progress.verbose()) {
      char line[200];
      std::snprintf(line, sizeof line, "epoch %lld done: mean loss %.4f", static_cast<long long>(epoch + 1),
                    summary.mean_loss);
      progress.out() << line;
      if (summary.knn_accuracy >= 0) {
        std::snprintf(line, sizeof line, ", kNN %.2f%%", 100 * summary.knn_accuracy);
        progress.out() << line;
      }
      progress.out() << ", " << format_duration(summary.seconds) << ", checkpoint " << run.checkpoint() << "\n";
    }
    if (hooks.stop_after_epochs > 0 && epoch_complete && step / steps_per_epoch >= hooks.stop_after_epochs) break;
    if (interrupted && step < total_steps) {
      result.interrupted_by = interrupts.signal() != 0 ? interrupts.signal() : SIGTERM;  // another rank's
      break;
    }
  }
  loader.stop();
  result.steps = step;
  result.epochs_done = step / steps_per_epoch;
  result.wall_seconds = seconds_since(run_start);
  if (progress.verbose() && step == first_step_this_call)
    progress.out() << "nothing to do: the run is complete at step " << step << " (raise --epochs to go on)\n";
  if (progress.verbose() && step == total_steps) {
    try {
      write_plots(run.path(), progress.out());
    } catch (const std::exception& e) {
      warn(e.what());
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Reading a run back
// ---------------------------------------------------------------------------------------
TrainConfig load_run_config(const std::string& run_dir) {
  SC_CHECK(fs::is_directory(run_dir), "--resume: '", run_dir, "' is not a run folder");
  std::ostringstream quiet;  // train() says it again, when it loads the checkpoint for real
  return config_from_json(RunDir(run_dir).load_latest(quiet).config);
}

std::unique_ptr<Method> load_trained_model(const std::string& path, TrainConfig* config_out, CheckpointInfo* from) {
  std::string file = path;
  Checkpoint ckpt;
  if (fs::is_directory(path)) {
    ckpt = RunDir(path).load_latest(std::cerr, &file);
  } else {
    SC_CHECK(fs::exists(path), "no checkpoint at '", path, "'");
    ckpt = load_checkpoint(path);
  }
  const TrainConfig config = config_from_json(ckpt.config);
  // The channel count is the first conv weight's second dim (the checkpoint knows its data).
  int64_t in_channels = 1;
  for (const auto& [name, t] : ckpt.model) {
    if (t.dim() == 4) {
      in_channels = t.size(1);
      break;
    }
  }
  Generator gen(0);
  std::unique_ptr<Method> method = make_method(config.method, method_options(config, in_channels), gen);
  load_model_tensors(*method, ckpt.model, file);
  if (config_out) *config_out = config;
  if (from) *from = {file, ckpt.step, ckpt.epoch};
  return method;
}

std::vector<int64_t> preview_indices(int64_t dataset_size, int64_t count) {
  const int64_t n = std::min(count, dataset_size);
  std::vector<int64_t> indices(static_cast<size_t>(std::max<int64_t>(n, 0)));
  // Evenly spread over the dataset: a folder is read class by class, so its first images
  // would all be of one class.
  for (int64_t k = 0; k < n; ++k) indices[k] = k * dataset_size / n;
  return indices;
}

void write_augment_preview(const Dataset& dataset, const std::string& preset, const std::string& path, int64_t count,
                           uint64_t seed, int64_t crop_size) {
  SC_CHECK(count >= 1, "augment preview: count must be >= 1, got ", count);
  std::vector<augment::Image> originals;
  for (int64_t i : preview_indices(dataset.size(), count)) originals.push_back(dataset.float_image(i));
  augment::write_preview_png(path, originals, *augment::make_preset(preset, crop_size), seed);
}

}  // namespace sc::ssl
