// The checks every Store backend makes on its arguments before writing, with the same error
// reasons as the SQLite store, plus what PostgreSQL needs on top: text it can store (valid UTF-8,
// no NUL byte).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "topup/order.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::postgres {

// Bounds. A balance stays far below INT64_MAX, so no sum of two amounts can overflow.
inline constexpr int64_t kMaxBalanceFen = 1'000'000'000'000'000;  // 10^13 yuan
inline constexpr size_t kMaxPageRows = 10'000;                    // rows returned by one List* call
inline constexpr size_t kMaxIdsPerCall = 4096;  // ids claimed/renewed/taken per call
inline constexpr size_t kMaxIdBytes = 64;
inline constexpr size_t kMaxTextBytes = 4096;  // any other text field
inline constexpr size_t kMaxAuditProblems = 20;

// 1..64 characters of [A-Za-z0-9_-].
bool IsValidMerchantId(std::string_view id);

// Free text from suppliers and operators (references, reasons, notes, event details) is cut to
// kMaxTextBytes on a character boundary, and bytes PostgreSQL cannot store become '?': refusing a
// transition over such text would strand the order.
std::string CleanFreeText(std::string_view text);

// InvalidArgument("invalid_order") unless `order` is a new, accepted order with storable fields.
Status ValidateNewOrder(const Order& order);

// InvalidArgument("invalid_transition") unless `t` is an edge of the state machine with the fields
// its kind of attempt needs.
Status ValidateTransition(const Transition& t);

// InvalidArgument("invalid_lease") / ("too_many_orders").
Status ValidateLease(size_t order_count, const std::string& owner, int64_t lease_ms);

}  // namespace topup::postgres
