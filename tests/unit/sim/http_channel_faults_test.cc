// The engine's HttpSupplierChannel against the simulator's supplier faults: every answer that may
// hide a credit is kUnknown (never kFailed, which would refund a credited phone), and a query
// afterwards tells the truth.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "engine/http_supplier_channel.h"
#include "sim/supplier_sim.h"

namespace topup::sim {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<SupplierSim> StartSim(const ChannelSimOptions& channel) {
  SimOptions options;
  options.channel = channel;
  Result<std::unique_ptr<SupplierSim>> sim = SupplierSim::Start(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

std::unique_ptr<HttpSupplierChannel> ChannelTo(const SupplierSim& sim) {
  HttpSupplierChannelOptions options;
  options.name = "sim";
  options.base_url = "http://127.0.0.1:" + std::to_string(sim.port());
  options.attempt_timeout = 5s;
  options.query_timeout = 5s;
  Result<std::unique_ptr<HttpSupplierChannel>> channel = HttpSupplierChannel::Create(options);
  EXPECT_TRUE(channel.ok()) << channel.status().ToString();
  return channel.ok() ? std::move(channel).value() : nullptr;
}

SubmitRequest Attempt(int i) {
  SubmitRequest request;
  request.supplier_order_id = "o" + std::to_string(i) + "-1";
  request.phone = "13800138000";
  request.face_value_yuan = 50;
  return request;
}

struct FaultCase {
  const char* name;
  double ChannelSimOptions::*rate;
  bool credited;
};

class HttpChannelFaultsTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(HttpChannelFaultsTest, SubmitIsUnknownAndQueryTellsTheTruth) {
  const FaultCase& fault = GetParam();
  ChannelSimOptions options;
  options.*fault.rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  auto channel = ChannelTo(*sim);
  ASSERT_NE(channel, nullptr);
  constexpr int kAttempts = 8;  // several variants of each fault
  for (int i = 0; i < kAttempts; ++i) {
    const SupplierAnswer answer = channel->Submit(Attempt(i));
    EXPECT_EQ(answer.outcome, SupplierOutcome::kUnknown)
        << fault.name << " #" << i << ": " << SupplierOutcomeName(answer.outcome) << " ("
        << answer.reason << ")";
  }
  EXPECT_EQ(sim->Credits().size(), fault.credited ? size_t{kAttempts} : 0u) << fault.name;
  for (int i = 0; i < kAttempts; ++i) {
    const SupplierAnswer truth = channel->Query(Attempt(i).supplier_order_id);
    if (fault.credited) {
      EXPECT_EQ(truth.outcome, SupplierOutcome::kSuccess) << fault.name << " #" << i;
      EXPECT_EQ(truth.supplier_ref, sim->Credits()[static_cast<size_t>(i)].supplier_ref);
    } else {
      EXPECT_EQ(truth.outcome, SupplierOutcome::kNotFound) << fault.name << " #" << i;
    }
  }
  const SimStats stats = sim->Stats();
  EXPECT_EQ(fault.credited ? stats.garbled_after_credit : stats.resets, kAttempts) << fault.name;
}

INSTANTIATE_TEST_SUITE_P(
    EveryRechargeFault, HttpChannelFaultsTest,
    ::testing::Values(FaultCase{"error_after_credit", &ChannelSimOptions::error_after_credit_rate,
                                true},
                      FaultCase{"truncated", &ChannelSimOptions::truncated_rate, true},
                      FaultCase{"wrong_content", &ChannelSimOptions::wrong_content_rate, true},
                      FaultCase{"unknown_status", &ChannelSimOptions::unknown_status_rate, true},
                      FaultCase{"reset", &ChannelSimOptions::reset_rate, false}),
    [](const ::testing::TestParamInfo<FaultCase>& info) { return std::string(info.param.name); });

TEST(HttpChannelQueryFaultTest, QueryErrorIsUnknown) {
  ChannelSimOptions options;
  options.query_error_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  auto channel = ChannelTo(*sim);
  ASSERT_NE(channel, nullptr);
  EXPECT_EQ(channel->Submit(Attempt(0)).outcome, SupplierOutcome::kSuccess);
  for (int i = 0; i < 6; ++i) {  // a known and an unknown attempt, JSON and HTML bodies
    const SupplierAnswer answer = channel->Query(Attempt(i % 2).supplier_order_id);
    EXPECT_EQ(answer.outcome, SupplierOutcome::kUnknown)
        << SupplierOutcomeName(answer.outcome) << " (" << answer.reason << ")";
  }
  EXPECT_EQ(sim->Stats().query_errors, 6);
}

}  // namespace
}  // namespace topup::sim
