#include "store/rules/ledger_rules.h"

#include "core/invariant.h"
#include "store/rules/store_rules.h"

namespace topup::store_rules {

int64_t BalanceAfterDebit(int64_t balance_fen, int64_t price_fen) {
  TOPUP_ASSERT(price_fen > 0, "a debit takes a positive price");
  TOPUP_ASSERT(balance_fen >= price_fen, "a debit would leave the balance below zero");
  return balance_fen - price_fen;
}

void AssertRefundAllowed(const Refund& refund) {
  TOPUP_ASSERT(refund.to == OrderStatus::kFailed, "a refund of an order that is not failed");
  TOPUP_ASSERT(!IsFinal(refund.from), "a second refund of one order: it was final already");
  TOPUP_ASSERT(refund.amount_fen > 0, "a refund must be positive");
  TOPUP_ASSERT(refund.amount_fen == -refund.debit_fen, "a refund must equal the order's debit");
  TOPUP_ASSERT(refund.balance_after_fen >= refund.amount_fen,
               "a refund left the balance below its own amount");
}

void AssertFunding(int64_t amount_fen, int64_t balance_after_fen) {
  TOPUP_ASSERT(amount_fen > 0, "a funding must be positive");
  TOPUP_ASSERT(balance_after_fen >= amount_fen && balance_after_fen <= kMaxBalanceFen,
               "a funding left the balance out of range");
}

}  // namespace topup::store_rules
