// FirstCalls: when this process first called a supplier about each live attempt (sent it, or
// first queried it), on its monotonic clock (Clock::MonotonicMs). What lets a not_found be
// believed whatever the wall clocks of the nodes say (QueryAsked in order_policy.h).
//
// It lives in memory only: a restart, or an order taken up by another process, starts a later
// first call, which only delays when a not_found is believed. Bounded for the same reason: at
// max_entries (at least 1), an arbitrary entry is forgotten to make room.
//
// Thread-safe: the dispatcher and the poller call, the channels' answers forget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace topup {

class FirstCalls {
 public:
  explicit FirstCalls(size_t max_entries) : max_entries_(max_entries) {}

  // A call about attempt `supplier_order_id` is made at `now_monotonic_ms`: returns when the
  // first one was, recording this one if it is the first remembered.
  int64_t Called(const std::string& supplier_order_id, int64_t now_monotonic_ms);
  // The attempt is over (answered for good, or taken as dead).
  void Forget(const std::string& supplier_order_id);

  size_t size() const;

 private:
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> first_ms_;  // GUARDED_BY(mu_)
};

}  // namespace topup
