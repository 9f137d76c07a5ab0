// Helpers shared by the store tests: a scratch directory per test and order builders.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "topup/order.h"
#include "topup/store.h"

namespace topup::testing_util {

// A fresh directory under the test temp dir, removed with everything in it on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern = ::testing::TempDir();
    if (pattern.empty() || pattern.back() != '/') pattern += '/';
    pattern += "topup_store_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << pattern;
      return;
    }
    path_ = buffer.data();
  }
  ~ScopedTempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline constexpr int64_t kT0Ms = 1'700'000'000'000;

inline SqliteStoreOptions OptionsFor(const std::string& path) {
  SqliteStoreOptions options;
  options.path = path;
  return options;
}

// Opens a store at `path`, failing the test (and returning null) if it cannot.
inline std::unique_ptr<Store> OpenOrDie(const SqliteStoreOptions& options) {
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  return std::move(store).value();
}

// A new order as the API would build it: accepted, no attempt, due at once.
inline Order MakeOrder(const std::string& order_id, const std::string& merchant_id,
                       const std::string& merchant_order_id, int64_t price_fen = 1000,
                       int64_t now_ms = kT0Ms) {
  Order order;
  order.order_id = order_id;
  order.merchant_id = merchant_id;
  order.merchant_order_id = merchant_order_id;
  order.phone = "13800138000";
  order.carrier = Carrier::kChinaMobile;
  order.face_value_yuan = 10;
  order.price_fen = price_fen;
  order.notify_url = "http://127.0.0.1:9/notify";
  order.status = OrderStatus::kAccepted;
  order.created_ms = now_ms;
  order.deadline_ms = now_ms + 180'000;
  order.updated_ms = now_ms;
  order.next_check_ms = now_ms;
  return order;
}

// The transition that starts the next attempt of `order` on `channel`.
inline Transition StartAttempt(const Order& order, OrderStatus to, int64_t now_ms,
                               const std::string& channel = "sim") {
  Transition t;
  t.order_id = order.order_id;
  t.from = order.status;
  t.from_attempt_count = order.attempt_count;
  t.to = to;
  t.now_ms = now_ms;
  t.attempt = Transition::Attempt::kStart;
  t.supplier_order_id = SupplierOrderId(order.order_id, order.attempt_count + 1);
  t.channel = channel;
  t.next_check_ms = now_ms + 5000;
  t.event_kind = "attempt_started";
  return t;
}

// A transition of `order` to `to` that keeps or clears the live attempt.
inline Transition Move(const Order& order, OrderStatus to, int64_t now_ms,
                       Transition::Attempt attempt, const std::string& event_kind) {
  Transition t;
  t.order_id = order.order_id;
  t.from = order.status;
  t.from_attempt_count = order.attempt_count;
  t.to = to;
  t.now_ms = now_ms;
  t.attempt = attempt;
  t.next_check_ms = now_ms + 5000;
  t.event_kind = event_kind;
  if (to == OrderStatus::kFailed) t.fail_reason = "supplier_failed";
  return t;
}

}  // namespace topup::testing_util
