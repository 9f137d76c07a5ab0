// topup sim: the supplier simulator, serving supplier protocol v1 until SIGINT or SIGTERM.
// Without --channels-config it plays one channel at the root paths, configured by flags; with it,
// every channel of the file under its own path prefix on the same port.
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/signals.h"
#include "process/open_files.h"
#include "sim/channels_config.h"
#include "sim/supplier_sim.h"

namespace topup::cli {
namespace {

struct SimFlags {
  sim::SimOptions options;
  bool no_dedup = false;
  std::string channels_config;
  CLI::Option* seed = nullptr;
  // Knobs of the one root channel; with --channels-config they belong in the file.
  std::vector<CLI::Option*> channel_flags;
};

int RunSim(const SimFlags& flags) {
  sim::SimOptions options = flags.options;
  options.channel.dedup = !flags.no_dedup;
  if (!flags.channels_config.empty()) {
    for (const CLI::Option* flag : flags.channel_flags) {
      if (flag->count() > 0) {
        std::cerr << "topup sim: " << flag->get_name()
                  << " cannot be combined with --channels-config; set it per channel in the file\n";
        return 2;
      }
    }
    Status status = sim::LoadSimChannelsConfig(flags.channels_config, &options);
    if (!status.ok()) {
      std::cerr << "topup sim: " << status.ToString() << "\n";
      return 1;
    }
    if (flags.seed->count() > 0) options.seed = flags.options.seed;
  }
  // As many connections as a server with tens of thousands of attempts in flight opens.
  options.max_connections =
      static_cast<size_t>(std::max<int64_t>(1'024, process::RaiseOpenFileLimit() - 256));
  BlockTerminationSignals();  // before the simulator starts its threads
  Result<std::unique_ptr<sim::SupplierSim>> sim = sim::SupplierSim::Start(options);
  if (!sim.ok()) {
    std::cerr << "topup sim: " << sim.status().ToString() << "\n";
    return 1;
  }
  std::cout << "listening on " << options.address << ":" << (*sim)->port() << std::endl;
  while (WaitForSignal() == SIGUSR1) {
    // Only `topup serve` changes its log level on SIGUSR1.
  }
  (*sim)->Stop();
  const sim::SimStats stats = (*sim)->Stats();
  std::cerr << "topup sim: stopped; received " << stats.received << ", credited " << stats.credited
            << ", failed " << stats.failed << ", blackholed " << stats.blackholed << ", duplicates "
            << stats.duplicates << ", queries " << stats.queries << ", garbled after credit "
            << stats.garbled_after_credit << " (5xx " << stats.errors_after_credit << ", truncated "
            << stats.truncated << ", wrong content " << stats.wrong_content << ", unknown status "
            << stats.unknown_status << "), resets " << stats.resets << ", query errors "
            << stats.query_errors;
  if (!options.channels.empty()) {
    std::cerr << ", outage refusals " << stats.outage_refusals << ", callbacks sent "
              << stats.callbacks_sent << ", lost " << stats.callbacks_lost << ", failed "
              << stats.callbacks_failed << ", unknown id " << stats.callbacks_unknown_id
              << ", dropped " << stats.callbacks_dropped;
  }
  std::cerr << "\n";
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app) {
  auto flags = std::make_shared<SimFlags>();
  sim::SimOptions& process = flags->options;
  sim::ChannelSimOptions& o = flags->options.channel;
  std::vector<CLI::Option*>& channel_flags = flags->channel_flags;
  CLI::App* sim = app.add_subcommand("sim", "Run the supplier simulator (supplier protocol v1)");
  sim->add_option("--listen", process.address, "Address to listen on")->capture_default_str();
  sim->add_option("--port", process.port, "Port (0 picks a free one and prints it)")
      ->capture_default_str();
  sim->add_option("--io-threads", process.io_threads, "HTTP I/O threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  flags->seed = sim->add_option("--seed", process.seed,
                                "Seed of every random decision (overrides the file's seed)")
                    ->capture_default_str();
  channel_flags.push_back(
      sim->add_option("--latency-median-ms", o.latency_median_ms,
                      "Median answer latency (lognormal; 0 with p99 0: no delay)")
          ->check(CLI::Range(0.0, 600'000.0))
          ->capture_default_str());
  channel_flags.push_back(
      sim->add_option("--latency-p99-ms", o.latency_p99_ms, "99th percentile of the answer latency")
          ->check(CLI::Range(0.0, 600'000.0))
          ->capture_default_str());
  channel_flags.push_back(
      sim->add_option("--latency-max-ms", o.latency_max_ms, "Cap on one latency draw")
          ->check(CLI::Range(int64_t{0}, int64_t{600'000}))
          ->capture_default_str());
  channel_flags.push_back(
      sim->add_option("--fail-rate", o.fail_rate, "Probability that an attempt fails")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str());
  channel_flags.push_back(sim->add_option("--blackhole-rate", o.blackhole_rate,
                                          "Probability that a credited attempt is never answered")
                              ->check(CLI::Range(0.0, 1.0))
                              ->capture_default_str());
  channel_flags.push_back(
      sim->add_option("--blackhole-hold-ms", o.blackhole_hold_ms,
                      "How long an unanswered request is held before its connection is closed")
          ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}))
          ->capture_default_str());
  channel_flags.push_back(sim->add_option("--processing-rate", o.processing_rate,
                                          "Probability that an answered attempt says processing")
                              ->check(CLI::Range(0.0, 1.0))
                              ->capture_default_str());
  channel_flags.push_back(
      sim->add_option("--processing-ms", o.processing_ms,
                      "How long after arrival a processing attempt's outcome shows on /query")
          ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}))
          ->capture_default_str());
  channel_flags.push_back(sim->add_option("--query-lag-ms", o.query_lag_ms,
                                          "Queries for attempts younger than this answer not_found")
                              ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}))
                              ->capture_default_str());
  const auto add_rate = [&](const char* name, double& rate, const char* description) {
    channel_flags.push_back(sim->add_option(name, rate, description)
                                ->check(CLI::Range(0.0, 1.0))
                                ->capture_default_str());
  };
  add_rate("--error-after-credit-rate", o.error_after_credit_rate,
           "Probability that a credited attempt is answered HTTP 500/502/503 (JSON or HTML)");
  add_rate("--truncated-rate", o.truncated_rate,
           "Probability that a credited attempt's JSON answer is cut short");
  add_rate("--wrong-content-rate", o.wrong_content_rate,
           "Probability that a credited attempt is answered as HTML or key=value text");
  add_rate("--unknown-status-rate", o.unknown_status_rate,
           "Probability that a credited attempt is answered with a status the protocol lacks");
  add_rate("--reset-rate", o.reset_rate,
           "Probability that an attempt's connection is closed unanswered, nothing credited");
  add_rate("--query-error-rate", o.query_error_rate,
           "Probability that a query is answered HTTP 503");
  channel_flags.push_back(sim->add_flag(
      "--no-dedup", flags->no_dedup,
      "Treat every POST as a new attempt, even with a supplier_order_id seen before"));
  sim->add_option("--channels-config", flags->channels_config,
                  "JSON file of several channels, each served under /{name}/ on this port");
  sim->add_option("--tls-cert", process.tls_cert_file,
                  "Serve HTTPS with this certificate chain (PEM)");
  sim->add_option("--tls-key", process.tls_key_file, "The private key of --tls-cert (PEM)");
  sim->add_option("--credits-file", process.credits_file,
                  "Append one JSON line per credit to this file");
  sim->add_option("--max-attempts", process.max_attempts, "Attempts remembered at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sim->callback([flags] {
    if (int code = RunSim(*flags); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace topup::cli
