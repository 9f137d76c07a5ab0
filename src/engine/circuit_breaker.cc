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
  if (state_ == State::kHalfOpen) {
    probe_in_flight_ = false;
    if (outcome == Outcome::kNoAnswer && ++probe_no_answers_ < options_.half_open_no_answers) {
      return;  // inconclusive: the next probe may go
    }
    if (outcome != Outcome::kSuccess) {
      Open(now_ms);
    } else {
      state_ = State::kClosed;
      window_.clear();
      failures_in_window_ = 0;
      no_answers_in_window_ = 0;
    }
    return;
  }
  if (state_ == State::kOpen) return;  // outcomes of attempts sent before it opened
  auto count = [this](Outcome o, int delta) {
    if (o == Outcome::kFailure) failures_in_window_ += delta;
    if (o == Outcome::kNoAnswer) no_answers_in_window_ += delta;
  };
  window_.push_back(outcome);
  count(outcome, 1);
  if (window_.size() > options_.window_size) {
    count(window_.front(), -1);
    window_.pop_front();
  }
  if (window_.size() < options_.min_outcomes) return;
  const auto size = static_cast<double>(window_.size());
  if (static_cast<double>(failures_in_window_) >= options_.open_failure_share * size ||
      static_cast<double>(no_answers_in_window_) >= options_.open_no_answer_share * size) {
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
  failures_in_window_ = 0;
  no_answers_in_window_ = 0;
  probe_in_flight_ = false;
  probe_no_answers_ = 0;
}

}  // namespace topup
