// CircuitBreaker: stops sending attempts to a channel that is failing, and probes it before
// trusting it again.
//
//   closed    --(error share >= open_error_share over the last window, or N consecutive
//                timeouts)-->  open
//   open      --(open_ms elapsed)-->  half-open: one probe at a time may pass
//   half-open --(probe succeeds)--> closed;  --(probe fails)--> open again
//
// Thread-safe; time comes from the caller (milliseconds from an injected Clock).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>

namespace topup {

struct CircuitBreakerOptions {
  size_t window_size = 50;        // outcomes remembered
  size_t min_outcomes = 20;       // no opening on fewer than this many
  double open_error_share = 0.5;  // errors / outcomes in the window that open the breaker
  int consecutive_timeouts_to_open = 5;
  int64_t open_ms = 5'000;  // how long to stay open before probing
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  enum class Outcome { kSuccess, kError, kTimeout };

  explicit CircuitBreaker(CircuitBreakerOptions options = {}) : options_(options) {}

  // Whether an attempt may be sent now. In half-open, admits one probe and then refuses until
  // that probe's outcome is recorded.
  bool Allow(int64_t now_ms);
  void Record(Outcome outcome, int64_t now_ms);
  State state(int64_t now_ms);

 private:
  void Open(int64_t now_ms);  // REQUIRES: mu_ held

  const CircuitBreakerOptions options_;
  std::mutex mu_;
  State state_ = State::kClosed;  // GUARDED_BY(mu_)
  std::deque<bool> window_;       // GUARDED_BY(mu_): true = error
  size_t errors_in_window_ = 0;   // GUARDED_BY(mu_)
  int consecutive_timeouts_ = 0;  // GUARDED_BY(mu_)
  int64_t opened_at_ms_ = 0;      // GUARDED_BY(mu_)
  bool probe_in_flight_ = false;  // GUARDED_BY(mu_)
};

std::string_view CircuitStateName(CircuitBreaker::State state);

}  // namespace topup
