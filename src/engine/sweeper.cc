#include "engine/sweeper.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <chrono>

#include "core/thread_name.h"
#include "engine/engine.h"

namespace topup {
namespace {

// Bounded: at most this many batches per pass, so a backlog drains without starving shutdown.
constexpr int kBatchesPerPass = 8;

}  // namespace

Sweeper::Sweeper(Store* store, Queue* queue, Clock* clock, SweeperOptions options,
                 EngineCounters* counters)
    : store_(store), queue_(queue), clock_(clock), options_(options), counters_(counters) {
  assert(options_.interval_ms > 0 && options_.batch_max > 0);
}

Sweeper::~Sweeper() { Stop(); }

void Sweeper::Start() {
  assert(!thread_.joinable());
  last_pass_ms_ = clock_->NowMs();
  thread_ = std::thread([this] { Loop(); });
}

void Sweeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Sweeper::Loop() {
  SetThreadName("sweeper");
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                            [this] { return stopping_; })) {
    lock.unlock();
    Pass();
    lock.lock();
  }
}

void Sweeper::Pass() {
  last_pass_ms_ = clock_->NowMs();
  for (int batch = 0; batch < kBatchesPerPass; ++batch) {
    Result<DueOrders> due =
        store_->TakeDueOrders(clock_->NowMs(), options_.batch_max, options_.redeliver_after_ms);
    if (!due.ok()) {
      counters_->store_errors++;
      spdlog::warn("sweep failed: {}", due.status().ToString());
      return;
    }
    counters_->lease_expiries += due->lapsed_leases;
    const std::vector<std::string>& ids = due->order_ids;
    if (ids.empty()) return;
    counters_->swept += static_cast<int64_t>(ids.size());
    Status published = queue_->Publish(ids);
    if (!published.ok()) spdlog::warn("sweep publish: {}", published.ToString());
    if (ids.size() < options_.batch_max) return;
    std::lock_guard lock(mu_);
    if (stopping_) return;
  }
}

}  // namespace topup
