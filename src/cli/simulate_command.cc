// topup simulate: the deterministic simulation (src/simulate/world.h). One seed, or a range of
// seeds bounded in time; a violated promise prints the seed and the trace that led to it, and
// exits 1.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "simulate/world.h"

namespace topup::cli {
namespace {

struct SimulateFlags {
  uint64_t seed = 1;
  std::string seeds;  // "A..B"
  int orders = 40;
  int nodes = 0;
  std::string faults = "all";
  double minutes = 0;  // 0: no bound
  std::string inject_bug;
  std::string temp_dir;
  bool verbose = false;
  bool without_notifications = false;
};

bool ParseRange(const std::string& text, uint64_t* first, uint64_t* last) {
  const size_t dots = text.find("..");
  if (dots == std::string::npos) return false;
  try {
    size_t used = 0;
    *first = std::stoull(text.substr(0, dots), &used);
    if (used != dots) return false;
    const std::string rest = text.substr(dots + 2);
    *last = std::stoull(rest, &used);
    return used == rest.size() && *first <= *last;
  } catch (const std::exception&) {
    return false;
  }
}

std::string Hex(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016" PRIx64, value);
  return buffer;
}

void PrintResult(const simulate::SimulationResult& result) {
  std::cout << "seed=" << result.seed << " trace=" << Hex(result.trace_hash) << " "
            << result.summary << std::endl;
  if (!result.ok) {
    std::cout << "violation: " << result.violation << "\n"
              << "trace (last lines) of seed " << result.seed << ":\n"
              << result.trace_tail << "replay: topup simulate --seed " << result.seed << " ..."
              << std::endl;
  }
}

int RunSimulate(const SimulateFlags& flags) {
  Result<simulate::Faults> faults = simulate::Faults::Parse(flags.faults);
  if (!faults.ok()) {
    std::cerr << "topup simulate: " << faults.status().ToString() << "\n";
    return 2;
  }
  if (!flags.inject_bug.empty() && flags.inject_bug != "resend_unknown" &&
      flags.inject_bug != "ack_on_timeout") {
    std::cerr << "topup simulate: the bugs to inject are resend_unknown and ack_on_timeout\n";
    return 2;
  }
  uint64_t first = flags.seed;
  uint64_t last = flags.seed;
  const bool range = !flags.seeds.empty();
  if (range && !ParseRange(flags.seeds, &first, &last)) {
    std::cerr << "topup simulate: --seeds wants A..B with A <= B\n";
    return 2;
  }
  // The engine's own warnings (a lost compare-and-set, a refused store write) are part of what
  // the simulation provokes; the verdict is the invariants'.
  spdlog::set_level(spdlog::level::off);
  simulate::SimulationOptions options;
  options.orders = flags.orders;
  options.nodes = flags.nodes;
  options.faults = *faults;
  options.inject_resend_bug = flags.inject_bug == "resend_unknown";
  options.inject_ack_on_timeout_bug = flags.inject_bug == "ack_on_timeout";
  options.notifications = !flags.without_notifications;
  options.temp_dir = flags.temp_dir;
  const auto started = std::chrono::steady_clock::now();
  const auto bound = std::chrono::duration<double, std::ratio<60>>(flags.minutes);
  const std::clock_t cpu_started = std::clock();
  uint64_t ran = 0;
  uint64_t failed = 0;
  int64_t orders = 0;
  uint64_t first_failed = 0;
  for (uint64_t seed = first; seed <= last; ++seed) {
    if (flags.minutes > 0 && std::chrono::steady_clock::now() - started > bound) break;
    options.seed = seed;
    simulate::SimulationResult result = simulate::RunSimulation(options);
    ++ran;
    orders += result.orders;
    if (!result.ok && failed++ == 0) first_failed = seed;
    if (!range || flags.verbose || !result.ok) PrintResult(result);
    if (seed == UINT64_MAX) break;
  }
  const double cpu_s = static_cast<double>(std::clock() - cpu_started) / CLOCKS_PER_SEC;
  if (range) {
    std::cout << "seeds " << first << ".." << last << ": ran " << ran << ", failed " << failed;
    if (failed > 0) std::cout << " (first " << first_failed << ")";
    std::cout << ", orders " << orders << ", cpu " << cpu_s << " s, orders per cpu second "
              << (cpu_s > 0 ? static_cast<double>(orders) / cpu_s : 0) << std::endl;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

void AddSimulateCommand(CLI::App& app) {
  auto flags = std::make_shared<SimulateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Deterministic simulation: the real engine and SQLite store on one thread in simulated "
      "time, against simulated merchants, misbehaving suppliers, a lossy queue, crashes and clock "
      "jumps, with the real notifier delivering to simulated merchant endpoints, all drawn from "
      "one seed. Prints the seed, a summary and the trace's hash (the same "
      "seed gives the same hash); a broken promise prints the trace leading to it and exits 1");
  cmd->add_option("--seed", flags->seed, "The run's seed")->capture_default_str();
  cmd->add_option("--seeds", flags->seeds,
                  "A range of seeds, A..B: prints only failures and a total");
  cmd->add_option("--orders", flags->orders, "Orders placed per run")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  cmd->add_option("--nodes", flags->nodes,
                  "topup processes sharing the store and queue (0: 1 or 2, from the seed)")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  cmd->add_option("--faults", flags->faults,
                  "none, or a list of: "
                  "all,crash,clock_jump,node_clock_jump,queue_loss,queue_duplicate,outage,"
                  "reset,blackhole,slow_processing,error_after_credit,garbage,index_lag,"
                  "query_errors,callbacks,receiver,frequent_failures (all: every one but "
                  "frequent_failures)")
      ->capture_default_str();
  cmd->add_option("--minutes", flags->minutes, "With --seeds: stop starting runs after this long")
      ->check(CLI::Range(0.0, 100'000.0));
  cmd->add_option("--inject-bug", flags->inject_bug,
                  "Test-only: resend_unknown makes the engine resend an attempt of unknown "
                  "outcome, ack_on_timeout makes the notifier take a try that timed out for "
                  "acknowledged: bugs the simulation must catch");
  cmd->add_option("--temp-dir", flags->temp_dir,
                  "Directory for the store's file (default: /dev/shm if present, else the system's "
                  "temporary directory)");
  cmd->add_flag("--verbose", flags->verbose, "With --seeds: print every run");
  cmd->add_flag("--without-notifications", flags->without_notifications,
                "No order names a notify_url and no notifier runs (replays seeds found before "
                "notifications were simulated)");
  cmd->callback([flags] {
    if (int code = RunSimulate(*flags); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace topup::cli
