#include "ssl/inspect.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/graph_dot.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "ssl/run_dir.h"

namespace sc::ssl {

struct RunInspector::State {
  InspectOptions options;
  TrainConfig config;
  RunDir run;
  bool graph_written = false;
  int64_t profiled_steps = 0;
  double step_seconds = 0.0;
  std::chrono::steady_clock::time_point step_start;

  State(InspectOptions o, const TrainConfig& c) : options(o), config(c), run(c.out_dir) {}
};

RunInspector::RunInspector(InspectOptions options, const TrainConfig& config)
    : state_(std::make_shared<State>(options, config)) {}

TrainHooks RunInspector::hooks(TrainHooks base) {
  std::shared_ptr<State> s = state_;
  if (s->options.dump_graph) {
    base.after_forward = [s, previous = base.after_forward](int64_t step, Method& method, const Tensor& loss) {
      if (previous) previous(step, method, loss);
      if (s->graph_written) return;
      // Before backward(): every Node still holds its saved tensors, so the picture is the whole step.
      write_graph_dot(loss, s->run.file("graph.dot"), method.named_parameters());
      s->graph_written = true;
    };
  }
  if (s->options.profile) {
    // The profiler runs only inside the steps: the kNN monitor, checkpoints and the data
    // loading between steps are not in the table.
    base.on_step_start = [s, previous = base.on_step_start](int64_t step) {
      if (previous) previous(step);
      if (s->profiled_steps == 0) profiler::reset();
      profiler::enable();
      profiler::time_ops();
      s->step_start = std::chrono::steady_clock::now();
    };
    base.on_step_end = [s, previous = base.on_step_end](int64_t step) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s->step_start).count();
      profiler::time_ops(false);
      profiler::enable(false);
      profiler::add("train step (whole)", seconds);
      s->step_seconds += seconds;
      ++s->profiled_steps;
      if (previous) previous(step);
    };
  }
  return base;
}

namespace {

std::string profile_markdown(const TrainConfig& c, int64_t steps, double seconds) {
  char head[1024];
  std::snprintf(head, sizeof head,
                "# Where the time of the training steps went\n\n"
                "`simclr train --profile`: %lld steps of %s, %s w=%lld, batch %lld (%lld views), on %s with %d "
                "threads: %.1f s in the steps, %.1f ms per step.\n\n",
                static_cast<long long>(steps), c.method.c_str(), c.encoder.c_str(), static_cast<long long>(c.width),
                static_cast<long long>(c.batch_size), static_cast<long long>(2 * c.batch_size), c.device.c_str(),
                num_threads(), seconds, steps > 0 ? 1e3 * seconds / static_cast<double>(steps) : 0.0);
  std::string text = head;
  text +=
      "How to read it (core/profiler.h):\n\n"
      "- a plain op name (`conv2d`, `batch_norm`, `nt_xent`) is that op in the forward pass, or an op the trainer or "
      "the optimizer called (`contiguous`, `fill_`); an op called inside another op counts in the outer op's row;\n"
      "- `backward <op>` is the autograd Node of that op during `loss.backward()`, `backward AccumulateGrad` adds a "
      "gradient into a parameter's `.grad()`, `backward (gradient sums)` adds the gradients that meet where a tensor "
      "was used twice;\n"
      "- `adam_step_` (or `sgd_step_`, `lars_step_`) is the fused optimizer update, one call per parameter tensor;\n"
      "- `train step (whole)` is the whole `train_step` call; shares are of it. What the rows leave of it is the "
      "trainer's own work (the loss read back, the NaN check of every gradient, the metrics). Data loading happens "
      "between steps and is not counted.\n\n";
  return text + profiler::table(seconds);
}

}  // namespace

std::vector<std::string> RunInspector::finish(std::vector<std::string>* warnings) {
  State& s = *state_;
  std::vector<std::string> written;
  auto warn = [&](const std::string& what) {
    if (warnings) warnings->push_back(what);
  };
  if (s.options.dump_graph && s.graph_written) {
    const std::string dot = s.run.file("graph.dot"), svg = s.run.file("graph.svg");
    written.push_back(dot);
    if (std::system("command -v dot >/dev/null 2>&1") != 0) {
      warn("graph.svg not rendered: Graphviz's `dot` is not installed (apt-get install graphviz); render it later "
           "with: dot -Tsvg " + dot + " -o " + svg);
    } else if (std::system(("dot -Tsvg '" + dot + "' -o '" + svg + "'").c_str()) != 0) {
      warn("graph.svg not rendered: `dot -Tsvg " + dot + "` failed");
    } else {
      written.push_back(svg);
    }
  }
  if (s.options.profile && s.profiled_steps > 0) {
    const std::string path = s.run.file("profile.md");
    std::ofstream out(path);
    out << profile_markdown(s.config, s.profiled_steps, s.step_seconds);
    out.close();
    if (out.good())
      written.push_back(path);
    else
      warn("profile.md could not be written to " + path);
    profiler::reset();
  }
  return written;
}

}  // namespace sc::ssl
