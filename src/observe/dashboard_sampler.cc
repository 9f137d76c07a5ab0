#include "observe/dashboard_sampler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/thread_name.h"

namespace topup::observe {
namespace {

double Total(const std::vector<Sample>& samples) {
  double total = 0;
  for (const Sample& sample : samples) total += sample.value;
  return total;
}

}  // namespace

DashboardSampler::DashboardSampler(Store* store, Clock* clock, const Metrics* metrics,
                                   int64_t interval_ms, int64_t window_ms)
    : store_(store),
      clock_(clock),
      metrics_(metrics),
      interval_ms_(std::max<int64_t>(100, interval_ms)),
      capacity_(static_cast<size_t>(window_ms / interval_ms_) + 1) {
  thread_ = std::thread([this] { Loop(); });
}

DashboardSampler::~DashboardSampler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

std::vector<DashboardSample> DashboardSampler::Window() const {
  std::lock_guard lock(mu_);
  return std::vector<DashboardSample>(samples_.begin(), samples_.end());
}

void DashboardSampler::Loop() {
  SetThreadName("dashboard");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    std::optional<DashboardSample> sample = Take();
    lock.lock();
    if (sample) {
      samples_.push_back(std::move(*sample));
      while (samples_.size() > capacity_) samples_.pop_front();
    }
    stop_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; });
  }
}

std::optional<DashboardSample> DashboardSampler::Take() {
  DashboardSample sample;
  sample.at_ms = clock_->NowMs();
  Result<OrderCounts> orders = store_->CountOrders();
  Result<NotificationCounts> notifications = store_->CountNotifications();
  if (!orders.ok() || !notifications.ok()) {
    spdlog::warn("dashboard sample not taken: {}",
                 (orders.ok() ? notifications.status() : orders.status()).ToString());
    return std::nullopt;
  }
  sample.orders = std::move(*orders);
  sample.notifications = std::move(*notifications);
  sample.finished =
      static_cast<int64_t>(Total(metrics_->Read("topup_order_final_latency_seconds_count")));
  sample.final_latency_sum_s = Total(metrics_->Read("topup_order_final_latency_seconds_sum"));
  return sample;
}

}  // namespace topup::observe
