#include "ssl/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "augment/preview.h"
#include "augment/transform.h"
#include "core/ops.h"
#include "nn/adam.h"
#include "nn/lars.h"
#include "nn/schedule.h"
#include "nn/sgd.h"
#include "ssl/checkpoint.h"
#include "ssl/data/cifar.h"
#include "ssl/data/idx.h"
#include "ssl/data/image_folder.h"
#include "ssl/data/loader.h"
#include "ssl/evaluation.h"
#include "ssl/metrics.h"

namespace fs = std::filesystem;

namespace sc::ssl {

// ---------------------------------------------------------------------------------------
// Config <-> JSON. A flat object of strings, numbers and booleans: a tiny writer and reader
// suffice, and the text stays readable inside the checkpoint.
// ---------------------------------------------------------------------------------------
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string number(double v) {
  std::ostringstream os;
  os << std::setprecision(17) << v;
  return os.str();
}

// Parses {"key": value, ...} into key -> raw value text (strings unquoted, marked with a
// leading '"' so the type can be checked).
std::map<std::string, std::string> parse_flat_json(const std::string& text) {
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  auto fail = [&](const std::string& what) -> void {
    throw Error("config JSON: " + what + " at character " + std::to_string(i));
  };
  auto read_string = [&]() -> std::string {
    if (i >= text.size() || text[i] != '"') fail("expected a string");
    ++i;
    std::string out;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      out += text[i++];
    }
    if (i >= text.size()) fail("unterminated string");
    ++i;
    return out;
  };
  std::map<std::string, std::string> out;
  skip();
  if (i >= text.size() || text[i] != '{') fail("expected '{'");
  ++i;
  skip();
  if (i < text.size() && text[i] == '}') return out;
  while (true) {
    skip();
    const std::string key = read_string();
    skip();
    if (i >= text.size() || text[i] != ':') fail("expected ':' after \"" + key + "\"");
    ++i;
    skip();
    std::string value;
    if (i < text.size() && text[i] == '"') {
      value = "\"";  // marks a string value
      value += read_string();
    } else {
      const size_t start = i;
      while (i < text.size() && text[i] != ',' && text[i] != '}' && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      value = text.substr(start, i - start);
      if (value.empty()) fail("missing value for \"" + key + "\"");
    }
    out[key] = value;
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}') break;
    fail("expected ',' or '}'");
  }
  return out;
}

struct JsonFields {
  const std::map<std::string, std::string>& raw;
  void get(const char* key, std::string& out) const {
    auto it = raw.find(key);
    if (it == raw.end()) return;
    SC_CHECK(!it->second.empty() && it->second[0] == '"', "config JSON: \"", key, "\" must be a string, got ", it->second);
    out = it->second.substr(1);
  }
  template <typename Number>
  void get(const char* key, Number& out) const {
    auto it = raw.find(key);
    if (it == raw.end()) return;
    const std::string& v = it->second;
    SC_CHECK(!v.empty() && v[0] != '"', "config JSON: \"", key, "\" must be a number, got ", v);
    try {
      size_t used = 0;
      const double value = std::stod(v, &used);
      SC_CHECK(used == v.size(), "");
      out = static_cast<Number>(value);
      if constexpr (std::is_integral_v<Number>) {
        // Seeds are uint64 and can exceed double's exact range: reread them as integers.
        if (v.find_first_of(".eE") == std::string::npos) {
          out = static_cast<Number>(v[0] == '-' ? static_cast<Number>(std::stoll(v)) : static_cast<Number>(std::stoull(v)));
        }
      }
    } catch (const std::exception&) {
      throw Error(std::string("config JSON: \"") + key + "\" must be a number, got " + v);
    }
  }
};

}  // namespace

std::string config_to_json(const TrainConfig& c) {
  std::ostringstream os;
  os << "{\"data\": " << quoted(c.data) << ", \"train_subset\": " << c.train_subset
     << ", \"test_subset\": " << c.test_subset << ", \"augment\": " << quoted(c.augment)
     << ", \"encoder\": " << quoted(c.encoder) << ", \"width\": " << c.width
     << ", \"projection_dim\": " << c.projection_dim << ", \"temperature\": " << number(c.temperature)
     << ", \"epochs\": " << c.epochs << ", \"max_steps\": " << c.max_steps << ", \"batch_size\": " << c.batch_size
     << ", \"optimizer\": " << quoted(c.optimizer) << ", \"lr\": " << number(c.lr)
     << ", \"weight_decay\": " << number(c.weight_decay) << ", \"momentum\": " << number(c.momentum)
     << ", \"warmup_epochs\": " << number(c.warmup_epochs) << ", \"seed\": " << c.seed << ", \"threads\": " << c.threads
     << ", \"workers\": " << c.workers << ", \"device\": " << quoted(c.device) << ", \"out_dir\": " << quoted(c.out_dir)
     << ", \"knn_k\": " << c.knn_k << ", \"knn_bank_size\": " << c.knn_bank_size << ", \"log_every\": " << c.log_every
     << "}";
  return os.str();
}

TrainConfig config_from_json(const std::string& json) {
  const auto raw = parse_flat_json(json);
  const JsonFields f{raw};
  TrainConfig c;
  f.get("data", c.data);
  f.get("train_subset", c.train_subset);
  f.get("test_subset", c.test_subset);
  f.get("augment", c.augment);
  f.get("encoder", c.encoder);
  f.get("width", c.width);
  f.get("projection_dim", c.projection_dim);
  f.get("temperature", c.temperature);
  f.get("epochs", c.epochs);
  f.get("max_steps", c.max_steps);
  f.get("batch_size", c.batch_size);
  f.get("optimizer", c.optimizer);
  f.get("lr", c.lr);
  f.get("weight_decay", c.weight_decay);
  f.get("momentum", c.momentum);
  f.get("warmup_epochs", c.warmup_epochs);
  f.get("seed", c.seed);
  f.get("threads", c.threads);
  f.get("workers", c.workers);
  f.get("device", c.device);
  f.get("out_dir", c.out_dir);
  f.get("knn_k", c.knn_k);
  f.get("knn_bank_size", c.knn_bank_size);
  f.get("log_every", c.log_every);
  return c;
}

void validate_config(const TrainConfig& c) {
  SC_CHECK(c.device == "cpu" || c.device == "cuda", "--device must be cpu or cuda, got '", c.device, "'");
  SC_CHECK(c.device != "cuda" || cuda_available(), "--device cuda: ", cuda_unavailable_reason(),
           "; use --device cpu");
  SC_CHECK(c.epochs >= 1, "--epochs must be >= 1, got ", c.epochs);
  SC_CHECK(c.max_steps >= 0, "--steps must be >= 0 (0: run all epochs), got ", c.max_steps);
  SC_CHECK(c.batch_size >= 2, "--batch-size must be >= 2 (NT-Xent needs other images as negatives), got ",
           c.batch_size);
  SC_CHECK(c.optimizer == "adam" || c.optimizer == "sgd" || c.optimizer == "adamw" || c.optimizer == "lars",
           "--optimizer must be adam, sgd, adamw or lars, got '", c.optimizer, "'");
  SC_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be positive, got ", c.lr);
  SC_CHECK(c.weight_decay >= 0, "--weight-decay must be >= 0, got ", c.weight_decay);
  SC_CHECK(c.temperature > 0, "--temperature must be positive, got ", c.temperature);
  SC_CHECK(c.warmup_epochs >= 0, "--warmup-epochs must be >= 0, got ", c.warmup_epochs);
  SC_CHECK(c.width >= 1, "--width must be >= 1, got ", c.width);
  SC_CHECK(c.projection_dim >= 1, "--projection-dim must be >= 1, got ", c.projection_dim);
  SC_CHECK(c.encoder == "convnet" || c.encoder == "resnet18", "--encoder must be convnet or resnet18, got '",
           c.encoder, "'");
  SC_CHECK(c.threads >= 0, "--threads must be >= 0, got ", c.threads);
  SC_CHECK(c.workers >= 0, "--workers must be >= 0, got ", c.workers);
  SC_CHECK(c.train_subset >= 0 && c.test_subset >= 0, "subset sizes must be >= 0");
  SC_CHECK(c.knn_k >= 0, "--knn-k must be >= 0, got ", c.knn_k);
  SC_CHECK(!c.out_dir.empty(), "--out must name a directory");
}

uint64_t model_init_seed(uint64_t seed) { return mix_seed(seed, 0x6d6f64656cULL /* "model" */, 0); }

ModelOptions model_options(const TrainConfig& c, int64_t in_channels) {
  ModelOptions m;
  m.encoder = c.encoder;
  m.width = c.width;
  m.in_channels = in_channels;
  m.projection_dim = c.projection_dim;
  return m;
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------
TrainData load_train_data(const std::string& path_in, int64_t train_subset, int64_t test_subset) {
  const std::string path = path_in.empty() ? std::string(kFashionMnistDir) : path_in;
  SC_CHECK(fs::exists(path), "--data: '", path, "' does not exist",
           path_in.empty() ? " (Fashion-MNIST: apt-get install dataset-fashion-mnist)" : "");
  SC_CHECK(fs::is_directory(path), "--data: '", path, "' is not a folder (give a dataset folder)");
  TrainData data;
  const fs::path root(path);
  if (fs::exists(root / "train-images-idx3-ubyte.gz") || fs::exists(root / "train-images-idx3-ubyte")) {
    data.train = load_mnist_folder(path, "train");
    data.test = load_mnist_folder(path, "test");
  } else if (fs::exists(root / "data_batch_1.bin")) {
    data.train = load_cifar10(path, "train");
    data.test = load_cifar10(path, "test");
  } else if (fs::is_directory(root / "train") && fs::is_directory(root / "test")) {
    data.train = load_image_folder((root / "train").string());
    data.test = load_image_folder((root / "test").string());
  } else {
    data.train = load_image_folder(path);
  }
  if (train_subset > 0) data.train = dataset_head(data.train, train_subset);
  if (data.test && test_subset > 0) data.test = dataset_head(*data.test, test_subset);
  return data;
}

std::string checkpoint_path(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoint.ckpt").string(); }

TrainConfig load_run_config(const std::string& run_dir) {
  const std::string path = checkpoint_path(run_dir);
  SC_CHECK(fs::exists(path), "--resume: no checkpoint in '", run_dir, "' (expected ", path, ")");
  return config_from_json(load_checkpoint(path).config);
}

std::unique_ptr<SimCLR> load_trained_model(const std::string& path, TrainConfig* config_out) {
  const std::string file = fs::is_directory(path) ? checkpoint_path(path) : path;
  SC_CHECK(fs::exists(file), "no checkpoint at '", file, "'");
  const Checkpoint ckpt = load_checkpoint(file);
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
  auto model = std::make_unique<SimCLR>(model_options(config, in_channels), gen);
  load_model_tensors(*model, ckpt.model, file);
  if (config_out) *config_out = config;
  return model;
}

void write_augment_preview(const Dataset& dataset, const std::string& preset, const std::string& path, int64_t count,
                           uint64_t seed) {
  SC_CHECK(count >= 1, "augment preview: count must be >= 1, got ", count);
  std::vector<augment::Image> originals;
  for (int64_t i = 0; i < std::min(count, dataset.size()); ++i) originals.push_back(dataset.float_image(i));
  augment::write_preview_png(path, originals, *augment::make_preset(preset), seed);
}

// ---------------------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------------------
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string format_duration(double s) {
  const int64_t total = static_cast<int64_t>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(total / 60), static_cast<int>(total % 60));
  return buf;
}

std::unique_ptr<nn::Optimizer> make_optimizer(const TrainConfig& c, SimCLR& model) {
  nn::ParamGroup group;
  for (const auto& [name, p] : model.named_parameters()) {
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

// The first parameter (in named_parameters order) whose gradient holds a NaN or Inf, or "".
template <typename T>
bool all_finite(const Tensor& t) {
  const Tensor c = t.contiguous();
  const Tensor host = c.to(Device::CPU);
  const T* p = host.data<T>();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

std::string first_non_finite_gradient(const SimCLR& model) {
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const bool ok = g.dtype() == DType::Float64 ? all_finite<double>(g) : all_finite<float>(g);
    if (!ok) return name;
  }
  return "";
}

double knn_monitor(SimCLR& model, const Dataset& train, const Dataset& test, const TrainConfig& c) {
  const Dataset bank = c.knn_bank_size > 0 && c.knn_bank_size < train.size() ? dataset_head(train, c.knn_bank_size) : Dataset();
  const Dataset& bank_ref = bank.size() > 0 ? bank : train;
  const Tensor train_features = encode_dataset(model, bank_ref);
  const Tensor test_features = encode_dataset(model, test);
  KnnOptions options;
  options.k = c.knn_k;
  options.num_classes = std::max(train.num_classes(), test.num_classes());
  return knn_evaluate(train_features, from_vector(bank_ref.labels(), {bank_ref.size()}), test_features,
                      from_vector(test.labels(), {test.size()}), options)
      .accuracy;
}

// Reads the numeric field `key` of a one-line JSON object (what metrics.jsonl holds).
bool json_number(const std::string& line, const std::string& key, double& out) {
  const std::string pattern = "\"" + key + "\": ";
  const size_t at = line.find(pattern);
  if (at == std::string::npos) return false;
  try {
    out = std::stod(line.substr(at + pattern.size()));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// loss.png and knn.png from the epoch lines of metrics.jsonl, when gnuplot is installed.
void write_plots(const std::string& out_dir, std::ostream& log) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    log << "plots: skipped (gnuplot not found; apt-get install gnuplot-nox); metrics are in "
        << (fs::path(out_dir) / "metrics.jsonl").string() << "\n";
    return;
  }
  const fs::path dir(out_dir);
  std::ifstream in(dir / "metrics.jsonl");
  std::ofstream table(dir / "epochs.dat");
  std::string line;
  bool any_knn = false;
  while (std::getline(in, line)) {
    if (line.find("\"type\": \"epoch\"") == std::string::npos) continue;
    double epoch = 0, loss = 0, knn = -1;
    json_number(line, "epoch", epoch);
    json_number(line, "loss", loss);
    json_number(line, "knn_accuracy", knn);
    if (knn >= 0) any_knn = true;
    table << epoch + 1 << " " << loss << " " << (knn >= 0 ? std::to_string(100 * knn) : std::string("NaN")) << "\n";
  }
  table.close();
  std::ofstream script(dir / "plots.gp");
  script << "set terminal pngcairo size 640,400\nset xlabel 'epoch'\nset grid\n"
         << "set output '" << (dir / "loss.png").string() << "'\nset ylabel 'NT-Xent loss'\n"
         << "plot '" << (dir / "epochs.dat").string() << "' using 1:2 with linespoints title 'mean loss'\n";
  if (any_knn)
    script << "set output '" << (dir / "knn.png").string() << "'\nset ylabel 'kNN accuracy (%)'\n"
           << "plot '" << (dir / "epochs.dat").string() << "' using 1:3 with linespoints title 'kNN top-1'\n";
  script.close();
  const std::string cmd = "gnuplot '" + (dir / "plots.gp").string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) == 0)
    log << "plots: " << (dir / "loss.png").string() << (any_knn ? ", " + (dir / "knn.png").string() : "") << "\n";
  else
    log << "plots: gnuplot failed; the data is in " << (dir / "epochs.dat").string() << "\n";
}

}  // namespace

TrainResult train(const TrainConfig& config, bool resume, const TrainHooks& hooks) {
  validate_config(config);
  return train(config, load_train_data(config.data, config.train_subset, config.test_subset), resume, hooks);
}

TrainResult train(const TrainConfig& config, const TrainData& data, bool resume, const TrainHooks& hooks) {
  validate_config(config);
  const auto run_start = Clock::now();
  if (config.threads > 0) set_num_threads(config.threads);
  std::ostream& log = std::cout;
  const bool verbose = !hooks.quiet;
  const bool tty = verbose && isatty(fileno(stdout));

  const Dataset& train_set = data.train;
  SC_CHECK(train_set.size() >= config.batch_size, "training set '", train_set.name(), "' has ", train_set.size(),
           " images, fewer than one batch of ", config.batch_size, " (lower --batch-size)");
  const std::string preset = !config.augment.empty() ? config.augment
                             : train_set.channels() == 1 ? "simclr-gray" : "simclr-rgb";
  augment::TransformPtr transform = augment::make_preset(preset);

  Generator init_gen(model_init_seed(config.seed));
  SimCLR model(model_options(config, train_set.channels()), init_gen);
  const Device device = config.device == "cuda" ? Device::CUDA : Device::CPU;

  LoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.num_workers = config.workers;
  loader_options.seed = config.seed;
  loader_options.pin_memory = device == Device::CUDA;  // batches land in page-locked memory
  Loader loader(train_set, loader_options, transform);
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  int64_t total_steps = config.epochs * steps_per_epoch;
  if (config.max_steps > 0) total_steps = std::min(total_steps, config.max_steps);
  const int64_t warmup_steps = std::min<int64_t>(
      total_steps, static_cast<int64_t>(std::llround(config.warmup_epochs * static_cast<double>(steps_per_epoch))));
  const nn::WarmupCosineSchedule schedule(warmup_steps, total_steps);

  fs::create_directories(config.out_dir);
  const std::string ckpt_path = checkpoint_path(config.out_dir);
  int64_t step = 0;
  // The checkpoint is read into the CPU model; then the model moves to its device, and the
  // optimizer is built on the moved parameters (its state follows them).
  std::optional<Checkpoint> resumed;
  if (resume) {
    SC_CHECK(fs::exists(ckpt_path), "--resume: no checkpoint in '", config.out_dir, "' (expected ", ckpt_path, ")");
    resumed = load_checkpoint(ckpt_path);
    load_model_tensors(model, resumed->model, ckpt_path);
  }
  if (device != Device::CPU) model.to(device);
  std::unique_ptr<nn::Optimizer> optimizer = make_optimizer(config, model);
  if (resumed) {
    const Checkpoint& ckpt = *resumed;
    optimizer->load_state_dict(std::map<std::string, Tensor>(ckpt.optimizer.begin(), ckpt.optimizer.end()));
    init_gen.set_state(ckpt.rng_state("model_init"));
    step = ckpt.step;
    SC_CHECK(step <= total_steps, "--resume: the checkpoint is at step ", step, " but this run has only ", total_steps,
             " steps");
    if (verbose) log << "resumed " << ckpt_path << " at step " << step << " (epoch " << step / steps_per_epoch << ")\n";
  } else {
    std::ofstream(fs::path(config.out_dir) / "config.json") << config_to_json(config) << "\n";
  }
  std::ofstream metrics(fs::path(config.out_dir) / "metrics.jsonl", resume ? std::ios::app : std::ios::trunc);
  SC_CHECK(metrics.good(), "cannot write ", (fs::path(config.out_dir) / "metrics.jsonl").string());

  auto save = [&](int64_t at_step) {
    Checkpoint ckpt;
    ckpt.config = config_to_json(config);
    ckpt.step = at_step;
    ckpt.epoch = at_step / steps_per_epoch;
    ckpt.model = model_tensors(model);
    for (const auto& [name, t] : optimizer->state_dict()) ckpt.optimizer.emplace_back(name, t.to(Device::CPU));
    ckpt.rng = {{"model_init", init_gen.state()}};
    save_checkpoint(ckpt_path, ckpt);
  };

  if (verbose) {
    log << "simclr train: " << train_set.name() << " (" << train_set.size() << " images, " << train_set.channels()
        << "x" << train_set.height() << "x" << train_set.width() << "), " << config.encoder << " w=" << config.width
        << " (" << model.parameter_count() << " parameters), batch " << config.batch_size << ", " << config.optimizer
        << " lr " << config.lr << ", " << total_steps << " steps (" << steps_per_epoch << " per epoch, warmup "
        << warmup_steps << "), augment " << preset << ", out " << config.out_dir << "\n";
  }

  TrainResult result;
  result.checkpoint_path = ckpt_path;
  const int64_t first_step_this_call = step;
  const auto train_start = Clock::now();
  model.train();
  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    const auto epoch_start = Clock::now();
    loader.start_epoch(epoch);
    // Resuming mid-epoch: the batches already trained on are skipped (rebuilt, not used).
    for (int64_t k = 0; k < step % steps_per_epoch; ++k) loader.next();
    double loss_sum = 0, top1_sum = 0;
    int64_t epoch_steps = 0;
    const int64_t epoch_end = std::min(total_steps, (epoch + 1) * steps_per_epoch);
    while (step < epoch_end) {
      std::optional<Batch> batch = loader.next();
      SC_CHECK(batch.has_value(), "loader ended epoch ", epoch, " early at step ", step);
      const auto step_start = Clock::now();
      schedule.apply(*optimizer, step);
      optimizer->zero_grad();
      const Tensor z = model.forward(batch->images.to(device));
      const Tensor loss = nt_xent(z, config.temperature);
      const double loss_value = loss.item();
      SC_CHECK(std::isfinite(loss_value), "training stopped at step ", step, " (epoch ", epoch, "): the loss is ",
               loss_value, "; the last good checkpoint is ", ckpt_path,
               fs::exists(ckpt_path) ? "" : " (none written yet)");
      loss.backward();
      if (hooks.after_backward) hooks.after_backward(step, model);
      const std::string bad = first_non_finite_gradient(model);
      SC_CHECK(bad.empty(), "training stopped at step ", step, " (epoch ", epoch, "): the gradient of parameter '", bad,
               "' holds NaN or Inf (loss ", loss_value, "); the last good checkpoint is ", ckpt_path,
               fs::exists(ckpt_path) ? "" : " (none written yet)");
      optimizer->step();
      const double step_seconds = seconds_since(step_start);
      const double top1 = contrastive_top1(z);
      const double spread = embedding_std(z);
      const bool collapsing = collapse_warning(spread, z.size(1));
      const double lr = optimizer->group(0).lr;
      const double images_per_s = static_cast<double>(config.batch_size) / step_seconds;
      metrics << "{\"type\": \"step\", \"epoch\": " << epoch << ", \"step\": " << step << ", \"loss\": "
              << number(loss_value) << ", \"lr\": " << number(lr) << ", \"top1\": " << top1
              << ", \"embedding_std\": " << spread << ", \"images_per_s\": " << images_per_s << "}\n";
      metrics.flush();
      loss_sum += loss_value;
      top1_sum += top1;
      ++epoch_steps;
      ++step;
      result.last_loss = loss_value;
      if (verbose) {
        const double elapsed = seconds_since(train_start);
        const double per_step = elapsed / static_cast<double>(step - first_step_this_call);
        const double eta = per_step * static_cast<double>(total_steps - step);
        char line[256];
        std::snprintf(line, sizeof line,
                      "epoch %lld/%lld  step %lld/%lld  loss %.4f  top1 %.3f  std %.4f  lr %.2e  %.0f img/s  ETA %s%s",
                      static_cast<long long>(epoch + 1), static_cast<long long>(config.epochs),
                      static_cast<long long>(step), static_cast<long long>(total_steps), loss_value, top1, spread, lr,
                      images_per_s, format_duration(eta).c_str(), collapsing ? "  WARNING: embeddings collapsing" : "");
        if (tty) {
          log << "\r\033[K" << line << std::flush;
        } else if (step % std::max<int64_t>(1, config.log_every) == 0 || step == epoch_end || collapsing) {
          log << line << "\n" << std::flush;
        }
      }
    }
    if (tty) log << "\n";
    EpochSummary summary;
    summary.epoch = epoch;
    summary.mean_loss = loss_sum / static_cast<double>(std::max<int64_t>(1, epoch_steps));
    summary.mean_top1 = top1_sum / static_cast<double>(std::max<int64_t>(1, epoch_steps));
    const bool epoch_complete = step % steps_per_epoch == 0;
    if (config.knn_k > 0 && data.test && epoch_complete) summary.knn_accuracy = knn_monitor(model, train_set, *data.test, config);
    model.train();
    summary.seconds = seconds_since(epoch_start);
    metrics << "{\"type\": \"epoch\", \"epoch\": " << epoch << ", \"step\": " << step << ", \"loss\": "
            << number(summary.mean_loss) << ", \"top1\": " << summary.mean_top1
            << ", \"knn_accuracy\": " << summary.knn_accuracy << ", \"seconds\": " << summary.seconds << "}\n";
    metrics.flush();
    save(step);
    result.epochs.push_back(summary);
    if (verbose) {
      log << "epoch " << epoch + 1 << " done: mean loss " << std::fixed << std::setprecision(4) << summary.mean_loss
          << ", contrastive top-1 " << std::setprecision(3) << summary.mean_top1;
      if (summary.knn_accuracy >= 0) log << ", kNN " << std::setprecision(2) << 100 * summary.knn_accuracy << "%";
      log << std::defaultfloat << ", " << format_duration(summary.seconds) << ", checkpoint " << ckpt_path << "\n";
    }
    if (hooks.stop_after_epochs > 0 && epoch_complete && step / steps_per_epoch >= hooks.stop_after_epochs) break;
  }
  loader.stop();
  result.steps = step;
  result.epochs_done = step / steps_per_epoch;
  result.wall_seconds = seconds_since(run_start);
  if (verbose && step == total_steps) {
    write_augment_preview(train_set, preset, (fs::path(config.out_dir) / "augment-preview.png").string(), 8,
                          config.seed);
    log << "augmentation preview: " << (fs::path(config.out_dir) / "augment-preview.png").string() << "\n";
    write_plots(config.out_dir, log);
  }
  return result;
}

}  // namespace sc::ssl
