#include "engine/lease_keeper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <span>
#include <vector>

#include "core/invariant.h"
#include "engine/engine.h"

namespace topup {

LeaseKeeper::LeaseKeeper(Store* store, Clock* clock, LeaseKeeperOptions options,
                         EngineCounters* counters)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      counters_(counters),
      runner_("lease-keeper", [this] { return RenewOnce(); }) {
  assert(!options_.owner.empty() && options_.lease_ms > 0 && options_.batch_max > 0 &&
         options_.max_held > 0);
}

LeaseKeeper::~LeaseKeeper() { Stop(); }

void LeaseKeeper::Start() {
  last_pass_ms_ = clock_->NowMs();
  runner_.Start(PassRest(options_.lease_ms / 3));
}

void LeaseKeeper::Stop() { runner_.Stop(); }

void LeaseKeeper::Hold(const std::string& order_id) {
  std::lock_guard lock(mu_);
  TOPUP_ASSERT(held_.size() < options_.max_held, "more orders held than the engine may work");
  const bool first_hold = held_.insert(order_id).second;
  TOPUP_ASSERT(first_hold, "an order held twice: two works of one order in one process");
}

void LeaseKeeper::LetGo(const std::string& order_id) {
  std::lock_guard lock(mu_);
  auto it = held_.find(order_id);
  TOPUP_ASSERT(it != held_.end(), "an order let go that was not held");
  held_.erase(it);
}

bool LeaseKeeper::Holds(const std::string& order_id) const {
  std::lock_guard lock(mu_);
  return held_.contains(order_id);
}

void LeaseKeeper::AssertHolds(const std::string& order_id) const {
  std::lock_guard lock(mu_);
  TOPUP_ASSERT(held_.contains(order_id), "the engine works an order it does not hold");
}

PassRest LeaseKeeper::RenewOnce() {
  last_pass_ms_ = clock_->NowMs();
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    ids.assign(held_.begin(), held_.end());
  }
  // In slices, since a store takes a bounded number of ids per call.
  for (size_t begin = 0; begin < ids.size(); begin += options_.batch_max) {
    const std::span<const std::string> slice = std::span<const std::string>(ids).subspan(
        begin, std::min(options_.batch_max, ids.size() - begin));
    Status renewed = store_->RenewLeases(slice, options_.owner, clock_->NowMs(), options_.lease_ms);
    if (!renewed.ok()) {
      counters_->lease_renewal_failures++;
      spdlog::warn("lease renewal failed: {}", renewed.ToString());
    }
  }
  return PassRest(options_.lease_ms / 3);
}

}  // namespace topup
