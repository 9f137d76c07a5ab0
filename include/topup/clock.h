// Time enters the engine only through Clock, so tests and simulations can drive it.
#pragma once

#include <atomic>
#include <cstdint>

namespace topup {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall time: it is stored and compared across processes).
  virtual int64_t NowMs() const = 0;
  // Milliseconds on this process's monotonic clock, from an arbitrary origin: it never jumps and
  // no other clock's skew moves it, so it measures how long ago something happened here. It
  // means nothing in another process or after a restart.
  virtual int64_t MonotonicMs() const = 0;
};

// The process-wide real clock. Never null; lives for the whole program.
Clock* SystemClock();

// A clock that moves only when told to: AdvanceMs moves both readings, SetMs the wall time
// alone (a jump), SetMonotonicMs the monotonic time alone. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'700'000'000'000)
      : now_ms_(start_ms), monotonic_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(std::memory_order_relaxed); }
  int64_t MonotonicMs() const override { return monotonic_ms_.load(std::memory_order_relaxed); }
  void AdvanceMs(int64_t delta_ms) {
    now_ms_.fetch_add(delta_ms, std::memory_order_relaxed);
    monotonic_ms_.fetch_add(delta_ms, std::memory_order_relaxed);
  }
  void SetMs(int64_t now_ms) { now_ms_.store(now_ms, std::memory_order_relaxed); }
  void SetMonotonicMs(int64_t monotonic_ms) {
    monotonic_ms_.store(monotonic_ms, std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> now_ms_;
  std::atomic<int64_t> monotonic_ms_;
};

}  // namespace topup
