// The SimCLR trainer on tiny generated data (ConvNet w=4, 28x28 gray): metrics file and
// checkpoints, bit-identical resume, NaN/Inf stops, config checks, and the functions the
// `simclr` CLI calls (train from a data folder, eval table, embed, export).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ops.h"
#include "ssl/checkpoint.h"
#include "ssl/export.h"
#include "ssl/report.h"
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

TrainHooks quiet() {
  TrainHooks h;
  h.quiet = true;
  return h;
}

}  // namespace

TEST_CASE("simclr: trainer on tiny data writes metrics and a checkpoint that reloads") {
  const fs::path out = fresh_dir("train");
  const TrainConfig config = tiny_config(out);
  const TrainResult r = train(config, tiny_data(), false, quiet());
  CHECK(r.steps == 8);
  CHECK(r.epochs_done == 2);
  REQUIRE(r.epochs.size() == 2);
  CHECK(std::isfinite(r.last_loss));
  // The mean loss falls from epoch 1 to epoch 2 (structured data, lr 3e-3; a rise means
  // the step or the schedule is broken).
  CHECK(r.epochs[1].mean_loss < r.epochs[0].mean_loss);
  for (const auto& e : r.epochs) CHECK(e.knn_accuracy >= 0.0);

  const auto lines = read_lines(out / "metrics.jsonl");
  int steps = 0, epochs = 0;
  for (const auto& line : lines) {
    if (contains(line, "\"type\": \"step\"")) {
      ++steps;
      CHECK(contains(line, "\"loss\": "));
      CHECK(contains(line, "\"lr\": "));
      CHECK(contains(line, "\"top1\": "));
      CHECK(contains(line, "\"embedding_std\": "));
    }
    if (contains(line, "\"type\": \"epoch\"")) {
      ++epochs;
      CHECK(contains(line, "\"knn_accuracy\": "));
    }
  }
  CHECK(steps == 8);
  CHECK(epochs == 2);

  const Checkpoint ckpt = load_checkpoint(checkpoint_path(out.string()));
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
  train(config, tiny_data(), false, quiet());
  const Checkpoint full = load_checkpoint(checkpoint_path(full_dir.string()));

  for (int workers : {1, 2}) {
    CAPTURE(workers);
    const fs::path dir = fresh_dir("resume_" + std::to_string(workers));
    TrainConfig c = tiny_config(dir);
    c.workers = workers;
    TrainHooks stop = quiet();
    stop.stop_after_epochs = 1;
    const TrainResult first = train(c, tiny_data(), false, stop);
    CHECK(first.steps == 4);
    CHECK(load_checkpoint(checkpoint_path(dir.string())).step == 4);
    const TrainResult second = train(c, tiny_data(), true, quiet());
    CHECK(second.steps == 8);
    const Checkpoint resumed = load_checkpoint(checkpoint_path(dir.string()));
    CHECK(resumed.step == full.step);
    check_same_tensors(resumed.model, full.model);
    check_same_tensors(resumed.optimizer, full.optimizer);
    fs::remove_all(dir);
  }

  // A step budget that ends mid-epoch, then resumed to the end: also identical.
  const fs::path mid_dir = fresh_dir("resume_mid");
  TrainConfig mid = tiny_config(mid_dir);
  mid.max_steps = 6;
  train(mid, tiny_data(), false, quiet());
  CHECK(load_checkpoint(checkpoint_path(mid_dir.string())).step == 6);
  // max_steps shortens the schedule, so for a bit-identical comparison compare with a full
  // run of the same 6-step schedule: rerun it in one go.
  const fs::path mid_ref_dir = fresh_dir("resume_mid_ref");
  TrainConfig mid_ref = mid;
  mid_ref.out_dir = mid_ref_dir.string();
  train(mid_ref, tiny_data(), false, quiet());
  check_same_tensors(load_checkpoint(checkpoint_path(mid_dir.string())).model,
                     load_checkpoint(checkpoint_path(mid_ref_dir.string())).model);
  fs::remove_all(mid_dir);
  fs::remove_all(mid_ref_dir);

  // Resuming a ConvNet run as a ResNet-18 names the checkpoint and a tensor.
  TrainConfig wrong = config;
  wrong.encoder = "resnet18";
  const std::string msg = message_of([&] { train(wrong, tiny_data(), true, quiet()); });
  CHECK(contains(msg, "checkpoint.ckpt"));
  CHECK(contains(msg, "tensor"));
  // A truncated checkpoint is refused with the file's name.
  const std::string path = checkpoint_path(full_dir.string());
  fs::resize_file(path, fs::file_size(path) / 2);
  CHECK(contains(message_of([&] { load_trained_model(full_dir.string()); }), "checkpoint.ckpt"));
  CHECK(contains(message_of([&] { train(config, tiny_data(), true, quiet()); }), "checkpoint.ckpt"));
  fs::remove_all(full_dir);
  CHECK(contains(message_of([&] { train(config, tiny_data(), true, quiet()); }), "--resume: no checkpoint"));
}

TEST_CASE("simclr: a NaN gradient stops training naming the step and the first bad parameter") {
  const fs::path dir = fresh_dir("nan");
  const TrainConfig config = tiny_config(dir);
  TrainHooks hooks = quiet();
  // Step 5 is in epoch 2, after the epoch-1 checkpoint (step 4). Two parameters are
  // poisoned; the message must name the first in named_parameters order.
  hooks.after_backward = [](int64_t step, SimCLR& model) {
    if (step != 5) return;
    for (const auto& [name, p] : model.named_parameters()) {
      if (name == "encoder.features.3.weight") p.grad().data<float>()[7] = NAN;
      if (name == "head.0.weight") p.grad().data<float>()[0] = INFINITY;
    }
  };
  const std::string msg = message_of([&] { train(config, tiny_data(), false, hooks); });
  CHECK(contains(msg, "step 5"));
  CHECK(contains(msg, "'encoder.features.3.weight'"));
  CHECK(contains(msg, "NaN or Inf"));
  CHECK(contains(msg, "checkpoint.ckpt"));
  // The last good checkpoint is intact and is the one from the end of epoch 1.
  const Checkpoint ckpt = load_checkpoint(checkpoint_path(dir.string()));
  CHECK(ckpt.step == 4);
  fs::remove_all(dir);

  // A NaN in the last layer's bias makes the next loss NaN: that stop names the loss. (A NaN
  // in an early conv weight would not: ReLU turns NaN into 0 there, and the stop comes from
  // that weight's gradient instead.)
  TrainHooks poison = quiet();
  poison.after_backward = [](int64_t step, SimCLR& model) {
    if (step != 1) return;
    NoGradGuard no_grad;
    model.named_parameters().back().second.data<float>()[0] = NAN;
  };
  const std::string loss_msg = message_of([&] { train(config, tiny_data(), false, poison); });
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
  CHECK(contains(message_of([] { config_from_json("{\"epochs\": \"three\"}"); }), "\"epochs\" must be a number"));
  CHECK(contains(message_of([] { config_from_json("{\"encoder\": 3}"); }), "\"encoder\" must be a string"));
  CHECK(contains(message_of([] { config_from_json("[1, 2]"); }), "expected '{'"));

  auto error_for = [](const std::function<void(TrainConfig&)>& change) {
    TrainConfig bad;
    change(bad);
    return message_of([&] { validate_config(bad); });
  };
  if (!cuda_available())  // with a GPU, --device cuda is valid
    CHECK(contains(error_for([](TrainConfig& b) { b.device = "cuda"; }), cuda_unavailable_reason()));
  CHECK(contains(error_for([](TrainConfig& b) { b.device = "tpu"; }), "--device must be cpu or cuda"));
  CHECK(contains(error_for([](TrainConfig& b) { b.optimizer = "rmsprop"; }), "--optimizer must be"));
  CHECK(contains(error_for([](TrainConfig& b) { b.batch_size = 1; }), "--batch-size must be >= 2"));
  CHECK(contains(error_for([](TrainConfig& b) { b.epochs = 0; }), "--epochs must be >= 1"));
  CHECK(contains(error_for([](TrainConfig& b) { b.encoder = "vgg"; }), "--encoder must be"));
  CHECK(contains(error_for([](TrainConfig& b) { b.lr = -1; }), "--lr must be positive"));

  TrainConfig big = tiny_config(fresh_dir("big"));
  big.batch_size = 128;
  CHECK(contains(message_of([&] { train(big, tiny_data(), false, quiet()); }), "fewer than one batch of 128"));
  CHECK(contains(message_of([] { load_train_data("/nonexistent/data"); }), "'/nonexistent/data' does not exist"));
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
  const TrainResult r = train(config, false, quiet());
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
  CHECK(report.checkpoint == checkpoint_path(run.string()));
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
  CHECK(saved.at("checkpoint") == checkpoint_path(run.string()));
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
        model->encoder->state_dict().size());

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
  train(config, data, false, quiet());
  // A checkpoint kept under another name in another folder: the results go beside it.
  fs::create_directories(run / "kept");
  const fs::path ckpt = run / "kept" / "step4.ckpt";
  fs::copy_file(checkpoint_path(run.string()), ckpt);

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
  const TrainResult cpu = train(tiny_config(cpu_dir), tiny_data(), false, quiet());
  TrainConfig config = tiny_config(gpu_dir);
  config.device = "cuda";
  const TrainResult gpu = train(config, tiny_data(), false, quiet());
  REQUIRE(gpu.epochs.size() == cpu.epochs.size());
  // The same data, seeds and initial weights: only the summation order differs, so over
  // 8 steps the losses agree to float32 rounding amplified by training, well under 1e-3.
  for (size_t e = 0; e < cpu.epochs.size(); ++e)
    CHECK(std::abs(gpu.epochs[e].mean_loss - cpu.epochs[e].mean_loss) <= 1e-3 * std::abs(cpu.epochs[e].mean_loss));
  const Checkpoint ckpt = load_checkpoint(checkpoint_path(gpu_dir.string()));
  CHECK(ckpt.step == 8);
  // Resuming a CUDA run continues on the GPU from the CPU checkpoint.
  config.epochs = 3;
  const TrainResult more = train(config, tiny_data(), true, quiet());
  CHECK(more.steps == 12);
  CHECK(std::isfinite(more.last_loss));
}
