// Step 1 of the ONNX export (ssl/onnx_export.h): the encoder's modules, walked into a list
// of ONNX nodes and named weights. No ONNX library is needed here; ssl/onnx_write.cpp turns
// the result into the protobuf file.
#include "ssl/onnx_export.h"

#include <set>
#include <typeinfo>

#include "nn/convnet.h"
#include "nn/layers.h"
#include "nn/resnet.h"

namespace sc::ssl {

namespace {

std::string join(const std::string& path, const std::string& name) { return path.empty() ? name : path + "." + name; }

// `module` as a T when its type is exactly T, else nullptr. Exactly, not a subclass: a
// subclass may override forward() and compute something else (ProjectionHead is a Sequential).
template <typename T>
const T* exactly(const nn::Module& module) {
  return typeid(module) == typeid(T) ? static_cast<const T*>(&module) : nullptr;
}

// Builds an OnnxGraph one module at a time. emit(module, path, input) appends the nodes that
// compute the module's forward() on the value called `input` and returns the name of the value
// that holds its result. `path` is the module's dotted name inside the encoder ("" for the
// encoder itself), so weights get their state_dict names.
class GraphBuilder {
 public:
  // The graph's input and output names are taken from the start, so no node can use them.
  explicit GraphBuilder(OnnxGraph& graph) : graph_(graph), names_{graph.input, graph.output} {}

  std::string emit(const nn::Module& module, const std::string& path, const std::string& input) {
    // Containers whose forward() runs their children once each, in registration order:
    // Sequential, and the two encoders (see ConvNet::forward and ResNet18::forward).
    if (exactly<nn::Sequential>(module) || exactly<nn::ConvNet>(module) || exactly<nn::ResNet18>(module)) {
      std::string value = input;
      for (const auto& [name, child] : module.children()) value = emit(*child, join(path, name), value);
      return value;
    }
    if (const auto* block = exactly<nn::BasicBlock>(module)) return basic_block(*block, path, input);
    if (const auto* conv = exactly<nn::Conv2d>(module)) return conv2d(*conv, path, input);
    if (const auto* bn = exactly<nn::BatchNorm2d>(module)) return batch_norm(*bn, path, input);
    if (const auto* bn = exactly<nn::BatchNorm1d>(module)) return batch_norm(*bn, path, input);
    if (exactly<nn::ReLU>(module)) return node("Relu", path, {input});
    if (const auto* pool = exactly<nn::MaxPool2d>(module)) {
      OnnxNode& n = add_node("MaxPool", path, {input});
      set_pool_attributes(n, pool->options());
      return n.outputs[0];
    }
    if (const auto* pool = exactly<nn::AvgPool2d>(module)) {
      OnnxNode& n = add_node("AveragePool", path, {input});
      set_pool_attributes(n, pool->options());
      n.int_attributes["count_include_pad"] = 1;  // as our avg_pool2d: padding counts as zeros
      return n.outputs[0];
    }
    if (exactly<nn::AdaptiveAvgPool2d>(module)) return node("GlobalAveragePool", path, {input});
    if (const auto* flatten = exactly<nn::Flatten>(module)) {
      // ONNX Flatten(axis) always makes a matrix: dims before axis joined, dims from axis on
      // joined. That is our flatten(start_dim = 1, end_dim = -1); other choices have no
      // one-op equivalent.
      SC_CHECK(flatten->start_dim() == 1 && flatten->end_dim() == -1, "ONNX export: ", where(module, path),
               " flattens dims ", flatten->start_dim(), "..", flatten->end_dim(),
               "; only Flatten(1, -1) (everything after the batch dim) has an ONNX equivalent");
      OnnxNode& n = add_node("Flatten", path, {input});
      n.int_attributes["axis"] = 1;
      return n.outputs[0];
    }
    if (exactly<nn::Identity>(module)) return input;
    throw Error("ONNX export: no rule for " + where(module, path) +
                "; the exporter knows Sequential, ConvNet, ResNet18, BasicBlock, Conv2d, BatchNorm1d, BatchNorm2d, ReLU, "
                "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten and Identity (ssl/onnx_export.cpp)");
  }

 private:
  // BasicBlock::forward: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where the
  // shortcut is `downsample` (1x1 conv + BN) or x itself. The one ReLU module runs twice.
  std::string basic_block(const nn::BasicBlock& block, const std::string& path, const std::string& x) {
    std::string out = conv2d(*block.conv1, join(path, "conv1"), x);
    out = batch_norm(*block.bn1, join(path, "bn1"), out);
    out = node("Relu", join(path, "relu"), {out});
    out = conv2d(*block.conv2, join(path, "conv2"), out);
    out = batch_norm(*block.bn2, join(path, "bn2"), out);
    const std::string shortcut = block.downsample ? emit(*block.downsample, join(path, "downsample"), x) : x;
    out = node("Add", join(path, "add"), {out, shortcut});
    return node("Relu", join(path, "relu"), {out});
  }

  std::string conv2d(const nn::Conv2d& conv, const std::string& path, const std::string& input) {
    const Conv2dOptions& o = conv.options();
    std::vector<std::string> inputs = {input, weight(join(path, "weight"), conv.weight)};
    if (conv.bias.defined()) inputs.push_back(weight(join(path, "bias"), conv.bias));
    OnnxNode& n = add_node("Conv", path, inputs);
    n.ints_attributes["kernel_shape"] = {conv.weight.shape()[2], conv.weight.shape()[3]};
    n.ints_attributes["strides"] = {o.stride_h, o.stride_w};
    n.ints_attributes["pads"] = {o.pad_h, o.pad_w, o.pad_h, o.pad_w};  // begin (h, w), then end (h, w)
    n.ints_attributes["dilations"] = {o.dilation_h, o.dilation_w};
    n.int_attributes["group"] = 1;
    return n.outputs[0];
  }

  // Eval mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, which is
  // what BatchNormalization computes with its inputs (X, scale, B, mean, var).
  std::string batch_norm(const nn::BatchNorm& bn, const std::string& path, const std::string& input) {
    OnnxNode& n = add_node("BatchNormalization", path,
                           {input, weight(join(path, "weight"), bn.weight), weight(join(path, "bias"), bn.bias),
                            weight(join(path, "running_mean"), bn.running_mean),
                            weight(join(path, "running_var"), bn.running_var)});
    n.float_attributes["epsilon"] = static_cast<float>(bn.eps());
    return n.outputs[0];
  }

  static void set_pool_attributes(OnnxNode& n, const Pool2dOptions& o) {
    n.ints_attributes["kernel_shape"] = {o.kernel_h, o.kernel_w};
    n.ints_attributes["strides"] = {o.stride_h, o.stride_w};
    n.ints_attributes["pads"] = {o.pad_h, o.pad_w, o.pad_h, o.pad_w};
  }

  // A node with one output, named after the node; returns that name.
  std::string node(const std::string& op_type, const std::string& path, std::vector<std::string> inputs) {
    return add_node(op_type, path, std::move(inputs)).outputs[0];
  }

  // Appends a node named after its module. A module that runs twice (BasicBlock's relu) gets
  // "#2" on its second node, so node and value names stay unique as ONNX requires.
  OnnxNode& add_node(const std::string& op_type, const std::string& path, std::vector<std::string> inputs) {
    std::string name = path.empty() ? op_type : path;
    for (int k = 2; !names_.insert(name).second; ++k) name = (path.empty() ? op_type : path) + "#" + std::to_string(k);
    OnnxNode n;
    n.op_type = op_type;
    n.name = name;
    n.inputs = std::move(inputs);
    n.outputs = {name};
    graph_.nodes.push_back(std::move(n));
    return graph_.nodes.back();
  }

  // Records a weight as an initializer (a float32 CPU snapshot) and returns its name.
  std::string weight(const std::string& name, const Tensor& tensor) {
    SC_CHECK(tensor.defined(), "ONNX export: the weight '", name, "' is undefined");
    SC_CHECK(names_.insert(name).second, "ONNX export: two values are named '", name, "'");
    graph_.initializers.emplace_back(name, tensor.detach().to(Device::CPU).to(DType::Float32).contiguous().clone());
    return name;
  }

  static std::string where(const nn::Module& module, const std::string& path) {
    return module.type_name() + " '" + (path.empty() ? "(the encoder)" : path) + "'";
  }

  OnnxGraph& graph_;
  std::set<std::string> names_;  // every node, value and weight name used so far
};

}  // namespace

OnnxGraph module_onnx_graph(const nn::Module& encoder, int64_t in_channels, int64_t feature_dim) {
  OnnxGraph graph;
  graph.in_channels = in_channels;
  graph.feature_dim = feature_dim;
  GraphBuilder builder(graph);
  const std::string last = builder.emit(encoder, "", graph.input);
  SC_CHECK(!graph.nodes.empty() && graph.nodes.back().outputs[0] == last,
           "ONNX export: ", encoder.type_name(), " computes nothing (its output is its input)");
  // The last node's output is the graph output.
  graph.nodes.back().outputs[0] = graph.output;
  return graph;
}

OnnxGraph encoder_onnx_graph(const Method& method) {
  const EncoderOptions& e = method.options().encoder;
  OnnxGraph graph = module_onnx_graph(method.encoder(), e.in_channels, method.feature_dim());
  graph.metadata = {{"architecture", e.encoder},
                    {"width", std::to_string(e.width)},
                    {"in_channels", std::to_string(e.in_channels)},
                    {"feature_dim", std::to_string(method.feature_dim())}};
  return graph;
}

void export_encoder_onnx(const Method& method, const std::string& path) {
  write_onnx_model(encoder_onnx_graph(method), path);
}

}  // namespace sc::ssl
