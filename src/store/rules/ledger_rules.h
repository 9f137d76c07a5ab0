// The sign rules of the ledger, decided here for every store and asserted (TOPUP_ASSERT, in every
// build) where a store writes an entry: a broken one means the store's own logic is wrong, not
// its input, which the stores refuse before they get here (insufficient_balance, invalid_amount,
// balance_limit).
//
//   funding  amount > 0; the balance after it is at most kMaxBalanceFen
//   debit    amount = -(the order's price) < 0; the balance after it is >= 0
//   refund   of an order moving from an open status to failed, which is final (so at most one
//            per order; the schema's ledger_once_per_order refuses a second one as well):
//            amount = -(its debit) > 0
#pragma once

#include <cstdint>

#include "topup/order.h"

namespace topup::store_rules {

// The balance after debiting `price_fen` from `balance_fen`.
// REQUIRES: price_fen > 0 and balance_fen >= price_fen (the caller refused the order otherwise).
int64_t BalanceAfterDebit(int64_t balance_fen, int64_t price_fen);

// What a store knows when it writes the refund of an order.
struct Refund {
  OrderStatus from = OrderStatus::kAccepted;  // the order's status before the move
  OrderStatus to = OrderStatus::kAccepted;    // and after it
  int64_t amount_fen = 0;                     // the refund's amount
  int64_t debit_fen = 0;                      // the order's debit (negative)
  int64_t balance_after_fen = 0;              // the merchant's balance after the refund
};
void AssertRefundAllowed(const Refund& refund);

// REQUIRES: the funding passed the store's checks (1..kMaxBalanceFen, the balance limit).
void AssertFunding(int64_t amount_fen, int64_t balance_after_fen);

}  // namespace topup::store_rules
