#include "topup/order.h"

#include <charconv>

#include "topup/supplier_channel.h"

namespace topup {

std::string_view OrderStatusName(OrderStatus status) {
  switch (status) {
    case OrderStatus::kAccepted:
      return "accepted";
    case OrderStatus::kCharging:
      return "charging";
    case OrderStatus::kUnknown:
      return "unknown";
    case OrderStatus::kSuccess:
      return "success";
    case OrderStatus::kFailed:
      return "failed";
  }
  return "invalid";
}

std::optional<OrderStatus> ParseOrderStatus(std::string_view name) {
  for (OrderStatus s : {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown,
                        OrderStatus::kSuccess, OrderStatus::kFailed}) {
    if (OrderStatusName(s) == name) return s;
  }
  return std::nullopt;
}

bool IsFinal(OrderStatus status) {
  return status == OrderStatus::kSuccess || status == OrderStatus::kFailed;
}

bool IsAllowedTransition(OrderStatus from, OrderStatus to) {
  using S = OrderStatus;
  switch (from) {
    case S::kAccepted:
      // Self-edge: no channel admitted the first attempt yet, look again later. An order that
      // cannot get an attempt in before its deadline fails straight away.
      return to == S::kAccepted || to == S::kCharging || to == S::kFailed;
    case S::kCharging:
    case S::kUnknown:
      return to == S::kCharging || to == S::kUnknown || to == S::kSuccess || to == S::kFailed;
    case S::kSuccess:
    case S::kFailed:
      return false;
  }
  return false;
}

std::string_view CarrierName(Carrier carrier) {
  switch (carrier) {
    case Carrier::kUnknown:
      return "unknown";
    case Carrier::kChinaMobile:
      return "china_mobile";
    case Carrier::kChinaUnicom:
      return "china_unicom";
    case Carrier::kChinaTelecom:
      return "china_telecom";
    case Carrier::kChinaBroadnet:
      return "china_broadnet";
  }
  return "unknown";
}

std::string SupplierOrderId(std::string_view order_id, int32_t attempt_no) {
  std::string id(order_id);
  id += '-';
  id += std::to_string(attempt_no);
  return id;
}

std::optional<std::string> OrderIdOfSupplierOrderId(std::string_view supplier_order_id) {
  size_t dash = supplier_order_id.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == supplier_order_id.size()) {
    return std::nullopt;
  }
  int32_t attempt_no = 0;
  std::string_view digits = supplier_order_id.substr(dash + 1);
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), attempt_no);
  if (error != std::errc() || end != digits.data() + digits.size() || attempt_no < 1) {
    return std::nullopt;
  }
  return std::string(supplier_order_id.substr(0, dash));
}

std::string_view SupplierOutcomeName(SupplierOutcome outcome) {
  switch (outcome) {
    case SupplierOutcome::kSuccess:
      return "success";
    case SupplierOutcome::kFailed:
      return "failed";
    case SupplierOutcome::kProcessing:
      return "processing";
    case SupplierOutcome::kNotFound:
      return "not_found";
    case SupplierOutcome::kNotSent:
      return "not_sent";
    case SupplierOutcome::kUnknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace topup
