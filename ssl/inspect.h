#pragma once
// Looking inside a training run: `simclr train --dump-graph` and `simclr train --profile`.
//
//   --dump-graph   graph.dot in the run folder: the autograd graph of the first step
//                  (core/graph_dot.h), taken after the forward pass, while backward() has not
//                  yet freed what the ops saved; and graph.svg beside it when Graphviz's `dot`
//                  is installed.
//   --profile      profile.md in the run folder: where the time of the training steps went,
//                  one row per op of the forward pass, per autograd Node of the backward pass
//                  and per fused optimizer update (core/profiler.h).
//
// Neither belongs to TrainConfig: they change no number the run computes, so a resumed run may
// turn them on or off and the resume check never sees them. They reach the trainer only
// through TrainHooks (ssl/trainer.h).
#include <memory>
#include <string>
#include <vector>

#include "ssl/config.h"
#include "ssl/trainer.h"

namespace sc::ssl {

struct InspectOptions {
  bool dump_graph = false;
  bool profile = false;
};

class RunInspector {
 public:
  // `config.out_dir` is the run folder the files go to.
  RunInspector(InspectOptions options, const TrainConfig& config);

  // `base` with this inspector's hooks added. The inspector must outlive the train() call.
  TrainHooks hooks(TrainHooks base = {});

  // After train(): renders graph.svg, writes profile.md and turns the profiler off again.
  // Returns the files written, for the caller to print; problems (no `dot`, a failed render)
  // are returned in `warnings`, since the run itself went fine.
  std::vector<std::string> finish(std::vector<std::string>* warnings = nullptr);

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the hooks
};

}  // namespace sc::ssl
