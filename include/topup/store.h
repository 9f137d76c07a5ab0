// Store: the source of truth for merchants, balances, the ledger and orders.
//
// Every write is one transaction. Money never moves without a ledger row written in the same
// transaction as the balance change and the order state change that caused it. Order state
// changes are compare-and-set on (status, attempt_count), so two workers can never both move one
// order, and each is recorded as an appended event.
//
// Implementations are thread-safe. Backends: SQLite (src/store/sqlite, the default) and PostgreSQL
// (src/store/postgres); tests/conformance holds the suite every backend must pass.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "topup/order.h"
#include "topup/status.h"

namespace topup {

struct Merchant {
  std::string merchant_id;
  std::string name;
  int64_t balance_fen = 0;
  int64_t created_ms = 0;
};

// Stored as integers; never renumber.
enum class LedgerKind : int { kFund = 0, kDebit = 1, kRefund = 2 };

struct LedgerEntry {
  int64_t entry_id = 0;
  std::string merchant_id;
  std::string order_id;  // empty for funding
  LedgerKind kind = LedgerKind::kFund;
  int64_t amount_fen = 0;  // signed: funding and refunds add, debits subtract
  int64_t balance_after_fen = 0;
  int64_t created_ms = 0;
  std::string note;
};

struct OrderEvent {
  int64_t event_id = 0;
  std::string order_id;
  int64_t at_ms = 0;
  std::string kind;  // e.g. "accepted", "attempt_started", "attempt_failed", "succeeded"
  OrderStatus from = OrderStatus::kAccepted;
  OrderStatus to = OrderStatus::kAccepted;
  int32_t attempt_no = 0;
  std::string detail;
};

// A merchant's API key. The store holds the secret only sealed (src/auth/secret_box.h): what it
// stores, logs or returns never includes the secret in clear.
struct MerchantKey {
  std::string key_id;  // 1..64 characters of [A-Za-z0-9_-]
  std::string merchant_id;
  std::string sealed_secret;
  int64_t created_ms = 0;
  int64_t revoked_ms = 0;  // 0 while the key is active
};

// Two, so that a merchant can rotate without downtime: add the new key, move its clients, then
// revoke the old one.
inline constexpr int kMaxActiveKeysPerMerchant = 2;

struct AcceptResult {
  Order order;
  bool created = false;  // false: an identical earlier request returned its order
};

// A compare-and-set on one order. Applied only if the order's status is `from` and its
// attempt_count is `from_attempt_count`; otherwise nothing is written.
struct Transition {
  enum class Attempt {
    kKeep,   // the live attempt (if any) stays
    kStart,  // attempt_count + 1 becomes live: supplier_order_id, channel, attempt_sent_ms = now
    kClear,  // the live attempt is dead (confirmed failed): no live attempt afterwards
  };

  std::string order_id;
  OrderStatus from = OrderStatus::kAccepted;
  int32_t from_attempt_count = 0;
  OrderStatus to = OrderStatus::kAccepted;
  int64_t now_ms = 0;

  Attempt attempt = Attempt::kKeep;
  std::string supplier_order_id;  // kStart: SupplierOrderId(order_id, from_attempt_count + 1)
  std::string channel;            // kStart
  std::string supplier_ref;       // stored when non-empty
  std::string fail_reason;        // to == kFailed
  int64_t next_check_ms = 0;      // new value of Order::next_check_ms
  bool release_lease = false;     // clear lease_owner and lease_expires_ms
  // Non-empty: the compare-and-set also claims the order's lease, as ClaimOrders would, in the
  // same write: it applies only if the lease has lapsed at now_ms or is held by claim_owner
  // already, and leaves the lease with claim_owner until now_ms + claim_lease_ms (or clears it,
  // with release_lease). REQUIRES: claim_lease_ms > 0 when claim_owner is set.
  std::string claim_owner;
  int64_t claim_lease_ms = 0;

  // Appended to the order's history. REQUIRED (non-empty) unless from == to and attempt == kKeep,
  // i.e. unless nothing but the schedule changes.
  std::string event_kind;
  std::string event_detail;
  // Non-empty: a kDeadlineMissedEvent with this detail is appended as well, after the event above.
  std::string deadline_missed_detail;
};

// The event that says why an order is late: written once, by its first step at or after its
// deadline.
inline constexpr std::string_view kDeadlineMissedEvent = "deadline_missed";

struct LedgerAudit {
  int64_t merchants = 0;
  int64_t funded_fen = 0;
  int64_t debited_fen = 0;   // positive sum of debits
  int64_t refunded_fen = 0;  // positive sum of refunds
  int64_t balance_fen = 0;   // sum of merchant balances
  // Sum of prices of orders that are open (not final) or succeeded.
  int64_t open_and_succeeded_price_fen = 0;
  // True iff, for every merchant: balance == sum of its ledger; balance + price of its open and
  // succeeded orders == its funding; every order has exactly one debit; exactly the failed orders
  // have one refund each.
  bool balanced = false;
  std::string problems;  // human-readable list of the first violations, empty when balanced
};

// A merchant notification in the outbox. A row is written in the same transaction as the
// transition that makes an order with a notify_url final, so a crash never loses one; the
// notifier delivers it (src/notify). Stored as integers; never renumber.
enum class NotificationState : int {
  kPending = 0,    // to be tried at next_try_ms
  kDelivered = 1,  // the merchant answered a try with a 2xx
  kGivenUp = 2,    // every try of the schedule failed
};

struct Notification {
  int64_t notification_id = 0;
  std::string order_id;
  std::string merchant_id;
  std::string notify_url;
  OrderStatus order_status = OrderStatus::kSuccess;  // the final status it announces
  NotificationState state = NotificationState::kPending;
  // The retry schedule counts from schedule_start_ms: the order's finished_ms, or the time of
  // the last re-send. tries counts the tries since then.
  int64_t schedule_start_ms = 0;
  int32_t tries = 0;
  int64_t next_try_ms = 0;
  int64_t delivered_ms = 0;  // 0 unless delivered
  std::string lease_owner;   // the node delivering it; empty when free
  int64_t lease_expires_ms = 0;
  int64_t created_ms = 0;
};

// What a notification announces about its order beyond the Notification's own fields: the rest
// of the body a merchant receives (src/notify/notification_body.h). The order is final before its
// notification exists, so these never change.
struct NotifiedOrder {
  std::string merchant_order_id;
  int32_t face_value_yuan = 0;
  int64_t price_fen = 0;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  std::string supplier_ref;  // empty when unknown
};

// A leased notification with its order's fields, read by the same claim: enough to send it.
struct ClaimedNotification {
  Notification notification;
  NotifiedOrder order;
};

// One delivery try, as recorded.
struct NotificationTry {
  int64_t notification_id = 0;
  int64_t at_ms = 0;        // when the request was sent
  int32_t http_status = 0;  // 0 when no answer came
  std::string error;        // why no answer came (timeout, refused address, ...); empty otherwise
  int64_t latency_ms = 0;
};

// What a try decided. Exactly one of: delivered; next_try_ms > 0 (try again then); neither
// (given up).
struct NotificationOutcome {
  NotificationTry attempt;
  std::string owner;  // the lease holder recording it
  bool delivered = false;
  int64_t next_try_ms = 0;
};

// What RecordNotificationTries did with one outcome.
enum class TryRecorded {
  kMoved,      // the try is recorded and the row moved as the outcome says
  kLeaseLost,  // the try is recorded; the owner no longer held the row, which stays as it is
  kNoSuchNotification,  // nothing was written
};

// What a store has written since it was opened, counted by the calls that write (for /metrics and
// `topup bench`).
struct StoreWriteCounts {
  // Calls that write orders, each one or more transactions: an AcceptOrder(Async), a
  // ClaimOrders, an ApplyTransitions batch, a RenewLeases, a TakeDueOrders (even one that finds
  // nothing due). Merchant, key and notification writes are not counted.
  int64_t write_calls = 0;
  // Order rows those calls wrote: one per order named in each call (an accept, a claim, a
  // renewal, a transition, a take by the sweeper), whether or not its compare-and-set applied.
  int64_t order_writes = 0;
};

using OrderCounts = std::map<OrderStatus, int64_t>;
using NotificationCounts = std::map<NotificationState, int64_t>;

// What is open right now, for gauges.
struct OpenOrdersSummary {
  OrderCounts open_by_status;     // every open status, 0 when none
  int64_t oldest_created_ms = 0;  // created_ms of the oldest open order; 0 when none is open
  int64_t held_fen = 0;           // sum of the prices of the open orders (debited, not final)
  int64_t lapsed_leases = 0;      // open orders whose lease lapsed without being released
  // The notification outbox's backlog: pending rows, and the oldest one's schedule_start_ms (its
  // order's finality or its re-send); 0 when none is pending.
  int64_t notifications_pending = 0;
  int64_t oldest_pending_notification_ms = 0;
};

// Told of every group transaction a store commits: how many callers' writes it held and how long
// BEGIN to COMMIT took. Runs on the thread that committed (SQLite's writer thread, one of
// PostgreSQL's pooled connections' callers), maybe on several at once: it must be thread-safe,
// cheap, and not call the store.
using CommitObserver = std::function<void(size_t writes, std::chrono::microseconds took)>;
using AcceptCallback = std::function<void(Result<AcceptResult>)>;

// What TakeDueOrders took.
struct DueOrders {
  std::vector<std::string> order_ids;
  // Of those, how many were still leased by a node that never released its lease, which then
  // lapsed: the node died or stalled while holding the order.
  int64_t lapsed_leases = 0;
};

// Which orders FindOrders returns: all of them narrowed by each field that is set, in order_id
// order (ids start with their creation time, so that is about creation order).
struct OrderFilter {
  std::string merchant_id;            // empty: every merchant's
  std::optional<OrderStatus> status;  // unset: any status
  int64_t created_from_ms = 0;        // created_ms >= this
  int64_t created_to_ms = 0;          // created_ms < this; 0: no upper bound
  std::string after_order_id;         // the cursor: orders with a greater id
  size_t limit = 100;
};

// One run of the retention job (Store::ArchiveFinalOrders): which orders leave the hot tables and
// in what steps. store_rules::ValidateArchiveRequest holds the bounds.
struct ArchiveRequest {
  int64_t finished_before_ms = 0;  // final orders with finished_ms < this leave
  size_t batch_orders = 5000;      // orders moved per transaction
  // Called once a batch is written to the archive and before its hot rows are gone for good: on
  // SQLite the copy is committed and the delete not begun (a crash then is what the next run
  // repairs), on PostgreSQL the batch's one transaction has moved the rows and not yet committed
  // (a crash then moves nothing). For crash tests; may be empty.
  std::function<void(size_t batch_orders)> on_batch_copied;
};

struct ArchiveReport {
  int64_t orders = 0;   // orders that left the hot tables in this run
  int64_t batches = 0;  // transactions that moved them
};

class Store {
 public:
  virtual ~Store() = default;

  // --- Merchants and money ---
  // AlreadyExists("merchant_exists") if the id is taken.
  virtual Status CreateMerchant(const std::string& merchant_id, const std::string& name,
                                int64_t now_ms) = 0;
  // Adds amount_fen (> 0) to the balance with a kFund ledger row. Returns the new balance.
  virtual Result<int64_t> FundMerchant(const std::string& merchant_id, int64_t amount_fen,
                                       const std::string& note, int64_t now_ms) = 0;
  virtual Result<Merchant> GetMerchant(const std::string& merchant_id) = 0;
  // Entries with entry_id > after_entry_id, oldest first, at most `limit`.
  virtual Result<std::vector<LedgerEntry>> ListLedger(const std::string& merchant_id,
                                                      int64_t after_entry_id, size_t limit) = 0;
  virtual Result<LedgerAudit> AuditLedger() = 0;
  // Merchants with merchant_id > after_merchant_id in id order, at most `limit`.
  virtual Result<std::vector<Merchant>> ListMerchants(const std::string& after_merchant_id,
                                                      size_t limit) = 0;
  // The sum of the prices of the merchant's open (not final) orders: debited, not yet settled.
  // NotFound("unknown_merchant").
  virtual Result<int64_t> HeldFen(const std::string& merchant_id) = 0;

  // --- Merchant API keys ---
  // Adds `key` as active (key.revoked_ms is ignored). NotFound("unknown_merchant");
  // FailedPrecondition("too_many_keys") when the merchant has kMaxActiveKeysPerMerchant active
  // keys (the database itself refuses a third); AlreadyExists("key_exists") if the id is taken;
  // InvalidArgument("invalid_key") for a malformed id or an empty sealed secret.
  virtual Status AddMerchantKey(const MerchantKey& key) = 0;
  // NotFound("unknown_key") if there is no such key (also for ids that could not be one).
  virtual Result<MerchantKey> GetMerchantKey(const std::string& key_id) = 0;
  // The merchant's keys, active and revoked, oldest first. NotFound("unknown_merchant").
  virtual Result<std::vector<MerchantKey>> ListMerchantKeys(const std::string& merchant_id) = 0;
  // Revokes the merchant's key as of now_ms; a revoked key stays revoked (a second revocation
  // changes nothing). NotFound("unknown_key") unless the merchant has that key.
  virtual Status RevokeMerchantKey(const std::string& merchant_id, const std::string& key_id,
                                   int64_t now_ms) = 0;

  // --- Orders ---
  // Inserts `order` (status kAccepted, all fields filled by the caller) and debits price_fen from
  // the merchant with a kDebit ledger row, in one durable transaction: when this returns OK the
  // order survives a crash. Idempotent on (merchant_id, merchant_order_id): an earlier order with
  // the same phone, face value and notify_url is returned with created == false; a different one
  // gives AlreadyExists("merchant_order_id_conflict").
  // Errors: NotFound("unknown_merchant"), FailedPrecondition("insufficient_balance").
  virtual Result<AcceptResult> AcceptOrder(const Order& order) = 0;
  // AcceptOrder without blocking the caller: returns at once and later calls `done` exactly once,
  // on a thread of the store's, with what AcceptOrder would have returned (durable when OK). An
  // order refused at once (invalid, or the store overloaded or closing) is answered inside the
  // call, on the caller's thread. `done` must not block.
  virtual void AcceptOrderAsync(Order order, AcceptCallback done) = 0;
  // NotFound("order_not_found") if absent.
  virtual Result<Order> GetOrder(const std::string& order_id) = 0;
  virtual Result<Order> FindOrderByMerchantOrderId(const std::string& merchant_id,
                                                   const std::string& merchant_order_id) = 0;
  // Orders, hot and archived, with order_id > after_order_id in order_id order, at most `limit`.
  virtual Result<std::vector<Order>> ListOrders(const std::string& after_order_id,
                                                size_t limit) = 0;
  virtual Result<std::vector<OrderEvent>> ListEvents(const std::string& order_id) = 0;
  // The named orders that exist, each once, in the order of `order_ids` (at most the store's ids
  // per call: InvalidArgument("too_many_orders")). A read: it writes nothing.
  virtual Result<std::vector<Order>> ReadOrders(std::span<const std::string> order_ids) = 0;
  // At most min(filter.limit, the store's page bound) orders, hot and archived.
  virtual Result<std::vector<Order>> FindOrders(const OrderFilter& filter) = 0;
  // Every order the store ever accepted, hot and archived, by status (every status present): the
  // archive job changes no count. Read from counts that each accept and status change updates in
  // its own transaction, so it costs a few rows however many orders the store holds, and is exact:
  // the sum equals the orders ListOrders lists.
  virtual Result<OrderCounts> CountOrders() = 0;
  // Reads only the open orders (through the index that holds just them), so it stays cheap
  // however many final orders the store keeps. Leases with lease_expires_ms <= now_ms are lapsed.
  virtual Result<OpenOrdersSummary> SummarizeOpenOrders(int64_t now_ms) = 0;

  // --- Retention ---
  // Moves the final orders finished before request.finished_before_ms whose notification is not
  // pending (with their events, notification and its tries) out of the hot tables into the
  // archive, in batches of request.batch_orders, while orders keep flowing; several processes may
  // run it at once. The ledger stays whole where it is. An archived order is still answered by
  // GetOrder, ListEvents, FindOrderByMerchantOrderId and the idempotency check of AcceptOrder (a
  // repeated merchant_order_id is never accepted or debited again), still listed by ListOrders
  // and FindOrders (in the same order_id order, under the same cursor), and still counted by
  // AuditLedger and CountOrders; SummarizeOpenOrders and the notification reads see the hot tables
  // only. Safe to run again after a crash. Errors: InvalidArgument("invalid_archive_request").
  virtual Result<ArchiveReport> ArchiveFinalOrders(const ArchiveRequest& request) = 0;

  // --- Operations ---
  // OK if the store can commit a write now: runs an empty transaction through the write path.
  virtual Status ProbeCommit() = 0;
  // Installs `observer` (replacing any). Stores that cannot tell ignore it.
  // REQUIRES: called before the store's first write, from the thread that opened it.
  virtual void SetCommitObserver(CommitObserver observer) { (void)observer; }
  // Any thread; cheap (a few atomic loads).
  virtual StoreWriteCounts WriteCounts() const = 0;

  // --- Engine ---
  // Leases each named order that is not final and whose lease has lapsed (or is already held by
  // `owner`) to `owner` until now_ms + lease_ms. Returns the orders it leased; the others are
  // final or held by someone else.
  virtual Result<std::vector<Order>> ClaimOrders(std::span<const std::string> order_ids,
                                                 const std::string& owner, int64_t now_ms,
                                                 int64_t lease_ms) = 0;
  // Extends the leases that `owner` still holds on these orders.
  virtual Status RenewLeases(std::span<const std::string> order_ids, const std::string& owner,
                             int64_t now_ms, int64_t lease_ms) = 0;
  // Hands back every lease `owner` holds on an open order (a node shutting down): clears each
  // lease and makes the order due by now_ms, so that any node's sweeper takes it up at once rather
  // than after the lease would have lapsed. Reads only the open orders. Returns how many it freed.
  virtual Result<int64_t> ReleaseLeases(const std::string& owner, int64_t now_ms) = 0;
  // Applies the compare-and-set. Returns true if applied, false if the order was not in the
  // expected (status, attempt_count). A transition to kFailed refunds the price with a kRefund
  // ledger row in the same transaction.
  virtual Result<bool> ApplyTransition(const Transition& transition) = 0;
  // Applies each transition as ApplyTransition would, each on its own (one that fails or loses
  // its compare-and-set leaves the others applied), at the cost of about one durable write for
  // the lot. Result i is the result of transitions[i]. The transitions must name distinct orders.
  virtual std::vector<Result<bool>> ApplyTransitions(std::span<const Transition> transitions) = 0;
  // Returns up to `limit` open orders that are due (next_check_ms <= now_ms) and not leased, and
  // moves their next_check_ms to now_ms + redeliver_after_ms so the next call does not return them
  // again while they wait in a queue. A lease that had lapsed without being released is cleared,
  // and counted in DueOrders::lapsed_leases: once, by the one call that took the order. Safe to
  // call from several processes at once.
  virtual Result<DueOrders> TakeDueOrders(int64_t now_ms, size_t limit,
                                          int64_t redeliver_after_ms) = 0;

  // --- Notification outbox ---
  // Leases up to `limit` pending notifications due at now_ms (next_try_ms <= now_ms) whose lease
  // has lapsed to `owner` until now_ms + lease_ms, soonest due first. A node that dies while
  // delivering leaves its rows to whoever claims them after the lease. Safe from several
  // processes at once: no row is leased to two owners at a time.
  // Each comes with its order's fields (so a notifier reads nothing more to send it).
  virtual Result<std::vector<ClaimedNotification>> ClaimNotifications(const std::string& owner,
                                                                      int64_t now_ms,
                                                                      int64_t lease_ms,
                                                                      size_t limit) = 0;
  // Records every outcome's attempt, and, for each whose owner still holds the lease on a pending
  // row, moves the row as the outcome says and frees the lease: all in one write, so a notifier
  // pays one transaction for many tries. Returns what it did with each, in order.
  // InvalidArgument("invalid_outcome") for an empty or unstorable owner, a notification named
  // twice, or more than store_rules::kMaxIdsPerCall outcomes; nothing is written then.
  virtual Result<std::vector<TryRecorded>> RecordNotificationTries(
      std::span<const NotificationOutcome> outcomes) = 0;
  // RecordNotificationTries for one outcome: whether it moved the row (false: the lease was lost,
  // the try is recorded anyway), NotFound("notification_not_found").
  Result<bool> RecordNotificationTry(const NotificationOutcome& outcome) {
    Result<std::vector<TryRecorded>> recorded = RecordNotificationTries({&outcome, 1});
    if (!recorded.ok()) return recorded.status();
    if (recorded->at(0) == TryRecorded::kNoSuchNotification) {
      return NotFound("notification_not_found",
                      "no notification " + std::to_string(outcome.attempt.notification_id));
    }
    return recorded->at(0) == TryRecorded::kMoved;
  }
  // The order's notifications, oldest first (none if it has no notify_url or is not final).
  virtual Result<std::vector<Notification>> ListNotifications(const std::string& order_id) = 0;
  virtual Result<Notification> GetNotification(int64_t notification_id) = 0;
  // Its tries, oldest first (at most the store's page bound).
  virtual Result<std::vector<NotificationTry>> ListNotificationTries(int64_t notification_id) = 0;
  // Makes the notification pending again, due at now_ms, with a new schedule from now_ms (and
  // frees its lease). NotFound("notification_not_found").
  virtual Result<Notification> ResendNotification(int64_t notification_id, int64_t now_ms) = 0;
  virtual Result<NotificationCounts> CountNotifications() = 0;
};

}  // namespace topup
