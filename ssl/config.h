#pragma once
// TrainConfig: everything that defines a training run, as one plain struct. The CLI fills it
// from a named recipe (ssl/recipes.h) and the flags given; the trainer stores it as JSON in
// every checkpoint and in config.json, and a resumed run reads it back from there.
#include <cstdint>
#include <string>
#include <vector>

#include "ssl/data/load.h"
#include "ssl/method.h"

namespace sc::ssl {

// The defaults are the `quick` recipe (ssl/recipes.h): the README's main job.
struct TrainConfig {
  std::string recipe = "quick";  // the recipe the run started from (informational)
  // ---- data
  std::string data;            // "": Fashion-MNIST (kFashionMnistDir); or a dataset folder (ssl/data/load.h)
  int64_t train_subset = 0;    // use only the first N training images (0: all)
  int64_t test_subset = 0;     // use only the first N test images (0: all)
  std::string augment = "";    // augmentation preset; "": default_preset(channels)
  int64_t channels = 0;        // 0: as the images hold (gray 1, colour 3); 1 or 3: converted
  int64_t image_size = 0;      // 0: the images' own size; N: every image N x N (views, evaluation)
  double val_fraction = 0.0;   // > 0: this fraction of each class of a labeled image folder is the test split
  std::string eval_data;       // "": evaluate on --data; else a labeled dataset folder (for unlabeled --data)
  // ---- model
  std::string method = "simclr";            // a name from ssl/methods/registry.cpp
  HyperParameters method_params = {{"temperature", 0.2}};  // the method's hyper-parameters that differ from its defaults
  std::string encoder = "convnet";          // convnet | resnet18
  int64_t width = 16;
  int64_t projection_dim = 128;
  // ---- optimisation
  int64_t epochs = 1;
  int64_t max_steps = 0;       // > 0: stop after this many steps in total (may end mid-epoch)
  int64_t batch_size = 128;    // images per batch (2x as many views)
  std::string optimizer = "adam";  // adam | sgd | adamw | lars
  double lr = 3e-3;
  double weight_decay = 1e-6;
  double momentum = 0.9;       // sgd and lars
  double warmup_epochs = 0.5;  // linear warmup length, in epochs (rounded to steps)
  // ---- run
  uint64_t seed = 0;
  int threads = 0;             // compute threads (0: leave the default, all cores)
  int workers = 2;             // data loader threads
  std::string device = "cpu";  // cpu | cuda
  // Where the views are made: "cpu" (the loader's workers) or "cuda" (the workers only draw
  // each view's random parameters; the GPU makes the views from the uint8 images: the same
  // views, kernels/augment.h). "cuda" needs --device cuda. May change on resume.
  std::string augment_device = "cpu";
  // Data-parallel runs (mpirun -np N simclr train; ssl/distributed.h): batch_size above is the
  // global batch, split evenly over the ranks. With sync_bn every BatchNorm uses the batch
  // statistics of all ranks. Needs more than one rank; may change on resume, like the rank count.
  bool sync_bn = false;
  std::string out_dir = "runs/simclr";
  int64_t knn_k = 200;         // kNN monitor at the end of every epoch (0: off)
  int64_t knn_bank_size = 10000;  // training images in the kNN bank (0: all the training images used)
  int64_t log_every = 10;      // plain log line every N steps when stdout is not a terminal
};

// The config as one JSON object (stored in checkpoints and config.json) and back. Reading
// keeps the defaults for missing keys and ignores unknown ones; a malformed document or a
// value of the wrong type is an sc::Error naming the key. A config written before methods
// existed (a top-level "temperature", no "method") reads as SimCLR with that temperature.
std::string config_to_json(const TrainConfig& config);
TrainConfig config_from_json(const std::string& json);

// Throws sc::Error naming the flag, the value and what is allowed (unknown optimizer,
// batch size < 2, a method hyper-parameter out of its range, --device cuda without a GPU ...).
// Needs no data, so the CLI can refuse a bad flag before anything loads.
void validate_config(const TrainConfig& config);

// Upper bounds of the flags (validate_config, validate_eval_config): far beyond any real run,
// low enough that a typo cannot overflow a step count or allocate without end.
inline constexpr int64_t kMaxEpochs = 1000000;
inline constexpr int64_t kMaxSteps = int64_t{1} << 40;
inline constexpr int64_t kMaxBatchSize = 65536;
inline constexpr int64_t kMaxKnnK = 100000;
inline constexpr int64_t kMaxImageSize = 8192;      // --image-size: 8192 x 8192 is kMaxImagePixels
inline constexpr double kMaxValFraction = 0.9;      // --val-fraction: at least a tenth stays for training
// The most threads a flag may ask for: 4 per core this machine reports. More only adds
// switching; --threads 1000 once started 1,907 threads and hung.
int max_threads();
// Throws naming `flag` unless 0 <= threads <= max_threads(); `zero_means` says what 0 does.
void check_threads(const char* flag, int64_t threads, const char* zero_means);
// A seed as typed: "" when `text` is a whole number in [0, 2^64 - 1], else what is wrong
// with it. The CLI checks the text because CLI11 reads "-1" into a uint64_t as 2^64 - 1 and
// clamps 2^64 and above to 2^64 - 1, silently training with another seed than the one typed.
std::string seed_text_error(const std::string& text);
// Throws naming `flag` unless `preset` is "" (chosen by the data's channels) or a known preset.
void check_augment_preset(const char* flag, const std::string& preset);
// augment-preview's flags, checked before the data loads.
void check_preview_flags(const std::string& preset, int64_t count);

// What a resumed run may change: how long it runs and how (epochs, steps, threads, workers,
// device, augment device, logging, the kNN monitor, the number of ranks and --sync-bn). Everything else defines the model or the recipe.
// Throws sc::Error listing every flag whose value differs between the run's stored config and
// `requested`, with both values, and what to do instead.
void check_resume_compatible(const TrainConfig& stored, const TrainConfig& requested);
// The same, from the run's config.json text. A run on an image folder (--data given) written
// before --channels and --image-size existed read every folder as 3 channels with 32x32
// views; this version would continue it at the images' own size, so it is refused instead.
void check_resume_compatible(const std::string& stored_config_json, const TrainConfig& requested);

// The method options of a run on images with `in_channels` channels.
MethodOptions method_options(const TrainConfig& config, int64_t in_channels);
// The seed of a run's weight-init generator: a stream of the run seed that no loader seed
// uses. The random-encoder baseline uses it too, so it is exactly the run's starting point.
uint64_t model_init_seed(uint64_t seed);

// The augmentation preset a run uses: config.augment, or the default for the channel count.
std::string augment_preset(const TrainConfig& config, int64_t channels);

// How a run reads its data (ssl/data/load.h): its subsets, channels, image size and split.
DataOptions data_options(const TrainConfig& config);

}  // namespace sc::ssl
