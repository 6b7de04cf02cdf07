#include "ssl/report.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/ops.h"
#include "ssl/checkpoint.h"
#include "ssl/config.h"
#include "ssl/data/two_view.h"
#include "ssl/evaluation.h"
#include "ssl/export.h"

namespace fs = std::filesystem;

namespace sc::ssl {

namespace {

Tensor labels_of(const Dataset& d) { return from_vector(d.labels(), {d.size()}); }

// Images per encoder forward when computing features. At 128 the ConvNet's activations (13 MB
// per layer for w=16 on 28x28) stay below glibc's mmap threshold and malloc reuses them; at
// encode_dataset's default of 512 (51 MB per layer) every batch mapped fresh pages and faulted
// them in: 582,000 page faults and 7.1 s of CPU for the 10,000 test images on one thread,
// against 42,000 and 5.7 s at 128.
constexpr int64_t kEncodeBatch = 128;

// The kNN column's title: the k that was used, so a table never claims another one.
std::string knn_title(int64_t k) { return k > 0 ? "kNN (k=" + std::to_string(k) + ")" : "kNN"; }

// An accuracy in percent, or "-" when it was not measured.
std::string percent(double accuracy) {
  if (accuracy < 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f%%", 100.0 * accuracy);
  return text;
}

bool any_skipped(const std::vector<EvalRow>& rows) {
  for (const EvalRow& r : rows)
    if (r.knn_accuracy < 0 || r.probe_accuracy < 0) return true;
  return false;
}

constexpr const char* kSkippedNote = "-: not measured (--knn-k 0 skips kNN, --epochs 0 the linear probe)";

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::FILE* file) {
    SC_CHECK(std::fwrite(text.data(), 1, text.size(), file) == text.size(), "writing '", path, "' failed");
  });
}

}  // namespace

// The threads share out whole batches: each encodes its batch with ops that run on the
// calling thread (a nested OpenMP region gets one thread), so there is no barrier per op. A
// ConvNet forward has about a dozen, and on a busy machine each waited for a descheduled
// thread: 10,000 test images took 13 s with 2 threads split per op, 6 s this way (one other
// process running). The ops compute each image the same way on one thread or several, hence
// the same bits. The mode is switched here, once, not by each thread.
Tensor encode_features(Method& method, const Dataset& dataset) {
  const int threads = num_threads();
  const int64_t batches = (dataset.size() + kEncodeBatch - 1) / kEncodeBatch;
  if (method.device() != Device::CPU || threads <= 1 || batches < 2) return encode_dataset(method, dataset, kEncodeBatch);
  SC_CHECK(dataset.channels() == method.options().encoder.in_channels, "encode_features: dataset '", dataset.name(),
           "' has ", dataset.channels(), " channel(s) but the encoder takes ", method.options().encoder.in_channels);
  const bool was_training = method.is_training();
  method.eval();
  std::vector<Tensor> parts(static_cast<size_t>(batches));
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < batches; ++i) {
    try {
      NoGradGuard no_grad;  // grad mode is per thread
      const int64_t start = i * kEncodeBatch;
      std::vector<int64_t> indices(static_cast<size_t>(std::min(kEncodeBatch, dataset.size() - start)));
      std::iota(indices.begin(), indices.end(), start);
      parts[i] = method.encode(make_plain_batch(dataset, indices).images);
    } catch (...) {
#pragma omp critical(sc_encode_features_error)
      if (!error) error = std::current_exception();
    }
  }
  method.train(was_training);
  if (error) std::rethrow_exception(error);
  return concat(parts, 0);
}

Tensor raw_pixel_features(const Dataset& dataset) {
  std::vector<float> values(static_cast<size_t>(dataset.size() * dataset.image_numel()));
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const auto img = dataset.image(i);
    for (int64_t j = 0; j < dataset.image_numel(); ++j) values[i * dataset.image_numel() + j] = img[j] / 255.0f;
  }
  return from_vector(values, {dataset.size(), dataset.image_numel()});
}

EvalRow evaluate_features(const std::string& method, const Tensor& train_features, const Dataset& train,
                          const Tensor& test_features, const Dataset& test, const EvalConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  EvalRow row;
  row.method = method;
  row.feature_dim = train_features.size(1);
  const int64_t classes = std::max(train.num_classes(), test.num_classes());
  auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  if (config.knn_k > 0) {
    KnnOptions knn;
    knn.k = config.knn_k;
    knn.num_classes = classes;
    row.knn_accuracy = knn_evaluate(train_features, labels_of(train), test_features, labels_of(test), knn).accuracy;
    row.knn_seconds = since(start);
  }
  const auto probe_start = std::chrono::steady_clock::now();
  if (config.probe_epochs > 0) {
    LinearProbeOptions probe;
    probe.epochs = config.probe_epochs;
    probe.seed = config.seed;
    probe.num_classes = classes;
    row.probe_accuracy =
        linear_probe(train_features, labels_of(train), test_features, labels_of(test), probe).test_accuracy;
    row.probe_seconds = since(probe_start);
  }
  row.seconds = since(start);
  if (config.verbose) {
    std::printf("  %-26s kNN %7s (%.1fs)   linear probe %7s (%.1fs)\n", method.c_str(),
                percent(row.knn_accuracy).c_str(), row.knn_seconds, percent(row.probe_accuracy).c_str(),
                row.probe_seconds);
    std::fflush(stdout);
  }
  return row;
}

std::string EvalReport::table() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "train: %s (%lld images)   test: %s (%lld images)\n", train_name.c_str(),
                static_cast<long long>(train_size), test_name.c_str(), static_cast<long long>(test_size));
  out += line;
  std::snprintf(line, sizeof line, "%-28s %8s %14s %14s %9s\n", "method", "dim", knn_title(knn_k).c_str(),
                "linear probe", "time");
  out += line;
  out += std::string(77, '-') + "\n";
  for (const EvalRow& r : rows) {
    std::snprintf(line, sizeof line, "%-28s %8lld %14s %14s %8.1fs\n", r.method.c_str(),
                  static_cast<long long>(r.feature_dim), percent(r.knn_accuracy).c_str(),
                  percent(r.probe_accuracy).c_str(), r.seconds);
    out += line;
  }
  if (any_skipped(rows)) out += std::string(kSkippedNote) + "\n";
  return out;
}

std::string EvalReport::markdown() const {
  std::ostringstream out;
  out << "# Evaluation\n\n";
  if (!checkpoint.empty()) {
    out << "- checkpoint: `" << checkpoint << "`";
    if (step >= 0)
      out << " (step " << step << ", " << epochs_done << " complete epoch" << (epochs_done == 1 ? "" : "s") << ")";
    out << "\n";
  }
  out << "- train: " << train_name << " (" << train_size << " images), test: " << test_name << " (" << test_size
      << " images)\n";
  if (knn_k > 0)
    out << "- kNN: k = " << knn_k << ", cosine, temperature " << knn_temperature;
  else
    out << "- kNN: skipped";
  if (probe_epochs > 0)
    out << "; linear probe: Adam, " << probe_epochs << " epochs, seed " << seed << "\n\n";
  else
    out << "; linear probe: skipped\n\n";
  out << "| method | dim | " << knn_title(knn_k) << " | linear probe | time (s) |\n";
  out << "|---|---:|---:|---:|---:|\n";
  for (const EvalRow& r : rows) {
    std::string method = r.method;
    for (size_t at = method.find('|'); at != std::string::npos; at = method.find('|', at + 2))
      method.replace(at, 1, "\\|");  // a '|' would end the cell
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", r.seconds);
    out << "| " << method << " | " << r.feature_dim << " | " << percent(r.knn_accuracy) << " | "
        << percent(r.probe_accuracy) << " | " << seconds << " |\n";
  }
  if (any_skipped(rows)) out << "\n" << kSkippedNote << "\n";
  return out.str();
}

std::string EvalReport::json() const {
  // ordered_json keeps the keys in the order written here, which reads better than sorted.
  using Json = nlohmann::ordered_json;
  auto accuracy = [](double a) { return a < 0 ? Json(nullptr) : Json(a); };
  Json doc = Json::object();
  doc["checkpoint"] = checkpoint;
  doc["step"] = step >= 0 ? Json(step) : Json(nullptr);
  doc["epochs_done"] = epochs_done >= 0 ? Json(epochs_done) : Json(nullptr);
  doc["train"] = {{"name", train_name}, {"size", train_size}};
  doc["test"] = {{"name", test_name}, {"size", test_size}};
  doc["knn_k"] = knn_k;
  doc["knn_temperature"] = knn_temperature;
  doc["probe_epochs"] = probe_epochs;
  doc["seed"] = seed;
  Json table = Json::array();
  for (const EvalRow& r : rows) {
    Json row = Json::object();
    row["method"] = r.method;
    row["feature_dim"] = r.feature_dim;
    row["knn_accuracy"] = accuracy(r.knn_accuracy);
    row["probe_accuracy"] = accuracy(r.probe_accuracy);
    row["seconds"] = r.seconds;
    row["knn_seconds"] = r.knn_seconds;
    row["probe_seconds"] = r.probe_seconds;
    table.push_back(std::move(row));
  }
  doc["rows"] = std::move(table);
  try {
    return doc.dump(2) + "\n";
  } catch (const Json::exception& e) {  // a name that is not valid UTF-8 (e.g. from a folder name)
    throw Error(std::string("eval: the results cannot be written as JSON: ") + e.what());
  }
}

EvalFiles write_eval_files(const EvalReport& report, const std::string& run) {
  fs::path dir = fs::is_directory(run) ? fs::path(run) : fs::path(run).parent_path();
  if (dir.empty()) dir = ".";  // "model.ckpt": the current folder
  EvalFiles files{(dir / "eval.json").string(), (dir / "eval.md").string()};
  write_text_atomically(files.json, report.json());
  write_text_atomically(files.markdown, report.markdown());
  return files;
}

void validate_eval_config(const EvalConfig& c) {
  SC_CHECK(!c.run.empty(), "--run must name a run folder or a .ckpt file");
  SC_CHECK(c.probe_epochs >= 0 && c.probe_epochs <= kMaxEpochs, "--epochs must be in [0, ", kMaxEpochs,
           "] (linear probe epochs; 0: skip the probe), got ", c.probe_epochs);
  SC_CHECK(c.knn_k >= 0 && c.knn_k <= kMaxKnnK, "--knn-k must be in [0, ", kMaxKnnK, "] (0: skip kNN), got ", c.knn_k);
  SC_CHECK(c.probe_epochs > 0 || c.knn_k > 0, "--epochs 0 and --knn-k 0 leave nothing to measure");
  SC_CHECK(c.train_subset >= -1, "--train-subset must be >= -1 (-1: as the run, 0: all), got ", c.train_subset);
  SC_CHECK(c.test_subset >= -1, "--test-subset must be >= -1 (-1: as the run, 0: all), got ", c.test_subset);
  SC_CHECK(c.val_fraction == -1 || (c.val_fraction >= 0 && c.val_fraction <= kMaxValFraction),
           "--val-fraction must be -1 (as the run) or in [0, ", kMaxValFraction, "] (0: no split), got ", c.val_fraction);
  check_threads("--threads", c.threads, "all cores");
  TrainConfig device_only;  // validate_config's device check, and its message for a missing GPU
  device_only.device = c.device;
  validate_config(device_only);
}

TrainData load_eval_data(const EvalConfig& config, const TrainConfig& run_config, const Method& model) {
  const bool runs_own_data = config.data.empty();
  const std::string data_path = !runs_own_data ? config.data : !run_config.eval_data.empty() ? run_config.eval_data
                                                                                            : run_config.data;
  const std::string shown = data_path.empty() ? "Fashion-MNIST" : data_path;
  DataOptions options = data_options(run_config);
  options.train_subset = config.train_subset >= 0 ? config.train_subset : run_config.train_subset;
  options.test_subset = config.test_subset >= 0 ? config.test_subset : run_config.test_subset;
  // The encoder's channel count is the truth about the run (a run from before --channels
  // read every image folder as RGB); the size is the run's --image-size.
  options.channels = static_cast<int>(model.options().encoder.in_channels);
  options.val_fraction = config.val_fraction >= 0 ? config.val_fraction : runs_own_data ? run_config.val_fraction : 0;
  if (runs_own_data && !run_config.eval_data.empty() && config.train_subset < 0) options.train_subset = 0;
  TrainData data = load_train_data(data_path, options);
  SC_CHECK(data.train.labeled(), "eval needs labels: the images in '", shown,
           "' have no class subfolders; give a labeled folder (root/<class>/<image>) with simclr eval --eval-data, "
           "or train with --eval-data");
  SC_CHECK(data.test.has_value(), "eval: the data at '", shown,
           "' has no test split (give an image folder train/ and test/ subfolders, or --val-fraction F to hold out "
           "a fraction F of each class)");
  SC_CHECK(data.test->labeled(), "eval needs labels: the test images in '", data.test->name(),
           "' have no class subfolders (root/test/<class>/<image>)");
  SC_CHECK(data.train.channels() == model.options().encoder.in_channels, "eval: the data has ", data.train.channels(),
           " channel(s) but the checkpoint's encoder takes ", model.options().encoder.in_channels);
  check_image_size(model.options().encoder, data.train.height(), data.train.width(), data.train.name());
  return data;
}

EvalReport evaluate_run(const EvalConfig& config) {
  validate_eval_config(config);
  if (config.threads > 0) set_num_threads(config.threads);
  TrainConfig run_config;
  CheckpointInfo checkpoint;
  std::unique_ptr<Method> model = load_trained_model(config.run, &run_config, &checkpoint);
  if (config.device == "cuda") model->to(Device::CUDA);
  const TrainData data = load_eval_data(config, run_config, *model);
  const Dataset& train = data.train;
  const Dataset& test = *data.test;

  EvalReport report;
  report.checkpoint = checkpoint.path;
  report.step = checkpoint.step;
  report.epochs_done = checkpoint.epoch;
  report.knn_k = config.knn_k > 0 ? std::min(config.knn_k, train.size()) : 0;
  report.knn_temperature = KnnOptions{}.temperature;
  report.probe_epochs = std::max<int64_t>(config.probe_epochs, 0);
  report.seed = config.seed;
  report.train_name = train.name();
  report.test_name = test.name();
  report.train_size = train.size();
  report.test_size = test.size();
  // Features of both splits through one model, timed.
  auto features_of = [&](Method& m, const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    std::pair<Tensor, Tensor> f{encode_features(m, train), encode_features(m, test)};
    if (config.verbose) {
      std::printf("  features of %s: %lld + %lld images in %.1fs\n", what, static_cast<long long>(train.size()),
                  static_cast<long long>(test.size()),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::fflush(stdout);
    }
    return f;
  };
  if (config.baselines) {
    report.rows.push_back(evaluate_features("raw pixels", raw_pixel_features(train), train, raw_pixel_features(test),
                                            test, config));
    // The run's starting point: the same method built from the same init seed.
    Generator init_gen(model_init_seed(run_config.seed));
    std::unique_ptr<Method> random_model = make_method(run_config.method, model->options(), init_gen);
    const auto [random_train, random_test] = features_of(*random_model, "the random encoder");
    report.rows.push_back(evaluate_features("random " + run_config.encoder + " w=" + std::to_string(run_config.width),
                                            random_train, train, random_test, test, config));
  }
  const std::string title = find_method(run_config.method).title;
  const auto [trained_train, trained_test] = features_of(*model, ("the " + title + " encoder").c_str());
  report.rows.push_back(evaluate_features(title + " " + run_config.encoder + " w=" + std::to_string(run_config.width),
                                          trained_train, train, trained_test, test, config));
  return report;
}

Tensor embed_to_npy(const std::string& run, const std::string& data_path, const std::string& split,
                    const std::string& path, int64_t subset, int threads) {
  // Every flag is checked before the checkpoint and the data load.
  SC_CHECK(split == "train" || split == "test", "embed: --split must be train or test, got '", split, "'");
  SC_CHECK(subset >= 0, "embed: --subset must be >= 0 (0: all), got ", subset);
  check_threads("embed: --threads", threads, "all cores");
  SC_CHECK(!path.empty(), "embed: --out must name a .npy file");
  if (threads > 0) set_num_threads(threads);
  TrainConfig run_config;
  std::unique_ptr<Method> model = load_trained_model(run, &run_config);
  // The run's image size and the encoder's channels; the run's split on its own data.
  DataOptions options = data_options(run_config);
  options.train_subset = split == "train" ? subset : 0;
  options.test_subset = split == "test" ? subset : 0;
  options.channels = static_cast<int>(model->options().encoder.in_channels);
  // The run's --val-fraction split its evaluation data: its --data only when it had no --eval-data.
  options.val_fraction = data_path.empty() && run_config.eval_data.empty() ? run_config.val_fraction : 0.0;
  const TrainData data = load_train_data(data_path.empty() ? run_config.data : data_path, options);
  SC_CHECK(split == "train" || data.test.has_value(), "embed: the data has no test split (use --split train)");
  const Dataset& dataset = split == "train" ? data.train : *data.test;
  check_image_size(model->options().encoder, dataset.height(), dataset.width(), dataset.name());
  const Tensor features = encode_features(*model, dataset);
  write_npy(path, features);
  if (dataset.labeled()) {  // unlabeled images have no labels to write
    std::string labels_path = path;
    if (labels_path.size() > 4 && labels_path.substr(labels_path.size() - 4) == ".npy")
      labels_path.resize(labels_path.size() - 4);
    write_npy(labels_path + "_labels.npy", from_vector(dataset.labels(), {dataset.size()}));
  }
  return features;
}

}  // namespace sc::ssl
