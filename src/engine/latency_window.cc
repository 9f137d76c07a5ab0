#include "engine/latency_window.h"

#include <algorithm>
#include <cassert>

namespace topup {
namespace {

constexpr size_t kRecomputeEvery = 10;

}  // namespace

LatencyWindow::LatencyWindow(double quantile, size_t capacity, size_t min_samples)
    : quantile_(std::clamp(quantile, 0.0, 1.0)), capacity_(capacity), min_samples_(min_samples) {
  assert(capacity_ > 0 && min_samples_ > 0 && min_samples_ <= capacity_);
  ring_.reserve(capacity_);
}

void LatencyWindow::Record(int64_t duration_ms) {
  std::lock_guard lock(mu_);
  if (ring_.size() < capacity_) {
    ring_.push_back(duration_ms);
  } else {
    ring_[next_] = duration_ms;
    next_ = (next_ + 1) % capacity_;
  }
  // At first every record counts; later a few at a time.
  if (ring_.size() <= min_samples_ || ++since_recompute_ >= kRecomputeEvery) Recompute();
}

int64_t LatencyWindow::QuantileMs() const {
  std::lock_guard lock(mu_);
  return quantile_ms_;
}

void LatencyWindow::Recompute() {
  since_recompute_ = 0;
  if (ring_.size() < min_samples_) return;
  std::vector<int64_t> sorted = ring_;
  const auto rank = static_cast<size_t>(quantile_ * static_cast<double>(sorted.size() - 1));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank),
                   sorted.end());
  quantile_ms_ = sorted[rank];
}

}  // namespace topup
