// Sustained end-to-end throughput of each backend combination, one node and three, against a
// zero-latency, fault-free simulator. Starts private PostgreSQL, Redis and RabbitMQ servers on
// 127.0.0.1 (as the tests do) and stops them. Beside each rate: the CPU per final order of the
// topup nodes (summed) and of the PostgreSQL server (its every process).
//
// Beside each latency from acceptance to final: the first attempt's, from acceptance to the start
// of the order's first supplier call. Flags after the two numbers go to every `topup serve` (e.g.
// --no-local-handoff).
//
//   build/backends_bench [orders] [connections] [serve flag...]
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "loadgen/scenario.h"
#include "testing/postgres_server.h"
#include "testing/rabbitmq_server.h"
#include "testing/redis_server.h"

namespace {

using topup::Result;
using topup::loadgen::RunScenario;
using topup::loadgen::ScenarioOptions;
using topup::loadgen::ScenarioReport;

// CPU microseconds per order, 0 without orders.
int64_t PerOrderUs(double cpu_s, int64_t orders) {
  return orders > 0 ? static_cast<int64_t>(cpu_s * 1e6 / static_cast<double>(orders)) : 0;
}

int Run(int orders, int connections, const std::vector<std::string>& extra_serve_flags) {
  auto postgres = topup::testing::PostgresServer::Start();
  auto redis = topup::testing::RedisServer::Start();
  auto rabbit = topup::testing::RabbitMqServer::Start();
  for (const topup::Status& s : {postgres.status(), redis.status(), rabbit.status()}) {
    if (!s.ok()) {
      std::cerr << "cannot start a server: " << s.ToString() << "\n";
      return 1;
    }
  }
  struct Combination {
    const char* name;
    bool postgres;
    std::string queue_url;
  };
  const Combination combinations[] = {{"SQLite + embedded", false, ""},
                                      {"PostgreSQL + Redis", true, (*redis)->url()},
                                      {"PostgreSQL + RabbitMQ", true, (*rabbit)->url()}};
  std::cout << "| backends | nodes | orders | accepted/s | final/s | topup µs/order | "
               "PostgreSQL µs/order | p50 ms | p99 ms | max ms | first attempt p50 ms | p99 ms | "
               "correct |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  int run = 0;
  for (const Combination& combination : combinations) {
    for (int nodes : {1, 3}) {
      std::filesystem::path dir =
          std::filesystem::temp_directory_path() /
          ("topup-bench-" + std::to_string(getpid()) + "-" + std::to_string(run++));
      std::filesystem::remove_all(dir);
      std::filesystem::create_directories(dir);
      ScenarioOptions options;
      options.topup_binary = TOPUP_BINARY;
      options.work_dir = dir.string();
      options.orders = orders;
      options.connections = connections;
      options.nodes = nodes;
      options.queue_url = combination.queue_url;
      if (combination.postgres) {
        Result<std::string> url = (*postgres)->CreateDatabase("bench" + std::to_string(run));
        if (!url.ok()) {
          std::cerr << url.status().ToString() << "\n";
          return 1;
        }
        options.store_url = *url;
      }
      options.sim_flags = {"--io-threads", "1"};
      options.serve_flags = {"--io-threads", "1", "--workers", std::to_string(2048 / nodes)};
      options.serve_flags.insert(options.serve_flags.end(), extra_serve_flags.begin(),
                                 extra_serve_flags.end());
      options.load_max_ms = 300'000;
      options.wait_final_max_ms = 300'000;
      const double postgres_cpu_before = (*postgres)->CpuSeconds();
      Result<ScenarioReport> report = RunScenario(options);
      const double postgres_cpu_s = (*postgres)->CpuSeconds() - postgres_cpu_before;
      if (!report.ok()) {
        std::cerr << combination.name << " x" << nodes << ": " << report.status().ToString()
                  << "\n";
        return 1;
      }
      const int64_t final_orders = report->succeeded + report->failed_refunded;
      std::cout << "| " << combination.name << " | " << nodes << " | " << orders << " | "
                << static_cast<int>(report->accepted_per_s) << " | "
                << static_cast<int>(report->final_per_s) << " | "
                << PerOrderUs(report->server_cpu_s, final_orders) << " | "
                << (combination.postgres ? std::to_string(PerOrderUs(postgres_cpu_s, final_orders))
                                         : std::string("-"))
                << " | " << report->latency_p50_ms << " | " << report->latency_p99_ms << " | "
                << report->latency_max_ms << " | " << report->first_attempt_p50_ms << " | "
                << report->first_attempt_p99_ms << " | " << (report->Correct() ? "yes" : "NO")
                << " |" << std::endl;
      std::filesystem::remove_all(dir);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int orders = argc > 1 ? std::atoi(argv[1]) : 10'000;
  int connections = argc > 2 ? std::atoi(argv[2]) : 64;
  if (orders <= 0 || connections <= 0) {
    std::cerr << "usage: backends_bench [orders > 0] [connections > 0] [serve flag...]\n";
    return 2;
  }
  return Run(orders, connections, std::vector<std::string>(argv + std::min(argc, 3), argv + argc));
}
