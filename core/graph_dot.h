#pragma once
// The autograd graph as a picture: Graphviz DOT text of everything backward() would walk from
// a tensor (usually the loss).
//
//   write_graph_dot(loss, "graph.dot", model.named_parameters());
//   dot -Tsvg graph.dot -o graph.svg          (Graphviz; `simclr train --dump-graph` runs it)
//
// The picture reads top down, in the order the forward pass ran:
//   grey dashed boxes   inputs that need no gradient (the images, BatchNorm's running stats)
//   green boxes         leaves that require grad: the parameters, named when `names` has them,
//                       each with the AccumulateGrad node that adds into its .grad()
//   blue rounded boxes  one per recorded op (its autograd Node): the op's name, its output, and
//                       the tensors its backward saved (what the graph keeps alive in memory)
//   edges               input i of an op, labelled "i: dtype[shape]"
//   the ellipse         the tensor you call backward() on
//
// It reads only shapes and names, so it works before or after backward() (a released graph
// still knows its shapes). Call it before backward() to see the graph of a step in full.
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sc {

// Names for leaf tensors (Module::named_parameters() has this type); others show their shape.
using GraphNames = std::vector<std::pair<std::string, Tensor>>;

// The DOT text of the graph that ends at `root`.
std::string graph_dot(const Tensor& root, const GraphNames& names = {});
// The same, written to `path` (sc::Error naming the path when it cannot be written).
void write_graph_dot(const Tensor& root, const std::string& path, const GraphNames& names = {});

}  // namespace sc
