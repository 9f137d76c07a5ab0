#include "store/rules/store_rules.h"

#include <algorithm>
#include <unordered_set>

namespace topup::store_rules {
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

bool IsStorableText(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0) return false;
    if (byte < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t code_point;
    if (byte >= 0xC2 && byte <= 0xDF) {
      length = 2;
      code_point = byte & 0x1F;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      length = 3;
      code_point = byte & 0x0F;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      length = 4;
      code_point = byte & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or beyond U+10FFFF
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    const bool overlong =
        (length == 3 && code_point < 0x800) || (length == 4 && code_point < 0x10000);
    const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    if (overlong || surrogate || code_point > 0x10FFFF) return false;
    i += length;
  }
  return true;
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
  if (order.face_value_yuan <= 0 || order.price_fen <= 0 || order.price_fen > kMaxBalanceFen) {
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

Status ValidateOrderCount(size_t order_count) {
  if (order_count > kMaxIdsPerCall) {
    return InvalidArgument("too_many_orders",
                           "at most " + std::to_string(kMaxIdsPerCall) + " orders per call");
  }
  return Status::Ok();
}

Status ValidateLease(size_t order_count, const std::string& owner, int64_t lease_ms) {
  if (owner.empty() || !StorableText(owner) || lease_ms <= 0) {
    return InvalidArgument("invalid_lease", "a lease needs an owner and a positive duration");
  }
  return ValidateOrderCount(order_count);
}

Status ValidateNotificationOutcomes(std::span<const NotificationOutcome> outcomes) {
  if (outcomes.size() > kMaxIdsPerCall) {
    return InvalidArgument("invalid_outcome",
                           "at most " + std::to_string(kMaxIdsPerCall) + " outcomes per call");
  }
  std::unordered_set<int64_t> named;
  named.reserve(outcomes.size());
  for (const NotificationOutcome& outcome : outcomes) {
    if (outcome.owner.empty() || !StorableText(outcome.owner)) {
      return InvalidArgument("invalid_outcome", "an outcome needs the lease owner recording it");
    }
    if (!named.insert(outcome.attempt.notification_id).second) {
      return InvalidArgument(
          "invalid_outcome",
          "notification " + std::to_string(outcome.attempt.notification_id) + " is named twice");
    }
  }
  return Status::Ok();
}

NotificationState StateAfter(const NotificationOutcome& outcome) {
  if (outcome.delivered) return NotificationState::kDelivered;
  return outcome.next_try_ms > 0 ? NotificationState::kPending : NotificationState::kGivenUp;
}

int64_t DeliveredMs(const NotificationTry& attempt) {
  return std::max<int64_t>(attempt.at_ms + attempt.latency_ms, 1);
}

std::string SqlText(std::initializer_list<std::string_view> parts) {
  std::string sql;
  for (std::string_view part : parts) sql += part;
  return sql;
}

void AuditProblems::Add(std::string text) {
  ++count_;
  if (kept_.size() < kMaxKept) kept_.push_back(std::move(text));
}

void AuditProblems::WriteTo(LedgerAudit& audit) const {
  audit.balanced = count_ == 0;
  audit.problems.clear();
  for (const std::string& line : kept_) {
    if (!audit.problems.empty()) audit.problems += '\n';
    audit.problems += line;
  }
  if (count_ > static_cast<int64_t>(kept_.size())) {
    audit.problems += "\n... and " + std::to_string(count_ - kept_.size()) + " more";
  }
}

}  // namespace topup::store_rules
