// The hostile supplier (src/loadgen/hostile.h) at load: `topup serve` with its defaults must still
// bring every order to a final state within 180 s, never credit a phone twice, never refund a
// credited order, keep the ledger balanced, and never write a transition the store refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <sstream>

#include "loadgen/hostile.h"
#include "loadgen/scenario.h"

namespace topup::loadgen {
namespace {

namespace json = boost::json;

class HostileSupplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-hostile-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);  // kept for inspection otherwise
  }

  ScenarioOptions Options(int orders, double rate_per_s) {
    ScenarioOptions options;
    options.topup_binary = TOPUP_BINARY;
    options.work_dir = dir_.string();
    options.orders = orders;
    options.connections = 8;
    options.rate_limit_per_s = rate_per_s;
    options.load_max_ms = 120'000;
    options.wait_final_max_ms = 240'000;
    return options;
  }

  // The promise, and the money.
  void ExpectPromiseKept(const ScenarioReport& report) {
    EXPECT_EQ(report.lost, 0);
    EXPECT_EQ(report.not_acknowledged, 0);
    EXPECT_EQ(report.still_open, 0);
    EXPECT_EQ(report.missed_deadline, 0);
    EXPECT_DOUBLE_EQ(report.share_final_within_deadline, 1.0);
    EXPECT_EQ(report.double_credits, 0);
    EXPECT_EQ(report.credits_on_unsuccessful, 0);  // no refund of a credited order
    EXPECT_EQ(report.successes_without_credit, 0);
    EXPECT_TRUE(report.ledger_balanced) << report.ledger_problems;
    EXPECT_EQ(report.invalid_transitions_logged, 0);
    EXPECT_TRUE(report.Correct());
  }

  std::filesystem::path dir_;
};

TEST_F(HostileSupplierTest, OneHostileChannelAtSixtyOrdersASecondKeepsThePromise) {
  ScenarioOptions options = Options(1'500, 60);
  options.sim_flags = HostileSimFlags();
  Result<ScenarioReport> report = RunScenario(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir_ << ")";
  std::ostringstream printed;
  PrintReport(*report, options.deadline_s, printed);
  SCOPED_TRACE(printed.str());
  std::cout << printed.str();
  EXPECT_EQ(report->accepted, 1'500);
  ExpectPromiseKept(*report);
  // Nothing holds an order back from its first attempt for long.
  EXPECT_LT(report->first_attempt_max_ms, 10'000);
}

TEST_F(HostileSupplierTest, TrafficMovesToTheHealthyChannelAndBack) {
  // "garble" misbehaves throughout and takes no work at all from 10 s to 20 s; "healthy" behaves.
  ScenarioOptions options = Options(2'400, 60);
  options.sim_channels_config = [](const std::vector<uint16_t>&) {
    json::object garble = HostileSimChannel("garble");
    garble["outages"] = json::array{json::object{{"start_s", 10}, {"end_s", 20}}};
    json::array channels = {std::move(garble), json::object{{"name", "healthy"}}};
    return json::serialize(json::object{{"seed", 5}, {"channels", std::move(channels)}});
  };
  options.serve_channels_config = [](uint16_t sim_port) {
    const std::string base = "http://127.0.0.1:" + std::to_string(sim_port) + "/";
    json::array channels = {json::object{{"name", "garble"}, {"base_url", base + "garble"}},
                            json::object{{"name", "healthy"}, {"base_url", base + "healthy"}}};
    return json::serialize(json::object{{"channels", std::move(channels)}});
  };
  Result<ScenarioReport> report = RunScenario(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir_ << ")";
  std::ostringstream printed;
  PrintReport(*report, options.deadline_s, printed);
  SCOPED_TRACE(printed.str());
  std::cout << printed.str();
  ExpectPromiseKept(*report);

  // Attempts per 10 s: before the outage both channels share the load (garbled answers are not
  // failures); during it "garble" gets little more than probes; after it, its share comes back.
  const std::vector<int64_t> garble = report->attempts_per_10s["garble"];
  const std::vector<int64_t> healthy = report->attempts_per_10s["healthy"];
  ASSERT_GE(garble.size(), 4u);
  ASSERT_GE(healthy.size(), 4u);
  EXPECT_GT(garble[0], healthy[0] / 3) << "garbled answers pushed traffic away";
  EXPECT_LT(garble[1], garble[0] / 3) << "the outage did not move traffic away";
  EXPECT_GT(healthy[1], healthy[0]);
  // Back within 10 s of the outage's end (a probe may meet a garbled answer and reopen it once).
  EXPECT_GT(std::max(garble[2], garble[3]), garble[0] / 2)
      << "traffic did not come back after the outage";
}

}  // namespace
}  // namespace topup::loadgen
