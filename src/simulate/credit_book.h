// CreditBook: the suppliers' own record of every attempt that reached them, across every
// simulated supplier: the ground truth the store is checked against. It outlives every crash of
// the topup nodes, as a real supplier's books would.
//
// Threading: the simulation's one thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace topup::simulate {

struct SuppliedAttempt {
  std::string supplier;
  std::string supplier_order_id;
  std::string phone;
  int32_t face_value_yuan = 0;
  bool credits = false;    // the phone is (or will be, once processing ends) credited
  int64_t arrived_ms = 0;  // when it reached the supplier
  int64_t final_ms = 0;    // when its outcome is settled (processing until then)
  int64_t indexed_ms = 0;  // from when a query finds it
};

class CreditBook {
 public:
  // Orders and attempts recorded at most (the world is bounded by its order count).
  static constexpr size_t kMaxAttempts = 1'000'000;

  // Records an attempt that reached a supplier at `now_ms`. Returns why it breaks "at most one
  // live attempt per order" (an earlier attempt of the same order credits or is still
  // processing, or the same attempt id arrived twice), or nullopt.
  std::optional<std::string> Record(const std::string& order_id, SuppliedAttempt attempt,
                                    int64_t now_ms);
  // Every attempt of `order_id` that reached a supplier; null if none did.
  const std::vector<SuppliedAttempt>* AttemptsOf(const std::string& order_id) const;
  const SuppliedAttempt* Find(const std::string& supplier_order_id) const;
  size_t credits() const { return credits_; }
  size_t attempts() const { return attempts_; }

 private:
  std::map<std::string, std::vector<SuppliedAttempt>> by_order_;
  std::map<std::string, std::pair<std::string, size_t>> by_attempt_id_;  // order id, index
  size_t credits_ = 0;
  size_t attempts_ = 0;
};

}  // namespace topup::simulate
