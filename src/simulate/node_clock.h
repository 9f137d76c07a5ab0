// NodeClock: one simulated node's clock. Its wall time is the world's plus the node's own skew
// (the jumps of this node's clock alone); its monotonic time is the world's simulated time from
// the node's own origin, which no jump moves.
//
// Threading: the simulation's one thread.
#pragma once

#include <cstdint>

#include "topup/clock.h"

namespace topup::simulate {

class NodeClock final : public Clock {
 public:
  // `world` must outlive this clock.
  NodeClock(const Clock* world, int64_t monotonic_origin_ms)
      : world_(world), monotonic_origin_ms_(monotonic_origin_ms) {}
  int64_t NowMs() const override { return world_->NowMs() + skew_ms_; }
  int64_t MonotonicMs() const override { return world_->MonotonicMs() - monotonic_origin_ms_; }
  // This node's wall clock alone jumps by `delta_ms`; it stays skewed across its restarts.
  void JumpMs(int64_t delta_ms) { skew_ms_ += delta_ms; }

 private:
  const Clock* const world_;
  const int64_t monotonic_origin_ms_;
  int64_t skew_ms_ = 0;
};

}  // namespace topup::simulate
