#include "engine/deadline_report.h"

#include <gtest/gtest.h>

#include <vector>

#include "engine/latency_window.h"

namespace topup {
namespace {

constexpr int64_t kT0 = 1'000'000;

OrderEvent Event(int64_t at_s, std::string kind, std::string detail = "") {
  OrderEvent event;
  event.at_ms = kT0 + at_s * 1000;
  event.kind = std::move(kind);
  event.detail = std::move(detail);
  return event;
}

Order LateOrder(OrderStatus status, int32_t attempts) {
  Order order;
  order.order_id = "o1";
  order.status = status;
  order.attempt_count = attempts;
  order.created_ms = kT0;
  order.deadline_ms = kT0 + 180'000;
  return order;
}

TEST(DeadlineReportTest, NamesWhereTheTimeWentLongestFirst) {
  std::vector<OrderEvent> events = {
      Event(0, "accepted"),
      Event(1, "waiting_for_channel", "channels_busy: every channel is open"),
      Event(96, "attempt_started"),
      Event(97, "outcome_unknown"),
      Event(137, "supplier_processing"),
      Event(197, "succeeded"),
  };
  const std::string line =
      ExplainLateness(LateOrder(OrderStatus::kSuccess, 1), events, kT0 + 300'000);
  EXPECT_EQ(line,
            "final 197 s after acceptance (17 s late); no channel admitted it (channels_busy: "
            "every channel is open) for 95 s; supplier processing for 60 s; outcome unknown "
            "(answer lost or unreadable, queried since) for 40 s; no attempt live (before one, or "
            "between attempts) for 1 s; waiting for a submit's answer for 1 s; 1 attempt");
}

TEST(DeadlineReportTest, AnOpenOrderIsExplainedUpToNow) {
  std::vector<OrderEvent> events = {Event(0, "accepted"), Event(2, "attempt_started"),
                                    Event(12, "outcome_unknown")};
  const std::string line =
      ExplainLateness(LateOrder(OrderStatus::kUnknown, 1), events, kT0 + 181'000);
  EXPECT_EQ(line.rfind("still unknown at the deadline, 181 s after acceptance; outcome unknown", 0),
            0u)
      << line;
  EXPECT_NE(line.find("for 169 s"), std::string::npos) << line;
}

TEST(DeadlineReportTest, RetriesCountAsTimeWithoutALiveAttempt) {
  std::vector<OrderEvent> events = {Event(0, "accepted"),           Event(0, "attempt_started"),
                                    Event(60, "attempt_not_found"), Event(150, "attempt_started"),
                                    Event(151, "attempt_failed"),   Event(185, "failed_refunded")};
  const std::string line =
      ExplainLateness(LateOrder(OrderStatus::kFailed, 2), events, kT0 + 200'000);
  EXPECT_EQ(line.rfind("final 185 s after acceptance (5 s late); no attempt live (before one, or "
                       "between attempts) for 124 s; waiting for a submit's answer for 61 s; "
                       "2 attempts",
                       0),
            0u)
      << line;
}

TEST(LatencyWindowTest, GivesAQuantileOfTheRecentDurationsOnceThereAreEnough) {
  LatencyWindow window(0.95, 100, 20);
  for (int i = 1; i <= 19; ++i) window.Record(i);
  EXPECT_EQ(window.QuantileMs(), 0);  // too few to say
  window.Record(20);
  EXPECT_EQ(window.QuantileMs(), 19);
  for (int i = 0; i < 200; ++i) window.Record(60'000);  // the old ones are forgotten
  EXPECT_EQ(window.QuantileMs(), 60'000);
}

}  // namespace
}  // namespace topup
