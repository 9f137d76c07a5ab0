#include "observe/metrics.h"

#include <gtest/gtest.h>

#include "observe/http_route.h"

namespace topup::observe {
namespace {

Order OpenOrder(int64_t created_ms) {
  Order order;
  order.order_id = "T1";
  order.status = OrderStatus::kCharging;
  order.attempt_count = 1;
  order.channel = "alpha";
  order.price_fen = 4'950;
  order.created_ms = created_ms;
  return order;
}

Transition Finish(const Order& order, OrderStatus to, int64_t now_ms) {
  Transition t;
  t.order_id = order.order_id;
  t.from = order.status;
  t.from_attempt_count = order.attempt_count;
  t.to = to;
  t.now_ms = now_ms;
  t.event_kind = "finished";
  return t;
}

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(MetricsTest, CountsOrdersAndMoneyByOutcomeAndChannel) {
  Metrics metrics;
  metrics.OrderAccepted(/*created=*/true, 4'950);
  metrics.OrderAccepted(/*created=*/true, 4'950);
  metrics.OrderAccepted(/*created=*/false, 4'950);
  const Order order = OpenOrder(1'000);
  metrics.TransitionApplied(order, Finish(order, OrderStatus::kSuccess, 3'000));
  Transition late = Finish(order, OrderStatus::kFailed, 200'000);
  late.deadline_missed_detail = "no channel admitted it";
  metrics.TransitionApplied(order, late);

  const std::string text = metrics.Serialize();
  EXPECT_TRUE(Contains(text, "topup_orders_accepted_total{outcome=\"created\"} 2\n")) << text;
  EXPECT_TRUE(Contains(text, "topup_orders_accepted_total{outcome=\"repeat\"} 1\n"));
  EXPECT_TRUE(
      Contains(text, "topup_orders_finished_total{channel=\"alpha\",outcome=\"success\"} 1\n"));
  EXPECT_TRUE(
      Contains(text, "topup_orders_finished_total{channel=\"alpha\",outcome=\"failed\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_deadline_missed_total 1\n"));
  EXPECT_TRUE(Contains(text, "topup_ledger_fen_total{kind=\"debited\"} 9900\n"));
  EXPECT_TRUE(Contains(text, "topup_ledger_fen_total{kind=\"refunded\"} 4950\n"));
  // 2 s and 199 s: both below the +Inf bucket, only the first below 180 s.
  EXPECT_TRUE(Contains(text, "topup_order_final_latency_seconds_bucket{le=\"180\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_order_final_latency_seconds_bucket{le=\"210\"} 2\n"));
  EXPECT_TRUE(Contains(text, "topup_order_final_latency_seconds_count 2\n"));
}

TEST(MetricsTest, AStepBetweenOpenStatesIsNotAFinish) {
  Metrics metrics;
  Order order = OpenOrder(0);
  order.status = OrderStatus::kAccepted;
  metrics.TransitionApplied(order, Finish(order, OrderStatus::kCharging, 10));
  EXPECT_FALSE(Contains(metrics.Serialize(), "topup_orders_finished_total{"));
}

TEST(MetricsTest, SupplierCallsAndHttpResponsesHaveLabelsAndLatencies) {
  Metrics metrics;
  metrics.SupplierAnswered("alpha", /*submit=*/true, SupplierOutcome::kSuccess, 40);
  metrics.SupplierAnswered("alpha", /*submit=*/false, SupplierOutcome::kUnknown, 3'000);
  metrics.HttpAnswered("/v1/orders", 201, std::chrono::milliseconds(2));
  metrics.StoreCommitted(12, std::chrono::microseconds(800));
  const std::string text = metrics.Serialize();
  EXPECT_TRUE(Contains(text,
                       "topup_supplier_calls_total{call=\"submit\",channel=\"alpha\","
                       "outcome=\"success\"} 1\n"))
      << text;
  EXPECT_TRUE(Contains(text,
                       "topup_supplier_calls_total{call=\"query\",channel=\"alpha\","
                       "outcome=\"unknown\"} 1\n"));
  EXPECT_TRUE(Contains(
      text, "topup_supplier_call_latency_seconds_sum{call=\"query\",channel=\"alpha\"} 3\n"));
  EXPECT_TRUE(Contains(text, "topup_http_requests_total{code=\"201\",route=\"/v1/orders\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_store_commit_writes_sum 12\n"));
}

TEST(MetricsTest, NotificationTriesByOutcomeGivenUpAndDeliveryLatency) {
  Metrics metrics;
  // Every outcome is there at 0 before the first try.
  const std::string before = metrics.Serialize();
  for (const char* outcome : {"acknowledged", "failed", "timeout", "refused"}) {
    EXPECT_TRUE(Contains(
        before, "topup_notification_tries_total{outcome=\"" + std::string(outcome) + "\"} 0\n"))
        << outcome << "\n"
        << before;
  }
  metrics.NotificationTried("failed", /*gave_up=*/false, 0);
  metrics.NotificationTried("timeout", /*gave_up=*/false, 0);
  metrics.NotificationTried("refused", /*gave_up=*/true, 0);
  metrics.NotificationTried("acknowledged", /*gave_up=*/false, 40);
  metrics.NotificationTried("acknowledged", /*gave_up=*/false, 15'040);
  const std::string text = metrics.Serialize();
  EXPECT_TRUE(Contains(text, "topup_notification_tries_total{outcome=\"acknowledged\"} 2\n"))
      << text;
  EXPECT_TRUE(Contains(text, "topup_notification_tries_total{outcome=\"failed\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_notification_tries_total{outcome=\"timeout\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_notification_tries_total{outcome=\"refused\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_notifications_given_up_total 1\n"));
  EXPECT_TRUE(Contains(text, "topup_notification_delivery_seconds_count 2\n"));
  EXPECT_TRUE(Contains(text, "topup_notification_delivery_seconds_bucket{le=\"0.05\"} 1\n"));
  EXPECT_TRUE(Contains(text, "topup_notification_delivery_seconds_bucket{le=\"20\"} 2\n"));
}

TEST(MetricsTest, ScrapeTimeFiguresAreReadAtEveryScrape) {
  Metrics metrics;
  double depth = 3;
  metrics.AddGauge("topup_test_depth", "a test gauge", [&depth] {
    return std::vector<Sample>{Sample{{{"kind", "a"}}, depth}};
  });
  metrics.AddCounter("topup_test_total", "a test counter", [] {
    return std::vector<Sample>{Sample{{}, 7}};
  });
  EXPECT_TRUE(Contains(metrics.Serialize(), "topup_test_depth{kind=\"a\"} 3\n"));
  depth = 5;
  const std::string text = metrics.Serialize();
  EXPECT_TRUE(Contains(text, "topup_test_depth{kind=\"a\"} 5\n"));
  EXPECT_TRUE(Contains(text, "# TYPE topup_test_depth gauge\n"));
  EXPECT_TRUE(Contains(text, "# TYPE topup_test_total counter\n"));
  EXPECT_TRUE(Contains(text, "topup_test_total 7\n"));
}

// What the dashboard reads: the same figures a scrape serializes.
TEST(MetricsTest, ReadGivesCountersHistogramsAndScrapeTimeGauges) {
  Metrics metrics;
  metrics.SupplierAnswered("alpha", /*submit=*/true, SupplierOutcome::kSuccess, 40);
  metrics.SupplierAnswered("alpha", /*submit=*/true, SupplierOutcome::kFailed, 60);
  metrics.AddGauge("topup_test_limit", "a test gauge", [] {
    return std::vector<Sample>{Sample{{{"channel", "alpha"}}, 64}};
  });
  double calls = 0;
  for (const Sample& sample : metrics.Read("topup_supplier_calls_total")) calls += sample.value;
  EXPECT_EQ(calls, 2);
  const std::vector<Sample> count = metrics.Read("topup_supplier_call_latency_seconds_count");
  ASSERT_EQ(count.size(), 1u);
  EXPECT_EQ(count[0].value, 2);
  const std::vector<Sample> sum = metrics.Read("topup_supplier_call_latency_seconds_sum");
  ASSERT_EQ(sum.size(), 1u);
  EXPECT_NEAR(sum[0].value, 0.1, 1e-9);
  const std::vector<Sample> limit = metrics.Read("topup_test_limit");
  ASSERT_EQ(limit.size(), 1u);
  EXPECT_EQ(limit[0].value, 64);
  EXPECT_EQ(limit[0].labels,
            (std::vector<std::pair<std::string, std::string>>{{"channel", "alpha"}}));
  EXPECT_TRUE(metrics.Read("topup_supplier_call_latency_seconds").empty());
  EXPECT_TRUE(metrics.Read("topup_no_such_figure").empty());
}

TEST(HttpRouteLabelTest, IdsBecomePlaceholders) {
  EXPECT_EQ(HttpRouteLabel("/v1/orders"), "/v1/orders");
  EXPECT_EQ(HttpRouteLabel("/v1/orders/T123"), "/v1/orders/{order_id}");
  EXPECT_EQ(HttpRouteLabel("/v1/orders/T123/events"), "/v1/orders/{order_id}/events");
  EXPECT_EQ(HttpRouteLabel("/v1/supplier-callbacks/alpha"), "/v1/supplier-callbacks/{channel}");
  EXPECT_EQ(HttpRouteLabel("/v1/admin/merchants/shop1/fund"),
            "/v1/admin/merchants/{merchant_id}/fund");
  EXPECT_EQ(HttpRouteLabel("/v1/admin/merchants/shop1/keys/k12"),
            "/v1/admin/merchants/{merchant_id}/keys/{key_id}");
  EXPECT_EQ(HttpRouteLabel("/metrics"), "/metrics");
  EXPECT_EQ(HttpRouteLabel("/readyz"), "/readyz");
  EXPECT_EQ(HttpRouteLabel("/no/such/thing"), "other");
  EXPECT_EQ(HttpRouteLabel("/a/b/c/d/e/f/g/h/i/j"), "other");
  EXPECT_EQ(HttpRouteLabel(""), "other");
}

}  // namespace
}  // namespace topup::observe
