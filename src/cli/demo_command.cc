// topup demo, bench, chaos and hostile: bounded end-to-end runs on the embedded default, with a
// report.
#include <stdlib.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "loadgen/chaos.h"
#include "loadgen/hostile.h"
#include "loadgen/report_json.h"
#include "loadgen/scenario.h"
#include "process/child_process.h"

namespace topup::cli {
namespace {

struct RunFlags {
  int orders = 0;
  int connections = 0;
  int serve_kills = 0;
  int64_t deadline_s = 180;
  uint64_t seed = 1;
  std::string work_dir;  // empty: a fresh temporary directory, removed afterwards
  bool keep = false;
  double rate_per_s = 0;  // orders placed per second at most; 0: as fast as acknowledged
  std::string json_path;  // non-empty: the report as JSON, written here as well
};

// Writes `text` and a newline to `path`; false (and a message) if it cannot.
bool WriteReport(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::trunc);
  file << text << "\n";
  file.close();
  if (!file) std::cerr << "topup: cannot write the JSON report to " << path << "\n";
  return static_cast<bool>(file);
}

int RunAndReport(const RunFlags& flags, loadgen::ScenarioOptions options, const char* title) {
  std::string work_dir = flags.work_dir;
  bool remove_after = false;
  if (work_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "topup-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "topup: cannot create a temporary directory\n";
      return 1;
    }
    work_dir = pattern;
    remove_after = !flags.keep;
  } else {
    std::error_code error;
    std::filesystem::create_directories(work_dir, error);
    if (!std::filesystem::is_empty(work_dir, error)) {
      std::cerr << "topup: --dir " << work_dir << " must be empty or absent\n";
      return 2;
    }
  }
  options.topup_binary = process::SelfExecutablePath();
  options.work_dir = work_dir;
  options.orders = flags.orders;
  options.connections = flags.connections;
  options.serve_kills = flags.serve_kills;
  options.deadline_s = flags.deadline_s;
  options.seed = flags.seed;
  options.rate_limit_per_s = flags.rate_per_s;
  options.progress = &std::cout;
  std::cout << title << ": " << flags.orders << " orders over " << flags.connections
            << " connections; files in " << work_dir << "\n";
  Result<loadgen::ScenarioReport> report = loadgen::RunScenario(options);
  int code = 0;
  if (!report.ok()) {
    std::cerr << "topup: the run could not complete: " << report.status().ToString()
              << " (children's log: " << work_dir << "/children.log)\n";
    code = 1;
  } else {
    std::cout << "\n";
    loadgen::PrintReport(*report, flags.deadline_s, std::cout);
    code = report->Correct() ? 0 : 3;
  }
  if (!flags.json_path.empty()) {
    const std::string text =
        report.ok() ? loadgen::ReportToJson(*report, flags.deadline_s)
                    : boost::json::serialize(boost::json::object{
                          {"completed", false}, {"error", report.status().ToString()}});
    if (!WriteReport(flags.json_path, text) && code == 0) code = 1;
  }
  if (remove_after && code == 0) std::filesystem::remove_all(work_dir);
  return code;
}

void AddRunFlags(CLI::App* command, RunFlags* flags) {
  command->add_option("--orders", flags->orders, "Orders to place")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  command->add_option("--connections", flags->connections, "Concurrent merchant connections")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  command->add_option("--kills", flags->serve_kills, "SIGKILL and restart the server this often")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  command->add_option("--deadline-s", flags->deadline_s, "The promise, in seconds")
      ->check(CLI::Range(10, 3600))
      ->capture_default_str();
  command->add_option("--seed", flags->seed, "Seed of orders and supplier faults")
      ->capture_default_str();
  command->add_option("--rate", flags->rate_per_s, "Orders placed per second (0: no limit)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  command->add_option("--dir", flags->work_dir, "Keep database and logs in this directory");
  command->add_flag("--keep", flags->keep, "Keep the temporary directory");
  command->add_option("--json", flags->json_path,
                      "Also write the report to this file as one JSON object");
}

}  // namespace

void AddDemoCommand(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  flags->orders = 3000;
  flags->connections = 16;
  flags->rate_per_s = 100;  // about half a minute of arrivals, then the slow ones finish
  CLI::App* demo = app.add_subcommand(
      "demo", "Server + faulty supplier simulator + a bounded load, then a correctness report");
  AddRunFlags(demo, flags.get());
  demo->callback([flags] {
    loadgen::ScenarioOptions options;
    // Faults: a latency tail, 10% failures (2 attempts per order), 10% slow "processing", 1%
    // credited but never answered, a lagging query index, and a supplier that does not deduplicate.
    options.sim_flags = {"--latency-median-ms", "20",   "--latency-p99-ms",  "400",
                         "--fail-rate",         "0.10", "--processing-rate", "0.10",
                         "--blackhole-rate",    "0.01", "--query-lag-ms",    "500",
                         "--no-dedup"};
    options.serve_flags = {"--attempt-timeout-ms", "2000", "--not-found-grace-ms", "5000",
                           "--max-attempts",       "2"};
    options.notify = true;  // a merchant receiver on 127.0.0.1, checked in the verdict
    options.load_max_ms = 120'000;
    options.wait_final_max_ms = (flags->deadline_s + 60) * 1000;
    if (int code = RunAndReport(*flags, options, "topup demo"); code != 0) {
      throw CLI::RuntimeError(code);
    }
  });
}

void AddBenchCommand(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  flags->orders = 20'000;
  flags->connections = 128;
  auto workers = std::make_shared<int>(2048);
  auto latency_ms = std::make_shared<double>(0);
  auto tls = std::make_shared<bool>(false);
  auto store_url = std::make_shared<std::string>();
  auto processing_ms = std::make_shared<int64_t>(0);
  auto notify = std::make_shared<bool>(false);
  auto local_handoff = std::make_shared<bool>(true);
  CLI::App* bench =
      app.add_subcommand("bench", "Sustained end-to-end throughput against a fault-free simulator");
  AddRunFlags(bench, flags.get());
  // Enough orders in flight to fill each group commit at zero latency: throughput is in-flight
  // writes divided by the commit time. Seconds-slow suppliers need far more.
  bench->add_option("--workers", *workers, "The server's --workers (attempts in flight)")
      ->check(CLI::Range(1, 200'000))
      ->capture_default_str();
  bench
      ->add_option("--supplier-latency-ms", *latency_ms,
                   "Median latency of the supplier's answers (lognormal, p99 1.5 times it)")
      ->check(CLI::Range(0.0, 60'000.0))
      ->capture_default_str();
  bench->add_flag("--tls", *tls, "The supplier speaks HTTPS (a private CA made for the run)");
  bench->add_option("--store", *store_url,
                    "The server's store, e.g. postgresql://user@127.0.0.1:5432/db (an empty "
                    "database: the bench adds its merchant); default: SQLite in the run's "
                    "directory");
  bench
      ->add_option("--processing-ms", *processing_ms,
                   "Every attempt answers processing, to its submit and to each query until this "
                   "long after it arrived (0: every attempt succeeds at once)")
      ->check(CLI::Range(int64_t{0}, int64_t{60'000}))
      ->capture_default_str();
  bench->add_flag("--notify", *notify,
                  "Every order has a notify_url of a merchant receiver run by the load generator");
  bench
      ->add_flag("--local-handoff,!--no-local-handoff", *local_handoff,
                 "The server's --local-handoff (on by default): orders go to its own engine first")
      ->capture_default_str();
  // Copies of the shared flags above.
  bench->callback([=] {
    loadgen::ScenarioOptions options;
    options.supplier_tls = *tls;
    options.store_url = *store_url;
    options.notify = *notify;
    options.sim_flags = {"--io-threads", "1"};
    if (*processing_ms > 0) {
      options.sim_flags.insert(
          options.sim_flags.end(),
          {"--processing-rate", "1", "--processing-ms", std::to_string(*processing_ms)});
    }
    if (*latency_ms > 0) {
      options.sim_flags.insert(options.sim_flags.end(),
                               {"--latency-median-ms", std::to_string(*latency_ms),
                                "--latency-p99-ms", std::to_string(*latency_ms * 1.5)});
    }
    options.serve_flags = {"--io-threads", "1", "--workers", std::to_string(*workers)};
    if (!*local_handoff) options.serve_flags.push_back("--no-local-handoff");
    options.load_max_ms = 300'000;
    options.wait_final_max_ms = 300'000;
    if (int code = RunAndReport(*flags, options, "topup bench"); code != 0) {
      throw CLI::RuntimeError(code);
    }
  });
}

void AddChaosCommand(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  flags->orders = 3000;
  flags->connections = 16;
  flags->serve_kills = 3;
  flags->rate_per_s = 100;  // the load spans the outage and the kills
  CLI::App* chaos = app.add_subcommand(
      "chaos", "Every fault at once, the server SIGKILLed and restarted, then the promise checked");
  AddRunFlags(chaos, flags.get());
  chaos->callback([flags] {
    loadgen::ScenarioOptions options;
    loadgen::ConfigureChaos(flags->seed, &options);
    options.kill_interval_ms = 4'000;
    options.load_max_ms = 300'000;
    options.wait_final_max_ms = (flags->deadline_s + 60) * 1000;
    if (int code = RunAndReport(*flags, options, "topup chaos"); code != 0) {
      throw CLI::RuntimeError(code);
    }
  });
}

void AddHostileCommand(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  flags->orders = 1500;
  flags->connections = 16;
  flags->rate_per_s = 60;
  CLI::App* hostile = app.add_subcommand(
      "hostile",
      "One supplier that credits and then garbles a third of its answers, resets connections, "
      "lags and does not deduplicate; the server on its defaults; then the promise checked");
  AddRunFlags(hostile, flags.get());
  hostile->callback([flags] {
    loadgen::ScenarioOptions options;
    options.sim_flags = loadgen::HostileSimFlags();
    options.load_max_ms = 300'000;
    options.wait_final_max_ms = (flags->deadline_s + 60) * 1000;
    if (int code = RunAndReport(*flags, options, "topup hostile"); code != 0) {
      throw CLI::RuntimeError(code);
    }
  });
}

}  // namespace topup::cli
