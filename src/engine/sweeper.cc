#include "engine/sweeper.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include "engine/engine.h"

namespace topup {
namespace {

// Bounded: at most this many batches per pass, so a backlog drains without starving shutdown.
constexpr int kBatchesPerPass = 8;

}  // namespace

Sweeper::Sweeper(Store* store, Queue* queue, Clock* clock, SweeperOptions options,
                 EngineCounters* counters)
    : store_(store),
      queue_(queue),
      clock_(clock),
      options_(options),
      counters_(counters),
      runner_("sweeper", [this] { return SweepOnce(); }) {
  assert(options_.interval_ms > 0 && options_.batch_max > 0);
}

Sweeper::~Sweeper() { Stop(); }

void Sweeper::Start() {
  last_pass_ms_ = clock_->NowMs();
  stopping_ = false;
  runner_.Start(PassRest(options_.interval_ms));
}

void Sweeper::Stop() {
  stopping_ = true;
  runner_.Stop();
}

PassRest Sweeper::SweepOnce() {
  const PassRest rest(options_.interval_ms);
  last_pass_ms_ = clock_->NowMs();
  for (int batch = 0; batch < kBatchesPerPass; ++batch) {
    Result<DueOrders> due =
        store_->TakeDueOrders(clock_->NowMs(), options_.batch_max, options_.redeliver_after_ms);
    if (!due.ok()) {
      counters_->store_errors++;
      spdlog::warn("sweep failed: {}", due.status().ToString());
      return rest;
    }
    counters_->lease_expiries += due->lapsed_leases;
    const std::vector<std::string>& ids = due->order_ids;
    if (ids.empty()) return rest;
    counters_->swept += static_cast<int64_t>(ids.size());
    Status published = queue_->Publish(ids);
    if (!published.ok()) spdlog::warn("sweep publish: {}", published.ToString());
    if (ids.size() < options_.batch_max || stopping_) return rest;
  }
  return rest;
}

}  // namespace topup
