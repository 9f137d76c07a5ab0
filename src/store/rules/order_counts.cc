#include "store/rules/order_counts.h"

#include <algorithm>

namespace topup::store_rules {

OrderCounts ZeroOrderCounts() {
  OrderCounts counts;
  for (OrderStatus s : {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown,
                        OrderStatus::kSuccess, OrderStatus::kFailed}) {
    counts[s] = 0;
  }
  return counts;
}

bool OrderCountChanges::empty() const {
  return std::all_of(changes_.begin(), changes_.end(), [](int64_t n) { return n == 0; });
}

std::vector<std::pair<OrderStatus, int64_t>> OrderCountChanges::Changed() const {
  std::vector<std::pair<OrderStatus, int64_t>> changed;
  for (size_t i = 0; i < changes_.size(); ++i) {
    if (changes_[i] != 0) changed.emplace_back(static_cast<OrderStatus>(i), changes_[i]);
  }
  return changed;
}

}  // namespace topup::store_rules
