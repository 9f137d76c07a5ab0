#include "store/rules/accept_plan.h"

#include <set>

#include "store/rules/ledger_rules.h"
#include "store/rules/store_rules.h"

namespace topup::store_rules {

Result<AcceptResult> AnswerForExisting(const Order& order, Order existing) {
  if (existing.phone != order.phone || existing.face_value_yuan != order.face_value_yuan ||
      existing.notify_url != order.notify_url) {
    return AlreadyExists(
        "merchant_order_id_conflict",
        "merchant_order_id '" + order.merchant_order_id + "' was used for a different order");
  }
  return AcceptResult{std::move(existing), false};
}

AcceptPlan PlanAccepts(std::span<const Order> orders,
                       const std::map<std::string, int64_t>& balances_fen,
                       const std::map<MerchantOrderKey, Order>& stored) {
  AcceptPlan plan;
  plan.accepts.resize(orders.size());
  std::map<std::string, int64_t> left_fen = balances_fen;
  std::map<MerchantOrderKey, const Order*> created;  // by this batch, earlier
  std::set<std::string> created_ids;
  for (size_t i = 0; i < orders.size(); ++i) {
    const Order& order = orders[i];
    PlannedAccept& planned = plan.accepts[i];
    MerchantOrderKey key{order.merchant_id, order.merchant_order_id};
    if (auto it = stored.find(key); it != stored.end()) {
      planned.answer = AnswerForExisting(order, it->second);
      continue;
    }
    if (auto it = created.find(key); it != created.end()) {
      planned.answer = AnswerForExisting(order, *it->second);
      continue;
    }
    if (created_ids.contains(order.order_id)) {
      planned.answer =
          AlreadyExists("order_id_exists", "order id '" + order.order_id + "' is taken");
      continue;
    }
    auto balance = left_fen.find(order.merchant_id);
    if (balance == left_fen.end()) {
      planned.answer = NotFound("unknown_merchant", "no merchant '" + order.merchant_id + "'");
      continue;
    }
    if (balance->second < order.price_fen) {
      planned.answer =
          FailedPrecondition("insufficient_balance", "the balance is below the price of " +
                                                         std::to_string(order.price_fen) + " fen");
      continue;
    }
    balance->second = BalanceAfterDebit(balance->second, order.price_fen);
    plan.debited_fen[order.merchant_id] += order.price_fen;
    planned.balance_after_fen = balance->second;
    AcceptResult accepted;
    accepted.order = order;
    accepted.order.status = OrderStatus::kAccepted;
    accepted.order.attempt_count = 0;
    accepted.order.supplier_ref = CleanFreeText(order.supplier_ref);
    accepted.order.fail_reason = CleanFreeText(order.fail_reason);
    accepted.created = true;
    planned.answer = std::move(accepted);
    created.emplace(std::move(key), &planned.answer->order);
    created_ids.insert(order.order_id);
  }
  return plan;
}

}  // namespace topup::store_rules
