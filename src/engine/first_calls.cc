#include "engine/first_calls.h"

namespace topup {

int64_t FirstCalls::Called(const std::string& supplier_order_id, int64_t now_monotonic_ms) {
  std::lock_guard lock(mu_);
  if (auto it = first_ms_.find(supplier_order_id); it != first_ms_.end()) return it->second;
  if (first_ms_.size() >= max_entries_ && !first_ms_.empty()) {
    first_ms_.erase(first_ms_.begin());
  }
  first_ms_.emplace(supplier_order_id, now_monotonic_ms);
  return now_monotonic_ms;
}

void FirstCalls::Forget(const std::string& supplier_order_id) {
  std::lock_guard lock(mu_);
  first_ms_.erase(supplier_order_id);
}

size_t FirstCalls::size() const {
  std::lock_guard lock(mu_);
  return first_ms_.size();
}

}  // namespace topup
