#include "simulate/invariants.h"

namespace topup::simulate {

std::optional<std::string> CheckLedger(Store& store) {
  Result<LedgerAudit> audit = store.AuditLedger();
  if (!audit.ok()) return "ledger audit failed: " + audit.status().ToString();
  if (!audit->balanced) return "ledger unbalanced: " + audit->problems;
  return std::nullopt;
}

std::optional<std::string> CheckFinal(Store& store, const CreditBook& book,
                                      const std::map<std::string, std::string>& created) {
  for (const auto& [merchant_order_id, order_id] : created) {
    Result<Order> order = store.GetOrder(order_id);
    if (!order.ok()) return "order " + order_id + " unreadable: " + order.status().ToString();
    if (!IsFinal(order->status)) {
      return "order " + order_id + " not final: " + std::string(OrderStatusName(order->status));
    }
    // One state at a time: the history is one chain from accepted to the row's status.
    Result<std::vector<OrderEvent>> events = store.ListEvents(order_id);
    if (!events.ok()) return "history of " + order_id + " unreadable";
    OrderStatus at = OrderStatus::kAccepted;
    for (const OrderEvent& event : *events) {
      if (event.kind == kDeadlineMissedEvent) continue;  // repeats its step's from and to
      if (event.from != at) {
        return "order " + order_id + " event " + event.kind + " leaves " +
               std::string(OrderStatusName(event.from)) + " while the order was " +
               std::string(OrderStatusName(at));
      }
      at = event.to;
    }
    if (at != order->status) {
      return "order " + order_id + " is " + std::string(OrderStatusName(order->status)) +
             " but its history ends in " + std::string(OrderStatusName(at));
    }
    int credits = 0;
    if (const std::vector<SuppliedAttempt>* attempts = book.AttemptsOf(order_id)) {
      for (const SuppliedAttempt& attempt : *attempts) {
        if (!attempt.credits) continue;
        ++credits;
        if (attempt.phone != order->phone) {
          return "attempt " + attempt.supplier_order_id + " credited " + attempt.phone +
                 ", not the order's " + order->phone;
        }
      }
    }
    if (credits > 1) return "order " + order_id + " credited " + std::to_string(credits) + " times";
    if (order->status == OrderStatus::kSuccess && credits != 1) {
      return "order " + order_id + " succeeded but no supplier credited it";
    }
    if (order->status == OrderStatus::kFailed && credits != 0) {
      return "order " + order_id + " was refunded but a supplier credited it";
    }
  }
  Result<OrderCounts> counts = store.CountOrders();
  if (!counts.ok()) return "order count failed: " + counts.status().ToString();
  int64_t stored = 0;
  for (const auto& [status, count] : *counts) stored += count;
  if (stored != static_cast<int64_t>(created.size())) {
    return "the store holds " + std::to_string(stored) + " orders, the merchants created " +
           std::to_string(created.size());
  }
  return std::nullopt;
}

}  // namespace topup::simulate
