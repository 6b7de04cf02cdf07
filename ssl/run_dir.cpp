#include "ssl/run_dir.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "base/error.h"

namespace fs = std::filesystem;

namespace sc::ssl {

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Writes `text` to `path` through write_file_atomically (temporary file, fsync, rename).
void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::FILE* f) {
    if (!text.empty() && std::fwrite(text.data(), 1, text.size(), f) != text.size())
      throw Error("cannot write " + path);
  });
}

}  // namespace

RunDir::RunDir(std::string path) : path_(std::move(path)) {
  SC_CHECK(!path_.empty(), "run folder: the path is empty (give --out DIR)");
  // "runs/x/" and "runs/x" are one folder: drop trailing slashes (but keep "/").
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
}

std::string RunDir::file(const std::string& name) const { return (fs::path(path_) / name).string(); }

bool RunDir::holds_run() const {
  for (const std::string& f : {checkpoint(), previous_checkpoint(), metrics(), config()})
    if (fs::exists(f)) return true;
  return false;
}

void RunDir::check_new_run_allowed(bool replace) const {
  SC_CHECK(!fs::exists(path_) || fs::is_directory(path_), "--out: '", path_, "' exists and is not a folder");
  SC_CHECK(replace || !holds_run(), "--out: '", path_, "' already holds a run (",
           fs::exists(checkpoint()) ? "checkpoint.ckpt" : "metrics/config", "). Continue it with `simclr train --resume ",
           path_, "`, pick another --out, or pass --force to start over (the old run is then moved to ", path_,
           ".replaced-N, not deleted).");
}

void RunDir::start_new(bool replace, std::ostream& log) const {
  check_new_run_allowed(replace);
  if (holds_run()) {
    std::string aside;
    for (int n = 1;; ++n) {
      aside = path_ + ".replaced-" + std::to_string(n);
      if (!fs::exists(aside)) break;
    }
    std::error_code ec;
    fs::rename(path_, aside, ec);
    SC_CHECK(!ec, "--force: cannot move the old run '", path_, "' to '", aside, "': ", ec.message());
    log << "--force: the run that was in " << path_ << " is now in " << aside << "\n";
  }
  std::error_code ec;
  fs::create_directories(path_, ec);
  SC_CHECK(!ec, "--out: cannot create the run folder '", path_, "': ", ec.message());
}

Checkpoint RunDir::load_latest(std::ostream& log, std::string* loaded_from) const {
  const bool has_newest = fs::exists(checkpoint());
  const bool has_previous = fs::exists(previous_checkpoint());
  SC_CHECK(has_newest || has_previous, "--resume: no checkpoint in '", path_, "' (expected ", checkpoint(), ")");
  std::string newest_problem = "it is missing";
  if (has_newest) {
    try {
      Checkpoint ckpt = load_checkpoint(checkpoint());
      if (loaded_from) *loaded_from = checkpoint();
      return ckpt;
    } catch (const Error& e) {
      newest_problem = e.what();
      if (!has_previous) throw;
    }
  }
  try {
    Checkpoint ckpt = load_checkpoint(previous_checkpoint());
    log << "warning: the newest checkpoint " << checkpoint() << " cannot be used (" << newest_problem
        << "); using the previous one, " << previous_checkpoint() << " (step " << ckpt.step << ")\n";
    if (loaded_from) *loaded_from = previous_checkpoint();
    return ckpt;
  } catch (const Error& e) {
    throw Error("--resume: neither checkpoint in '" + path_ + "' can be read: " + checkpoint() + ": " +
                newest_problem + "; " + previous_checkpoint() + ": " + e.what());
  }
}

std::string RunDir::set_aside_newest() const {
  std::string aside;
  for (int n = 1;; ++n) {
    aside = file("checkpoint.unreadable-" + std::to_string(n) + ".ckpt");
    if (!fs::exists(aside)) break;
  }
  std::error_code ec;
  fs::rename(checkpoint(), aside, ec);
  SC_CHECK(!ec, "cannot move the unreadable ", checkpoint(), " to ", aside, ": ", ec.message());
  return aside;
}

void RunDir::save(const Checkpoint& checkpoint_to_save) const {
  // Keep the current newest as the fallback first. A crash between the rename and the
  // write leaves checkpoint.prev.ckpt, which load_latest uses.
  if (fs::exists(checkpoint())) {
    std::error_code ec;
    fs::rename(checkpoint(), previous_checkpoint(), ec);
    SC_CHECK(!ec, "cannot keep ", checkpoint(), " as ", previous_checkpoint(), ": ", ec.message());
  }
  save_checkpoint(checkpoint(), checkpoint_to_save);
}

int64_t RunDir::trim_metrics(int64_t step) const {
  if (!fs::exists(metrics())) return 0;
  std::string kept;
  int64_t dropped = 0;
  for (const std::string& line : read_lines(metrics())) {
    if (line.empty()) continue;
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    bool keep = record.is_object() && record.contains("step") && record["step"].is_number_integer();
    if (keep) {
      const int64_t at = record["step"].get<int64_t>();
      const bool is_step = record.value("type", "") == "step";
      // A step record's "step" is the step it did; an epoch or kNN record's is the step the
      // run had reached when it was written.
      keep = is_step ? at < step : at <= step;
    }
    if (keep)
      kept += line + "\n";
    else
      ++dropped;
  }
  if (dropped > 0) write_text_atomically(metrics(), kept);
  return dropped;
}

void RunDir::write_config(const std::string& json) const { write_text_atomically(config(), json + "\n"); }

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  out_.open(path, std::ios::app);
  SC_CHECK(out_.good(), "cannot open ", path, " for writing");
}

void MetricsLog::append(const std::string& json_object) {
  if (path_.empty()) return;
  out_ << json_object << "\n";
  out_.flush();
  SC_CHECK(out_.good(), "cannot write ", path_);
}

}  // namespace sc::ssl
