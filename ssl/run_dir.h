#pragma once
// RunDir: the folder of one training run, and the rules that keep it from ever being lost.
//
//   checkpoint.ckpt       the newest checkpoint (ssl/checkpoint.h)
//   checkpoint.prev.ckpt  the one before it: the fallback when the newest cannot be read
//   metrics.jsonl         one JSON object per line: step, epoch and kNN records
//   config.json           the run's config as it last started (ssl/config.h)
//   augment-preview.png, loss.png, knn.png, eval.json, eval.md   outputs made from the above
//
// The rules:
//   - a new run never starts in a folder that holds one: it is refused, naming --resume and
//     --force; with --force the old run is moved aside to <folder>.replaced-N, not deleted;
//   - a checkpoint is written atomically, and the previous one is kept, so a crash or a
//     corrupt file costs at most one epoch;
//   - on resume, metrics.jsonl is cut back to the checkpoint's step before anything is
//     appended, so every step has exactly one record.
#include <cstdint>
#include <fstream>
#include <iosfwd>
#include <string>

#include "ssl/checkpoint.h"

namespace sc::ssl {

class RunDir {
 public:
  explicit RunDir(std::string path);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;  // path/name
  std::string checkpoint() const { return file("checkpoint.ckpt"); }
  std::string previous_checkpoint() const { return file("checkpoint.prev.ckpt"); }
  std::string metrics() const { return file("metrics.jsonl"); }
  std::string config() const { return file("config.json"); }

  // True when the folder holds any file of a run (a checkpoint, metrics or config).
  bool holds_run() const;

  // Makes the folder ready for a new run. When it holds one: an sc::Error naming --resume
  // and --force, unless `replace`, which moves the whole folder aside to
  // "<path>.replaced-N" (the first free N) and says so on `log`.
  void start_new(bool replace, std::ostream& log) const;
  // The refusal of start_new alone, without touching anything (checked before data loads).
  void check_new_run_allowed(bool replace) const;

  // The newest checkpoint that reads cleanly: checkpoint.ckpt, or, when that is missing
  // or corrupt, checkpoint.prev.ckpt, saying so on `log`. `loaded_from` receives the path
  // read. An sc::Error naming both files when neither reads.
  Checkpoint load_latest(std::ostream& log, std::string* loaded_from = nullptr) const;

  // After a resume fell back to checkpoint.prev.ckpt: moves the unreadable newest to
  // checkpoint.unreadable-N.ckpt (kept for inspection), so the next save does not turn it
  // into the fallback. Returns the new name.
  std::string set_aside_newest() const;

  // Writes `checkpoint` as the newest; the current newest becomes checkpoint.prev.ckpt.
  void save(const Checkpoint& checkpoint) const;

  // Cuts metrics.jsonl back to what a run resumed at `step` has done: step records of
  // steps >= `step` and epoch / kNN records after `step` are dropped (rewritten
  // atomically). A line that is not a JSON object (a half-written last line) is dropped too.
  // Returns the number of records dropped.
  int64_t trim_metrics(int64_t step) const;

  // Writes config.json (atomically).
  void write_config(const std::string& json) const;

 private:
  std::string path_;
};

// metrics.jsonl, opened for appending: one JSON object per line, flushed at once so a
// crash loses at most the line being written.
class MetricsLog {
 public:
  // An empty path makes a log that writes nothing (the ranks other than 0 of a data-parallel run).
  explicit MetricsLog(const std::string& path);
  void append(const std::string& json_object);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace sc::ssl
