// The tools for looking inside a step: the op trace (core/trace.h, SC_TRACE), op rows in the
// profiler (core/profiler.h), the autograd graph as DOT (core/graph_dot.h), and the
// `simclr train --dump-graph --profile` flags that use them (ssl/inspect.h).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/graph_dot.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "core/trace.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
namespace fs = std::filesystem;

namespace {

// Runs `body` with the trace at `level` into a string; returns the lines.
template <typename F>
std::vector<std::string> traced(int level, F&& body) {
  std::ostringstream captured;
  trace::set_stream(&captured);
  trace::set_level(level);
  try {
    body();
  } catch (...) {
    trace::set_level(0);
    trace::set_stream(nullptr);
    throw;
  }
  trace::set_level(0);
  trace::set_stream(nullptr);
  std::vector<std::string> lines;
  std::istringstream in(captured.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "[trace] <indent><head>  1.234 ms" -> "<indent><head>" (the time varies; the rest must not).
std::string without_time(const std::string& line) {
  static const std::regex timed(R"(^\[trace\] (.*)  [0-9]+\.[0-9]{3} ms(  \(threw\))?$)");
  std::smatch m;
  if (!std::regex_match(line, m, timed)) return "not a trace line: " + line;
  return m[1].str() + m[2].str();
}

std::vector<std::string> heads(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const std::string& line : lines) out.push_back(without_time(line));
  return out;
}

}  // namespace

TEST_CASE("trace: SC_TRACE=1 prints each op and each backward Node of a tiny graph, with shapes, dtype, device") {
  Tensor x = from_vector(std::vector<float>{1, -2, 3, -4, 5, -6}, {2, 3});
  Tensor w = from_vector(std::vector<float>{0.5f, -1, 2, 1, 0.25f, -0.5f}, {3, 2}).requires_grad_();
  const std::vector<std::string> lines = traced(1, [&] {
    Tensor loss = sum(relu(matmul(x, w)));
    loss.backward();
  });
  // Forward in call order; then the backward Nodes in the order run_backward runs them.
  const std::vector<std::string> expected = {
      "matmul  float32[2, 3], float32[3, 2]  cpu",
      "relu  float32[2, 2]  cpu",
      "sum  float32[2, 2]  cpu",
      "fill_  float32[]  cpu",  // backward() seeds the gradient of the loss with ones()
      "backward sum  float32[]  cpu",
      "backward relu  float32[2, 2]  cpu",
      "backward matmul  float32[2, 2]  cpu",
      "backward AccumulateGrad  float32[3, 2]  cpu",
  };
  CHECK(heads(lines) == expected);
  // Nothing is printed while the trace is off.
  CHECK(traced(0, [&] { sum(relu(matmul(x, w))).backward(); }).empty());
}

TEST_CASE("trace: SC_TRACE=2 also shows, indented, the ops an op calls inside; an op that throws says so") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}).requires_grad_();
  const std::vector<std::string> lines = traced(2, [&] { mean(mul(x, 2.0)).backward(); });
  const std::vector<std::string> got = heads(lines);
  REQUIRE(got.size() > 6);
  // The scalar form names its number; the 0-d tensor it makes and the real mul come inside.
  CHECK(got[0] == "mul  float64[2, 2], 2  cpu");
  CHECK(got[1] == "  fill_  float64[]  cpu");
  CHECK(got[2] == "  mul  float64[2, 2], float64[]  cpu");
  // mean is sum then div, one level down.
  CHECK(got[3] == "mean  float64[2, 2]  cpu");
  CHECK(got[4] == "  sum  float64[2, 2]  cpu");
  // A backward Node's own ops are indented under it.
  bool nested_under_backward = false;
  for (size_t i = 0; i + 1 < got.size(); ++i)
    if (got[i] == "backward sum  float64[]  cpu" && got[i + 1].rfind("  ", 0) == 0) nested_under_backward = true;
  CHECK(nested_under_backward);

  Tensor a = zeros({2, 3}), b = zeros({4, 5});
  const std::vector<std::string> failed = traced(1, [&] { CHECK_THROWS_AS(matmul(a, b), Error); });
  REQUIRE(failed.size() == 1);
  CHECK(without_time(failed[0]) == "matmul  float32[2, 3], float32[4, 5]  cpu  (threw)");
}

TEST_CASE("profiler: time_ops adds a row per outermost op; without it only backward Nodes are timed") {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}).requires_grad_();
  auto rows = [] {
    std::map<std::string, int64_t> calls;
    for (const profiler::Entry& e : profiler::entries()) calls[e.name] = e.calls;
    return calls;
  };
  profiler::reset();
  profiler::enable();
  profiler::time_ops();
  mean(relu(x)).backward();
  profiler::time_ops(false);
  std::map<std::string, int64_t> with_ops = rows();
  profiler::reset();
  mean(relu(x)).backward();
  profiler::enable(false);
  std::map<std::string, int64_t> without_ops = rows();
  profiler::reset();

  CHECK(with_ops["relu"] == 1);
  CHECK(with_ops["mean"] == 1);
  CHECK(with_ops.count("sum") == 0);  // inside mean: counted in mean's row, not twice
  CHECK(with_ops["backward relu"] == 1);
  CHECK(without_ops.count("relu") == 0);
  CHECK(without_ops.count("mean") == 0);
  CHECK(without_ops["backward relu"] == 1);
}

// ---- the graph as DOT -----------------------------------------------------------------

namespace {

// The nodes (id -> label) and edges ("a -> b" -> label) of the DOT text graph_dot writes.
struct Dot {
  std::map<std::string, std::string> nodes;
  std::vector<std::pair<std::string, std::string>> edges;  // ("a -> b", label)
};

std::string label_of(const std::string& attributes) {
  static const std::regex label(R"re(label="((?:[^"\\]|\\.)*)")re");
  std::smatch m;
  return std::regex_search(attributes, m, label) ? m[1].str() : "";
}

Dot parse_dot(const std::string& text) {
  static const std::regex node(R"(^  (\w+) \[(.*)\];$)"), edge(R"(^  (\w+) -> (\w+)(?: \[(.*)\])?;$)");
  Dot dot;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, edge))
      dot.edges.emplace_back(m[1].str() + " -> " + m[2].str(), label_of(m[3].str()));
    else if (std::regex_match(line, m, node) && m[1] != "node" && m[1] != "edge")
      dot.nodes[m[1].str()] = label_of(m[2].str());
  }
  return dot;
}

// The id of the one node whose label starts with `prefix` ("" when none or several).
std::string find_node(const Dot& dot, const std::string& prefix) {
  std::string found;
  for (const auto& [id, label] : dot.nodes)
    if (label.rfind(prefix, 0) == 0) {
      if (!found.empty()) return "";
      found = id;
    }
  return found;
}

}  // namespace

TEST_CASE("graph_dot: a conv2d graph: ops, named parameters, a constant input, shapes and saved tensors") {
  Generator gen(5);
  Tensor x = randn({2, 1, 8, 8}, gen);                      // the images: no grad
  Tensor w = randn({3, 1, 3, 3}, gen).requires_grad_();
  Tensor b = randn({3}, gen).requires_grad_();
  Tensor loss = sum(relu(conv2d(x, w, b)));
  const Dot dot = parse_dot(graph_dot(loss, {{"conv.weight", w}, {"conv.bias", b}}));

  // sum, relu, conv2d; the two parameters; the constant input; the root.
  CHECK(dot.nodes.size() == 7);
  CHECK(dot.edges.size() == 6);
  const std::string conv = find_node(dot, "conv2d\\n");
  REQUIRE(!conv.empty());
  CHECK(conv[0] == 'n');
  // Its output, and what its backward keeps: x (for the weight's gradient), not w (x needs none).
  CHECK(dot.nodes.at(conv) == "conv2d\\nout float32[2, 3, 6, 6]\\nsaved float32[2, 1, 8, 8]");
  const std::string weight = find_node(dot, "conv.weight\\n"), bias = find_node(dot, "conv.bias\\n");
  REQUIRE(!weight.empty());
  REQUIRE(!bias.empty());
  CHECK(dot.nodes.at(weight) == "conv.weight\\nfloat32[3, 1, 3, 3]\\nrequires grad");
  const std::string input = find_node(dot, "float32[2, 1, 8, 8]\\nno grad");
  REQUIRE(!input.empty());
  CHECK(input[0] == 'c');
  const std::vector<std::pair<std::string, std::string>> into_conv = {
      {input + " -> " + conv, "0: float32[2, 1, 8, 8]"},
      {weight + " -> " + conv, "1: float32[3, 1, 3, 3]"},
      {bias + " -> " + conv, "2: float32[3]"},
  };
  for (const auto& e : into_conv) {
    CAPTURE(e.first);
    CHECK(std::find(dot.edges.begin(), dot.edges.end(), e) != dot.edges.end());
  }
  CHECK(dot.nodes.at("root") == "float32[]\\nbackward() starts here");

  // After backward the graph is released, but the picture only needs shapes: the same.
  const std::string before = graph_dot(loss);
  loss.backward();
  CHECK(graph_dot(loss) == before);
}

TEST_CASE("graph_dot: a parameter used twice is one leaf with two edges; a leaf alone; the file") {
  Tensor w = from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  const Dot dot = parse_dot(graph_dot(sum(mul(w, w))));
  CHECK(dot.nodes.size() == 4);  // sum, mul, w, root
  const std::string leaf = find_node(dot, "float32[2]\\nrequires grad"), mul_node = find_node(dot, "mul\\n");
  REQUIRE(!leaf.empty());
  int edges_from_leaf = 0;
  for (const auto& [edge, label] : dot.edges) edges_from_leaf += edge == leaf + " -> " + mul_node;
  CHECK(edges_from_leaf == 2);

  const Dot alone = parse_dot(graph_dot(w));
  CHECK(alone.nodes.size() == 2);

  TempDir dir("graph_dot");
  write_graph_dot(sum(w), dir.file("g.dot"));
  std::ifstream in(dir.file("g.dot"));
  std::string first;
  std::getline(in, first);
  CHECK(contains(first, "The autograd graph of float32[] on cpu"));
  CHECK(contains(message_of([&] { write_graph_dot(sum(w), dir.file("no/such/dir/g.dot")); }), "cannot open"));
}

// ---- the `simclr` program: --dump-graph, --profile, SC_TRACE ----------------------------
#ifdef SC_SIMCLR_BIN
namespace {

// An MNIST-layout folder of `n` random 28x28 images per split (the reader checks sizes, not content).
void write_tiny_mnist(const fs::path& dir, int64_t n, uint64_t seed) {
  fs::create_directories(dir);
  Generator gen(seed);
  auto header = [](std::ofstream& out, std::vector<uint32_t> words) {
    for (uint32_t v : words) {
      const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                             static_cast<char>(v)};
      out.write(bytes, 4);
    }
  };
  for (const std::string split : {"train", "t10k"}) {
    std::ofstream images(dir / (split + "-images-idx3-ubyte"), std::ios::binary);
    std::ofstream labels(dir / (split + "-labels-idx1-ubyte"), std::ios::binary);
    header(images, {0x803, static_cast<uint32_t>(n), 28, 28});
    header(labels, {0x801, static_cast<uint32_t>(n)});
    for (int64_t i = 0; i < n; ++i) {
      for (int p = 0; p < 28 * 28; ++p) images.put(static_cast<char>(gen.below(256)));
      labels.put(static_cast<char>(i % 10));
    }
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("simclr: train --dump-graph --profile with SC_TRACE=1: graph.dot of step 1, profile.md, the trace") {
  TempDir scratch("inspect");
  write_tiny_mnist(scratch.path / "data", 40, 9);
  const fs::path run = scratch.path / "run";
  const std::string log = scratch.file("log.txt");
  const std::string command = "SC_TRACE=1 " + std::string(SC_SIMCLR_BIN) + " train --data '" +
                              (scratch.path / "data").string() + "' --out '" + run.string() +
                              "' --width 4 --projection-dim 8 --batch-size 8 --steps 2 --workers 1 --threads 1 "
                              "--knn-k 0 --dump-graph --profile > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  const std::string output = read_file(log);
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), output);

  // The graph of the first step: ConvNet w=4 (4 conv blocks) + the projection head + NT-Xent.
  const Dot dot = parse_dot(read_file(run / "graph.dot"));
  int convs = 0, leaves = 0;
  for (const auto& [id, label] : dot.nodes) {
    convs += label.rfind("conv2d\\n", 0) == 0;
    leaves += id[0] == 'p';
  }
  CHECK(convs == 4);
  // 4 conv weights, 4 + 1 BN weight/bias pairs, the head's two Linear weights and last bias.
  CHECK(leaves == 4 + 2 * 5 + 3);
  CHECK(dot.nodes.size() > 40);
  const std::string first_conv = find_node(dot, "conv2d\\nout float32[16, 4, 28, 28]");
  REQUIRE(!first_conv.empty());
  const std::string weight = find_node(dot, "encoder.features.0.weight\\n");
  REQUIRE(!weight.empty());
  CHECK(dot.nodes.at(weight) == "encoder.features.0.weight\\nfloat32[4, 1, 3, 3]\\nrequires grad");
  const std::pair<std::string, std::string> weight_edge{weight + " -> " + first_conv, "1: float32[4, 1, 3, 3]"};
  CHECK(std::find(dot.edges.begin(), dot.edges.end(), weight_edge) != dot.edges.end());
  CHECK(find_node(dot, "nt_xent_normalized\\nout float32[]") != "");
  // graph.svg only where Graphviz is installed.
  if (std::system("command -v dot >/dev/null 2>&1") == 0) {
    CHECK(fs::exists(run / "graph.svg"));
    CHECK(contains(output, "wrote " + (run / "graph.svg").string()));
  } else {
    CHECK(contains(output, "graph.svg not rendered"));
  }

  const std::string profile = read_file(run / "profile.md");
  CHECK(contains(profile, "`simclr train --profile`: 2 steps of simclr, convnet w=4, batch 8 (16 views)"));
  CHECK(contains(profile, "| name | total ms | calls | ms per call | share |"));
  CHECK(contains(profile, "| train step (whole) | "));
  CHECK(std::regex_search(profile, std::regex(R"(\| conv2d \| [0-9.]+ \| 8 \|)")));           // 4 per step
  CHECK(std::regex_search(profile, std::regex(R"(\| backward conv2d \| [0-9.]+ \| 8 \|)")));
  CHECK(std::regex_search(profile, std::regex(R"(\| adam_step_ \| [0-9.]+ \| 34 \|)")));      // 17 tensors
  CHECK(contains(output, "wrote " + (run / "profile.md").string()));

  // SC_TRACE=1: the first conv of the first step, forward and backward, on stderr.
  CHECK(contains(output, "[trace] conv2d  float32[16, 1, 28, 28], float32[4, 1, 3, 3], none  cpu  "));
  CHECK(contains(output, "[trace] backward conv2d  float32[16, 4, 28, 28]  cpu  "));
  CHECK(contains(output, "[trace] nt_xent  float32[16, 8]  cpu  "));
  CHECK(contains(output, "[trace] adam_step_  float32[4, 1, 3, 3], float32[4, 1, 3, 3]  cpu  "));
}
#endif
