#include "core/graph_dot.h"

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/autograd.h"

namespace sc {

namespace {

std::string info_str(const Shape& shape, DType dtype) { return std::string(dtype_name(dtype)) + shape_str(shape); }
std::string info_str(const TensorInfo& t) { return info_str(t.shape, t.dtype); }

// DOT strings are in double quotes. The labels put "\\n" (backslash, n: Graphviz's line break)
// between lines on purpose, so only quotes are escaped.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

class DotWriter {
 public:
  explicit DotWriter(const GraphNames& names) {
    for (const auto& [name, t] : names)
      if (t.defined()) leaf_names_[t.impl()] = name;
  }

  std::string write(const Tensor& root) {
    SC_CHECK(root.defined(), "write_graph_dot: the root tensor is undefined");
    out_ << "// The autograd graph of " << root.describe() << " (core/graph_dot.h).\n"
         << "// Render it with Graphviz: dot -Tsvg graph.dot -o graph.svg\n"
         << "digraph autograd {\n"
         << "  node [fontname=\"Helvetica\", fontsize=10];\n"
         << "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n";
    std::string root_id;
    if (root.grad_fn()) {
      root_id = walk(root.grad_fn());
    } else {
      // A leaf: nothing was recorded; the picture is the tensor alone.
      root_id = "p0";
      out_ << "  p0 [shape=box, style=filled, fillcolor=\"#d7f0d0\", label="
           << quoted(leaf_label(root.impl(), root.shape(), root.dtype())) << "];\n";
    }
    out_ << "  root [shape=ellipse, style=filled, fillcolor=\"#f7e0c8\", label="
         << quoted(info_str(root.shape(), root.dtype()) + "\\nbackward() starts here") << "];\n";
    out_ << "  " << root_id << " -> root;\n";
    out_ << "}\n";
    return out_.str();
  }

 private:
  std::string leaf_label(const TensorImpl* leaf, const Shape& shape, DType dtype) const {
    auto it = leaf_names_.find(leaf);
    std::string label = it != leaf_names_.end() ? it->second + "\\n" : "";
    return label + info_str(shape, dtype) + "\\nrequires grad";
  }

  // The id of `node`, writing it (and, once, everything that feeds it) on first sight. An
  // explicit stack, as in run_backward: a deep graph must not overflow the call stack.
  std::string walk(const std::shared_ptr<Node>& start) {
    std::vector<Node*> stack{start.get()};
    id_of(start.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      write_node(n);
      for (size_t i = 0; i < n->next.size(); ++i) {
        Node* child = n->next[i].get();
        const bool defined = i < n->input_defined.size() ? n->input_defined[i] : child != nullptr;
        if (!defined) continue;  // an optional input that was not given (a conv without bias)
        const std::string label = quoted(std::to_string(i) + ": " + info_str(n->input_shapes[i], n->input_dtypes[i]));
        if (child == nullptr) {
          // Given, but needs no gradient: nothing in the graph made it, so draw it as a constant.
          std::string id = "c";
          id += std::to_string(constants_++);
          out_ << "  " << id << " [shape=box, style=dashed, color=\"#999999\", fontcolor=\"#666666\", label="
               << quoted(info_str(n->input_shapes[i], n->input_dtypes[i]) + "\\nno grad") << "];\n";
          out_ << "  " << id << " -> " << ids_.at(n) << " [style=dashed, label=" << label << "];\n";
          continue;
        }
        const bool first_sight = !ids_.count(child);
        const std::string child_id = id_of(child);
        if (first_sight) stack.push_back(child);
        out_ << "  " << child_id << " -> " << ids_.at(n) << " [label=" << label << "];\n";
      }
    }
    return ids_.at(start.get());
  }

  std::string id_of(Node* n) {
    auto it = ids_.find(n);
    if (it != ids_.end()) return it->second;
    const bool leaf = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    std::string id = leaf ? "p" : "n";
    id += std::to_string(leaf ? leaves_++ : ops_++);
    ids_.emplace(n, id);
    return id;
  }

  void write_node(Node* n) {
    const std::string& id = ids_.at(n);
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) {
      const TensorImpl* leaf = acc->leaf().get();
      out_ << "  " << id << " [shape=box, style=filled, fillcolor=\"#d7f0d0\", label="
           << quoted(leaf_label(leaf, leaf->shape, leaf->dtype)) << "];\n";
      return;
    }
    std::string label = n->name() + "\\nout " + info_str(n->output);
    if (!n->saved.empty()) {
      label += "\\nsaved";
      for (size_t i = 0; i < n->saved.size(); ++i) {
        label += i ? ", " : " ";
        label += info_str(n->saved[i]);
      }
    }
    out_ << "  " << id << " [shape=box, style=\"rounded,filled\", fillcolor=\"#dbe8f7\", label=" << quoted(label)
         << "];\n";
  }

  std::ostringstream out_;
  std::unordered_map<const TensorImpl*, std::string> leaf_names_;
  std::unordered_map<Node*, std::string> ids_;
  int ops_ = 0, leaves_ = 0, constants_ = 0;
};

}  // namespace

std::string graph_dot(const Tensor& root, const GraphNames& names) { return DotWriter(names).write(root); }

void write_graph_dot(const Tensor& root, const std::string& path, const GraphNames& names) {
  const std::string text = graph_dot(root, names);
  std::ofstream out(path);
  SC_CHECK(out.good(), "write_graph_dot: cannot open '", path, "' for writing");
  out << text;
  out.close();
  SC_CHECK(out.good(), "write_graph_dot: writing '", path, "' failed");
}

}  // namespace sc
