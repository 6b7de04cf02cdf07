// The SimCLR trainer on tiny generated data (ConvNet w=4, 28x28 gray): metrics file and
// checkpoints, bit-identical resume, NaN/Inf stops, config checks, and the functions the
// `simclr` CLI calls (train from a data folder, eval table, embed, export).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "core/ops.h"
#include "ssl/checkpoint.h"
#include "ssl/evaluation.h"
#include "ssl/export.h"
#include "ssl/recipes.h"
#include "ssl/report.h"
#include "ssl/run_dir.h"
#include "ssl/trainer.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;
namespace fs = std::filesystem;

namespace {



// Four classes of 28x28 gray images with a visible structure: horizontal stripes, vertical
// stripes, a bright centre square, a checkerboard; random phase and noise per image.
Dataset patterns(int64_t n, uint64_t seed, const std::string& name) {
  Generator gen(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 28 * 28));
  std::vector<int64_t> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 4;
    labels[i] = label;
    const int64_t phase = static_cast<int64_t>(gen.below(4));
    for (int64_t y = 0; y < 28; ++y)
      for (int64_t x = 0; x < 28; ++x) {
        bool on = false;
        if (label == 0) on = ((y + phase) / 3) % 2 == 0;
        if (label == 1) on = ((x + phase) / 3) % 2 == 0;
        if (label == 2) on = y >= 8 + phase && y < 20 && x >= 8 && x < 20 + phase / 2;
        if (label == 3) on = (((x + phase) / 4) + (y / 4)) % 2 == 0;
        const double v = (on ? 200.0 : 30.0) + 25.0 * gen.normal();
        pixels[(i * 28 + y) * 28 + x] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  }
  return Dataset(name, 1, 28, 28, std::move(pixels), std::move(labels), 4);
}

TrainData tiny_data() {
  TrainData data;
  data.train = patterns(64, 1, "patterns/train");
  data.test = patterns(32, 2, "patterns/test");
  return data;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("simclr_test_" + name);
  fs::remove_all(dir);
  return dir;
}

// 64 images, batch 16: 4 steps per epoch.
TrainConfig tiny_config(const fs::path& out) {
  TrainConfig c;
  c.width = 4;
  c.projection_dim = 16;
  c.batch_size = 16;
  c.epochs = 2;
  c.lr = 3e-3;
  c.method_params = {{"temperature", 0.5}};
  c.warmup_epochs = 0.5;
  c.seed = 3;
  c.workers = 1;
  c.knn_k = 10;
  c.out_dir = out.string();
  return c;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Big-endian IDX files of a dataset (the MNIST layout the CLI's --data reads).
void write_idx(const Dataset& d, const fs::path& images, const fs::path& labels) {
  auto be32 = [](std::ofstream& out, uint32_t v) {
    const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                                static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
    out.write(reinterpret_cast<const char*>(b), 4);
  };
  std::ofstream img(images, std::ios::binary), lab(labels, std::ios::binary);
  be32(img, 0x803);
  be32(img, static_cast<uint32_t>(d.size()));
  be32(img, 28);
  be32(img, 28);
  be32(lab, 0x801);
  be32(lab, static_cast<uint32_t>(d.size()));
  for (int64_t i = 0; i < d.size(); ++i) {
    const auto px = d.image(i);
    img.write(reinterpret_cast<const char*>(px.data()), static_cast<std::streamsize>(px.size()));
    const char l = static_cast<char>(d.label(i));
    lab.write(&l, 1);
  }
}

void check_same_tensors(const NamedTensors& a, const NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    REQUIRE(a[i].second.dtype() == b[i].second.dtype());
    REQUIRE(a[i].second.shape() == b[i].second.shape());
    const size_t bytes = static_cast<size_t>(a[i].second.numel()) * dtype_size(a[i].second.dtype());
    // Bit for bit: memcmp, not a tolerance.
    CHECK_MESSAGE(std::memcmp(a[i].second.contiguous().raw_data(), b[i].second.contiguous().raw_data(), bytes) == 0,
                  a[i].first);
  }
}

// The records of one type in a metrics.jsonl file, parsed.
std::vector<nlohmann::json> read_records(const fs::path& path, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& line : read_lines(path)) {
    nlohmann::json record = nlohmann::json::parse(line);
    if (record.value("type", "") == type) out.push_back(std::move(record));
  }
  return out;
}

TrainHooks quiet() {
  TrainHooks h;
  h.quiet = true;
  return h;
}

}  // namespace

TEST_CASE("simclr: trainer on tiny data writes metrics and a checkpoint that reloads") {
  const fs::path out = fresh_dir("train");
  const TrainConfig config = tiny_config(out);
  const TrainResult r = train(config, tiny_data(), StartMode::New, quiet());
  CHECK(r.steps == 8);
  CHECK(r.epochs_done == 2);
  REQUIRE(r.epochs.size() == 2);
  CHECK(std::isfinite(r.last_loss));
  // The mean loss falls from epoch 1 to epoch 2 (structured data, lr 3e-3; a rise means
  // the step or the schedule is broken).
  CHECK(r.epochs[1].mean_loss < r.epochs[0].mean_loss);
  for (const auto& e : r.epochs) CHECK(e.knn_accuracy >= 0.0);

  // One record per step with the loss, the lr and the method's metrics; one per epoch; one
  // kNN record per epoch, written after the epoch's checkpoint.
  const auto steps = read_records(out / "metrics.jsonl", "step");
  REQUIRE(steps.size() == 8);
  for (size_t i = 0; i < steps.size(); ++i) {
    CHECK(steps[i]["step"] == i);
    for (const char* key : {"loss", "lr", "top1", "embedding_std", "images_per_s"}) CHECK_MESSAGE(steps[i].contains(key), key);
  }
  CHECK(steps.back()["loss"].get<double>() == r.last_loss);
  const auto epochs = read_records(out / "metrics.jsonl", "epoch");
  REQUIRE(epochs.size() == 2);
  CHECK(epochs[1]["step"] == 8);
  CHECK(epochs[1]["complete"] == true);
  CHECK(epochs[1]["loss"].get<double>() == r.epochs[1].mean_loss);
  const auto knn = read_records(out / "metrics.jsonl", "knn");
  REQUIRE(knn.size() == 2);
  CHECK(knn[1]["knn_accuracy"].get<double>() == r.epochs[1].knn_accuracy);
  // config.json is the run's config; the preview shows what the network saw.
  std::ifstream config_file(out / "config.json");
  const std::string config_text((std::istreambuf_iterator<char>(config_file)), std::istreambuf_iterator<char>());
  CHECK(config_from_json(config_text).width == 4);
  CHECK(fs::file_size(out / "augment-preview.png") > 0);
  // The previous checkpoint (end of epoch 1) is kept as the fallback.
  CHECK(load_checkpoint(RunDir(out.string()).previous_checkpoint()).step == 4);

  const Checkpoint ckpt = load_checkpoint(RunDir(out.string()).checkpoint());
  CHECK(ckpt.step == 8);
  CHECK(ckpt.epoch == 2);
  CHECK(!ckpt.optimizer.empty());
  const TrainConfig stored = config_from_json(ckpt.config);
  CHECK(stored.width == 4);
  CHECK(stored.seed == 3);
  TrainConfig reloaded_config;
  const auto model = load_trained_model(out.string(), &reloaded_config);
  CHECK(reloaded_config.batch_size == 16);
  check_same_tensors(model_tensors(*model), ckpt.model);
  fs::remove_all(out);
}

TEST_CASE("simclr: stopping after epoch 1 and resuming is bit-identical to an uninterrupted run") {
  const fs::path full_dir = fresh_dir("resume_full");
  TrainConfig config = tiny_config(full_dir);
  train(config, tiny_data(), StartMode::New, quiet());
  const Checkpoint full = load_checkpoint(RunDir(full_dir.string()).checkpoint());

  for (int workers : {1, 2}) {
    CAPTURE(workers);
    const fs::path dir = fresh_dir("resume_" + std::to_string(workers));
    TrainConfig c = tiny_config(dir);
    c.workers = workers;
    TrainHooks stop = quiet();
    stop.stop_after_epochs = 1;
    const TrainResult first = train(c, tiny_data(), StartMode::New, stop);
    CHECK(first.steps == 4);
    CHECK(load_checkpoint(RunDir(dir.string()).checkpoint()).step == 4);
    const TrainResult second = train(c, tiny_data(), StartMode::Resume, quiet());
    CHECK(second.steps == 8);
    const Checkpoint resumed = load_checkpoint(RunDir(dir.string()).checkpoint());
    CHECK(resumed.step == full.step);
    check_same_tensors(resumed.model, full.model);
    check_same_tensors(resumed.optimizer, full.optimizer);
    fs::remove_all(dir);
  }

  // A step budget that ends mid-epoch, then resumed to the end: also identical.
  const fs::path mid_dir = fresh_dir("resume_mid");
  TrainConfig mid = tiny_config(mid_dir);
  mid.max_steps = 6;
  train(mid, tiny_data(), StartMode::New, quiet());
  CHECK(load_checkpoint(RunDir(mid_dir.string()).checkpoint()).step == 6);
  // max_steps shortens the schedule, so for a bit-identical comparison compare with a full
  // run of the same 6-step schedule: rerun it in one go.
  const fs::path mid_ref_dir = fresh_dir("resume_mid_ref");
  TrainConfig mid_ref = mid;
  mid_ref.out_dir = mid_ref_dir.string();
  train(mid_ref, tiny_data(), StartMode::New, quiet());
  check_same_tensors(load_checkpoint(RunDir(mid_dir.string()).checkpoint()).model,
                     load_checkpoint(RunDir(mid_ref_dir.string()).checkpoint()).model);
  fs::remove_all(mid_dir);
  fs::remove_all(mid_ref_dir);

  // Resuming with a flag that changes the model or the recipe is refused, naming each flag
  // with both values; nothing in the folder changes.
  const auto bytes_before = fs::file_size(RunDir(full_dir.string()).checkpoint());
  TrainConfig wrong = config;
  wrong.encoder = "resnet18";
  wrong.width = 8;
  wrong.method_params["temperature"] = 0.1;
  const std::string msg = message_of([&] { train(wrong, tiny_data(), StartMode::Resume, quiet()); });
  CAPTURE(msg);
  CHECK(contains(msg, "--encoder (the run has convnet, asked for resnet18)"));
  CHECK(contains(msg, "--width (the run has 4, asked for 8)"));
  CHECK(contains(msg, "--temperature (the run has 0.5, asked for 0.1)"));
  CHECK(contains(msg, "cannot change on resume"));
  CHECK(fs::file_size(RunDir(full_dir.string()).checkpoint()) == bytes_before);
  // A flag that only lengthens the run may change: 3 epochs continue from step 8 to 12.
  TrainConfig longer = config;
  longer.epochs = 3;
  longer.threads = 1;
  longer.workers = 2;
  CHECK(train(longer, tiny_data(), StartMode::Resume, quiet()).steps == 12);
  fs::remove_all(full_dir);
  CHECK(contains(message_of([&] { train(config, tiny_data(), StartMode::Resume, quiet()); }), "--resume: no checkpoint"));
}

TEST_CASE("simclr: a corrupt newest checkpoint falls back to the previous one, and the resumed run is still exact") {
  const fs::path full_dir = fresh_dir("fallback_full");
  const TrainConfig full_config = tiny_config(full_dir);
  train(full_config, tiny_data(), StartMode::New, quiet());
  const Checkpoint full = load_checkpoint(RunDir(full_dir.string()).checkpoint());

  const fs::path dir = fresh_dir("fallback");
  const TrainConfig config = tiny_config(dir);
  const RunDir run(dir.string());
  train(config, tiny_data(), StartMode::New, quiet());  // checkpoints at steps 4 (previous) and 8 (newest)
  fs::resize_file(run.checkpoint(), fs::file_size(run.checkpoint()) / 2);
  // Reading the run (eval, embed, export) uses the previous checkpoint, saying so.
  TrainConfig stored;
  CHECK(load_trained_model(dir.string(), &stored)->feature_dim() == 32);
  CHECK(stored.width == 4);
  // Resuming starts from step 4, sets the unreadable file aside, and ends where an
  // uninterrupted run ends, bit for bit, with one metrics record per step.
  const TrainResult r = train(config, tiny_data(), StartMode::Resume, quiet());
  CHECK(r.resumed_from == run.previous_checkpoint());
  CHECK(r.steps == 8);
  REQUIRE(!r.warnings.empty());
  CHECK(contains(r.warnings[0], "checkpoint.unreadable-1.ckpt"));
  CHECK(fs::exists(dir / "checkpoint.unreadable-1.ckpt"));
  const Checkpoint resumed = load_checkpoint(run.checkpoint());
  check_same_tensors(resumed.model, full.model);
  check_same_tensors(resumed.optimizer, full.optimizer);
  CHECK(read_records(dir / "metrics.jsonl", "step").size() == 8);
  // Both checkpoints unreadable: an error naming both files.
  fs::resize_file(run.checkpoint(), 100);
  fs::resize_file(run.previous_checkpoint(), 100);
  const std::string msg = message_of([&] { train(config, tiny_data(), StartMode::Resume, quiet()); });
  CHECK(contains(msg, "neither checkpoint"));
  CHECK(contains(msg, "checkpoint.prev.ckpt"));
  fs::remove_all(dir);
  fs::remove_all(full_dir);
}

TEST_CASE("simclr: a run killed mid-epoch and resumed has exactly one metrics record per step") {
  const fs::path dir = fresh_dir("killed");
  TrainConfig config = tiny_config(dir);
  TrainHooks crash = quiet();
  // "Killed" during step 6: steps 4 and 5 were logged after the epoch-1 checkpoint (step 4).
  crash.after_backward = [](int64_t step, Method&) {
    if (step == 6) throw Error("killed");
  };
  CHECK(contains(message_of([&] { train(config, tiny_data(), StartMode::New, crash); }), "killed"));
  // A half-written last line, as a kill in the middle of a write leaves.
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"type\": \"step\", \"ep";
  // Epoch 1: 4 steps, its epoch and kNN records; steps 4 and 5; the partial line.
  CHECK(read_lines(dir / "metrics.jsonl").size() == 9);
  const TrainResult r = train(config, tiny_data(), StartMode::Resume, quiet());
  CHECK(r.steps == 8);
  const auto steps = read_records(dir / "metrics.jsonl", "step");
  REQUIRE(steps.size() == 8);
  for (size_t i = 0; i < steps.size(); ++i) CHECK(steps[i]["step"] == i);
  CHECK(read_records(dir / "metrics.jsonl", "epoch").size() == 2);
  CHECK(read_records(dir / "metrics.jsonl", "knn").size() == 2);
  fs::remove_all(dir);
}

TEST_CASE("simclr: a new run in a used folder is refused; --force moves the old run aside") {
  const fs::path dir = fresh_dir("used");
  fs::remove_all(dir.string() + ".replaced-1");
  TrainConfig config = tiny_config(dir);
  config.epochs = 1;
  train(config, tiny_data(), StartMode::New, quiet());
  const RunDir run(dir.string());
  const auto size_before = fs::file_size(run.checkpoint());
  const auto metrics_before = read_lines(run.metrics());
  // The same folder again, or with a trailing slash: refused before anything is touched.
  for (const std::string& out : {dir.string(), dir.string() + "/"}) {
    TrainConfig again = config;
    again.out_dir = out;
    const std::string msg = message_of([&] { train(again, tiny_data(), StartMode::New, quiet()); });
    CAPTURE(msg);
    CHECK(contains(msg, "already holds a run"));
    CHECK(contains(msg, "--resume " + dir.string()));
    CHECK(contains(msg, "--force"));
  }
  CHECK(fs::file_size(run.checkpoint()) == size_before);
  CHECK(read_lines(run.metrics()) == metrics_before);
  // --force: the old run moves to <dir>.replaced-1, whole; the new one starts fresh.
  config.seed = 4;
  train(config, tiny_data(), StartMode::Replace, quiet());
  const RunDir old_run(dir.string() + ".replaced-1");
  CHECK(fs::file_size(old_run.checkpoint()) == size_before);
  CHECK(read_lines(old_run.metrics()) == metrics_before);
  CHECK(config_from_json(load_checkpoint(run.checkpoint()).config).seed == 4);
  CHECK(read_records(run.metrics(), "step").size() == 4);
  fs::remove_all(dir);
  fs::remove_all(old_run.path());
}

TEST_CASE("simclr: a failing kNN monitor is a warning; the epoch's checkpoint is saved") {
  const fs::path dir = fresh_dir("monitor");
  TrainConfig config = tiny_config(dir);
  TrainData data = tiny_data();
  // A test split the encoder cannot read (3 channels for a 1-channel encoder).
  data.test = Dataset("rgb", 3, 28, 28, std::vector<uint8_t>(4 * 3 * 28 * 28, 100), {0, 1, 2, 3}, 4);
  const TrainResult r = train(config, data, StartMode::New, quiet());
  CHECK(r.steps == 8);
  REQUIRE(r.warnings.size() == 2);
  CHECK(contains(r.warnings[0], "the kNN monitor failed after epoch 1 (the checkpoint is saved)"));
  CHECK(contains(r.warnings[0], "channel"));
  CHECK(load_checkpoint(RunDir(dir.string()).checkpoint()).step == 8);
  // A preview that cannot be written (its path is a folder) is a warning too.
  const fs::path dir2 = fresh_dir("preview");
  fs::create_directories(dir2 / "augment-preview.png");
  config.out_dir = dir2.string();
  config.epochs = 1;
  const TrainResult r2 = train(config, tiny_data(), StartMode::New, quiet());
  REQUIRE(r2.warnings.size() == 1);
  CHECK(contains(r2.warnings[0], "augmentation preview not written"));
  CHECK(r2.steps == 4);
  fs::remove_all(dir);
  fs::remove_all(dir2);
}

TEST_CASE("simclr: a NaN gradient stops training naming the step and the first bad parameter") {
  const fs::path dir = fresh_dir("nan");
  const TrainConfig config = tiny_config(dir);
  TrainHooks hooks = quiet();
  // Step 5 is in epoch 2, after the epoch-1 checkpoint (step 4). Two parameters are
  // poisoned; the message must name the first in named_parameters order.
  hooks.after_backward = [](int64_t step, Method& model) {
    if (step != 5) return;
    for (const auto& [name, p] : model.named_parameters()) {
      if (name == "encoder.features.3.weight") p.grad().data<float>()[7] = NAN;
      if (name == "head.0.weight") p.grad().data<float>()[0] = INFINITY;
    }
  };
  const std::string msg = message_of([&] { train(config, tiny_data(), StartMode::New, hooks); });
  CHECK(contains(msg, "step 5"));
  CHECK(contains(msg, "'encoder.features.3.weight'"));
  CHECK(contains(msg, "NaN or Inf"));
  CHECK(contains(msg, "checkpoint.ckpt"));
  // The last good checkpoint is intact and is the one from the end of epoch 1.
  const Checkpoint ckpt = load_checkpoint(RunDir(dir.string()).checkpoint());
  CHECK(ckpt.step == 4);
  fs::remove_all(dir);

  // A NaN in the last layer's bias makes the next loss NaN: that stop names the loss. (A NaN
  // in an early conv weight would not: ReLU turns NaN into 0 there, and the stop comes from
  // that weight's gradient instead.)
  TrainHooks poison = quiet();
  poison.after_backward = [](int64_t step, Method& model) {
    if (step != 1) return;
    NoGradGuard no_grad;
    model.named_parameters().back().second.data<float>()[0] = NAN;
  };
  const std::string loss_msg = message_of([&] { train(config, tiny_data(), StartMode::New, poison); });
  CAPTURE(loss_msg);
  CHECK(contains(loss_msg, "step 2"));
  CHECK(contains(loss_msg, "the loss is"));
  CHECK(contains(loss_msg, "none written yet"));
  fs::remove_all(dir);
}

TEST_CASE("simclr: config JSON round trip and the checks behind the CLI's errors") {
  TrainConfig c;
  c.data = "some \"quoted\" path";
  c.encoder = "resnet18";
  c.lr = 0.123456789;
  c.seed = 18446744073709551557ULL;  // beyond double's exact range
  c.epochs = 7;
  const TrainConfig back = config_from_json(config_to_json(c));
  CHECK(back.data == c.data);
  CHECK(back.encoder == "resnet18");
  CHECK(back.lr == c.lr);
  CHECK(back.seed == c.seed);
  CHECK(back.epochs == 7);
  c.augment_device = "cuda";
  CHECK(config_from_json(config_to_json(c)).augment_device == "cuda");
  CHECK(config_from_json("{}").augment_device == "cpu");  // a run from before the flag made its views on the CPU
  CHECK(contains(message_of([] { config_from_json("{\"epochs\": \"three\"}"); }), "\"epochs\" must be an integer"));
  CHECK(contains(message_of([] { config_from_json("{\"lr\": true}"); }), "\"lr\" must be a number"));
  CHECK(contains(message_of([] { config_from_json("{\"encoder\": 3}"); }), "\"encoder\" must be a string"));
  CHECK(contains(message_of([] { config_from_json("[1, 2]"); }), "expected an object"));
  CHECK(contains(message_of([] { config_from_json("{\"epochs\": 3"); }), "config JSON"));
  // The method and its hyper-parameters round-trip; a config from before methods existed
  // (top-level temperature) reads as SimCLR with that temperature.
  c.method_params = {{"temperature", 0.25}};
  CHECK(config_from_json(config_to_json(c)).method_params == HyperParameters{{"temperature", 0.25}});
  const TrainConfig legacy = config_from_json("{\"temperature\": 0.3, \"width\": 8, \"batch_size\": 256}");
  CHECK(legacy.method == "simclr");
  CHECK(legacy.method_params == HyperParameters{{"temperature", 0.3}});
  CHECK(legacy.width == 8);

  auto error_for = [](const std::function<void(TrainConfig&)>& change) {
    TrainConfig bad;
    change(bad);
    return message_of([&] { validate_config(bad); });
  };
  if (!cuda_available())  // with a GPU, --device cuda is valid
    CHECK(contains(error_for([](TrainConfig& b) { b.device = "cuda"; }), cuda_unavailable_reason()));
  CHECK(contains(error_for([](TrainConfig& b) { b.device = "tpu"; }), "--device must be cpu or cuda"));
  CHECK(contains(error_for([](TrainConfig& b) { b.augment_device = "gpu"; }), "--augment-device must be cpu or cuda, got 'gpu'"));
  CHECK(contains(error_for([](TrainConfig& b) { b.augment_device = "cuda"; }),
                 "--augment-device cuda makes the views on the GPU the run trains on: it needs --device cuda (got --device cpu)"));
  CHECK(contains(error_for([](TrainConfig& b) { b.optimizer = "rmsprop"; }), "--optimizer must be"));
  CHECK(contains(error_for([](TrainConfig& b) { b.batch_size = 1; }), "--batch-size must be in [2, 65536]"));
  CHECK(contains(error_for([](TrainConfig& b) { b.epochs = 0; }), "--epochs must be in [1, 1000000], got 0"));
  CHECK(contains(error_for([](TrainConfig& b) { b.encoder = "vgg"; }), "--encoder must be"));
  CHECK(contains(error_for([](TrainConfig& b) { b.lr = -1; }), "--lr must be in (0, 100], got -1"));
  CHECK(contains(error_for([](TrainConfig& b) { b.method = "mocov9"; }), "unknown method 'mocov9' (known: simclr"));
  CHECK(contains(error_for([](TrainConfig& b) { b.method_params["temperature"] = 1e-30; }),
                 "--temperature must be in [0.01, 100] for simclr, got 1e-30"));
  CHECK(contains(error_for([](TrainConfig& b) { b.method_params["temperature"] = INFINITY; }), "--temperature must be in"));
  CHECK(contains(error_for([](TrainConfig& b) { b.method_params["lambd"] = 1; }),
                 "--lambd is not a hyper-parameter of simclr (simclr takes --temperature)"));
  CHECK(contains(error_for([](TrainConfig& b) { b.knn_bank_size = -1; }), "--knn-bank must be >= 0"));
  CHECK(contains(error_for([](TrainConfig& b) { b.momentum = 1.5; }), "--momentum must be in [0, 1)"));
  // Upper bounds: a typo is refused by name, before it can hang or overflow anything.
  const std::string threads_range = "--threads must be in [0, " + std::to_string(max_threads()) + "]";
  CHECK(contains(error_for([](TrainConfig& b) { b.threads = 1000; }), threads_range + " (0: all cores; at most 4 per core"));
  CHECK(contains(error_for([](TrainConfig& b) { b.threads = -1; }), threads_range));
  CHECK(contains(error_for([](TrainConfig& b) { b.workers = 1000; }), "--workers must be in [0, "));
  CHECK(contains(error_for([](TrainConfig& b) { b.epochs = int64_t(1) << 62; }), "--epochs must be in [1, 1000000]"));
  CHECK(contains(error_for([](TrainConfig& b) { b.max_steps = -3; }), "--steps must be in [0, "));
  CHECK(contains(error_for([](TrainConfig& b) { b.batch_size = 1 << 20; }), "--batch-size must be in [2, 65536]"));
  CHECK(contains(error_for([](TrainConfig& b) { b.lr = NAN; }), "--lr must be in (0, 100], got nan"));
  CHECK(contains(error_for([](TrainConfig& b) { b.weight_decay = 5; }), "--weight-decay must be in [0, 1], got 5"));
  CHECK(contains(error_for([](TrainConfig& b) { b.warmup_epochs = INFINITY; }), "--warmup-epochs must be in [0, "));
  CHECK(contains(error_for([](TrainConfig& b) { b.width = 100000; }), "--width must be in [1, 1024], got 100000"));
  CHECK(contains(error_for([](TrainConfig& b) { b.knn_k = -1; }), "--knn-k must be in [0, 100000] (0: no kNN monitor), got -1"));
  CHECK(error_for([](TrainConfig& b) { b.threads = max_threads(); }) == "no error");
  CHECK(contains(error_for([](TrainConfig& b) { b.augment = "simclr-grey"; }),
                 "--augment: unknown augmentation preset 'simclr-grey' (known: "));
  CHECK(error_for([](TrainConfig& b) { b.augment = "blog"; }) == "no error");
  // Seeds as typed: every uint64, nothing else (CLI11 alone turns -1 into 2^64 - 1).
  CHECK(seed_text_error("0").empty());
  CHECK(seed_text_error("18446744073709551615").empty());
  CHECK(seed_text_error("-1") == "must be a whole number in [0, 18446744073709551615], got '-1'");
  CHECK_FALSE(seed_text_error("18446744073709551616").empty());
  CHECK_FALSE(seed_text_error("+5").empty());
  CHECK_FALSE(seed_text_error("1e3").empty());
  CHECK_FALSE(seed_text_error("").empty());
  // Images too small for the encoder: refused before the run folder or any step, naming both.
  {
    TrainData tiny_images;
    tiny_images.train = Dataset("3x3 patterns", 1, 3, 3, std::vector<uint8_t>(64 * 9, 100), std::vector<int64_t>(64, 0), 2);
    const fs::path dir = fresh_dir("tiny_images");
    const std::string msg = message_of([&] { train(tiny_config(dir), tiny_images, StartMode::New, quiet()); });
    CHECK(contains(msg, "the images of 3x3 patterns are 3x3 (height x width), too small for the convnet encoder: its 2 "
                        "max-pools need at least 4x4"));
    CHECK_FALSE(fs::exists(dir));
    TrainConfig resnet = tiny_config(dir);  // ResNet-18's strided convolutions take any size
    resnet.encoder = "resnet18";
    resnet.max_steps = 1;
    resnet.knn_k = 0;
    CHECK(message_of([&] { train(resnet, tiny_images, StartMode::New, quiet()); }) == "no error");
    fs::remove_all(dir);
  }

  TrainConfig big = tiny_config(fresh_dir("big"));
  big.batch_size = 128;
  CHECK(contains(message_of([&] { train(big, tiny_data(), StartMode::New, quiet()); }), "fewer than one batch of 128"));
  CHECK(contains(message_of([] { load_train_data("/nonexistent/data"); }), "'/nonexistent/data' does not exist"));
}

TEST_CASE("simclr: recipes: quick is TrainConfig's defaults, main is quick longer, R is the reference recipe") {
  CHECK(config_to_json(recipe_config("quick")) == config_to_json(TrainConfig{}));
  const TrainConfig r = recipe_config("R");
  CHECK(r.recipe == "R");
  CHECK(r.batch_size == 256);
  CHECK(r.lr == 1e-3);
  CHECK(r.epochs == 3);
  CHECK(r.method_params.at("temperature") == 0.5);
  const TrainConfig quick = recipe_config("quick");
  CHECK(quick.batch_size == 128);
  CHECK(quick.lr == 3e-3);
  CHECK(quick.method_params.at("temperature") == 0.2);
  // main is quick for 3 epochs at temperature 0.1, nothing else.
  TrainConfig main_expected;
  main_expected.recipe = std::string("main");
  main_expected.epochs = 3;
  main_expected.method_params = {{"temperature", 0.1}};
  CHECK(config_to_json(recipe_config("main")) == config_to_json(main_expected));
  // vicreg is main's budget (quick for 3 epochs) with VICReg and its own defaults, nothing else.
  TrainConfig vicreg_expected;
  vicreg_expected.recipe = std::string("vicreg");
  vicreg_expected.method = std::string("vicreg");
  vicreg_expected.epochs = 3;
  vicreg_expected.method_params = {};
  CHECK(config_to_json(recipe_config("vicreg")) == config_to_json(vicreg_expected));
  for (const Recipe& recipe : recipes()) CHECK_NOTHROW(validate_config(recipe.config));
  CHECK(contains(message_of([] { recipe_config("slow"); }), "unknown recipe 'slow' (known: quick, main, R, vicreg)"));
}

TEST_CASE("simclr: the CLI's pipeline on a data folder: train, eval table, embed, export, preview") {
  const fs::path data_dir = fresh_dir("cli_data");
  fs::create_directories(data_dir);
  write_idx(patterns(64, 1, "t"), data_dir / "train-images-idx3-ubyte", data_dir / "train-labels-idx1-ubyte");
  write_idx(patterns(32, 2, "t"), data_dir / "t10k-images-idx3-ubyte", data_dir / "t10k-labels-idx1-ubyte");
  const fs::path run = fresh_dir("cli_run");
  TrainConfig config = tiny_config(run);
  config.data = data_dir.string();
  config.epochs = 1;
  const TrainResult r = train(config, StartMode::New, quiet());
  CHECK(r.steps == 4);

  EvalConfig ec;
  ec.run = run.string();
  ec.probe_epochs = 5;
  ec.knn_k = 10;
  const EvalReport report = evaluate_run(ec);
  REQUIRE(report.rows.size() == 3);
  CHECK(report.rows[0].method == "raw pixels");
  CHECK(report.rows[0].feature_dim == 784);
  CHECK(report.rows[1].method == "random convnet w=4");
  CHECK(report.rows[2].method == "SimCLR convnet w=4");
  for (const auto& row : report.rows) {
    CHECK(row.knn_accuracy >= 0.0);
    CHECK(row.probe_accuracy >= 0.0);
  }
  // Four well-separated patterns: raw pixels already classify them far above chance (25%).
  CHECK(report.rows[0].probe_accuracy > 0.8);
  const std::string table = report.table();
  CHECK(contains(table, "raw pixels"));
  CHECK(contains(table, "linear probe"));
  CHECK(report.test_size == 32);
  // The table names the k it was given (not the default 200).
  CHECK(contains(table, "kNN (k=10)"));
  CHECK_FALSE(contains(table, "k=200"));
  CHECK(report.knn_k == 10);
  CHECK(report.checkpoint == RunDir(run.string()).checkpoint());
  CHECK(report.step == 4);

  // `simclr eval` saves the same results into the run folder.
  const EvalFiles files = write_eval_files(report, run.string());
  CHECK(files.json == (run / "eval.json").string());
  CHECK(files.markdown == (run / "eval.md").string());
  CHECK_FALSE(fs::exists(run / "eval.json.tmp"));
  const nlohmann::json saved = nlohmann::json::parse(read_text(files.json));
  CHECK(saved.at("knn_k") == 10);
  CHECK(saved.at("probe_epochs") == 5);
  CHECK(saved.at("seed") == 0);
  CHECK(saved.at("step") == 4);
  CHECK(saved.at("checkpoint") == RunDir(run.string()).checkpoint());
  CHECK(saved.at("train").at("size") == 64);
  CHECK(saved.at("test").at("size") == 32);
  CHECK(saved.at("test").at("name") == report.test_name);
  REQUIRE(saved.at("rows").size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    const nlohmann::json& row = saved.at("rows")[i];
    CHECK(row.at("method") == report.rows[i].method);
    CHECK(row.at("feature_dim") == report.rows[i].feature_dim);
    // Exactly equal: JSON numbers are written with enough digits to read back the same double.
    CHECK(row.at("knn_accuracy").get<double>() == report.rows[i].knn_accuracy);
    CHECK(row.at("probe_accuracy").get<double>() == report.rows[i].probe_accuracy);
    CHECK(row.at("seconds").get<double>() == report.rows[i].seconds);
  }
  const std::string markdown = read_text(files.markdown);
  CHECK(markdown == report.markdown());
  CHECK(contains(markdown, "| method | dim | kNN (k=10) | linear probe | time (s) |"));
  char raw_row[128];
  std::snprintf(raw_row, sizeof raw_row, "| raw pixels | 784 | %.2f%% | %.2f%% |", 100 * report.rows[0].knn_accuracy,
                100 * report.rows[0].probe_accuracy);
  CHECK(contains(markdown, raw_row));
  CHECK(contains(markdown, "| SimCLR convnet w=4 | 32 |"));
  CHECK(contains(markdown, "(step 4, 1 complete epoch)"));

  const std::string npy = (run / "features.npy").string();
  const Tensor f = embed_to_npy(run.string(), "", "test", npy);
  CHECK(f.shape() == Shape{32, 32});
  CHECK(read_npy(npy).shape() == Shape{32, 32});
  CHECK(read_npy((run / "features_labels.npy").string()).dtype() == DType::Int64);
  CHECK(contains(message_of([&] { embed_to_npy(run.string(), "", "val", npy); }), "--split must be train or test"));

  const auto model = load_trained_model(run.string());
  export_encoder_safetensors(*model, (run / "encoder.safetensors").string());
  CHECK(read_safetensors((run / "encoder.safetensors").string()).tensors.size() ==
        model->encoder().state_dict().size());

  const TrainData data = load_train_data(data_dir.string());
  write_augment_preview(data.train, "simclr-gray", (run / "preview.png").string(), 3, 0);
  CHECK(fs::file_size(run / "preview.png") > 0);
  CHECK(contains(message_of([&] { write_augment_preview(data.train, "nope", (run / "p.png").string(), 3, 0); }),
                 "unknown augmentation preset 'nope'"));
  CHECK(contains(message_of([&] { evaluate_run(EvalConfig{.run = (run / "missing").string()}); }), "no checkpoint"));
  fs::remove_all(run);
  fs::remove_all(data_dir);
}

TEST_CASE("simclr: eval of a .ckpt file writes eval.json and eval.md next to it; skipped measures are - and null") {
  const fs::path run = fresh_dir("eval_ckpt");
  TrainConfig config = tiny_config(run);
  config.epochs = 1;
  config.knn_k = 0;
  const TrainData data = tiny_data();
  train(config, data, StartMode::New, quiet());
  // A checkpoint kept under another name in another folder: the results go beside it.
  fs::create_directories(run / "kept");
  const fs::path ckpt = run / "kept" / "step4.ckpt";
  fs::copy_file(RunDir(run.string()).checkpoint(), ckpt);

  // The CLI's data is a folder; here the run has none, so write the tiny data as IDX files.
  const fs::path data_dir = fresh_dir("eval_ckpt_data");
  fs::create_directories(data_dir);
  write_idx(data.train, data_dir / "train-images-idx3-ubyte", data_dir / "train-labels-idx1-ubyte");
  write_idx(*data.test, data_dir / "t10k-images-idx3-ubyte", data_dir / "t10k-labels-idx1-ubyte");

  EvalConfig ec;
  ec.run = ckpt.string();
  ec.data = data_dir.string();
  ec.probe_epochs = 0;  // probe skipped
  ec.knn_k = 500;       // more than the 64 training images: the kNN uses all 64
  ec.baselines = false;
  const EvalReport report = evaluate_run(ec);
  REQUIRE(report.rows.size() == 1);
  CHECK(report.rows[0].probe_accuracy < 0);
  CHECK(report.rows[0].knn_accuracy >= 0);
  CHECK(report.knn_k == 64);
  CHECK(report.checkpoint == ckpt.string());
  const std::string table = report.table();
  CHECK(contains(table, "kNN (k=64)"));
  CHECK(contains(table, "-: not measured"));

  const EvalFiles files = write_eval_files(report, ckpt.string());
  CHECK(files.json == (run / "kept" / "eval.json").string());
  CHECK(files.markdown == (run / "kept" / "eval.md").string());
  CHECK_FALSE(fs::exists(run / "eval.json"));
  const nlohmann::json saved = nlohmann::json::parse(read_text(files.json));
  CHECK(saved.at("knn_k") == 64);
  CHECK(saved.at("probe_epochs") == 0);
  CHECK(saved.at("rows")[0].at("probe_accuracy").is_null());
  CHECK(saved.at("rows")[0].at("knn_accuracy").get<double>() == report.rows[0].knn_accuracy);
  const std::string markdown = read_text(files.markdown);
  CHECK(contains(markdown, "linear probe: skipped"));
  CHECK(contains(markdown, "| SimCLR convnet w=4 | 32 | "));
  CHECK(contains(markdown, "% | - |"));  // the kNN accuracy, then "-" for the probe

  // With kNN skipped too, the column has no k and every cell says "-".
  EvalReport none = report;
  none.knn_k = 0;
  none.rows[0].knn_accuracy = -1;
  CHECK(contains(none.table(), "kNN   "));
  CHECK_FALSE(contains(none.table(), "k="));
  CHECK(contains(none.markdown(), "| SimCLR convnet w=4 | 32 | - | - |"));
  CHECK(nlohmann::json::parse(none.json()).at("rows")[0].at("knn_accuracy").is_null());
  fs::remove_all(run);
  fs::remove_all(data_dir);
}

TEST_CASE("cuda: trainer: --device cuda trains like the CPU and writes a CPU checkpoint") {
  if (!cuda_available()) {
    MESSAGE("SKIPPED (no GPU): ", std::string(cuda_unavailable_reason()));
    return;
  }
  const fs::path cpu_dir = fresh_dir("train_cpu_ref"), gpu_dir = fresh_dir("train_cuda");
  const TrainResult cpu = train(tiny_config(cpu_dir), tiny_data(), StartMode::New, quiet());
  TrainConfig config = tiny_config(gpu_dir);
  config.device = "cuda";
  const TrainResult gpu = train(config, tiny_data(), StartMode::New, quiet());
  REQUIRE(gpu.epochs.size() == cpu.epochs.size());
  // The same data, seeds and initial weights: only the summation order differs, so over
  // 8 steps the losses agree to float32 rounding amplified by training, well under 1e-3.
  for (size_t e = 0; e < cpu.epochs.size(); ++e)
    CHECK(std::abs(gpu.epochs[e].mean_loss - cpu.epochs[e].mean_loss) <= 1e-3 * std::abs(cpu.epochs[e].mean_loss));
  const Checkpoint ckpt = load_checkpoint(RunDir(gpu_dir.string()).checkpoint());
  CHECK(ckpt.step == 8);
  // Resuming a CUDA run continues on the GPU from the CPU checkpoint.
  config.epochs = 3;
  const TrainResult more = train(config, tiny_data(), StartMode::Resume, quiet());
  CHECK(more.steps == 12);
  CHECK(std::isfinite(more.last_loss));
}

TEST_CASE("cuda: trainer: --augment-device cuda trains on the views the CPU loader makes") {
  if (!cuda_available()) {
    MESSAGE("SKIPPED (no GPU): ", std::string(cuda_unavailable_reason()));
    return;
  }
  const fs::path cpu_views_dir = fresh_dir("train_cuda_cpu_views"), gpu_views_dir = fresh_dir("train_cuda_gpu_views");
  TrainConfig config = tiny_config(cpu_views_dir);
  config.device = "cuda";
  const TrainResult cpu_views = train(config, tiny_data(), StartMode::New, quiet());
  config = tiny_config(gpu_views_dir);
  config.device = "cuda";
  config.augment_device = "cuda";
  const TrainResult gpu_views = train(config, tiny_data(), StartMode::New, quiet());
  REQUIRE(gpu_views.epochs.size() == cpu_views.epochs.size());
  // The same views (bit for bit, but for a contrast mean's last bit: tests/test_cuda_augment.cpp)
  // on the same GPU: the losses agree ten times closer than the 1e-3 the CPU-vs-GPU test allows.
  for (size_t e = 0; e < cpu_views.epochs.size(); ++e)
    CHECK(std::abs(gpu_views.epochs[e].mean_loss - cpu_views.epochs[e].mean_loss) <=
          1e-4 * std::abs(cpu_views.epochs[e].mean_loss));
  // The device that makes the views may change on resume.
  config.augment_device = "cpu";
  config.epochs = 3;
  CHECK(train(config, tiny_data(), StartMode::Resume, quiet()).steps == 12);
}

// ---- the trace of 20 steps recorded before the method seam --------------------------
// tests/golden/simclr_trace_20_steps.txt was written by this test (SC_WRITE_SIMCLR_TRACE=1)
// with the trainer as it was before ssl/method.h existed (commit 025974e). The redesigned
// trainer must reproduce it bit for bit: every step's loss, every checkpoint tensor (model
// and optimizer, compared by CRC-32 of their bytes) and the linear probe / kNN of the
// trained encoder. It was re-recorded once on purpose, when conv2d's weight gradient began
// summing 16 fixed chunks of images instead of one per thread (the same bits on any thread
// count): the weights differ in their last bits after the first update, the recorded losses
// from step 6 on. A change of this file must always come with such a reason.
namespace {

struct Trace {
  std::vector<std::string> lines;  // "loss <step> <value>", "model <name> <crc>", ...
};

std::string crc_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  const uLong crc = crc32(0L, static_cast<const Bytef*>(c.raw_data()),
                          static_cast<uInt>(static_cast<size_t>(c.numel()) * dtype_size(c.dtype())));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(crc));
  return buf;
}

std::string exact(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);  // hex float: every bit of the double
  return buf;
}

Trace record_trace() {
  const fs::path dir = fresh_dir("trace");
  TrainConfig c = tiny_config(dir);
  c.epochs = 3;
  c.max_steps = 20;
  c.threads = 1;
  TrainData data;
  data.train = patterns(128, 5, "patterns/train");  // 8 steps per epoch: 20 steps end mid-epoch 3
  data.test = patterns(48, 6, "patterns/test");
  const int threads_before = num_threads();
  train(c, data, StartMode::New, quiet());
  Trace trace;
  for (const auto& record : read_records(dir / "metrics.jsonl", "step"))
    trace.lines.push_back("loss " + std::to_string(record["step"].get<int64_t>()) + " " +
                          exact(record["loss"].get<double>()));
  const Checkpoint ckpt = load_checkpoint(RunDir(dir.string()).checkpoint());
  trace.lines.push_back("checkpoint_step " + std::to_string(ckpt.step));
  for (const auto& [name, t] : ckpt.model) trace.lines.push_back("model " + name + " " + crc_of(t));
  for (const auto& [name, t] : ckpt.optimizer) trace.lines.push_back("optimizer " + name + " " + crc_of(t));
  const auto model = load_trained_model(dir.string());
  const Tensor train_f = encode_dataset(*model, data.train), test_f = encode_dataset(*model, *data.test);
  trace.lines.push_back("features " + crc_of(train_f) + " " + crc_of(test_f));
  // The probe's per-epoch losses and the kNN votes carry every bit of the evaluation (the
  // accuracies alone saturate on these easy patterns).
  const Tensor train_y = from_vector(data.train.labels(), {data.train.size()});
  const Tensor test_y = from_vector(data.test->labels(), {data.test->size()});
  LinearProbeOptions probe;
  probe.epochs = 5;
  const LinearProbeResult p = linear_probe(train_f, train_y, test_f, test_y, probe);
  for (size_t e = 0; e < p.epoch_losses.size(); ++e)
    trace.lines.push_back("probe_loss " + std::to_string(e) + " " + exact(p.epoch_losses[e]));
  trace.lines.push_back("probe_accuracy " + exact(p.test_accuracy));
  KnnOptions knn;
  knn.k = 10;
  const KnnResult k = knn_evaluate(train_f, train_y, test_f, test_y, knn);
  trace.lines.push_back("knn " + exact(k.accuracy) + " votes " + crc_of(k.class_votes));
  set_num_threads(threads_before);
  fs::remove_all(dir);
  return trace;
}

}  // namespace

TEST_CASE("simclr: 20 steps reproduce the trace recorded before the method seam, bit for bit") {
  const fs::path golden = fs::path(SC_GOLDEN_DIR) / "simclr_trace_20_steps.txt";
  const Trace trace = record_trace();
  if (std::getenv("SC_WRITE_SIMCLR_TRACE")) {
    std::ofstream out(golden);
    out << "# 20 SimCLR steps (tests/test_trainer.cpp, record_trace): losses as hex floats, checkpoint\n"
        << "# tensors as CRC-32 of their bytes, probe and kNN accuracy. Recorded before ssl/method.h;\n"
        << "# re-recorded when conv2d's weight gradient moved to thread-count-independent chunks, and\n"
        << "# when the CPU batch norm moved to 16-lane sums in T and coefficients applied in T, and\n"
        << "# when conv2d's weight gradient summed images with small outputs in groups (one GEMM),\n"
        << "# and when the CPU batch norm was built without FMA contraction (g++ and clang agree),\n"
        << "# and when stride-1 convolutions moved to shifted rows of a zero-padded grid and the weight\n"
        << "# gradient to dot products (kernels/gemm.h rows, dot_rows), and when the CPU GEMM's K\n"
        << "# slices went from 384 to 256 deep, and when the CPU batch norm let short runs share its\n"
        << "# lanes: new summation orders; and when the augmentation moved to kernels/cpu/augment.cpp,\n"
        << "# built without FMA contraction so the CPU and GPU views agree: the views' last bits.\n";
    for (const auto& line : trace.lines) out << line << "\n";
    MESSAGE("wrote ", golden.string());
    return;
  }
  std::vector<std::string> expected;
  for (const auto& line : read_lines(golden))
    if (!line.empty() && line[0] != '#') expected.push_back(line);
  REQUIRE(expected.size() > 40);
  CHECK(trace.lines.size() == expected.size());
  for (size_t i = 0; i < std::min(expected.size(), trace.lines.size()); ++i) CHECK(trace.lines[i] == expected[i]);
}

// ---- the `simclr` program itself -------------------------------------------------------
#ifdef SC_SIMCLR_BIN
namespace {

struct Ran {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `simclr <args>` and returns its exit code and output.
Ran run_simclr(const std::string& args, const test::TempDir& scratch) {
  const std::string log = scratch.file("cli-output.txt");
  const std::string command = std::string(SC_SIMCLR_BIN) + " " + args + " > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  Ran r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  r.output.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return r;
}

// Starts `simclr <args>` without waiting for it, its output going to `log`; returns its pid.
pid_t spawn_simclr(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> words = {SC_SIMCLR_BIN};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  pid_t pid = -1;
  const int failed = posix_spawn(&pid, SC_SIMCLR_BIN, &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  REQUIRE(failed == 0);
  return pid;
}

// Waits until the run's metrics file holds `steps` step records; false if the program ended
// first (its status is then in *status) or a minute passed.
bool wait_for_steps(pid_t pid, const fs::path& metrics, int64_t steps, int* status) {
  for (int tries = 0; tries < 60000; ++tries) {
    int64_t n = 0;
    for (const std::string& line : read_lines(metrics)) n += contains(line, "\"type\":\"step\"");
    if (n >= steps) return true;
    if (waitpid(pid, status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace

TEST_CASE("simclr: Ctrl-C or SIGTERM saves and exits; --resume then ends bit-identical to an uninterrupted run") {
  test::TempDir scratch("cli_signal");
  const fs::path data = scratch.path / "data";
  fs::create_directories(data);
  write_idx(patterns(512, 1, "t"), data / "train-images-idx3-ubyte", data / "train-labels-idx1-ubyte");
  write_idx(patterns(32, 2, "t"), data / "t10k-images-idx3-ubyte", data / "t10k-labels-idx1-ubyte");
  // 2 epochs of 64 steps. One compute thread and one loader thread everywhere: the runs
  // compared must differ only in where they were interrupted.
  const std::vector<std::string> tiny = {"--data", data.string(), "--width", "4", "--projection-dim", "8",
                                         "--batch-size", "8", "--epochs", "2", "--workers", "1", "--threads", "1",
                                         "--knn-k", "0", "--log-every", "1000"};
  auto train_args = [&](const std::string& out) {
    std::vector<std::string> a = {"train", "--out", out};
    a.insert(a.end(), tiny.begin(), tiny.end());
    return a;
  };
  const std::string reference = scratch.file("reference");
  Ran r = run_simclr("train --out '" + reference + "' --data '" + data.string() +
                         "' --width 4 --projection-dim 8 --batch-size 8 --epochs 2 --workers 1 --threads 1 --knn-k 0 "
                         "--log-every 1000",
                     scratch);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  const Checkpoint full = load_checkpoint(RunDir(reference).checkpoint());
  REQUIRE(full.step == 128);

  // Interrupted in epoch 2 (after step 70 of 128), then resumed to the end.
  auto interrupt_and_resume = [&](const std::string& name, const std::vector<int>& signals) {
    const std::string run = scratch.file(name);
    const std::string log = scratch.file(name + ".log");
    const pid_t pid = spawn_simclr(train_args(run), log);
    int status = 0;
    REQUIRE_MESSAGE(wait_for_steps(pid, RunDir(run).metrics(), 70, &status), read_text(log));
    for (int sig : signals) kill(pid, sig);
    REQUIRE(waitpid(pid, &status, 0) == pid);
    const std::string output = read_text(log);
    CAPTURE(name);
    CAPTURE(output);
    if (signals.size() == 1) {
      // Finished the step, saved, said how to go on, and exited with 128 + the signal.
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 128 + signals[0]);
      CHECK(contains(output, std::string("interrupted by ") + (signals[0] == SIGINT ? "SIGINT" : "SIGTERM")));
      CHECK(contains(output, "continue with: simclr train --resume " + run));
      const int64_t saved = load_checkpoint(RunDir(run).checkpoint()).step;
      CHECK(saved >= 70);
      CHECK(saved < 128);  // mid-epoch: epoch 2 ends at step 128
    } else {
      // A second signal ends the process at once, by that signal; the epoch-1 checkpoint (or
      // the one being written, which lands whole or not at all) is still readable.
      REQUIRE(WIFSIGNALED(status));
      CHECK((WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM));
      CHECK(load_checkpoint(RunDir(run).checkpoint()).step >= 64);
    }
    r = run_simclr("train --resume '" + run + "'", scratch);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    const Checkpoint resumed = load_checkpoint(RunDir(run).checkpoint());
    CHECK(resumed.step == 128);
    check_same_tensors(resumed.model, full.model);
    check_same_tensors(resumed.optimizer, full.optimizer);
    CHECK(read_records(RunDir(run).metrics(), "step").size() == 128);
  };
  interrupt_and_resume("sigint", {SIGINT});
  interrupt_and_resume("sigterm", {SIGTERM});
  // A second signal: a different one, so the kernel cannot merge the two into one.
  interrupt_and_resume("twice", {SIGTERM, SIGINT});
}

// The bytes of a checkpoint file after its config text: step, epoch, every tensor, the RNG
// states and their checksums (the config holds --threads and --out, which differ by design;
// the file's own CRC and the trailer, which cover the config, are left out too).
std::string checkpoint_bytes_after_config(const fs::path& path) {
  const std::string bytes = read_text(path);
  REQUIRE(bytes.size() > 16 + 16);
  uint64_t config_length = 0;
  std::memcpy(&config_length, bytes.data() + 8, sizeof config_length);  // after "SCCKPT" + uint16
  REQUIRE(16 + config_length + 16 <= bytes.size());
  return bytes.substr(16 + config_length, bytes.size() - 16 - config_length - 16);
}

TEST_CASE("simclr: --threads 1, 2 and 3 train the same bits: metrics and checkpoint") {
  test::TempDir scratch("cli_threads");
  const fs::path data = scratch.path / "data";
  fs::create_directories(data);
  write_idx(patterns(256, 1, "t"), data / "train-images-idx3-ubyte", data / "train-labels-idx1-ubyte");
  write_idx(patterns(64, 2, "t"), data / "t10k-images-idx3-ubyte", data / "t10k-labels-idx1-ubyte");
  // 8 steps of batch 32 (64 views: more images than the conv weight gradient's chunks and
  // than the threads), then the kNN monitor. The loader's workers change with the threads.
  std::vector<std::vector<std::string>> records;  // per run: its metrics lines, timings removed
  std::vector<std::string> checkpoints, configs;
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    const std::string run = scratch.file("run" + std::to_string(threads));
    const Ran r = run_simclr("train --out '" + run + "' --data '" + data.string() +
                                 "' --width 8 --projection-dim 16 --batch-size 32 --epochs 1 --knn-k 5 --quiet" +
                                 " --threads " + std::to_string(threads) + " --workers " + std::to_string(threads),
                             scratch);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    std::vector<std::string> lines;
    for (const std::string& line : read_lines(RunDir(run).metrics())) {
      nlohmann::json record = nlohmann::json::parse(line);
      record.erase("images_per_s");  // the only fields that may differ: how fast it ran
      record.erase("seconds");
      lines.push_back(record.dump());
      // The loss as written, character for character.
      const size_t at = line.find("\"loss\":");
      if (at != std::string::npos) lines.push_back(line.substr(at, line.find(',', at) - at));
    }
    records.push_back(lines);
    checkpoints.push_back(checkpoint_bytes_after_config(RunDir(run).checkpoint()));
    // The stored config differs only in the flags that say where and how it ran.
    nlohmann::json config = nlohmann::json::parse(load_checkpoint(RunDir(run).checkpoint()).config);
    for (const char* key : {"threads", "workers", "out_dir"}) config.erase(key);
    configs.push_back(config.dump());
  }
  REQUIRE(records[0].size() >= 2 * 8 + 2);  // 8 steps (record + loss text), the epoch, kNN
  for (size_t run = 1; run < records.size(); ++run) {
    CAPTURE(run + 1);
    REQUIRE(records[run].size() == records[0].size());
    for (size_t i = 0; i < records[0].size(); ++i) CHECK(records[run][i] == records[0][i]);
    const bool same_checkpoint = checkpoints[run] == checkpoints[0];  // tensors, step, epoch, RNG
    CHECK(same_checkpoint);
    CHECK(configs[run] == configs[0]);
  }
}

TEST_CASE("simclr: the program refuses what would lose or silently change a run, exit 1 with the flag named") {
  test::TempDir scratch("cli");
  const fs::path data = scratch.path / "data";
  fs::create_directories(data);
  write_idx(patterns(64, 1, "t"), data / "train-images-idx3-ubyte", data / "train-labels-idx1-ubyte");
  write_idx(patterns(32, 2, "t"), data / "t10k-images-idx3-ubyte", data / "t10k-labels-idx1-ubyte");
  const std::string run = scratch.file("run");
  const std::string tiny = "--data '" + data.string() + "' --width 4 --projection-dim 8 --batch-size 16 --workers 1 "
                           "--threads 1 --knn-k 5 --log-every 100 ";
  auto train_cmd = [&](const std::string& more) { return run_simclr("train " + tiny + more, scratch); };

  Ran r = run_simclr("--version", scratch);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "simclr 0."));
  CHECK(contains(r.output, "commit "));
  r = run_simclr("frobnicate", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: unknown command 'frobnicate' (commands: train, eval, embed, export, augment-preview"));

  r = train_cmd("--out '" + run + "' --quiet");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(contains(r.output, "trained 4 steps (1 epochs)"));
  CHECK_FALSE(contains(r.output, "epoch 1/1"));  // --quiet: no progress lines
  const auto checkpoint_bytes = fs::file_size(RunDir(run).checkpoint());

  // The same --out again: refused, and the run is untouched.
  r = train_cmd("--out '" + run + "'");
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: --out: '" + run + "' already holds a run"));
  CHECK(contains(r.output, "--resume " + run));
  CHECK(fs::file_size(RunDir(run).checkpoint()) == checkpoint_bytes);

  // Resume with a model flag: refused naming it; with --recipe or --force: refused.
  r = run_simclr("train --resume '" + run + "' --width 8 --temperature 0.3", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "--width (the run has 4, asked for 8)"));
  CHECK(contains(r.output, "--temperature (the run has 0.2, asked for 0.3)"));
  r = run_simclr("train --resume '" + run + "' --recipe R", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "--recipe cannot be used with --resume"));
  r = run_simclr("train --resume '" + run + "' --force", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "--force starts a new run"));
  r = run_simclr("train --resume '" + run + "' --out elsewhere", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "name different folders"));

  // Resume with flags that may change: one more epoch, other threads; one record per step.
  r = run_simclr("train --resume '" + run + "' --epochs 2 --threads 2 --log-every 100", scratch);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(contains(r.output, "trained 8 steps (2 epochs)"));
  CHECK(read_records(fs::path(run) / "metrics.jsonl", "step").size() == 8);
  CHECK(config_from_json(load_checkpoint(RunDir(run).checkpoint()).config).epochs == 2);

  // --force: a new run; the old one is kept beside it.
  r = train_cmd("--out '" + run + "' --force");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(contains(r.output, "is now in " + run + ".replaced-1"));
  CHECK(load_checkpoint(RunDir(run + ".replaced-1").checkpoint()).step == 8);
  CHECK(load_checkpoint(RunDir(run).checkpoint()).step == 4);

  // Bad flags: exit 1 before any data loads, naming the flag.
  const std::string fresh = "--out '" + scratch.file("fresh") + "' ";
  for (const auto& [flags_, expected] : std::vector<std::pair<std::string, std::string>>{
           {"--epochs 0", "--epochs must be in [1, 1000000], got 0"},
           {"--weight-decay 5", "--weight-decay must be in [0, 1], got 5"},
           {"--warmup-epochs -1", "--warmup-epochs must be in [0, 1000000], got -1"},
           {"--temperature inf", "--temperature must be in [0.01, 100] for simclr, got inf"},
           {"--method byol2", "unknown method 'byol2' (known: simclr"},
           {"--temperature 1e-30", "--temperature must be in [0.01, 100] for simclr, got 1e-30"},
           {"--recipe slow", "unknown recipe 'slow' (known: quick, main, R, vicreg)"},
           {"--lr 0", "--lr must be in (0, 100], got 0"},
           {"--knn-bank -5", "--knn-bank must be >= 0"},
           // CLI11 alone would train with seed 2^64 - 1 for both of these.
           {"--seed -1", "--seed: must be a whole number in [0, 18446744073709551615], got '-1'"},
           {"--seed 18446744073709551616", "got '18446744073709551616'"},
           {"--augment bogus", "--augment: unknown augmentation preset 'bogus' (known: "},
           {"--augment-device gpu", "--augment-device must be cpu or cuda, got 'gpu'"},
           {"--augment-device cuda", "--augment-device cuda makes the views on the GPU the run trains on: it needs --device cuda"},
       }) {
    const std::string flags = flags_;  // a copy: clang 14 cannot capture a structured binding in CAPTURE
    CAPTURE(flags);
    r = train_cmd(fresh + flags);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.output, "error: " ));
    CHECK(contains(r.output, expected));
    CHECK_FALSE(fs::exists(RunDir(scratch.file("fresh")).metrics()));
  }
  // augment-preview: its flags are checked before the data (here missing) is read.
  r = run_simclr("augment-preview --data '" + scratch.file("no-such-data") + "' --preset bogus", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: --preset: unknown augmentation preset 'bogus'"));
  r = run_simclr("augment-preview --data '" + scratch.file("no-such-data") + "' --count 0", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: --count must be in [1, 1024], got 0"));
  r = run_simclr("train --threads 1000 " + fresh, scratch);  // --threads 1000 once started 1,907 threads and hung
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: --threads must be in [0, " + std::to_string(max_threads()) + "] (0: all cores"));
  // eval and embed: every flag is checked before the checkpoint loads (here there is none, so a
  // check that came later would say that instead).
  const std::string missing = "--run '" + scratch.file("no-such-run") + "' ";
  for (const auto& [command_, expected] : std::vector<std::pair<std::string, std::string>>{
           {"eval --epochs -1", "--epochs must be in [0, 1000000] (linear probe epochs; 0: skip the probe), got -1"},
           {"eval --knn-k -1", "--knn-k must be in [0, 100000] (0: skip kNN), got -1"},
           {"eval --epochs 0 --knn-k 0", "--epochs 0 and --knn-k 0 leave nothing to measure"},
           {"eval --train-subset -5", "--train-subset must be >= -1 (-1: as the run, 0: all), got -5"},
           {"eval --test-subset -2", "--test-subset must be >= -1"},
           {"eval --threads -1", "--threads must be in [0, "},
           {"eval --threads 1000", "--threads must be in [0, "},
           {"eval --device tpu", "--device must be cpu or cuda"},
           {"eval --seed -3", "--seed: must be a whole number in [0, "},
           {"embed --subset -1", "embed: --subset must be >= 0 (0: all), got -1"},
           {"embed --threads 1000", "embed: --threads must be in [0, "},
           {"embed --split val", "embed: --split must be train or test, got 'val'"},
       }) {
    const std::string command = command_;
    CAPTURE(command);
    r = run_simclr(command.substr(0, command.find(' ')) + " " + missing + command.substr(command.find(' ') + 1), scratch);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.output, "error: "));
    CHECK(contains(r.output, expected));
  }
  fs::remove_all(run + ".replaced-1");
}
#endif
