// WriteCounter: the figures behind Store::WriteCounts, kept by every backend the same way.
//
// Thread-safe: relaxed atomics, since the figures are read for reports only and need no order
// with the writes they count.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "topup/store.h"

namespace topup {

class WriteCounter {
 public:
  // One call that writes `orders` order rows (0 for a call that writes no order).
  void Count(size_t orders) {
    calls_.fetch_add(1, std::memory_order_relaxed);
    orders_.fetch_add(static_cast<int64_t>(orders), std::memory_order_relaxed);
  }

  StoreWriteCounts Read() const {
    return StoreWriteCounts{.write_calls = calls_.load(std::memory_order_relaxed),
                            .order_writes = orders_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> orders_{0};
};

}  // namespace topup
