// encode_features (ssl/report.h), the feature extraction of `simclr eval` and `simclr embed`:
// the same bits as encode_dataset (ssl/method.h) for any thread count, and the model's mode
// left as it was.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/ops.h"
#include "ssl/method.h"
#include "ssl/report.h"

#include "tests/dataset_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;

TEST_CASE("ssl: encode_features gives encode_dataset's features, bit for bit, on any thread count") {
  MethodOptions options;
  options.encoder.width = 4;
  options.projection_dim = 8;
  Generator gen(3);
  auto method = make_method("simclr", options, gen);
  // 300 images: 3 batches of (up to) 128, the last one partial, for the threads to share.
  const Dataset images = random_gray_images(300, 5);
  const std::vector<float> reference = encode_dataset(*method, images).to_vector<float>();
  REQUIRE(reference.size() == 300 * 32);

  const int before = num_threads();
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    set_num_threads(threads);
    method->train();  // a training-mode model is encoded in eval mode and left in training mode
    const Tensor features = encode_features(*method, images);
    CHECK(method->is_training());
    CHECK(features.shape() == Shape{300, 32});
    CHECK(features.to_vector<float>() == reference);
  }
  set_num_threads(before);

  Dataset rgb("rgb", 3, 28, 28, std::vector<uint8_t>(300 * 3 * 28 * 28), std::vector<int64_t>(300, 0), 1);
  CHECK(contains(message_of([&] { encode_features(*method, rgb); }), "has 3 channel(s) but the encoder takes 1"));
}
