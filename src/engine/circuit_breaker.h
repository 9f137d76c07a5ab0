// CircuitBreaker: stops sending attempts to a channel that is failing, and probes it before
// trusting it again.
//
// It judges a channel by what its attempts turned out to be, not by how they were answered: an
// attempt whose answer was lost or unreadable but that a query later finds credited is a success
// (with a slow answer), not a failure. Three kinds of outcome are counted, kept apart:
//   kSuccess   a readable answer that the supplier took the attempt (success, processing), or an
//              attempt a query found credited;
//   kFailure   the supplier refused the request or lost it: nothing reached it, it answered
//              failed, or a query found no trace of the attempt long after it was sent;
//   kNoAnswer  nothing readable came back (timeout, broken connection, 5xx, garbage). Not a
//              failure: the attempt's fate is learnt later, by querying it.
//
//   closed    --(failure share >= open_failure_share, or no-answer share >= open_no_answer_share,
//                over the last window of >= min_outcomes outcomes)-->  open
//   open      --(open_ms elapsed)-->  half-open: one probe at a time may pass
//   half-open --(kSuccess)--> closed;  --(kFailure, or half_open_no_answers kNoAnswer in a row)-->
//             open again. A probe that got no readable answer proves little either way (a
//             supplier that garbles a third of its answers garbles some probes), so another probe
//             may go at once.
//
// Slowness is not the breaker's business: the router and the order policy plan with each
// channel's observed time to a final answer (RoutedChannel::AttemptBudgetMs).
//
// Thread-safe; time comes from the caller (milliseconds from an injected Clock).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>

namespace topup {

struct CircuitBreakerOptions {
  size_t window_size = 50;            // outcomes remembered
  size_t min_outcomes = 20;           // no opening on fewer than this many
  double open_failure_share = 0.5;    // failures / outcomes in the window that open the breaker
  double open_no_answer_share = 0.9;  // no-answers / outcomes: the channel answers nothing usable
  int64_t open_ms = 5'000;            // how long to stay open before probing
  int half_open_no_answers = 5;       // probes in a row without a readable answer that reopen it
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  enum class Outcome { kSuccess, kFailure, kNoAnswer };

  explicit CircuitBreaker(CircuitBreakerOptions options = {}) : options_(options) {}

  // Whether an attempt may be sent now. In half-open, admits one probe and then refuses until
  // an outcome is recorded.
  bool Allow(int64_t now_ms);
  void Record(Outcome outcome, int64_t now_ms);
  State state(int64_t now_ms);

 private:
  void Open(int64_t now_ms);  // REQUIRES: mu_ held

  const CircuitBreakerOptions options_;
  std::mutex mu_;
  State state_ = State::kClosed;     // GUARDED_BY(mu_)
  std::deque<Outcome> window_;       // GUARDED_BY(mu_)
  size_t failures_in_window_ = 0;    // GUARDED_BY(mu_)
  size_t no_answers_in_window_ = 0;  // GUARDED_BY(mu_)
  int64_t opened_at_ms_ = 0;         // GUARDED_BY(mu_)
  bool probe_in_flight_ = false;     // GUARDED_BY(mu_)
  int probe_no_answers_ = 0;         // GUARDED_BY(mu_): in a row, in this half-open spell
};

std::string_view CircuitStateName(CircuitBreaker::State state);

}  // namespace topup
