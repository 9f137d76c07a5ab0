// End to end: `topup sim` and `topup serve` as real processes on 127.0.0.1, orders over HTTP,
// checked against the store's ledger and the simulator's list of every credit it made.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "loadgen/chaos.h"
#include "loadgen/scenario.h"

namespace topup::loadgen {
namespace {

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-e2e-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);  // kept for inspection otherwise
  }

  ScenarioOptions Options(int orders) {
    ScenarioOptions options;
    options.topup_binary = TOPUP_BINARY;
    options.work_dir = dir_.string();
    options.orders = orders;
    options.connections = 8;
    options.load_max_ms = 120'000;
    options.wait_final_max_ms = 240'000;
    options.serve_flags = {
        "--attempt-timeout-ms", "1500", "--not-found-grace-ms", "3000", "--workers", "32"};
    return options;
  }

  void ExpectCorrect(const Result<ScenarioReport>& report, int64_t deadline_s) {
    ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir_ << ")";
    std::ostringstream printed;
    PrintReport(*report, deadline_s, printed);
    SCOPED_TRACE(printed.str());
    EXPECT_EQ(report->lost, 0);
    EXPECT_EQ(report->not_acknowledged, 0);
    EXPECT_EQ(report->orders_in_store, report->accepted);
    EXPECT_EQ(report->still_open, 0);
    EXPECT_EQ(report->double_credits, 0);
    EXPECT_EQ(report->credits_on_unsuccessful, 0);
    EXPECT_EQ(report->successes_without_credit, 0);
    EXPECT_TRUE(report->ledger_balanced) << report->ledger_problems;
    EXPECT_EQ(report->succeeded + report->failed_refunded, report->accepted);
    EXPECT_TRUE(report->Correct());
  }

  // Every final order's notification acknowledged with a good signature.
  void ExpectNotified(const Result<ScenarioReport>& report) {
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->notify);
    EXPECT_EQ(report->notifications_missing, 0);
    EXPECT_EQ(report->notification_bad_signatures, 0);
    EXPECT_GE(report->notifications_acknowledged, report->succeeded + report->failed_refunded);
  }

  std::filesystem::path dir_;
};

TEST_F(EndToEndTest, HappySupplierEveryOrderSucceedsOnce) {
  ScenarioOptions options = Options(400);
  options.notify = true;
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report, options.deadline_s);
  ExpectNotified(report);
  EXPECT_EQ(report->succeeded, 400);
  EXPECT_EQ(report->credits, 400);
  // Accept, start (which takes the lease) and success: three order writes each, plus the odd
  // lease renewal. A claim before the start would make it four.
  EXPECT_GE(report->store_order_writes, 3 * 400);
  EXPECT_LT(report->store_order_writes, 3.5 * 400);
  EXPECT_EQ(report->notifications_duplicated, 0);  // nothing failed, so nothing was sent twice
}

// Every attempt answers "processing" for a second: the node holding each order asks again from
// memory, so the polls cost no writes (through the store, each would cost three).
TEST_F(EndToEndTest, ProcessingAttemptsArePolledWithoutStoreWrites) {
  ScenarioOptions options = Options(300);
  options.sim_flags = {"--processing-rate", "1", "--processing-ms", "1000"};
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report, options.deadline_s);
  EXPECT_EQ(report->succeeded, 300);
  EXPECT_GE(report->supplier_processing_answers, 3 * 300);
  EXPECT_LT(report->store_order_writes, 4 * 300);
}

// The server is SIGKILLed while it polls hundreds of processing attempts in memory: none of those
// polls was written, so the restarted node's sweeper finds each order in the store once its lease
// lapses, and queries it, never resends it (the supplier would credit a resend again).
TEST_F(EndToEndTest, ServerKilledWhilePollingInMemoryLeavesTheOrdersToTheSweeper) {
  ScenarioOptions options = Options(600);
  options.sim_flags = {"--processing-rate", "1", "--processing-ms", "4000", "--no-dedup"};
  options.rate_limit_per_s = 300;
  options.serve_kills = 1;
  options.kill_interval_ms = 1'500;
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report, options.deadline_s);
  EXPECT_EQ(report->server_kills, 1);
  EXPECT_EQ(report->succeeded, report->accepted);
}

TEST_F(EndToEndTest, FaultySupplierWithoutDeduplicationNeverCreditsTwice) {
  ScenarioOptions options = Options(600);
  // Many answers lost after crediting, slow processing, a lagging query index, failures, and a
  // supplier that would credit any resend again.
  options.sim_flags = {"--latency-median-ms", "5",    "--latency-p99-ms",    "100",
                       "--fail-rate",         "0.2",  "--processing-rate",   "0.2",
                       "--blackhole-rate",    "0.05", "--blackhole-hold-ms", "3000",
                       "--query-lag-ms",      "1000", "--no-dedup"};
  options.serve_flags.insert(options.serve_flags.end(), {"--max-attempts", "2"});
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report, options.deadline_s);
  EXPECT_GT(report->failed_refunded, 0);  // the faults really happened
  EXPECT_EQ(report->missed_deadline, 0);
}

TEST_F(EndToEndTest, ServerKilledMidLoadEveryOrderFinishesExactlyOnce) {
  ScenarioOptions options = Options(1500);
  options.sim_flags = {"--latency-median-ms", "5",    "--latency-p99-ms",  "50",
                       "--fail-rate",         "0.05", "--processing-rate", "0.1",
                       "--no-dedup"};
  options.rate_limit_per_s = 300;  // the load spans the kills
  options.serve_kills = 2;
  options.kill_interval_ms = 1'500;
  // A crash between the final state and the delivery loses no notification: the receiver holds
  // every notification unanswered until after both kills, so the orders the killed server made
  // final had theirs pending, or in flight, when it died.
  options.notify = true;
  options.receiver_faults = {{.kind = ReceiverFault::Kind::kHang, .from_ms = 0, .until_ms = 4'500}};
  options.serve_flags.insert(options.serve_flags.end(), {"--notify-lease-ms", "6000"});
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report, options.deadline_s);
  ExpectNotified(report);
  EXPECT_EQ(report->server_kills, 2);
  EXPECT_GT(report->receiver_hung, 0);
}

TEST_F(EndToEndTest, ChaosKeepsThePromise) {
  // The chaos run of `topup chaos`, smaller: three faulty channels (an outage, lost answers,
  // lost and duplicated callbacks) and the server SIGKILLed and restarted twice.
  ScenarioOptions options = Options(800);
  ConfigureChaos(/*seed=*/11, &options);
  options.rate_limit_per_s = 60;  // the load spans the outage and the kills
  options.serve_kills = 2;
  options.kill_interval_ms = 4'000;
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report, options.deadline_s);
  EXPECT_EQ(report->server_kills, 2);
  EXPECT_EQ(report->missed_deadline, 0);
  // The merchant's receiver failed and hung for a while, and still every notification arrived.
  ExpectNotified(report);
  EXPECT_GT(report->receiver_failed, 0);
  EXPECT_GT(report->receiver_hung, 0);
}

}  // namespace
}  // namespace topup::loadgen
