#include "ssl/plots.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/error.h"

namespace fs = std::filesystem;

namespace sc::ssl {

void write_plots(const std::string& run_dir, std::ostream& log) {
  const fs::path dir(run_dir);
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    log << "plots: skipped (gnuplot not found; apt-get install gnuplot-nox); metrics are in "
        << (dir / "metrics.jsonl").string() << "\n";
    return;
  }
  // epoch -> (mean loss, kNN accuracy or -1), from the epoch and kNN records.
  std::map<int64_t, std::pair<double, double>> epochs;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!r.is_object() || !r.contains("epoch")) continue;
    const std::string type = r.value("type", "");
    const int64_t epoch = r.value("epoch", int64_t{0});
    if (type == "epoch") epochs.try_emplace(epoch, 0.0, -1.0).first->second.first = r.value("loss", 0.0);
    if (type == "knn") epochs.try_emplace(epoch, 0.0, -1.0).first->second.second = r.value("knn_accuracy", -1.0);
  }
  bool any_knn = false;
  {
    std::ofstream table(dir / "epochs.dat");
    for (const auto& [epoch, values] : epochs) {
      any_knn = any_knn || values.second >= 0;
      table << epoch + 1 << " " << values.first << " "
            << (values.second >= 0 ? std::to_string(100 * values.second) : std::string("NaN")) << "\n";
    }
  }
  {
    std::ofstream script(dir / "plots.gp");
    script << "set terminal pngcairo size 640,400\nset xlabel 'epoch'\nset grid\n"
           << "set output '" << (dir / "loss.png").string() << "'\nset ylabel 'training loss'\n"
           << "plot '" << (dir / "epochs.dat").string() << "' using 1:2 with linespoints title 'mean loss'\n";
    if (any_knn)
      script << "set output '" << (dir / "knn.png").string() << "'\nset ylabel 'kNN accuracy (%)'\n"
             << "plot '" << (dir / "epochs.dat").string() << "' using 1:3 with linespoints title 'kNN top-1'\n";
  }
  const std::string cmd = "gnuplot '" + (dir / "plots.gp").string() + "' 2>/dev/null";
  SC_CHECK(std::system(cmd.c_str()) == 0, "plots: gnuplot failed on ", (dir / "plots.gp").string(),
           "; the numbers are in ", (dir / "epochs.dat").string());
  log << "plots: " << (dir / "loss.png").string() << (any_knn ? ", " + (dir / "knn.png").string() : "") << "\n";
}

}  // namespace sc::ssl
