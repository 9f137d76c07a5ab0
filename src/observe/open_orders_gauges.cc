#include "observe/open_orders_gauges.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/thread_name.h"

namespace topup::observe {

OpenOrdersGauges::OpenOrdersGauges(Store* store, Clock* clock, Metrics* metrics,
                                   int64_t interval_ms)
    : store_(store), clock_(clock), interval_ms_(interval_ms) {
  metrics->AddGauge("topup_orders_open", "Open orders by state (all processes), at the last poll",
                    [this] {
                      std::vector<Sample> samples;
                      std::lock_guard lock(mu_);
                      for (const auto& [status, count] : summary_.open_by_status) {
                        samples.push_back(Sample{{{"state", std::string(OrderStatusName(status))}},
                                                 static_cast<double>(count)});
                      }
                      return samples;
                    });
  metrics->AddGauge("topup_oldest_open_order_age_seconds",
                    "Age of the oldest open order (all processes), 0 when none is open",
                    AgeSince(&OpenOrdersSummary::oldest_created_ms));
  metrics->AddGauge("topup_ledger_held_fen",
                    "Money debited for orders still open (all processes), in fen",
                    Value(&OpenOrdersSummary::held_fen));
  metrics->AddGauge("topup_leases_lapsed",
                    "Open orders whose lease lapsed without being released (a worker died or "
                    "stalled), at the last poll",
                    Value(&OpenOrdersSummary::lapsed_leases));
  metrics->AddGauge("topup_notifications_pending",
                    "Notifications not yet acknowledged nor given up (all processes), at the last "
                    "poll",
                    Value(&OpenOrdersSummary::notifications_pending));
  metrics->AddGauge(
      "topup_oldest_pending_notification_age_seconds",
      "Time since the oldest pending notification's order became final (or it was re-sent), 0 "
      "when none is pending",
      AgeSince(&OpenOrdersSummary::oldest_pending_notification_ms));
  metrics->AddGauge(
      "topup_open_orders_poll_age_seconds",
      "Time since the open orders were last read from the store", [this] {
        std::lock_guard lock(mu_);
        const double age_s =
            have_summary_ ? static_cast<double>(clock_->NowMs() - polled_at_ms_) / 1000.0 : 0;
        return std::vector<Sample>{Sample{{}, age_s}};
      });
  metrics->AddCounter("topup_open_orders_poll_failures_total",
                      "Reads of the open orders that the store refused", [this] {
                        std::lock_guard lock(mu_);
                        return std::vector<Sample>{Sample{{}, static_cast<double>(poll_failures_)}};
                      });
  thread_ = std::thread([this] { Loop(); });
}

SampleReader OpenOrdersGauges::Value(int64_t OpenOrdersSummary::*field) {
  return [this, field] {
    std::lock_guard lock(mu_);
    return std::vector<Sample>{Sample{{}, static_cast<double>(summary_.*field)}};
  };
}

SampleReader OpenOrdersGauges::AgeSince(int64_t OpenOrdersSummary::*at_ms) {
  return [this, at_ms] {
    std::lock_guard lock(mu_);
    const int64_t since_ms = summary_.*at_ms;
    const double age_s =
        since_ms == 0 ? 0 : static_cast<double>(clock_->NowMs() - since_ms) / 1000.0;
    return std::vector<Sample>{Sample{{}, age_s}};
  };
}

OpenOrdersGauges::~OpenOrdersGauges() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void OpenOrdersGauges::Loop() {
  SetThreadName("open-orders");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Poll();
    lock.lock();
    stop_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; });
  }
}

void OpenOrdersGauges::Poll() {
  const int64_t now_ms = clock_->NowMs();
  Result<OpenOrdersSummary> summary = store_->SummarizeOpenOrders(now_ms);
  std::lock_guard lock(mu_);
  if (!summary.ok()) {
    ++poll_failures_;
    spdlog::warn("open orders not read for the metrics: {}", summary.status().ToString());
    return;
  }
  summary_ = std::move(*summary);
  have_summary_ = true;
  polled_at_ms_ = now_ms;
}

}  // namespace topup::observe
