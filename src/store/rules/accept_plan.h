// How a store decides a batch of accepts written in one transaction: each order is answered as
// AcceptOrder would answer it had the batch's orders been accepted one after another, in the
// batch's order, against the balances and orders the transaction sees.
//
// The rules, per order, in this order:
//  1. an order already stored, or created earlier in the batch, under the same merchant and
//     merchant order id answers for it: the existing order (created = false), or
//     AlreadyExists("merchant_order_id_conflict") when the request differs;
//  2. an order id already taken earlier in the batch: AlreadyExists("order_id_exists");
//  3. an unknown merchant: NotFound("unknown_merchant");
//  4. a price above what the merchant's earlier orders of the batch left:
//     FailedPrecondition("insufficient_balance"); a later, cheaper order may still fit;
//  5. otherwise the order is created and debited.
// A refused order changes nothing for the orders after it.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "topup/order.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::store_rules {

// What an accept answers for `order` when `existing` already has its merchant order id.
Result<AcceptResult> AnswerForExisting(const Order& order, Order existing);

// The accept of one order of a batch, as decided by PlanAccepts.
struct PlannedAccept {
  // created: the order to write (free text cleaned). Otherwise the final answer.
  Result<AcceptResult> answer = Internal("not planned");
  int64_t balance_after_fen = 0;  // created only: the merchant's balance after this debit
};

struct AcceptPlan {
  std::vector<PlannedAccept> accepts;          // one per order, in the batch's order
  std::map<std::string, int64_t> debited_fen;  // per merchant, the sum of its created orders
};

// Keys of AcceptPlan's inputs.
using MerchantOrderKey = std::pair<std::string, std::string>;  // merchant id, merchant order id

// Decides `orders` (validated) given the balances of their merchants (absent: no such merchant)
// and the stored orders with any of their merchant order ids.
AcceptPlan PlanAccepts(std::span<const Order> orders,
                       const std::map<std::string, int64_t>& balances_fen,
                       const std::map<MerchantOrderKey, Order>& stored);

}  // namespace topup::store_rules
