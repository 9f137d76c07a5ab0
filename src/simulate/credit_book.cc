#include "simulate/credit_book.h"

#include "core/invariant.h"

namespace topup::simulate {

std::optional<std::string> CreditBook::Record(const std::string& order_id, SuppliedAttempt attempt,
                                              int64_t now_ms) {
  TOPUP_ASSERT(attempts_ < kMaxAttempts, "the suppliers took more attempts than the book holds");
  std::optional<std::string> violation;
  std::vector<SuppliedAttempt>& attempts = by_order_[order_id];
  for (const SuppliedAttempt& earlier : attempts) {
    if (earlier.supplier_order_id == attempt.supplier_order_id) {
      violation = "attempt " + attempt.supplier_order_id + " sent twice (to " + earlier.supplier +
                  " and " + attempt.supplier + ")";
    } else if (earlier.credits) {
      violation = "attempt " + attempt.supplier_order_id + " sent while " +
                  earlier.supplier_order_id + " had credited the phone at " + earlier.supplier;
    } else if (earlier.final_ms > now_ms) {
      violation = "attempt " + attempt.supplier_order_id + " sent while " +
                  earlier.supplier_order_id + " was still processing at " + earlier.supplier;
    }
  }
  if (attempt.credits) ++credits_;
  ++attempts_;
  by_attempt_id_[attempt.supplier_order_id] = {order_id, attempts.size()};
  attempts.push_back(std::move(attempt));
  return violation;
}

const std::vector<SuppliedAttempt>* CreditBook::AttemptsOf(const std::string& order_id) const {
  auto it = by_order_.find(order_id);
  return it == by_order_.end() ? nullptr : &it->second;
}

const SuppliedAttempt* CreditBook::Find(const std::string& supplier_order_id) const {
  auto it = by_attempt_id_.find(supplier_order_id);
  if (it == by_attempt_id_.end()) return nullptr;
  return &by_order_.at(it->second.first)[it->second.second];
}

}  // namespace topup::simulate
