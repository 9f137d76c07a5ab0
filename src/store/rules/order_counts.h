// The counts of orders by status that both stores keep in a small table of their own, changed in
// the transaction of every accept and status change, so that Store::CountOrders reads a handful of
// rows however many orders the store holds. One definition of what a batch of writes changes.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "topup/order.h"
#include "topup/store.h"

namespace topup::store_rules {

// Every status, each at 0: what CountOrders answers for an empty store.
OrderCounts ZeroOrderCounts();

// What the writes of one transaction change in the counts. A write adds its share only once it
// is known to stand (an accept that created its order, a compare-and-set that applied).
class OrderCountChanges {
 public:
  // `orders` new orders, each in kAccepted.
  void Accepted(int64_t orders = 1) { changes_[Index(OrderStatus::kAccepted)] += orders; }
  // One order moved from `from` to `to` (nothing when they are the same status).
  void Moved(OrderStatus from, OrderStatus to) {
    changes_[Index(from)] -= 1;
    changes_[Index(to)] += 1;
  }
  void Clear() { changes_ = {}; }
  bool empty() const;
  // The statuses whose count changes, with the change, in status order.
  std::vector<std::pair<OrderStatus, int64_t>> Changed() const;

 private:
  static size_t Index(OrderStatus status) { return static_cast<size_t>(status); }
  std::array<int64_t, 5> changes_{};  // by OrderStatus value
};

}  // namespace topup::store_rules
