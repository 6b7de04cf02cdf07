// The `simclr` program: a thin CLI11 layer over ssl/ (trainer.h, report.h, simclr.h).
// Every error ends as "error: <message>" on stderr and exit status 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/ops.h"
#include "ssl/report.h"
#include "ssl/trainer.h"

using namespace sc;
using namespace sc::ssl;

namespace {

void check_device(const std::string& device) {
  TrainConfig probe;
  probe.device = device;
  validate_config(probe);  // throws the CUDA message for "cuda"
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"simclr: SimCLR self-supervised pre-training and evaluation (Fashion-MNIST by default)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show the help of every subcommand");

  // ---- train
  TrainConfig tc;
  std::string resume_dir;
  int64_t epochs_flag = 0;
  auto* train_cmd = app.add_subcommand("train", "Pre-train an encoder with SimCLR (no labels used)");
  train_cmd->add_option("--data", tc.data, "Dataset folder: MNIST layout, CIFAR-10 binary or image folder (default: Fashion-MNIST)");
  train_cmd->add_option("--out", tc.out_dir, "Run directory for checkpoint, metrics and plots")->capture_default_str();
  train_cmd->add_option("--epochs", epochs_flag, "Epochs (default 1)");
  train_cmd->add_option("--steps", tc.max_steps, "Stop after this many steps in total (0: all epochs)")->capture_default_str();
  train_cmd->add_option("--batch-size", tc.batch_size, "Images per batch (two views each)")->capture_default_str();
  train_cmd->add_option("--seed", tc.seed, "Run seed")->capture_default_str();
  train_cmd->add_option("--threads", tc.threads, "Compute threads (0: all cores)")->capture_default_str();
  train_cmd->add_option("--workers", tc.workers, "Data loader threads")->capture_default_str();
  train_cmd->add_option("--device", tc.device, "cpu or cuda")->capture_default_str();
  train_cmd->add_option("--encoder", tc.encoder, "convnet or resnet18")->capture_default_str();
  train_cmd->add_option("--width", tc.width, "Encoder width (ConvNet w, ResNet base width)")->capture_default_str();
  train_cmd->add_option("--projection-dim", tc.projection_dim, "Projection head output size")->capture_default_str();
  train_cmd->add_option("--temperature", tc.temperature, "NT-Xent temperature")->capture_default_str();
  train_cmd->add_option("--optimizer", tc.optimizer, "adam, sgd, adamw or lars")->capture_default_str();
  train_cmd->add_option("--lr", tc.lr, "Peak learning rate")->capture_default_str();
  train_cmd->add_option("--weight-decay", tc.weight_decay, "Weight decay")->capture_default_str();
  train_cmd->add_option("--momentum", tc.momentum, "Momentum (sgd, lars)")->capture_default_str();
  train_cmd->add_option("--warmup-epochs", tc.warmup_epochs, "Linear warmup length in epochs, then cosine")->capture_default_str();
  train_cmd->add_option("--augment", tc.augment, "Augmentation preset (default: simclr-gray or simclr-rgb by channels)");
  train_cmd->add_option("--train-subset", tc.train_subset, "Use the first N training images (0: all)")->capture_default_str();
  train_cmd->add_option("--test-subset", tc.test_subset, "Use the first N test images (0: all)")->capture_default_str();
  train_cmd->add_option("--knn-k", tc.knn_k, "kNN monitor neighbours each epoch (0: off)")->capture_default_str();
  train_cmd->add_option("--knn-bank", tc.knn_bank_size, "Training images in the kNN bank (0: all)")->capture_default_str();
  train_cmd->add_option("--resume", resume_dir, "Continue the run in this directory from its checkpoint");

  // ---- eval
  EvalConfig ec;
  ec.run = "runs/simclr";
  std::string eval_device = "cpu";
  auto* eval_cmd = app.add_subcommand("eval", "Linear probe + kNN of a checkpoint, with raw-pixel and random-encoder baselines");
  eval_cmd->add_option("--run,--out", ec.run, "Run directory (or .ckpt file) to evaluate")->capture_default_str();
  eval_cmd->add_option("--data", ec.data, "Dataset folder (default: the run's)");
  eval_cmd->add_option("--epochs", ec.probe_epochs, "Linear probe epochs")->capture_default_str();
  eval_cmd->add_option("--train-subset", ec.train_subset, "First N training images (-1: as the run, 0: all)")->capture_default_str();
  eval_cmd->add_option("--test-subset", ec.test_subset, "First N test images (-1: as the run, 0: all)")->capture_default_str();
  eval_cmd->add_option("--knn-k", ec.knn_k, "kNN neighbours (0: skip kNN)")->capture_default_str();
  bool no_baselines = false;
  eval_cmd->add_flag("--no-baselines", no_baselines, "Only the trained encoder's row");
  eval_cmd->add_option("--seed", ec.seed, "Probe shuffling seed")->capture_default_str();
  eval_cmd->add_option("--threads", ec.threads, "Compute threads (0: all cores)")->capture_default_str();
  eval_cmd->add_option("--device", eval_device, "cpu or cuda")->capture_default_str();

  // ---- embed
  std::string embed_run = "runs/simclr", embed_data, embed_split = "test", embed_out = "features.npy";
  int64_t embed_subset = 0;
  int embed_threads = 0;
  auto* embed_cmd = app.add_subcommand("embed", "Encoder features of a dataset split to .npy (and labels to *_labels.npy)");
  embed_cmd->add_option("--run", embed_run, "Run directory (or .ckpt file)")->capture_default_str();
  embed_cmd->add_option("--data", embed_data, "Dataset folder (default: the run's)");
  embed_cmd->add_option("--split", embed_split, "train or test")->capture_default_str();
  embed_cmd->add_option("--out", embed_out, "Output .npy file")->capture_default_str();
  embed_cmd->add_option("--subset", embed_subset, "First N images (0: all)")->capture_default_str();
  embed_cmd->add_option("--threads", embed_threads, "Compute threads (0: all cores)")->capture_default_str();

  // ---- export
  std::string export_run = "runs/simclr", export_out = "encoder.safetensors";
  auto* export_cmd = app.add_subcommand("export", "Write the encoder's weights as safetensors (PyTorch-loadable)");
  export_cmd->add_option("--run", export_run, "Run directory (or .ckpt file)")->capture_default_str();
  export_cmd->add_option("--out", export_out, "Output .safetensors file")->capture_default_str();

  // ---- augment-preview
  std::string preview_data, preview_preset, preview_out = "augment-preview.png";
  int64_t preview_count = 8;
  uint64_t preview_seed = 0;
  auto* preview_cmd = app.add_subcommand("augment-preview", "PNG grid: original | view 1 | view 2 per image");
  preview_cmd->add_option("--data", preview_data, "Dataset folder (default: Fashion-MNIST)");
  preview_cmd->add_option("--preset", preview_preset, "simclr-gray, simclr-rgb or blog (default: by channels)");
  preview_cmd->add_option("--out", preview_out, "Output PNG")->capture_default_str();
  preview_cmd->add_option("--count", preview_count, "Images (rows)")->capture_default_str();
  preview_cmd->add_option("--seed", preview_seed, "Seed of the views")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s (see --help)\n", e.what());
    return 1;
  }

  try {
    if (train_cmd->parsed()) {
      bool resume = false;
      if (!resume_dir.empty()) {
        const int threads = tc.threads, workers = tc.workers;
        tc = load_run_config(resume_dir);
        tc.out_dir = resume_dir;
        tc.threads = threads;
        tc.workers = workers;
        resume = true;
      }
      if (epochs_flag != 0) tc.epochs = epochs_flag;
      const TrainResult r = train(tc, resume);
      std::printf("trained %lld steps (%lld epochs) in %.1fs; last loss %.4f; checkpoint %s; metrics %s\n",
                  static_cast<long long>(r.steps), static_cast<long long>(r.epochs_done), r.wall_seconds, r.last_loss,
                  r.checkpoint_path.c_str(), (std::filesystem::path(tc.out_dir) / "metrics.jsonl").c_str());
    } else if (eval_cmd->parsed()) {
      check_device(eval_device);
      ec.device = eval_device;
      ec.baselines = !no_baselines;
      ec.verbose = true;
      const EvalReport report = evaluate_run(ec);
      std::printf("%s", report.table().c_str());
      const EvalFiles files = write_eval_files(report, ec.run);
      std::printf("wrote %s and %s\n", files.json.c_str(), files.markdown.c_str());
    } else if (embed_cmd->parsed()) {
      if (embed_threads > 0) set_num_threads(embed_threads);
      const Tensor f = embed_to_npy(embed_run, embed_data, embed_split, embed_out, embed_subset);
      std::printf("wrote %s %s\n", embed_out.c_str(), f.shape_string().c_str());
    } else if (export_cmd->parsed()) {
      std::unique_ptr<SimCLR> model = load_trained_model(export_run);
      export_encoder_safetensors(*model, export_out);
      std::printf("wrote %s (%s w=%lld, %lld-d features)\n", export_out.c_str(), model->options().encoder.c_str(),
                  static_cast<long long>(model->options().width), static_cast<long long>(model->feature_dim()));
    } else if (preview_cmd->parsed()) {
      const TrainData data = load_train_data(preview_data);
      const std::string preset = !preview_preset.empty() ? preview_preset
                                 : data.train.channels() == 1 ? "simclr-gray" : "simclr-rgb";
      write_augment_preview(data.train, preset, preview_out, preview_count, preview_seed);
      std::printf("wrote %s (%lld images, preset %s)\n", preview_out.c_str(), static_cast<long long>(preview_count),
                  preset.c_str());
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nerror: %s\n", e.what());
    return 1;
  }
  return 0;
}
