#include "engine/circuit_breaker.h"

namespace topup {

std::string_view CircuitStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

bool CircuitBreaker::Allow(int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (state_ == State::kOpen && now_ms - opened_at_ms_ >= options_.open_ms) {
    state_ = State::kHalfOpen;
    probe_in_flight_ = false;
  }
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::Record(Outcome outcome, int64_t now_ms) {
  std::lock_guard lock(mu_);
  bool error = outcome != Outcome::kSuccess;
  if (state_ == State::kHalfOpen) {
    probe_in_flight_ = false;
    if (error) {
      Open(now_ms);
    } else {
      state_ = State::kClosed;
      window_.clear();
      errors_in_window_ = 0;
      consecutive_timeouts_ = 0;
    }
    return;
  }
  if (state_ == State::kOpen) return;  // outcomes of attempts sent before it opened
  window_.push_back(error);
  errors_in_window_ += error ? 1 : 0;
  if (window_.size() > options_.window_size) {
    errors_in_window_ -= window_.front() ? 1 : 0;
    window_.pop_front();
  }
  consecutive_timeouts_ = outcome == Outcome::kTimeout ? consecutive_timeouts_ + 1 : 0;
  bool too_many_errors = window_.size() >= options_.min_outcomes &&
                         static_cast<double>(errors_in_window_) >=
                             options_.open_error_share * static_cast<double>(window_.size());
  if (too_many_errors || consecutive_timeouts_ >= options_.consecutive_timeouts_to_open) {
    Open(now_ms);
  }
}

CircuitBreaker::State CircuitBreaker::state(int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (state_ == State::kOpen && now_ms - opened_at_ms_ >= options_.open_ms) {
    return State::kHalfOpen;
  }
  return state_;
}

void CircuitBreaker::Open(int64_t now_ms) {
  state_ = State::kOpen;
  opened_at_ms_ = now_ms;
  window_.clear();
  errors_in_window_ = 0;
  consecutive_timeouts_ = 0;
  probe_in_flight_ = false;
}

}  // namespace topup
