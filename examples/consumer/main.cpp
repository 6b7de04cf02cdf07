// Uses the installed library (find_package(simclr)): a few SimCLR steps on Fashion-MNIST,
// then the trained encoder's features of some test images.
#include <cstdio>
#include <memory>
#include <string>

#include "ssl/method.h"
#include "ssl/trainer.h"

int main(int argc, char** argv) {
  sc::ssl::TrainConfig config;  // the quick recipe, made small
  config.out_dir = argc > 1 ? argv[1] : "consumer-run";
  config.max_steps = 3;
  config.train_subset = 512;
  config.batch_size = 64;
  config.width = 4;
  config.knn_k = 0;
  sc::ssl::TrainHooks hooks;
  hooks.quiet = true;
  try {
    const sc::ssl::TrainResult result = sc::ssl::train(config, sc::ssl::StartMode::New, hooks);
    std::unique_ptr<sc::ssl::Method> method = sc::ssl::load_trained_model(config.out_dir);
    const sc::ssl::TrainData data = sc::ssl::load_train_data("", 1, 100);
    const sc::Tensor features = sc::ssl::encode_dataset(*method, *data.test);
    std::printf("trained %lld steps, last loss %.4f; features of %lld test images: %s\n",
                static_cast<long long>(result.steps), result.last_loss, static_cast<long long>(data.test->size()),
                features.shape_string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
