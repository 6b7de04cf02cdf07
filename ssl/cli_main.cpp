// The `simclr` program: a thin CLI11 layer over ssl/ (trainer.h, report.h, method.h, recipes.h).
// Every error ends as "error: <message>" on stderr and exit status 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "augment/transform.h"
#include "build_info.h"
#include "core/ops.h"
#include "ssl/distributed.h"
#include "ssl/inspect.h"
#include "ssl/onnx_export.h"
#include "ssl/interrupt.h"
#include "ssl/recipes.h"
#include "ssl/report.h"
#include "ssl/run_dir.h"
#include "ssl/trainer.h"

using namespace sc;
using namespace sc::ssl;

// The dataset folders --data and --eval-data read (ssl/data/load.h, ssl/data/image_folder.h).
constexpr const char* kDataLayouts =
    "Data folders (--data, --eval-data):\n"
    "  MNIST layout     train-images-idx3-ubyte(.gz) and the other three IDX files\n"
    "  CIFAR-10 binary  data_batch_1.bin ... test_batch.bin\n"
    "  labeled images   root/<class>/<image>.png|.jpg; add --val-fraction F to hold out F of each class for evaluation\n"
    "  split images     root/train/<class>/... and root/test/<class>/...\n"
    "  unlabeled images root/<image>.png|.jpg, no subfolders: training works; evaluation needs --eval-data\n"
    "PNG and JPEG are read (BMP, GIF, TIFF and WebP files are refused: convert them to PNG). Gray images\n"
    "give 1 channel and colour images 3 unless --channels says otherwise; a folder mixing both needs\n"
    "--channels. Images of different sizes need --image-size N: each image's shorter side is scaled to N\n"
    "(bilinear, antialiased) and the middle N x N kept; the views and the evaluation are then N x N.\n";

// Data-parallel runs (ssl/distributed.h): what only the environment sets.
constexpr const char* kDataParallel =
    "Data-parallel runs (mpirun -np N simclr train ...): --batch-size is the global batch, split over the\n"
    "ranks. Gradients are averaged over the ranks in buckets all-reduced while backward runs; the environment\n"
    "sets SC_DIST_BUCKET_MB (the bucket size in MiB, default 0.25, the same on every rank) and SC_DIST_TIMEOUT\n"
    "(seconds a rank waits in a collective before it ends the job, default 300).\n";

int main(int argc, char** argv) {
  CLI::App app{"simclr: self-supervised pre-training (SimCLR and other methods) and evaluation (Fashion-MNIST by default)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("simclr ") + SC_VERSION + " (commit " + SC_GIT_COMMIT + ")\nbuild: " +
                                        SC_BUILD_TYPE + ", " + SC_BUILD_COMPILER + ", -march=native " + SC_BUILD_NATIVE +
                                        ", " + SC_BUILD_CUDA);
  app.set_help_all_flag("--help-all", "Show the help of every subcommand");

  // ---- train
  // Flags land in `given`; after parsing, only the flags actually given are copied onto the
  // base config (a recipe, or the stored config of a resumed run), so "not given" and "given
  // with the default value" never get confused.
  TrainConfig given;
  std::vector<std::pair<CLI::Option*, std::function<void(TrainConfig&)>>> overrides;
  auto* train_cmd = app.add_subcommand("train", "Pre-train an encoder self-supervised (no labels used)");
  auto flag = [&](const std::string& name, auto member, const std::string& help) {
    CLI::Option* option = train_cmd->add_option(name, given.*member, help)->capture_default_str();
    overrides.emplace_back(option, [&given, member](TrainConfig& to) { to.*member = given.*member; });
    return option;
  };
  std::string recipe_help = "Named recipe the flags start from:";
  for (const Recipe& r : recipes()) recipe_help += "\n  " + r.name + ": " + r.summary;
  std::string recipe_name = "quick";
  CLI::Option* recipe_option = train_cmd->add_option("--recipe", recipe_name, recipe_help)->capture_default_str();
  std::string method_help = "Self-supervised method:";
  for (const MethodInfo& m : method_registry()) method_help += "\n  " + m.name + ": " + m.summary;
  CLI::Option* method_option = flag("--method", &TrainConfig::method, method_help);
  flag("--data", &TrainConfig::data, "Dataset folder: MNIST layout, CIFAR-10 binary or image folder (\"\": Fashion-MNIST; layouts below)");
  flag("--eval-data", &TrainConfig::eval_data, "Labeled dataset folder for the kNN monitor and simclr eval (\"\": --data's own labels)");
  flag("--channels", &TrainConfig::channels, "0: as the images (gray 1, colour 3), 1: gray, 3: RGB");
  flag("--image-size", &TrainConfig::image_size, "Every image, view and evaluation N x N (0: the images' own size)");
  flag("--val-fraction", &TrainConfig::val_fraction, "Hold out this fraction of each class of a labeled image folder as the test split (0: none)");
  CLI::Option* out_option = flag("--out", &TrainConfig::out_dir, "Run folder for checkpoints, metrics and plots (must not hold a run)");
  flag("--epochs", &TrainConfig::epochs, "Epochs (may change on --resume: a larger value stretches the cosine schedule)");
  flag("--steps", &TrainConfig::max_steps, "Stop after this many steps in total (0: all epochs)");
  flag("--batch-size", &TrainConfig::batch_size, "Images per batch (two views each)");
  // CLI11 would read "-1" as 2^64 - 1: the seed's text is checked (ssl/config.h).
  const CLI::Validator seed_check([](std::string& text) { return seed_text_error(text); }, "SEED");
  flag("--seed", &TrainConfig::seed, "Run seed")->check(seed_check);
  flag("--threads", &TrainConfig::threads, "Compute threads (0: all cores)");
  flag("--workers", &TrainConfig::workers, "Data loader threads");
  flag("--device", &TrainConfig::device, "cpu or cuda");
  flag("--augment-device", &TrainConfig::augment_device,
       "Where the views are made: cpu (loader threads) or cuda (the GPU, from plans the loader draws; needs --device cuda)");
  flag("--encoder", &TrainConfig::encoder, "convnet or resnet18");
  flag("--width", &TrainConfig::width, "Encoder width (ConvNet w, ResNet base width)");
  flag("--projection-dim", &TrainConfig::projection_dim, "Size of the embedding the loss sees");
  flag("--optimizer", &TrainConfig::optimizer, "adam, sgd, adamw or lars");
  flag("--lr", &TrainConfig::lr, "Peak learning rate");
  flag("--weight-decay", &TrainConfig::weight_decay, "Weight decay");
  flag("--momentum", &TrainConfig::momentum, "Momentum (sgd, lars)");
  flag("--warmup-epochs", &TrainConfig::warmup_epochs, "Linear warmup length in epochs, then cosine");
  flag("--augment", &TrainConfig::augment, "Augmentation preset (\"\": simclr-gray or simclr-rgb by channels)");
  flag("--train-subset", &TrainConfig::train_subset, "Use the first N training images (0: all)");
  flag("--test-subset", &TrainConfig::test_subset, "Use the first N test images (0: all)");
  flag("--knn-k", &TrainConfig::knn_k, "kNN monitor neighbours each epoch (0: off)");
  flag("--knn-bank", &TrainConfig::knn_bank_size, "Training images in the kNN bank (0: all)");
  // Data-parallel runs (mpirun -np N simclr train ...): ssl/distributed.h.
  CLI::Option* sync_bn = train_cmd->add_flag("--sync-bn", given.sync_bn, "Under mpirun -np N (N >= 2): BatchNorm statistics over all ranks' batches (--batch-size is the global batch)");
  overrides.emplace_back(sync_bn, [&given](TrainConfig& to) { to.sync_bn = given.sync_bn; });
  flag("--log-every", &TrainConfig::log_every, "A progress line every N steps when the output is not a terminal");
  // Each method's hyper-parameters, as flags; one that the chosen method lacks is an error.
  // A flag two methods share (--temperature) lists each one's default.
  std::map<std::string, double> hyper_values;
  std::map<std::string, std::string> hyper_help;
  std::vector<std::string> hyper_order;
  for (const MethodInfo& m : method_registry()) {
    for (const HyperParameter& h : m.hyper_parameters) {
      std::ostringstream line;
      line << "\n  " << m.name << ": " << h.help << "; default " << h.default_value << ", range [" << h.min << ", "
           << h.max << "]";
      if (!hyper_help.count(h.name)) hyper_order.push_back(h.name);
      hyper_help[h.name] += line.str();
    }
  }
  std::vector<std::pair<std::string, CLI::Option*>> hyper_options;
  for (const std::string& name : hyper_order) {
    hyper_values[name] = 0.0;
    hyper_options.emplace_back(
        name, train_cmd->add_option("--" + name, hyper_values[name], "Method hyper-parameter:" + hyper_help[name]));
  }
  train_cmd->footer(std::string(kDataLayouts) + kDataParallel);
  std::string resume_dir;
  bool force = false, train_quiet = false;
  train_cmd->add_flag("--quiet", train_quiet, "No progress lines (errors and warnings still go to stderr)");
  train_cmd->add_option("--resume", resume_dir, "Continue the run in this folder from its newest readable checkpoint");
  train_cmd->add_flag("--force", force, "Start a new run even where --out holds one (the old run is moved to <out>.replaced-N)");
  // Looking inside the run (ssl/inspect.h): not part of the config, so never checked on resume.
  InspectOptions inspect;
  train_cmd->add_flag("--dump-graph", inspect.dump_graph, "Write the first step's autograd graph to <out>/graph.dot (and graph.svg with Graphviz)");
  train_cmd->add_flag("--profile", inspect.profile, "Write the time of every op, backward Node and optimizer update to <out>/profile.md");

  // ---- eval
  EvalConfig ec;
  ec.run = "runs/simclr";
  std::string eval_device = "cpu";
  bool eval_quiet = false;
  auto* eval_cmd = app.add_subcommand("eval", "Linear probe + kNN of a checkpoint, with raw-pixel and random-encoder baselines");
  eval_cmd->add_option("--run,--out", ec.run, "Run directory (or .ckpt file) to evaluate")->capture_default_str();
  eval_cmd->add_option("--data,--eval-data", ec.data, "Labeled dataset folder (default: the run's --eval-data, else its --data)");
  eval_cmd->add_option("--val-fraction", ec.val_fraction, "Fraction of each class held out as the test split (-1: as the run on its own data, else 0)")
      ->capture_default_str();
  eval_cmd->footer(kDataLayouts);
  eval_cmd->add_option("--epochs", ec.probe_epochs, "Linear probe epochs (0: skip the probe)")->capture_default_str();
  eval_cmd->add_option("--train-subset", ec.train_subset, "First N training images (-1: as the run, 0: all)")->capture_default_str();
  eval_cmd->add_option("--test-subset", ec.test_subset, "First N test images (-1: as the run, 0: all)")->capture_default_str();
  eval_cmd->add_option("--knn-k", ec.knn_k, "kNN neighbours (0: skip kNN)")->capture_default_str();
  bool no_baselines = false;
  eval_cmd->add_flag("--no-baselines", no_baselines, "Only the trained encoder's row");
  eval_cmd->add_option("--seed", ec.seed, "Probe shuffling seed")->capture_default_str()->check(seed_check);
  eval_cmd->add_option("--threads", ec.threads, "Compute threads (0: all cores)")->capture_default_str();
  eval_cmd->add_option("--device", eval_device, "cpu or cuda")->capture_default_str();
  eval_cmd->add_flag("--quiet", eval_quiet, "Only the table (no per-row progress)");

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
  std::string export_run = "runs/simclr", export_out, export_format = "safetensors";
  auto* export_cmd = app.add_subcommand("export", "Write the trained encoder as safetensors (PyTorch) or ONNX (onnxruntime, ...)");
  export_cmd->add_option("--run", export_run, "Run directory (or .ckpt file)")->capture_default_str();
  export_cmd->add_option("--format", export_format,
                         "safetensors: the encoder's weights (python/simclr_torch.py loads them into PyTorch)\n"
                         "onnx: the encoder in eval mode as an ONNX graph, images [N, C, H, W] -> features [N, D] (" +
                             onnx_build_note() + ")")
      ->check(CLI::IsMember({"safetensors", "onnx"}))
      ->capture_default_str();
  export_cmd->add_option("--out", export_out, "Output file (default: encoder.safetensors or encoder.onnx)");

  // ---- augment-preview
  std::string preview_data, preview_preset, preview_out = "augment-preview.png";
  int64_t preview_count = 8;
  uint64_t preview_seed = 0;
  auto* preview_cmd = app.add_subcommand("augment-preview", "PNG grid: original | view 1 | view 2 per image");
  preview_cmd->add_option("--data", preview_data, "Dataset folder (default: Fashion-MNIST)");
  preview_cmd->add_option("--preset", preview_preset, "simclr-gray, simclr-rgb or blog (default: by channels)");
  preview_cmd->add_option("--out", preview_out, "Output PNG")->capture_default_str();
  preview_cmd->add_option("--count", preview_count, "Images (rows)")->capture_default_str();
  preview_cmd->add_option("--seed", preview_seed, "Seed of the views")->capture_default_str()->check(seed_check);
  DataOptions preview_options;
  preview_cmd->add_option("--channels", preview_options.channels, "0: as the images, 1: gray, 3: RGB")->capture_default_str();
  preview_cmd->add_option("--image-size", preview_options.image_size, "Images N x N (0: their own size)")->capture_default_str();

  // "simclr frobnicate": name the commands instead of CLI11's "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    const std::string command = argv[1];
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || sub->get_name() == command;
    }
    if (!found) {
      std::fprintf(stderr, "error: unknown command '%s' (commands: %s; see --help)\n", command.c_str(), known.c_str());
      return 1;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s (see --help)\n", e.what());
    return 1;
  }

  try {
    if (train_cmd->parsed()) {
      const bool resume = !resume_dir.empty();
      SC_CHECK(!(resume && force), "--force starts a new run; it cannot be combined with --resume");
      SC_CHECK(!(resume && recipe_option->count() > 0), "--recipe cannot be used with --resume: a run keeps its recipe");
      TrainConfig config = resume ? load_run_config(resume_dir) : recipe_config(recipe_name);
      // Another method than the base's: the base's hyper-parameters were for its method.
      if (method_option->count() > 0 && given.method != config.method) config.method_params.clear();
      for (const auto& [option, apply] : overrides)
        if (option->count() > 0) apply(config);
      for (const auto& [name, option] : hyper_options)
        if (option->count() > 0) config.method_params[name] = hyper_values[name];
      if (resume) {
        SC_CHECK(out_option->count() == 0 || std::filesystem::path(given.out_dir) == std::filesystem::path(resume_dir),
                 "--out ", given.out_dir, " and --resume ", resume_dir, " name different folders: a resumed run stays in its folder");
        config.out_dir = resume_dir;
      }
      TrainHooks quiet_hooks;
      quiet_hooks.quiet = train_quiet;
      RunInspector inspector(inspect, config);
      const TrainResult r = train(config, resume ? StartMode::Resume : force ? StartMode::Replace : StartMode::New,
                                  inspector.hooks(quiet_hooks));
      if (r.interrupted_by != 0) {
        // The shell's convention for "ended by signal N": 128 + N (130 for Ctrl-C, 143 for SIGTERM).
        std::cout.flush();  // the progress lines first
        std::fprintf(stderr, "interrupted by %s after step %lld: checkpoint %s written; continue with: simclr train --resume %s\n",
                     signal_name(r.interrupted_by), static_cast<long long>(r.steps), r.checkpoint_path.c_str(),
                     config.out_dir.c_str());
        return 128 + r.interrupted_by;
      }
      if (is_root_process()) std::printf("trained %lld steps (%lld epochs) in %.1fs; last loss %.4f; checkpoint %s; metrics %s\n",
                  static_cast<long long>(r.steps), static_cast<long long>(r.epochs_done), r.wall_seconds, r.last_loss,
                  r.checkpoint_path.c_str(), RunDir(config.out_dir).metrics().c_str());
      std::vector<std::string> warnings;
      for (const std::string& file : inspector.finish(&warnings)) std::printf("wrote %s\n", file.c_str());
      for (const std::string& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    } else if (eval_cmd->parsed()) {
      ec.device = eval_device;  // evaluate_run checks every flag (validate_eval_config) before it loads
      ec.baselines = !no_baselines;
      ec.verbose = !eval_quiet;
      const EvalReport report = evaluate_run(ec);
      std::printf("%s", report.table().c_str());
      const EvalFiles files = write_eval_files(report, ec.run);
      std::printf("wrote %s and %s\n", files.json.c_str(), files.markdown.c_str());
    } else if (embed_cmd->parsed()) {
      const Tensor f = embed_to_npy(embed_run, embed_data, embed_split, embed_out, embed_subset, embed_threads);
      std::printf("wrote %s %s\n", embed_out.c_str(), f.shape_string().c_str());
    } else if (export_cmd->parsed()) {
      const bool onnx = export_format == "onnx";
      if (onnx) require_onnx_export();  // a build without ONNX says so before loading anything
      if (export_out.empty()) export_out = onnx ? "encoder.onnx" : "encoder.safetensors";
      std::unique_ptr<Method> model = load_trained_model(export_run);
      if (onnx) export_encoder_onnx(*model, export_out);
      else export_encoder_safetensors(*model, export_out);
      std::printf("wrote %s (%s, %s w=%lld, %lld-d features)\n", export_out.c_str(), export_format.c_str(),
                  model->options().encoder.encoder.c_str(), static_cast<long long>(model->options().encoder.width),
                  static_cast<long long>(model->feature_dim()));
    } else if (preview_cmd->parsed()) {
      check_preview_flags(preview_preset, preview_count);
      TrainConfig checked;  // the flags' ranges, as train checks them
      checked.channels = preview_options.channels;
      checked.image_size = preview_options.image_size;
      validate_config(checked);
      const TrainData data = load_train_data(preview_data, preview_options);
      const std::string preset = !preview_preset.empty() ? preview_preset : augment::default_preset(data.train.channels());
      write_augment_preview(data.train, preset, preview_out, preview_count, preview_seed,
                            std::min(data.train.height(), data.train.width()));
      std::printf("wrote %s (%lld images, preset %s)\n", preview_out.c_str(),
                  static_cast<long long>(std::min(preview_count, data.train.size())),
                  preset.c_str());
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nerror%s: %s\n", rank_label().c_str(), e.what());
    return end_job_after_error(1);  // under mpirun: ends every rank, none is left waiting
  }
  return 0;
}
