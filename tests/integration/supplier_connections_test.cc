// Connections to a supplier are reused: a burst of orders waits for the connections it has
// instead of opening one per attempt, which would overflow a supplier's listen queue.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "loadgen/scenario.h"

namespace topup::loadgen {
namespace {

TEST(SupplierConnectionsTest, TwentyThousandOrdersAtZeroLatencyOpenAFewHundredConnections) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("topup-connections-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ScenarioOptions options;
  options.topup_binary = TOPUP_BINARY;
  options.work_dir = dir.string();
  options.orders = 20'000;
  options.connections = 128;
  // As `topup bench` runs it, with 512 attempts in flight against a supplier that answers at
  // once: the channel may hold 576 connections, and opened one per attempt before (about 5,500).
  options.sim_flags = {"--io-threads", "1"};
  options.serve_flags = {"--io-threads", "1", "--workers", "512"};
  options.load_max_ms = 300'000;
  options.wait_final_max_ms = 300'000;
  Result<ScenarioReport> report = RunScenario(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir << ")";
  std::ostringstream printed;
  PrintReport(*report, options.deadline_s, printed);
  SCOPED_TRACE(printed.str());
  std::cout << printed.str();
  EXPECT_TRUE(report->Correct());
  EXPECT_GT(report->sim_connections_accepted, 0);
  EXPECT_LE(report->sim_connections_accepted, 512 + 64);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

TEST(SupplierConnectionsTest, OrdersReachASupplierOverHttps) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("topup-https-supplier-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ScenarioOptions options;
  options.topup_binary = TOPUP_BINARY;
  options.work_dir = dir.string();
  options.orders = 2'000;
  options.connections = 16;
  options.supplier_tls = true;  // sim --tls-cert/--tls-key, serve --supplier-ca-file
  options.sim_flags = {"--fail-rate", "0.05", "--processing-rate", "0.05", "--no-dedup"};
  options.serve_flags = {"--workers", "256"};
  Result<ScenarioReport> report = RunScenario(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir << ")";
  std::ostringstream printed;
  PrintReport(*report, options.deadline_s, printed);
  SCOPED_TRACE(printed.str());
  EXPECT_TRUE(report->Correct());
  EXPECT_EQ(report->accepted, 2'000);
  EXPECT_EQ(report->missed_deadline, 0);
  EXPECT_LE(report->sim_connections_accepted, 256 + 64);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace topup::loadgen
