#include "simulate/invariants.h"

#include <utility>

#include "notify/retry_schedule.h"

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

std::optional<std::string> CheckNotifications(Store& store, const SimulatedReceiver& receiver,
                                              const std::map<std::string, std::string>& created) {
  for (const auto& [merchant_order_id, order_id] : created) {
    Result<Order> order = store.GetOrder(order_id);
    if (!order.ok()) return "order " + order_id + " unreadable: " + order.status().ToString();
    Result<std::vector<Notification>> notifications = store.ListNotifications(order_id);
    if (!notifications.ok()) return "notifications of " + order_id + " unreadable";
    const size_t expected = order->notify_url.empty() ? 0 : 1;
    if (notifications->size() != expected) {
      return "order " + order_id + " has " + std::to_string(notifications->size()) +
             " notifications, not " + std::to_string(expected);
    }
    for (const Notification& n : *notifications) {
      const std::string what =
          "notification " + std::to_string(n.notification_id) + " of " + order_id;
      if (n.order_status != order->status || n.merchant_id != order->merchant_id ||
          n.notify_url != order->notify_url) {
        return what + " does not announce the order's final state";
      }
      Result<std::vector<NotificationTry>> recorded =
          store.ListNotificationTries(n.notification_id);
      if (!recorded.ok()) return "tries of " + what + " unreadable";
      const std::vector<ReceivedTry>* received = receiver.TriesOf(n.notification_id);
      const std::vector<ReceivedTry> none;
      if (received == nullptr) received = &none;
      // Each recorded try reached the merchant; each whose answer reached a node still up is
      // recorded (a node that died since may have lost it: it is sent again).
      std::map<int64_t, int> unmatched;  // at_ms -> received minus recorded
      for (const ReceivedTry& t : *received) ++unmatched[t.at_ms];
      bool recorded_acknowledged = false;
      for (const NotificationTry& t : *recorded) {
        if (--unmatched[t.at_ms] < 0) return what + " has a try recorded that never reached it";
        recorded_acknowledged =
            recorded_acknowledged || (t.http_status >= 200 && t.http_status < 300);
      }
      for (const ReceivedTry& t : *received) {
        if (t.answered_run && *t.answered_run && unmatched[t.at_ms] > 0) {
          return what + " was answered at " + std::to_string(t.at_ms) +
                 " by a node still up, which did not record the try";
        }
      }
      bool acknowledged = false;
      for (const ReceivedTry& t : *received) acknowledged = acknowledged || t.acknowledged;
      switch (n.state) {
        case NotificationState::kPending:
          return what + " still pending";
        case NotificationState::kDelivered:
          if (!acknowledged || !recorded_acknowledged) {
            return what + " is acknowledged but the merchant never acknowledged a try in time";
          }
          break;
        case NotificationState::kGivenUp:
          if (static_cast<size_t>(n.tries) != notify::kTryOffsetsMs.size() ||
              recorded->size() < notify::kTryOffsetsMs.size()) {
            return what + " given up after " + std::to_string(n.tries) + " tries (" +
                   std::to_string(recorded->size()) + " recorded)";
          }
          if (!receiver.Silent(n.merchant_id)) {
            return what + " given up though its merchant answers";
          }
          break;
      }
    }
  }
  return std::nullopt;
}

}  // namespace topup::simulate
