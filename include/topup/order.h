// The order: what a merchant asked for, where it is in its life, and the rules for moving it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace topup {

// accepted -> charging -> success | failed, with unknown while an attempt's outcome is not known.
// failed always means refunded: the refund is written in the same transaction.
// The integer values are stored; never renumber them.
enum class OrderStatus : int {
  kAccepted = 0,  // durable and paid for; no supplier attempt yet
  kCharging = 1,  // an attempt is live at the supplier, or the next one is about to start
  kUnknown = 2,   // the live attempt's outcome is unknown (timeout after sending): query it
  kSuccess = 3,   // final: the supplier confirmed the credit
  kFailed = 4,    // final: no attempt can still succeed, and the price was refunded
};

std::string_view OrderStatusName(OrderStatus status);
std::optional<OrderStatus> ParseOrderStatus(std::string_view name);
bool IsFinal(OrderStatus status);
// Whether `from -> to` is an edge of the state machine. Self-edges on accepted, charging and
// unknown are allowed (waiting for a channel, a new attempt, a rescheduled poll); nothing leaves a
// final state.
bool IsAllowedTransition(OrderStatus from, OrderStatus to);

enum class Carrier : int {
  kUnknown = 0,
  kChinaMobile = 1,
  kChinaUnicom = 2,
  kChinaTelecom = 3,
  kChinaBroadnet = 4,
};

std::string_view CarrierName(Carrier carrier);

// What a merchant submits. Validated by ValidateOrderRequest (src/core/validation.h).
struct OrderRequest {
  std::string merchant_id;
  std::string merchant_order_id;
  std::string phone;
  int32_t face_value_yuan = 0;
  std::string notify_url;  // optional; empty when absent
};

struct Order {
  std::string order_id;
  std::string merchant_id;
  std::string merchant_order_id;
  std::string phone;
  Carrier carrier = Carrier::kUnknown;
  int32_t face_value_yuan = 0;
  int64_t price_fen = 0;  // what the merchant's balance was debited
  std::string notify_url;

  OrderStatus status = OrderStatus::kAccepted;
  int32_t attempt_count = 0;  // attempts started so far; attempt n has id SupplierOrderId(id, n)
  // The live attempt, if any: empty when no attempt can still succeed (none started yet, or the
  // last one was confirmed failed).
  std::string supplier_order_id;
  int64_t attempt_sent_ms = 0;  // when the live attempt was (about to be) sent
  std::string channel;          // supplier channel of the live or last attempt
  std::string supplier_ref;     // the supplier's reference, once known
  std::string fail_reason;      // why it failed (final failed orders only)

  int64_t created_ms = 0;
  int64_t deadline_ms = 0;  // created_ms + the promise (180 s by default)
  int64_t updated_ms = 0;
  int64_t finished_ms = 0;  // 0 until final

  // Scheduling, owned by the engine.
  int64_t next_check_ms = 0;  // when the sweeper should hand the order to a worker again
  std::string lease_owner;    // worker holding the order; empty when free
  int64_t lease_expires_ms = 0;
};

// The supplier order id of attempt `attempt_no` (1-based) of `order_id`: "<order_id>-<n>".
std::string SupplierOrderId(std::string_view order_id, int32_t attempt_no);
// Inverse of SupplierOrderId: the order id part, or nullopt if malformed.
std::optional<std::string> OrderIdOfSupplierOrderId(std::string_view supplier_order_id);

}  // namespace topup
