// SIGTERM drains `topup serve`: sent mid-load, the node exits 0 within --drain-timeout-s, leaves
// no lease behind, and its orders go on at once after the restart (or on the other node), with
// nothing lost, nothing credited twice and the ledger balanced.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "loadgen/scenario.h"
#include "testing/postgres_server.h"

namespace topup::loadgen {
namespace {

constexpr int64_t kDrainTimeoutS = 4;
// Far longer than the test may wait for the orders to become final: an order whose lease were
// left behind would still be open when the test looks.
constexpr const char* kLeaseMs = "120000";

class GracefulStopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-stop-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);  // kept for inspection otherwise
  }

  ScenarioOptions Options() {
    ScenarioOptions options;
    options.topup_binary = TOPUP_BINARY;
    options.work_dir = dir_.string();
    options.orders = 600;
    options.connections = 8;
    // About 12 s of load: it spans both stops, each up to kDrainTimeoutS, 1 s apart.
    options.rate_limit_per_s = 50;
    options.serve_kills = 2;
    options.kill_interval_ms = 1'000;
    options.stop_signal = SIGTERM;
    options.load_max_ms = 60'000;
    // Well under the lease: only orders handed back can be final by then.
    options.wait_final_max_ms = 60'000;
    // Some attempts are held unanswered past the stop's wait for answers, so that the stop must
    // cut them; --no-dedup would make a resent one a second credit.
    options.sim_flags = {"--latency-median-ms", "50",   "--latency-p99-ms",    "400",
                         "--blackhole-rate",    "0.05", "--blackhole-hold-ms", "20000",
                         "--processing-rate",   "0.1",  "--no-dedup"};
    options.serve_flags = {
        "--attempt-timeout-ms", "6000",   "--not-found-grace-ms", "3000",
        "--lease-ms",           kLeaseMs, "--drain-timeout-s",    std::to_string(kDrainTimeoutS)};
    return options;
  }

  // How many times the nodes' log says a stop cut calls still in flight.
  int64_t CutsLogged() const {
    std::ifstream log(dir_ / "children.log");
    int64_t cuts = 0;
    for (std::string line; std::getline(log, line);) {
      cuts += line.find("calls still unanswered") != std::string::npos ? 1 : 0;
    }
    return cuts;
  }

  void ExpectDrained(const Result<ScenarioReport>& report, int stops) {
    ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir_ << ")";
    std::ostringstream printed;
    PrintReport(*report, 180, printed);
    std::cout << printed.str() << "stops that cut calls in flight: " << CutsLogged() << "\n";
    SCOPED_TRACE(printed.str());
    ASSERT_EQ(report->server_kills, stops);
    for (int code : report->stop_exit_codes) EXPECT_EQ(code, 0);
    EXPECT_LE(report->stop_ms_max, kDrainTimeoutS * 1000 + 1'000);
    EXPECT_EQ(report->leases_left_by_stopped, 0);
    EXPECT_EQ(report->lost, 0);
    EXPECT_EQ(report->not_acknowledged, 0);
    EXPECT_EQ(report->orders_in_store, report->accepted);
    EXPECT_EQ(report->still_open, 0);
    EXPECT_EQ(report->double_credits, 0);
    EXPECT_EQ(report->credits_on_unsuccessful, 0);
    EXPECT_EQ(report->successes_without_credit, 0);
    EXPECT_TRUE(report->ledger_balanced) << report->ledger_problems;
    EXPECT_TRUE(report->Correct());
    EXPECT_GE(CutsLogged(), 1) << "no stop had calls in flight to cut: the test proved less";
  }

  std::filesystem::path dir_;
};

TEST_F(GracefulStopTest, SigtermMidLoadExitsCleanlyAndTheRestartGoesOnAtOnce) {
  ExpectDrained(RunScenario(Options()), 2);
}

// Two nodes on PostgreSQL, each with its own embedded queue: the node left running takes up the
// stopped node's orders through its sweeper, at once.
TEST_F(GracefulStopTest, SigtermOnOneOfTwoPostgresNodesHandsItsOrdersToTheOther) {
  Result<std::unique_ptr<testing::PostgresServer>> postgres = testing::PostgresServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
  Result<std::string> url = (*postgres)->CreateDatabase("graceful_stop");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  ScenarioOptions options = Options();
  options.store_url = *url;
  options.nodes = 2;
  options.serve_kills = 1;
  options.restart_killed = false;
  ExpectDrained(RunScenario(options), 1);
}

}  // namespace
}  // namespace topup::loadgen
