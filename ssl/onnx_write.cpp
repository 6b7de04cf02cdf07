// Step 2 of the ONNX export (ssl/onnx_export.h): an OnnxGraph as an ONNX protobuf file.
//
// An .onnx file is one serialized onnx::ModelProto message (the schema is onnx/onnx.proto,
// shipped by Debian's libonnx-dev with the C++ classes protoc made from it):
//   ModelProto   ir_version, opset_import (which op versions), producer, metadata_props,
//     graph: GraphProto
//       input / output   ValueInfoProto: name, element type, shape (numbers or symbols)
//       initializer      TensorProto: the weights, name + dims + raw little-endian bytes
//       node             NodeProto: op_type, inputs, outputs, attributes
//
// This file is compiled with SC_WITH_ONNX=1 when CMake found libonnx and libprotobuf
// (cmake/onnx.cmake); otherwise only the stand-ins at the bottom are, which say so.
#include "ssl/onnx_export.h"

#ifdef SC_WITH_ONNX
#include <bit>
#include <cstdio>
#include <limits>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#endif

namespace sc::ssl {

#ifdef SC_WITH_ONNX

namespace {

// Declares a float32 tensor value (the graph's input or output) with dims that are numbers
// (a fixed size) or symbols (any size, e.g. "N" for the batch).
struct Dim {
  int64_t size = -1;   // used when symbol is empty
  std::string symbol;  // ONNX dim_param
};
Dim fixed(int64_t size) { return Dim{size, ""}; }
Dim symbolic(const std::string& symbol) { return Dim{-1, symbol}; }

void declare_value(onnx::ValueInfoProto& value, const std::string& name, const std::vector<Dim>& dims) {
  value.set_name(name);
  onnx::TypeProto_Tensor& tensor = *value.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(onnx::TensorProto::FLOAT);
  for (const Dim& d : dims) {
    onnx::TensorShapeProto_Dimension& dim = *tensor.mutable_shape()->add_dim();
    if (d.symbol.empty()) dim.set_dim_value(d.size);
    else dim.set_dim_param(d.symbol);
  }
}

onnx::ModelProto to_model_proto(const OnnxGraph& graph) {
  // raw_data is little-endian by the ONNX spec; our tensors are in host order.
  static_assert(std::endian::native == std::endian::little, "the ONNX writer assumes a little-endian host");
  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  model.set_producer_name("simclr.cpp");
  model.set_producer_version(SC_PROJECT_VERSION);
  model.set_doc_string("SimCLR encoder (features before the projection head), BatchNorm in eval mode");
  onnx::OperatorSetIdProto& opset = *model.add_opset_import();
  opset.set_domain("");  // the default domain: the standard ONNX ops
  opset.set_version(kOnnxOpsetVersion);
  for (const auto& [key, value] : graph.metadata) {
    onnx::StringStringEntryProto& entry = *model.add_metadata_props();
    entry.set_key(key);
    entry.set_value(value);
  }

  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("encoder");
  declare_value(*g.add_input(), graph.input, {symbolic("N"), fixed(graph.in_channels), symbolic("H"), symbolic("W")});
  declare_value(*g.add_output(), graph.output, {symbolic("N"), fixed(graph.feature_dim)});

  for (const auto& [name, tensor] : graph.initializers) {
    SC_CHECK(tensor.dtype() == DType::Float32 && tensor.device() == Device::CPU && tensor.is_contiguous(),
             "write_onnx_model: the weight '", name, "' must be a contiguous float32 CPU tensor, got ",
             tensor.describe());
    onnx::TensorProto& t = *g.add_initializer();
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : tensor.shape()) t.add_dims(d);
    t.set_raw_data(tensor.raw_data(), static_cast<size_t>(tensor.numel()) * sizeof(float));
  }

  for (const OnnxNode& node : graph.nodes) {
    onnx::NodeProto& n = *g.add_node();
    n.set_op_type(node.op_type);
    n.set_name(node.name);
    for (const std::string& input : node.inputs) n.add_input(input);
    for (const std::string& output : node.outputs) n.add_output(output);
    for (const auto& [name, value] : node.int_attributes) {
      onnx::AttributeProto& a = *n.add_attribute();
      a.set_name(name);
      a.set_type(onnx::AttributeProto::INT);
      a.set_i(value);
    }
    for (const auto& [name, values] : node.ints_attributes) {
      onnx::AttributeProto& a = *n.add_attribute();
      a.set_name(name);
      a.set_type(onnx::AttributeProto::INTS);
      for (int64_t v : values) a.add_ints(v);
    }
    for (const auto& [name, value] : node.float_attributes) {
      onnx::AttributeProto& a = *n.add_attribute();
      a.set_name(name);
      a.set_type(onnx::AttributeProto::FLOAT);
      a.set_f(value);
    }
  }
  return model;
}

// ONNX's own checks, before anything is written: the checker (every op exists in opset 13
// with these attributes, every value is defined before it is used, ...) and strict shape
// inference, which also fails when the inferred output shape contradicts the declared
// [N, D]. They run on a copy: the written file keeps only what we declared.
void check_with_onnx(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(std::string("ONNX export: ONNX's checker rejects the graph: ") + e.what());
  }
  onnx::ModelProto inferred = model;
  try {
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*error_mode=*/1));
  } catch (const std::exception& e) {
    throw Error(std::string("ONNX export: ONNX's shape inference rejects the graph: ") + e.what());
  }
}

}  // namespace

bool onnx_export_available() { return true; }

void require_onnx_export() {}

std::string onnx_build_note() { return "built with ONNX " SC_ONNX_VERSION " and protobuf " SC_PROTOBUF_VERSION; }

void write_onnx_model(const OnnxGraph& graph, const std::string& path) {
  const onnx::ModelProto model = to_model_proto(graph);
  check_with_onnx(model);
  // A protobuf message cannot exceed 2 GiB; ONNX puts larger weights in side files, which
  // no encoder here needs (ResNet-18 at width 64 is 45 MB).
  const size_t bytes = model.ByteSizeLong();
  SC_CHECK(bytes < static_cast<size_t>(std::numeric_limits<int32_t>::max()), "write_onnx_model: '", path,
           "' would be ", bytes, " bytes; an ONNX protobuf file must stay under 2 GiB");
  std::string serialized;
  SC_CHECK(model.SerializeToString(&serialized), "write_onnx_model: protobuf could not serialize the model");
  write_file_atomically(path, [&](std::FILE* file) {
    SC_CHECK(std::fwrite(serialized.data(), 1, serialized.size(), file) == serialized.size(), "writing '", path,
             "' failed");
  });
}

#else  // a build without libonnx: the same functions, saying why they cannot work

bool onnx_export_available() { return false; }

std::string onnx_build_note() { return "this build has no ONNX support: " SC_ONNX_REASON; }

void require_onnx_export() {
  throw Error(onnx_build_note() +
              ". Install Debian's libonnx-dev and libprotobuf-dev (scripts/setup.sh does) and configure again "
              "(-DSC_ONNX=AUTO finds them, -DSC_ONNX=ON insists); --format safetensors works in every build");
}

void write_onnx_model(const OnnxGraph&, const std::string& path) {
  try {
    require_onnx_export();
  } catch (const Error& e) {
    throw Error("cannot write '" + path + "': " + e.what());
  }
}

#endif

}  // namespace sc::ssl
