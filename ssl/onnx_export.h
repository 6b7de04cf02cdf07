#pragma once
// ONNX export of a trained encoder: `simclr export --format onnx`.
//
// ONNX (https://onnx.ai) describes a model as a graph of standard ops (Conv, Relu, ...)
// whose weights travel inside the file, so the encoder runs in onnxruntime, OpenVINO,
// TensorRT ... without this project or PyTorch. The exported graph is the encoder f alone,
// in eval mode:
//
//   input  "images"   float32 [N, C, H, W]   N, H and W are symbolic (any batch size; any
//                                            image size the encoder takes), C is fixed
//   output "features" float32 [N, D]         the features before any projection head, the
//                                            same as Method::encode / `simclr embed`
//
// It is made in two steps, so the first can be read and tested in every build:
//
// 1. encoder_onnx_graph() walks the encoder's modules and writes down one OnnxNode per op,
//    with the weights as named float32 tensors (named as in the state_dict and in the
//    safetensors export: "features.0.weight", "layer1.0.bn1.running_var", ...). Only
//    nn/ types it knows are accepted (see ssl/onnx_export.cpp): a module's forward() is C++
//    code, not data, so the exporter must be told how each container wires its children.
// 2. export_encoder_onnx() turns that graph into ONNX's protobuf message with Debian's
//    libonnx (the ModelProto classes, the checker and shape inference) and writes it. That
//    part is optional at build time (CMake SC_ONNX=AUTO|ON|OFF, cmake/onnx.cmake); without
//    it export_encoder_onnx throws an sc::Error saying how to get it.
//
// BatchNorm stays a BatchNormalization node with the running statistics (it is not folded
// into the convolution weights): the file then holds exactly the tensors of the state_dict,
// every node computes what our eval-mode layer computes, and a runtime that wants the fused
// form folds it itself when it loads the model (onnxruntime does).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "ssl/checkpoint.h"
#include "ssl/method.h"

namespace sc::ssl {

// The ONNX versions the file declares: opset 13 (ONNX 1.8, 2020) has every op the encoders
// need and is read by every current runtime; IR version 7 is the file format of that release.
inline constexpr int64_t kOnnxOpsetVersion = 13;
inline constexpr int64_t kOnnxIrVersion = 7;

// One op of the graph. Values are named by strings: a node reads its inputs (values made by
// earlier nodes, the graph input, or weights) and makes its outputs.
struct OnnxNode {
  std::string op_type;  // an ONNX op of the default domain: "Conv", "BatchNormalization", ...
  std::string name;     // the module it comes from, as a dotted path ("layer1.0.conv1")
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  // Attributes by ONNX's kinds: one integer (Flatten's axis), a list of integers (Conv's
  // kernel_shape, strides, pads), one float (BatchNormalization's epsilon).
  std::map<std::string, int64_t> int_attributes;
  std::map<std::string, std::vector<int64_t>> ints_attributes;
  std::map<std::string, float> float_attributes;
};

struct OnnxGraph {
  std::string input = "images";
  std::string output = "features";
  int64_t in_channels = 0;  // C of the input
  int64_t feature_dim = 0;  // D of the output
  std::vector<OnnxNode> nodes;  // in the order they run (ONNX wants a topological order)
  // The weights (ONNX "initializers"), float32 contiguous CPU copies, named as in the
  // encoder's state_dict. num_batches_tracked is left out: eval mode does not read it.
  NamedTensors initializers;
  // Written into the file's metadata: architecture, width, in_channels, feature_dim.
  std::map<std::string, std::string> metadata;
};

// The encoder of `method` as a graph of ONNX ops (step 1 above), with its metadata.
OnnxGraph encoder_onnx_graph(const Method& method);
// The same for any module built from the types the exporter knows, taking images with
// `in_channels` channels to `feature_dim` features. Throws sc::Error naming the module for a
// layer or container it has no rule for.
OnnxGraph module_onnx_graph(const nn::Module& encoder, int64_t in_channels, int64_t feature_dim);

// True when this build can write ONNX files (built with libonnx, SC_ONNX).
bool onnx_export_available();
// One line for --help and errors: the ONNX library the build uses, or why there is none.
std::string onnx_build_note();
// Throws, in a build without ONNX support, an sc::Error that says so and how to build with
// it; does nothing in a build with it. The CLI calls it before it loads anything.
void require_onnx_export();

// Writes graph as an ONNX model file (atomically, see write_file_atomically), after ONNX's
// own checker and shape inference have accepted it. In a build without ONNX support it
// throws an sc::Error that says so and how to build with it.
void write_onnx_model(const OnnxGraph& graph, const std::string& path);

// encoder_onnx_graph + write_onnx_model: the method's encoder in eval mode as an ONNX file.
void export_encoder_onnx(const Method& method, const std::string& path);

}  // namespace sc::ssl
