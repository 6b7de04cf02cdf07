// The ONNX export (ssl/onnx_export.h, `simclr export --format onnx`):
//   - in every build: the graph the exporter walks out of a ConvNet and a ResNet-18 (which
//     ops, which weights), run by a small interpreter over our own ops, gives the encoder's
//     features; modules it has no rule for are refused by name;
//   - in a build with ONNX: the file is written; without: the error says how to get it;
//   - with onnxruntime (tests/python_env.sh, the python in $SC_PYENV or /opt/sc-pyenv): the
//     exported model runs there and matches our features to 1e-5 (tests/python/check_onnx.py
//     states the tolerance), for models built here and for runs trained by the `simclr`
//     program and read back by `simclr embed`. Skipped, saying so, without onnxruntime.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/layers.h"
#include "ssl/export.h"
#include "ssl/method.h"
#include "ssl/onnx_export.h"
#include "tests/export_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::ssl;
using sc::test::contains;
using sc::test::message_of;
using sc::test::method_with_statistics;
using sc::test::Ran;
using sc::test::run_command;

namespace {

Tensor features_of(Method& method, const Tensor& x) {
  NoGradGuard no_grad;
  return method.encode(x);
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a, b))).item(); }

// Runs an OnnxGraph with our own ops, node by node: what each ONNX op means, written out.
Tensor run_graph(const OnnxGraph& graph, const Tensor& images) {
  std::map<std::string, Tensor> values(graph.initializers.begin(), graph.initializers.end());
  values[graph.input] = images;
  NoGradGuard no_grad;
  for (const OnnxNode& node : graph.nodes) {
    CAPTURE(node.name);
    std::vector<Tensor> in;
    for (const std::string& name : node.inputs) {
      REQUIRE_MESSAGE(values.count(name), "input '", name, "' is used before it is made");
      in.push_back(values.at(name));
    }
    auto ints = [&](const char* key) { return node.ints_attributes.at(key); };
    Tensor out;
    if (node.op_type == "Conv") {
      Conv2dOptions o;
      o.stride_h = ints("strides")[0], o.stride_w = ints("strides")[1];
      o.pad_h = ints("pads")[0], o.pad_w = ints("pads")[1];
      CHECK(ints("pads")[2] == o.pad_h);
      CHECK(ints("kernel_shape") == std::vector<int64_t>{in[1].shape()[2], in[1].shape()[3]});
      out = conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), o);
    } else if (node.op_type == "BatchNormalization") {
      out = batch_norm(in[0], in[1], in[2], in[3], in[4], /*training=*/false, 0.1, node.float_attributes.at("epsilon"));
    } else if (node.op_type == "Relu") {
      out = relu(in[0]);
    } else if (node.op_type == "MaxPool") {
      Pool2dOptions o;
      o.kernel_h = ints("kernel_shape")[0], o.kernel_w = ints("kernel_shape")[1];
      o.stride_h = ints("strides")[0], o.stride_w = ints("strides")[1];
      o.pad_h = ints("pads")[0], o.pad_w = ints("pads")[1];
      out = max_pool2d(in[0], o);
    } else if (node.op_type == "Add") {
      out = add(in[0], in[1]);
    } else if (node.op_type == "GlobalAveragePool") {
      out = global_avg_pool2d(in[0]);
    } else if (node.op_type == "Flatten") {
      out = flatten(in[0], node.int_attributes.at("axis"), -1);
    } else {
      FAIL("the interpreter has no rule for ", node.op_type);
    }
    for (const std::string& name : node.outputs) {
      REQUIRE_MESSAGE(!values.count(name), "value '", name, "' is made twice");
      values[name] = out;
    }
  }
  return values.at(graph.output);
}

std::map<std::string, int> op_counts(const OnnxGraph& graph) {
  std::map<std::string, int> counts;
  for (const OnnxNode& node : graph.nodes) ++counts[node.op_type];
  return counts;
}

// The python of tests/python_env.sh, or "" when it (or onnxruntime in it) is missing.
std::string onnxruntime_python() {
  const char* env = std::getenv("SC_PYENV");
  const std::string python = std::string(env && *env ? env : "/opt/sc-pyenv") + "/bin/python";
  const std::string probe = "'" + python + "' -c 'import onnxruntime, numpy' > /dev/null 2>&1";
  return std::system(probe.c_str()) == 0 ? python : "";
}

// check_onnx.py on the model, the images and our features for them; its report goes to the
// test log.
void check_in_onnxruntime(const std::string& python, const std::string& model, const Tensor& x, const Tensor& h,
                          const test::TempDir& dir) {
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("h.npy"), h);
  const Ran r = run_command("'" + python + "' " SC_SOURCE_DIR "/tests/python/check_onnx.py '" + model + "' '" +
                                dir.file("x.npy") + "' '" + dir.file("h.npy") + "'",
                            dir);
  MESSAGE(r.output);
  CHECK_MESSAGE(r.exit_code == 0, "onnxruntime's features differ from ours");
}

}  // namespace

TEST_CASE("onnx: the exported graph of a ConvNet and a ResNet-18 computes the encoder's features") {
  Generator gen(3);
  struct Case {
    const char* encoder;
    int64_t width, channels, size;
    std::map<std::string, int> ops;
  };
  const std::vector<Case> cases = {
      {"convnet", 4, 1, 28,
       {{"Conv", 4}, {"BatchNormalization", 4}, {"Relu", 4}, {"MaxPool", 2}, {"GlobalAveragePool", 1}, {"Flatten", 1}}},
      // 1 stem conv + 8 blocks x 2 convs + 3 downsample convs, one BN each; 1 + 8 x 2 ReLUs.
      {"resnet18", 4, 3, 32,
       {{"Conv", 20}, {"BatchNormalization", 20}, {"Relu", 17}, {"Add", 8}, {"GlobalAveragePool", 1}, {"Flatten", 1}}},
  };
  for (const Case& c : cases) {
    const std::string encoder = c.encoder;
    CAPTURE(encoder);
    auto method = method_with_statistics(c.encoder, c.width, c.channels, c.size, gen);
    const OnnxGraph graph = encoder_onnx_graph(*method);
    CHECK(op_counts(graph) == c.ops);
    CHECK(graph.in_channels == c.channels);
    CHECK(graph.feature_dim == 8 * c.width);
    CHECK(graph.metadata.at("architecture") == c.encoder);
    CHECK(graph.nodes.front().inputs[0] == "images");
    CHECK(graph.nodes.back().outputs == std::vector<std::string>{"features"});

    // The weights are the state_dict's, by name and value, less num_batches_tracked.
    size_t expected = 0;
    std::map<std::string, Tensor> weights(graph.initializers.begin(), graph.initializers.end());
    for (const auto& entry : method->encoder().state_dict()) {  // not [name, tensor]: clang 14 and *_MESSAGE
      const std::string& name = entry.first;
      if (contains(name, "num_batches_tracked")) continue;
      ++expected;
      REQUIRE_MESSAGE(weights.count(name), name);
      CHECK(max_abs_diff(weights.at(name), entry.second) == 0.0);
    }
    CHECK(graph.initializers.size() == expected);

    // Eval-mode features, with statistics that are not the defaults.
    const Tensor x = rand({5, c.channels, c.size, c.size}, gen);
    const Tensor h = features_of(*method, x);
    const Tensor from_graph = run_graph(graph, x);
    REQUIRE(from_graph.shape() == h.shape());
    CHECK(max_abs_diff(from_graph, h) <= 1e-6);
  }
}

TEST_CASE("onnx: modules the exporter has no rule for are refused by name") {
  Generator gen(0);
  nn::Sequential with_linear;
  with_linear.push_back(std::make_shared<nn::Conv2d>(1, 2, 3, gen));
  with_linear.push_back(std::make_shared<nn::Flatten>());
  with_linear.push_back(std::make_shared<nn::Linear>(8, 4, gen));
  CHECK(contains(message_of([&] { module_onnx_graph(with_linear, 1, 4); }), "ONNX export: no rule for Linear '2'"));

  nn::Sequential partial_flatten;
  partial_flatten.push_back(std::make_shared<nn::Conv2d>(1, 2, 3, gen));
  partial_flatten.push_back(std::make_shared<nn::Flatten>(2));
  CHECK(contains(message_of([&] { module_onnx_graph(partial_flatten, 1, 4); }),
                 "Flatten '1' flattens dims 2..-1; only Flatten(1, -1)"));

  // Types are matched exactly: a subclass may override forward() and compute something else.
  struct ScaledReLU : nn::ReLU {
    Tensor forward(const Tensor& x) override { return mul(relu(x), 2.0); }
  };
  nn::Sequential subclassed;
  subclassed.push_back(std::make_shared<nn::Conv2d>(1, 2, 3, gen));
  subclassed.push_back(std::make_shared<ScaledReLU>());
  CHECK(contains(message_of([&] { module_onnx_graph(subclassed, 1, 2); }), "ONNX export: no rule for ReLU '1'"));

  nn::Sequential nothing;
  nothing.push_back(std::make_shared<nn::Identity>());
  CHECK(contains(message_of([&] { module_onnx_graph(nothing, 1, 4); }), "computes nothing"));
}

TEST_CASE("onnx: export_encoder_onnx writes the file, or says this build has no ONNX support") {
  Generator gen(5);
  auto method = method_with_statistics("convnet", 4, 1, 28, gen);
  test::TempDir dir("onnx_write");
  const std::string path = dir.file("encoder.onnx");
  if (onnx_export_available()) {
    MESSAGE(onnx_build_note());
    export_encoder_onnx(*method, path);
    // The weights are stored as raw float32 bytes, so the file is at least their size.
    int64_t weight_bytes = 0;
    for (const auto& [name, tensor] : encoder_onnx_graph(*method).initializers) weight_bytes += 4 * tensor.numel();
    CHECK(static_cast<int64_t>(std::filesystem::file_size(path)) > weight_bytes);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  } else {
    const std::string message = message_of([&] { export_encoder_onnx(*method, path); });
    CHECK(contains(message, "this build has no ONNX support"));
    CHECK(contains(message, "libonnx-dev"));
    CHECK_FALSE(std::filesystem::exists(path));
  }
}

TEST_CASE("onnx: the exported ConvNet and ResNet-18 run in onnxruntime and match our features") {
  if (!onnx_export_available()) {
    MESSAGE("SKIPPED: ", onnx_build_note());
    return;
  }
  const std::string python = onnxruntime_python();
  if (python.empty()) {
    MESSAGE("SKIPPED: needs onnxruntime and numpy in $SC_PYENV or /opt/sc-pyenv (bash tests/python_env.sh)");
    return;
  }
  Generator gen(11);
  struct Case {
    const char* encoder;
    int64_t width, channels, size;
  };
  for (const Case& c : {Case{"convnet", 4, 1, 28}, Case{"resnet18", 4, 3, 32}}) {
    const std::string encoder = c.encoder;
    CAPTURE(encoder);
    auto method = method_with_statistics(c.encoder, c.width, c.channels, c.size, gen);
    test::TempDir dir("onnx_ort");
    export_encoder_onnx(*method, dir.file("encoder.onnx"));
    const Tensor x = rand({6, c.channels, c.size, c.size}, gen);
    check_in_onnxruntime(python, dir.file("encoder.onnx"), x, features_of(*method, x), dir);
  }
}

#ifdef SC_SIMCLR_BIN
namespace {

// An MNIST-layout folder of random 28x28 images (IDX files, see ssl/data/idx.h); returns the
// test images as the encoder sees them (pixels / 255), [count, 1, 28, 28].
Tensor write_random_idx_split(const std::filesystem::path& dir, const std::string& prefix, int64_t count,
                              Generator& gen) {
  auto big_endian = [](uint32_t v) {
    return std::string{char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
  };
  std::string images = big_endian(0x803) + big_endian(count) + big_endian(28) + big_endian(28);
  std::string labels = big_endian(0x801) + big_endian(count);
  std::vector<float> pixels;
  for (int64_t i = 0; i < count; ++i) {
    labels += char(i % 10);
    for (int k = 0; k < 28 * 28; ++k) {
      const auto value = static_cast<uint8_t>(gen.below(256));
      images += char(value);
      pixels.push_back(value / 255.0f);  // as make_plain_batch reads it
    }
  }
  std::ofstream(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary) << images;
  std::ofstream(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary) << labels;
  return from_vector(pixels, {count, 1, 28, 28});
}

}  // namespace

TEST_CASE("onnx: `simclr export --format onnx` of a trained run matches `simclr embed` in onnxruntime") {
  test::TempDir scratch("onnx_cli");
  const std::string simclr = SC_SIMCLR_BIN;
  Ran r = run_command(simclr + " export --format tflite --out '" + scratch.file("x") + "'", scratch);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "--format: tflite not in {safetensors,onnx}"));
  if (!onnx_export_available()) {
    // Said before anything is loaded: the run need not exist.
    r = run_command(simclr + " export --format onnx --run '" + scratch.file("no-run") + "'", scratch);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.output, "this build has no ONNX support"));
    CHECK(contains(r.output, "libonnx-dev"));
    return;
  }

  Generator gen(2);
  const std::filesystem::path data = scratch.path / "data";
  std::filesystem::create_directories(data);
  write_random_idx_split(data, "train", 64, gen);
  const Tensor test_images = write_random_idx_split(data, "t10k", 12, gen);

  struct Case {
    const char* encoder;
    int width;
  };
  for (const Case& c : {Case{"convnet", 4}, Case{"resnet18", 2}}) {
    const std::string encoder = c.encoder;
    CAPTURE(encoder);
    const std::string run = scratch.file(std::string("run-") + c.encoder);
    r = run_command(simclr + " train --data '" + data.string() + "' --encoder " + c.encoder + " --width " +
                        std::to_string(c.width) +
                        " --projection-dim 8 --batch-size 16 --steps 3 --workers 1 --threads 1 --knn-k 0 --quiet "
                        "--out '" + run + "'",
                    scratch);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    const std::string model = run + "/encoder.onnx";
    r = run_command(simclr + " export --format onnx --run '" + run + "' --out '" + model + "'", scratch);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    CHECK(contains(r.output, "(onnx, " + encoder + " w=" + std::to_string(c.width)));
    r = run_command(simclr + " embed --run '" + run + "' --split test --threads 1 --out '" + run + "/h.npy'", scratch);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    const std::string python = onnxruntime_python();
    if (python.empty()) {
      MESSAGE("SKIPPED the onnxruntime comparison: needs onnxruntime in $SC_PYENV or /opt/sc-pyenv");
      continue;
    }
    check_in_onnxruntime(python, model, test_images, read_npy(run + "/h.npy"), scratch);
  }
}
#endif
