#include "store/postgres/validation.h"

#include <algorithm>

#include "store/postgres/pg_connection.h"

namespace topup::postgres {
namespace {

Status InvalidOrder(std::string message) {
  return InvalidArgument("invalid_order", std::move(message));
}

Status InvalidTransition(std::string message) {
  return InvalidArgument("invalid_transition", std::move(message));
}

bool StorableId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdBytes && IsStorableText(id);
}

bool StorableText(std::string_view text) {
  return text.size() <= kMaxTextBytes && IsStorableText(text);
}

}  // namespace

bool IsValidMerchantId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string CleanFreeText(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    size_t cut = kMaxTextBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut);
  }
  if (IsStorableText(text)) return std::string(text);
  // Rare: keep every byte that is storable on its own or as part of a valid character.
  std::string clean;
  clean.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t length = 1;
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0xF0) {
      length = 4;
    } else if (byte >= 0xE0) {
      length = 3;
    } else if (byte >= 0xC0) {
      length = 2;
    }
    std::string_view piece = text.substr(i, std::min(length, text.size() - i));
    if (piece.size() == length && IsStorableText(piece)) {
      clean += piece;
      i += length;
    } else {
      clean += '?';
      i += 1;
    }
  }
  return clean;
}

Status ValidateNewOrder(const Order& order) {
  if (!StorableId(order.order_id)) {
    return InvalidOrder("order_id must have 1.." + std::to_string(kMaxIdBytes) + " bytes");
  }
  if (!StorableId(order.merchant_id)) {
    return InvalidOrder("merchant_id must have 1.." + std::to_string(kMaxIdBytes) + " bytes");
  }
  if (order.merchant_order_id.empty() || !StorableText(order.merchant_order_id) ||
      !StorableText(order.phone) || !StorableText(order.notify_url) ||
      !StorableText(order.channel) || !StorableText(order.lease_owner)) {
    return InvalidOrder("a text field is empty, too long or not valid UTF-8");
  }
  if (order.status != OrderStatus::kAccepted || order.attempt_count != 0 ||
      !order.supplier_order_id.empty() || order.finished_ms != 0) {
    return InvalidOrder("a new order must be accepted, with no attempt and not finished");
  }
  if (order.face_value_yuan <= 0 || order.price_fen < 0 || order.price_fen > kMaxBalanceFen) {
    return InvalidOrder("face value or price out of range");
  }
  if (static_cast<int>(order.carrier) < 0 || static_cast<int>(order.carrier) > 4) {
    return InvalidOrder("unknown carrier");
  }
  return Status::Ok();
}

Status ValidateTransition(const Transition& t) {
  if (!StorableId(t.order_id)) return InvalidTransition("order_id must have 1..64 bytes");
  if (!IsAllowedTransition(t.from, t.to)) {
    return InvalidTransition(std::string("no edge ") + std::string(OrderStatusName(t.from)) +
                             " -> " + std::string(OrderStatusName(t.to)));
  }
  if (t.now_ms <= 0 || t.from_attempt_count < 0) {
    return InvalidTransition("now_ms and from_attempt_count out of range");
  }
  if (t.event_kind.empty() && !(t.from == t.to && t.attempt == Transition::Attempt::kKeep)) {
    return InvalidTransition("a transition that moves the order needs an event");
  }
  if (!StorableText(t.event_kind) || !StorableText(t.channel) ||
      !StorableText(t.supplier_order_id)) {
    return InvalidTransition("event kind, channel or supplier order id too long or not UTF-8");
  }
  if (!StorableText(t.claim_owner) || (!t.claim_owner.empty() && t.claim_lease_ms <= 0)) {
    return InvalidTransition("a claiming transition needs an owner and a positive lease");
  }
  if (t.attempt == Transition::Attempt::kStart) {
    if (t.supplier_order_id != SupplierOrderId(t.order_id, t.from_attempt_count + 1) ||
        t.channel.empty()) {
      return InvalidTransition(
          "a started attempt needs SupplierOrderId(order_id, from_attempt_count + 1) and a "
          "channel");
    }
    if (t.to != OrderStatus::kCharging) {
      return InvalidTransition("a started attempt makes the order charging");
    }
  }
  return Status::Ok();
}

Status ValidateLease(size_t order_count, const std::string& owner, int64_t lease_ms) {
  if (owner.empty() || !StorableText(owner) || lease_ms <= 0) {
    return InvalidArgument("invalid_lease", "a lease needs an owner and a positive duration");
  }
  if (order_count > kMaxIdsPerCall) {
    return InvalidArgument("too_many_orders",
                           "at most " + std::to_string(kMaxIdsPerCall) + " orders per call");
  }
  return Status::Ok();
}

}  // namespace topup::postgres
