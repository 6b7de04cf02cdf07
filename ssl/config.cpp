#include "ssl/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "augment/transform.h"
#include "core/generator.h"
#include "core/ops.h"
#include "nn/convnet.h"

namespace sc::ssl {

using Json = nlohmann::ordered_json;  // keeps the keys in the order written: readable files

namespace {

// Reads config[key] into `out` when present, checking its JSON type first so a wrong type
// names the key ("config JSON: \"epochs\" must be a number, got \"three\"").
template <typename T>
void read_field(const Json& config, const char* key, T& out) {
  auto it = config.find(key);
  if (it == config.end()) return;
  bool ok = false;
  const char* want = "";
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string();
    want = "a string";
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
    want = "true or false";
  } else if constexpr (std::is_integral_v<T>) {
    ok = it->is_number_integer() || it->is_number_unsigned();
    want = "an integer";
  } else {
    ok = it->is_number();
    want = "a number";
  }
  SC_CHECK(ok, "config JSON: \"", key, "\" must be ", want, ", got ", it->dump());
  out = it->get<T>();
}

}  // namespace

std::string config_to_json(const TrainConfig& c) {
  Json j;
  j["recipe"] = c.recipe;
  j["data"] = c.data;
  j["train_subset"] = c.train_subset;
  j["test_subset"] = c.test_subset;
  j["augment"] = c.augment;
  j["channels"] = c.channels;
  j["image_size"] = c.image_size;
  j["val_fraction"] = c.val_fraction;
  j["eval_data"] = c.eval_data;
  j["method"] = c.method;
  j["method_params"] = Json::object();
  for (const auto& [name, value] : c.method_params) j["method_params"][name] = value;
  j["encoder"] = c.encoder;
  j["width"] = c.width;
  j["projection_dim"] = c.projection_dim;
  j["epochs"] = c.epochs;
  j["max_steps"] = c.max_steps;
  j["batch_size"] = c.batch_size;
  j["optimizer"] = c.optimizer;
  j["lr"] = c.lr;
  j["weight_decay"] = c.weight_decay;
  j["momentum"] = c.momentum;
  j["warmup_epochs"] = c.warmup_epochs;
  j["seed"] = c.seed;
  j["threads"] = c.threads;
  j["workers"] = c.workers;
  j["device"] = c.device;
  j["augment_device"] = c.augment_device;
  j["sync_bn"] = c.sync_bn;
  j["out_dir"] = c.out_dir;
  j["knn_k"] = c.knn_k;
  j["knn_bank_size"] = c.knn_bank_size;
  j["log_every"] = c.log_every;
  return j.dump();
}

TrainConfig config_from_json(const std::string& text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    // Not only parse_error: a number too large for a double is an out_of_range (fuzzer find).
    throw Error(std::string("config JSON: ") + e.what());
  }
  SC_CHECK(j.is_object(), "config JSON: expected an object {...}, got ", j.type_name());
  TrainConfig c;
  read_field(j, "recipe", c.recipe);
  read_field(j, "data", c.data);
  read_field(j, "train_subset", c.train_subset);
  read_field(j, "test_subset", c.test_subset);
  read_field(j, "augment", c.augment);
  read_field(j, "channels", c.channels);
  read_field(j, "image_size", c.image_size);
  read_field(j, "val_fraction", c.val_fraction);
  read_field(j, "eval_data", c.eval_data);
  read_field(j, "encoder", c.encoder);
  read_field(j, "width", c.width);
  read_field(j, "projection_dim", c.projection_dim);
  read_field(j, "epochs", c.epochs);
  read_field(j, "max_steps", c.max_steps);
  read_field(j, "batch_size", c.batch_size);
  read_field(j, "optimizer", c.optimizer);
  read_field(j, "lr", c.lr);
  read_field(j, "weight_decay", c.weight_decay);
  read_field(j, "momentum", c.momentum);
  read_field(j, "warmup_epochs", c.warmup_epochs);
  read_field(j, "seed", c.seed);
  read_field(j, "threads", c.threads);
  read_field(j, "workers", c.workers);
  read_field(j, "device", c.device);
  read_field(j, "augment_device", c.augment_device);
  read_field(j, "sync_bn", c.sync_bn);
  read_field(j, "out_dir", c.out_dir);
  read_field(j, "knn_k", c.knn_k);
  read_field(j, "knn_bank_size", c.knn_bank_size);
  read_field(j, "log_every", c.log_every);
  if (j.contains("method")) {
    read_field(j, "method", c.method);
    c.method_params.clear();
    if (j.contains("method_params")) {
      const Json& params = j["method_params"];
      SC_CHECK(params.is_object(), "config JSON: \"method_params\" must be an object, got ", params.dump());
      for (const auto& [name, value] : params.items()) {
        SC_CHECK(value.is_number(), "config JSON: method parameter \"", name, "\" must be a number, got ", value.dump());
        c.method_params[name] = value.get<double>();
      }
    }
  } else {
    // Written before the method seam: SimCLR, with its temperature at the top level.
    c.method = "simclr";
    c.method_params.clear();
    double temperature = 0.5;
    read_field(j, "temperature", temperature);
    c.method_params["temperature"] = temperature;
  }
  return c;
}

int max_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return 4 * static_cast<int>(std::max(1u, cores));
}

void check_threads(const char* flag, int64_t threads, const char* zero_means) {
  SC_CHECK(threads >= 0 && threads <= max_threads(), flag, " must be in [0, ", max_threads(), "] (0: ", zero_means,
           "; at most 4 per core, and this machine has ", max_threads() / 4, "), got ", threads);
}

std::string seed_text_error(const std::string& text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  const bool digits_only = !text.empty() && std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (digits_only && error == std::errc() && stop == end) return "";
  return "must be a whole number in [0, " + std::to_string(std::numeric_limits<uint64_t>::max()) + "], got '" + text + "'";
}

void check_augment_preset(const char* flag, const std::string& preset) {
  if (preset.empty()) return;
  const std::vector<std::string> known = augment::preset_names();
  if (std::find(known.begin(), known.end(), preset) != known.end()) return;
  std::string list;
  for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
  throw Error(std::string(flag) + ": unknown augmentation preset '" + preset + "' (known: " + list +
              "; leave it out to pick by the data's channels)");
}

void check_preview_flags(const std::string& preset, int64_t count) {
  check_augment_preset("--preset", preset);
  SC_CHECK(count >= 1 && count <= 1024, "--count must be in [1, 1024], got ", count);
}

namespace {

// "--flag must be in [lo, hi]<note>, got v". The comparison is written so that NaN fails it.
template <typename T>
void check_range(const char* flag, T value, T lo, T hi, const char* note = "") {
  SC_CHECK(value >= lo && value <= hi, flag, " must be in [", lo, ", ", hi, "]", note, ", got ", value);
}

}  // namespace

// Each bound is far beyond any sensible run; it is there so that a typo is refused here, by
// name, instead of hanging or overflowing somewhere inside (--threads 1000 once started 1,907
// threads; --epochs 2^62 would overflow the step count).
void validate_config(const TrainConfig& c) {
  SC_CHECK(c.device == "cpu" || c.device == "cuda", "--device must be cpu or cuda, got '", c.device, "'");
  SC_CHECK(c.device != "cuda" || cuda_available(), "--device cuda: ", cuda_unavailable_reason(),
           "; use --device cpu");
  SC_CHECK(c.augment_device == "cpu" || c.augment_device == "cuda", "--augment-device must be cpu or cuda, got '",
           c.augment_device, "'");
  SC_CHECK(c.augment_device != "cuda" || c.device == "cuda",
           "--augment-device cuda makes the views on the GPU the run trains on: it needs --device cuda (got --device ",
           c.device, ")");
  check_range<int64_t>("--epochs", c.epochs, 1, kMaxEpochs);
  check_range<int64_t>("--steps", c.max_steps, 0, kMaxSteps, " (0: run all epochs)");
  check_range<int64_t>("--batch-size", c.batch_size, 2, kMaxBatchSize, " (a batch needs other images to contrast with)");
  SC_CHECK(c.optimizer == "adam" || c.optimizer == "sgd" || c.optimizer == "adamw" || c.optimizer == "lars",
           "--optimizer must be adam, sgd, adamw or lars, got '", c.optimizer, "'");
  SC_CHECK(c.lr > 0 && c.lr <= 100, "--lr must be in (0, 100], got ", c.lr);
  check_range("--weight-decay", c.weight_decay, 0.0, 1.0);
  SC_CHECK(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1), got ", c.momentum);
  SC_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs <= static_cast<double>(kMaxEpochs), "--warmup-epochs must be in [0, ",
           kMaxEpochs, "], got ", c.warmup_epochs);
  check_range<int64_t>("--width", c.width, 1, 1024);
  check_range<int64_t>("--projection-dim", c.projection_dim, 1, 65536);
  SC_CHECK(c.encoder == "convnet" || c.encoder == "resnet18", "--encoder must be convnet or resnet18, got '",
           c.encoder, "'");
  resolve_hyper_parameters(find_method(c.method), c.method_params);  // names the flag and its range
  check_augment_preset("--augment", c.augment);
  check_threads("--threads", c.threads, "all cores");
  SC_CHECK(c.workers >= 0 && c.workers <= max_threads(), "--workers must be in [0, ", max_threads(),
           "] (0: build batches on the training thread), got ", c.workers);
  SC_CHECK(c.train_subset >= 0, "--train-subset must be >= 0 (0: all), got ", c.train_subset);
  SC_CHECK(c.test_subset >= 0, "--test-subset must be >= 0 (0: all), got ", c.test_subset);
  SC_CHECK(c.channels == 0 || c.channels == 1 || c.channels == 3,
           "--channels must be 0 (as the images), 1 (gray) or 3 (RGB), got ", c.channels);
  check_range<int64_t>("--image-size", c.image_size, 0, kMaxImageSize, " (0: the images' own size)");
  // The encoder's smallest input, before any image is read (check_image_size says it again
  // for the data's own size).
  SC_CHECK(c.image_size == 0 || c.encoder != "convnet" || c.image_size >= nn::ConvNet::kMinInputSize, "--image-size ",
           c.image_size, " is too small for the convnet encoder: its 2 max-pools need at least ",
           nn::ConvNet::kMinInputSize, "x", nn::ConvNet::kMinInputSize, " (0: the images' own size; or --encoder resnet18)");
  check_range("--val-fraction", c.val_fraction, 0.0, kMaxValFraction, " (0: no split)");
  check_range<int64_t>("--knn-k", c.knn_k, 0, kMaxKnnK, " (0: no kNN monitor)");
  SC_CHECK(c.knn_bank_size >= 0, "--knn-bank must be >= 0 (0: all), got ", c.knn_bank_size);
  SC_CHECK(c.log_every >= 1, "--log-every must be >= 1, got ", c.log_every);
  SC_CHECK(!c.out_dir.empty(), "--out must name a directory");
}

void check_resume_compatible(const std::string& stored_config_json, const TrainConfig& requested) {
  const TrainConfig stored = config_from_json(stored_config_json);
  SC_CHECK(stored.data.empty() || Json::parse(stored_config_json).contains("image_size"),
           "--resume: this run (data '", stored.data,
           "') was written by an older simclr, which read image folders as 3 channels with 32x32 views; this "
           "version cannot continue it unchanged. Start a new run (simclr eval and embed of this run still work)");
  check_resume_compatible(stored, requested);
}

void check_resume_compatible(const TrainConfig& stored, const TrainConfig& requested) {
  std::vector<std::string> changed;
  auto compare = [&](const char* flag, const auto& was, const auto& now) {
    if (was == now) return;
    std::ostringstream os;
    os << flag << " (the run has " << was << ", asked for " << now << ")";
    changed.push_back(os.str());
  };
  compare("--data", stored.data.empty() ? std::string("Fashion-MNIST") : stored.data,
          requested.data.empty() ? std::string("Fashion-MNIST") : requested.data);
  compare("--train-subset", stored.train_subset, requested.train_subset);
  compare("--augment", stored.augment, requested.augment);
  compare("--channels", stored.channels, requested.channels);
  compare("--image-size", stored.image_size, requested.image_size);
  compare("--val-fraction", stored.val_fraction, requested.val_fraction);
  compare("--method", stored.method, requested.method);
  // Hyper-parameters are compared after resolving, so an explicit default equals an omitted one.
  if (stored.method == requested.method) {
    const MethodInfo& info = find_method(stored.method);
    const HyperParameters was = resolve_hyper_parameters(info, stored.method_params);
    const HyperParameters now = resolve_hyper_parameters(info, requested.method_params);
    for (const auto& [name, value] : was) compare(("--" + name).c_str(), value, now.at(name));
  }
  compare("--encoder", stored.encoder, requested.encoder);
  compare("--width", stored.width, requested.width);
  compare("--projection-dim", stored.projection_dim, requested.projection_dim);
  compare("--batch-size", stored.batch_size, requested.batch_size);
  compare("--optimizer", stored.optimizer, requested.optimizer);
  compare("--lr", stored.lr, requested.lr);
  compare("--weight-decay", stored.weight_decay, requested.weight_decay);
  compare("--momentum", stored.momentum, requested.momentum);
  compare("--warmup-epochs", stored.warmup_epochs, requested.warmup_epochs);
  compare("--seed", stored.seed, requested.seed);
  if (changed.empty()) return;
  std::string list;
  for (const std::string& c : changed) list += "\n  " + c;
  throw Error("--resume: these flags would change the model or the recipe of the run in '" + stored.out_dir +
              "', so they cannot change on resume:" + list +
              "\nResume without them (epochs, steps, threads, workers, device, augment device, logging, the kNN monitor, the "
              "number of ranks and --sync-bn may change), or start a new run with another --out.");
}

uint64_t model_init_seed(uint64_t seed) { return mix_seed(seed, 0x6d6f64656cULL /* "model" */, 0); }

MethodOptions method_options(const TrainConfig& c, int64_t in_channels) {
  MethodOptions m;
  m.encoder.encoder = c.encoder;
  m.encoder.width = c.width;
  m.encoder.in_channels = in_channels;
  m.projection_dim = c.projection_dim;
  m.hyper = c.method_params;
  return m;
}

std::string augment_preset(const TrainConfig& config, int64_t channels) {
  return config.augment.empty() ? augment::default_preset(channels) : config.augment;
}

DataOptions data_options(const TrainConfig& config) {
  DataOptions d;
  d.train_subset = config.train_subset;
  d.test_subset = config.test_subset;
  d.channels = static_cast<int>(config.channels);
  d.image_size = config.image_size;
  d.val_fraction = config.val_fraction;
  return d;
}

}  // namespace sc::ssl
