#pragma once
// loss.png and knn.png of a run, drawn by gnuplot from metrics.jsonl (when gnuplot is
// installed; otherwise a note says where the numbers are).
#include <iosfwd>
#include <string>

namespace sc::ssl {

// Writes <run_dir>/epochs.dat (epoch, mean loss, kNN %) and the plots. Says what it wrote,
// or why not, on `log`; throws sc::Error when gnuplot is there but fails.
void write_plots(const std::string& run_dir, std::ostream& log);

}  // namespace sc::ssl
