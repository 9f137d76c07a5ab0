// The checks every Store backend makes on its arguments before writing, and the bounds they
// enforce: one definition for SQLite and PostgreSQL, so both refuse the same input with the same
// reasons. Text a store keeps is valid UTF-8 without NUL bytes (PostgreSQL cannot hold anything
// else, and what a store returns ends up in JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/validation.h"  // IsValidMerchantId
#include "topup/order.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::store_rules {

// Bounds. A balance stays far below INT64_MAX, so no sum of two amounts can overflow (SQLite
// would silently turn an overflowing integer sum into a float).
inline constexpr int64_t kMaxBalanceFen = 1'000'000'000'000'000;  // 10^13 yuan
inline constexpr size_t kMaxPageRows = 10'000;                    // rows returned by one List* call
inline constexpr size_t kMaxIdsPerCall = 4096;  // ids claimed/renewed/taken per call
inline constexpr size_t kMaxIdBytes = 64;
inline constexpr size_t kMaxTextBytes = 4096;  // any other text field

// How SQL names statuses. Statements spell OrderStatus by its stored numbers; they take them from
// here and write no number of their own, so a renumbering of OrderStatus fails to build here
// instead of meaning something else in the database.
static_assert(static_cast<int>(OrderStatus::kAccepted) == 0 &&
                  static_cast<int>(OrderStatus::kCharging) == 1 &&
                  static_cast<int>(OrderStatus::kUnknown) == 2 &&
                  static_cast<int>(OrderStatus::kSuccess) == 3 &&
                  static_cast<int>(OrderStatus::kFailed) == 4,
              "the SQL spellings below, and the schemas' CHECKs and indexes, use these numbers");
inline constexpr std::string_view kSqlSuccess = "3";
inline constexpr std::string_view kSqlFailed = "4";
inline constexpr std::string_view kSqlFinalStatuses = "(3, 4)";
// Open orders (accepted, charging, unknown), spelled as each store's partial index orders_due
// spells its condition, so that the planner can use the index.
inline constexpr std::string_view kSqliteOpen = "status < 3";
inline constexpr std::string_view kPostgresOpen = "status IN (0, 1, 2)";

// The concatenation of `parts`: a statement built with the spellings above.
std::string SqlText(std::initializer_list<std::string_view> parts);

// The columns of an order, in the order both stores' ReadOrder expect.
inline constexpr std::string_view kOrderColumns =
    "order_id, merchant_id, merchant_order_id, phone, carrier, face_value_yuan, price_fen, "
    "notify_url, status, attempt_count, supplier_order_id, attempt_sent_ms, channel, "
    "supplier_ref, fail_reason, created_ms, deadline_ms, updated_ms, finished_ms, next_check_ms, "
    "lease_owner, lease_expires_ms";

// The columns of a NotifiedOrder, in the order both stores read them.
inline constexpr std::string_view kNotifiedOrderColumns =
    "merchant_order_id, face_value_yuan, price_fen, created_ms, finished_ms, supplier_ref";

// Valid UTF-8 without NUL bytes.
bool IsStorableText(std::string_view text);

// Free text from suppliers and operators (references, reasons, notes, event details) is cut to
// kMaxTextBytes on a character boundary, and bytes that are not storable become '?': refusing a
// transition over such text would strand the order.
std::string CleanFreeText(std::string_view text);

// InvalidArgument("invalid_order") unless `order` is a new, accepted order with storable fields.
Status ValidateNewOrder(const Order& order);

// InvalidArgument("invalid_transition") unless `t` is an edge of the state machine with the fields
// its kind of attempt needs.
Status ValidateTransition(const Transition& t);

// InvalidArgument("too_many_orders") beyond kMaxIdsPerCall.
Status ValidateOrderCount(size_t order_count);

// InvalidArgument("invalid_lease") / ("too_many_orders").
Status ValidateLease(size_t order_count, const std::string& owner, int64_t lease_ms);

// InvalidArgument("invalid_outcome") unless every outcome has a storable, non-empty owner and
// names a notification no other outcome names, and there are at most kMaxIdsPerCall of them.
Status ValidateNotificationOutcomes(std::span<const NotificationOutcome> outcomes);

// Where a recorded outcome moves its row (when its owner still holds the lease): delivered,
// pending again (due at next_try_ms) or given up.
NotificationState StateAfter(const NotificationOutcome& outcome);
// The delivered_ms a delivered row keeps: when the answer came (never 0, which means "not
// delivered").
int64_t DeliveredMs(const NotificationTry& attempt);

// The violations a ledger audit finds: all counted, the first few kept, written to the audit's
// `balanced` and `problems`.
class AuditProblems {
 public:
  void Add(std::string text);
  void WriteTo(LedgerAudit& audit) const;

 private:
  static constexpr size_t kMaxKept = 20;
  std::vector<std::string> kept_;
  int64_t count_ = 0;
};

}  // namespace topup::store_rules
