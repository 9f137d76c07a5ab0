#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <map>
#include <set>
#include <span>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "store/rules/accept_plan.h"
#include "store/rules/archive_rules.h"
#include "store/rules/ledger_rules.h"
#include "store/rules/store_rules.h"
#include "store/rules/write_counter.h"
#include "store/sqlite/accept_batcher.h"
#include "store/sqlite/archive.h"
#include "store/sqlite/checkpointer.h"
#include "store/sqlite/group_commit_writer.h"
#include "store/sqlite/order_counts.h"
#include "store/sqlite/read_pool.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_connection.h"

namespace topup {
namespace {

using sqlite::Checkpointer;
using sqlite::GroupCommitWriter;
using sqlite::ReadPool;
using sqlite::ReadTransaction;
using sqlite::SqliteConnection;
using sqlite::Statement;
using sqlite::WritePriority;

using store_rules::CleanFreeText;
using store_rules::kMaxBalanceFen;
using store_rules::kMaxIdsPerCall;
using store_rules::kMaxPageRows;
using store_rules::kMaxTextBytes;
using store_rules::kOrderColumns;
using store_rules::kSqlFailed;
using store_rules::kSqliteOpen;
using store_rules::SqlText;
using store_rules::ValidateLease;
using store_rules::ValidateNewOrder;
using store_rules::ValidateTransition;

// before + columns + after: a statement that reads a column list of this file.
std::string WithColumns(std::string_view before, std::string_view columns, std::string_view after) {
  std::string sql(before);
  sql += columns;
  sql += after;
  return sql;
}

std::string WithOrderColumns(std::string_view before, std::string_view after) {
  return WithColumns(before, kOrderColumns, after);
}

Order ReadOrder(const Statement& row) {
  Order order;
  order.order_id = row.ColumnText(0);
  order.merchant_id = row.ColumnText(1);
  order.merchant_order_id = row.ColumnText(2);
  order.phone = row.ColumnText(3);
  order.carrier = static_cast<Carrier>(row.ColumnInt64(4));
  order.face_value_yuan = static_cast<int32_t>(row.ColumnInt64(5));
  order.price_fen = row.ColumnInt64(6);
  order.notify_url = row.ColumnText(7);
  order.status = static_cast<OrderStatus>(row.ColumnInt64(8));
  order.attempt_count = static_cast<int32_t>(row.ColumnInt64(9));
  order.supplier_order_id = row.ColumnText(10);
  order.attempt_sent_ms = row.ColumnInt64(11);
  order.channel = row.ColumnText(12);
  order.supplier_ref = row.ColumnText(13);
  order.fail_reason = row.ColumnText(14);
  order.created_ms = row.ColumnInt64(15);
  order.deadline_ms = row.ColumnInt64(16);
  order.updated_ms = row.ColumnInt64(17);
  order.finished_ms = row.ColumnInt64(18);
  order.next_check_ms = row.ColumnInt64(19);
  order.lease_owner = row.ColumnText(20);
  order.lease_expires_ms = row.ColumnInt64(21);
  return order;
}

int StatusInt(OrderStatus status) { return static_cast<int>(status); }

// The accepts of `orders` (already validated) on the writer's connection, decided together
// (store_rules::PlanAccepts): for each order the idempotency check, then for the orders created
// their rows, ledger entries and first events, and one debit per merchant.
Status WriteAcceptBatch(SqliteConnection& db, std::span<const Order> orders,
                        std::vector<Result<AcceptResult>>& answers) {
  // The idempotency check runs on the writer, inside the transaction that would insert, so two
  // identical requests racing each other still create one order.
  // An archived order answers as it did before it left: the archive is read when the hot tables
  // have no such order, unless it holds no order at all. That is read once per batch, in this
  // transaction: the archive job commits an order's copy before it deletes the hot row (a write
  // that waits for this transaction), so an order missing from the hot tables here is in the
  // archive this transaction reads.
  bool archive_empty = false;
  {
    Result<Statement> empty = db.Prepare("SELECT NOT EXISTS (SELECT 1 FROM archive.orders)");
    if (!empty.ok()) return empty.status();
    Result<bool> row = empty->Step();
    if (!row.ok()) return row.status();
    archive_empty = *row && empty->ColumnInt64(0) != 0;
  }
  static const std::string kFindHotSql =
      SqlText({"SELECT ", kOrderColumns,
               " FROM main.orders WHERE merchant_id = ?1 AND merchant_order_id = ?2"});
  static const std::string kFindSql = SqlText(
      {"SELECT ", kOrderColumns,
       " FROM main.orders WHERE merchant_id = ?1 AND merchant_order_id = ?2 UNION ALL SELECT ",
       kOrderColumns,
       " FROM archive.orders WHERE merchant_id = ?1 AND merchant_order_id = ?2 LIMIT 1"});
  std::map<store_rules::MerchantOrderKey, Order> stored;
  for (const Order& order : orders) {
    Result<Statement> find = db.Prepare(archive_empty ? kFindHotSql : kFindSql);
    if (!find.ok()) return find.status();
    find->BindText(1, order.merchant_id).BindText(2, order.merchant_order_id);
    Result<bool> row = find->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      stored.emplace(store_rules::MerchantOrderKey{order.merchant_id, order.merchant_order_id},
                     ReadOrder(*find));
    }
  }

  // Read, then write: the group transaction holds the database's write lock, so nothing can
  // change the balances in between.
  std::map<std::string, int64_t> balances_fen;
  std::set<std::string_view> merchants_read;
  for (const Order& order : orders) {
    if (!merchants_read.insert(order.merchant_id).second) continue;
    Result<Statement> balance =
        db.Prepare("SELECT balance_fen FROM merchants WHERE merchant_id = ?1");
    if (!balance.ok()) return balance.status();
    balance->BindText(1, order.merchant_id);
    Result<bool> found = balance->Step();
    if (!found.ok()) return found.status();
    if (*found) balances_fen.emplace(order.merchant_id, balance->ColumnInt64(0));
  }

  store_rules::AcceptPlan plan = store_rules::PlanAccepts(orders, balances_fen, stored);
  for (const store_rules::PlannedAccept& planned : plan.accepts) {
    if (!planned.answer.ok() || !planned.answer->created) continue;
    const Order& order = planned.answer->order;  // free text cleaned
    static const std::string kInsertSql = WithOrderColumns(
        "INSERT INTO orders (",
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
        "?18, ?19, ?20, ?21, ?22) ON CONFLICT DO NOTHING");
    Result<Statement> insert = db.Prepare(kInsertSql);
    if (!insert.ok()) return insert.status();
    insert->BindText(1, order.order_id)
        .BindText(2, order.merchant_id)
        .BindText(3, order.merchant_order_id)
        .BindText(4, order.phone)
        .BindInt64(5, static_cast<int64_t>(order.carrier))
        .BindInt64(6, order.face_value_yuan)
        .BindInt64(7, order.price_fen)
        .BindText(8, order.notify_url)
        .BindInt64(9, StatusInt(OrderStatus::kAccepted))
        .BindInt64(10, 0)
        .BindTextCopy(11, "")
        .BindInt64(12, order.attempt_sent_ms)
        .BindText(13, order.channel)
        .BindText(14, order.supplier_ref)
        .BindText(15, order.fail_reason)
        .BindInt64(16, order.created_ms)
        .BindInt64(17, order.deadline_ms)
        .BindInt64(18, order.updated_ms)
        .BindInt64(19, 0)
        .BindInt64(20, order.next_check_ms)
        .BindText(21, order.lease_owner)
        .BindInt64(22, order.lease_expires_ms);
    Status s = insert->Run();
    if (!s.ok()) return s;
    // The merchant order id was free above, so only the order id can collide: the write is
    // undone, and the batcher writes each order again alone, which answers this one so.
    if (db.Changes() != 1) {
      return AlreadyExists("order_id_exists", "order id '" + order.order_id + "' is taken");
    }

    Result<Statement> entry = db.Prepare(
        "INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen, "
        "created_ms, note) VALUES (?1, ?2, 1, ?3, ?4, ?5, '')");
    if (!entry.ok()) return entry.status();
    entry->BindText(1, order.merchant_id)
        .BindText(2, order.order_id)
        .BindInt64(3, -order.price_fen)
        .BindInt64(4, planned.balance_after_fen)
        .BindInt64(5, order.created_ms);
    if (Status e = entry->Run(); !e.ok()) return e;

    Result<Statement> event = db.Prepare(
        "INSERT INTO order_events (order_id, at_ms, kind, from_status, to_status, attempt_no, "
        "detail) VALUES (?1, ?2, 'accepted', 0, 0, 0, '')");
    if (!event.ok()) return event.status();
    event->BindText(1, order.order_id).BindInt64(2, order.created_ms);
    if (Status e = event->Run(); !e.ok()) return e;
  }

  for (const auto& [merchant_id, debited_fen] : plan.debited_fen) {
    Result<Statement> debit =
        db.Prepare("UPDATE merchants SET balance_fen = ?2 WHERE merchant_id = ?1");
    if (!debit.ok()) return debit.status();
    debit->BindText(1, merchant_id).BindInt64(2, balances_fen.at(merchant_id) - debited_fen);
    if (Status s = debit->Run(); !s.ok()) return s;
  }

  answers.clear();
  for (store_rules::PlannedAccept& planned : plan.accepts) {
    answers.push_back(std::move(planned.answer));
  }
  return Status::Ok();
}

// The compare-and-set's UPDATE for transitions shaped like `t`: it sets only the columns such a
// transition changes, since SQLite evaluates each column set and the CHECKs that name it.
// Parameters: ?1 order id, ?2 and ?3 the expected status and attempt count, ?4 the new status,
// ?6 supplier order id, ?7 channel, ?8 now, ?9 supplier ref, ?10 fail reason, ?11 lease length,
// ?13 claiming owner, ?14 next check.
const std::string& TransitionUpdateSql(const Transition& t, bool sets_supplier_ref) {
  enum Shape : unsigned {
    kStart = 1,
    kClear = 2,
    kRef = 4,
    kFailed = 8,
    kFinal = 16,
    kRelease = 32,
    kClaim = 64,
    kShapes = 128
  };
  static const std::vector<std::string> kSql = [] {
    std::vector<std::string> sql(kShapes);
    for (unsigned shape = 0; shape < kShapes; ++shape) {
      std::string& text = sql[shape];
      text = "UPDATE orders SET status = ?4";
      if (shape & kStart) {
        text +=
            ", attempt_count = attempt_count + 1, supplier_order_id = ?6,"
            " attempt_sent_ms = ?8, channel = ?7";
      } else if (shape & kClear) {
        text += ", supplier_order_id = '', attempt_sent_ms = 0";
      }
      if (shape & kRef) text += ", supplier_ref = ?9";
      if (shape & kFailed) text += ", fail_reason = ?10";
      if (shape & kFinal) text += ", finished_ms = ?8";
      text += ", updated_ms = ?8, next_check_ms = ?14";
      if (shape & kRelease) {
        text += ", lease_owner = '', lease_expires_ms = 0";
      } else if (shape & kClaim) {
        text += ", lease_owner = ?13, lease_expires_ms = ?8 + ?11";
      }
      text += " WHERE order_id = ?1 AND status = ?2 AND attempt_count = ?3";
      if (shape & kClaim) text += " AND (lease_expires_ms <= ?8 OR lease_owner = ?13)";
    }
    return sql;
  }();
  unsigned shape = 0;
  if (t.attempt == Transition::Attempt::kStart) shape |= kStart;
  if (t.attempt == Transition::Attempt::kClear) shape |= kClear;
  if (sets_supplier_ref) shape |= kRef;
  if (t.to == OrderStatus::kFailed) shape |= kFailed;
  if (IsFinal(t.to)) shape |= kFinal;
  if (t.release_lease) shape |= kRelease;
  if (!t.claim_owner.empty()) shape |= kClaim;
  return kSql[shape];
}

// The compare-and-set of `t` (already validated) on the writer's connection. Sets *applied to
// whether the order was in the expected state (and so moved).
Status WriteTransition(SqliteConnection& db, const Transition& t, bool* applied) {
  *applied = false;
  // "failed" promises the phone can no longer be credited: refusing to refund while an attempt
  // may still succeed is what keeps a phone from being credited for free.
  if (t.to == OrderStatus::kFailed && t.attempt == Transition::Attempt::kKeep) {
    Result<Statement> live = db.Prepare(
        "SELECT supplier_order_id FROM orders "
        "WHERE order_id = ?1 AND status = ?2 AND attempt_count = ?3");
    if (!live.ok()) return live.status();
    live->BindText(1, t.order_id)
        .BindInt64(2, StatusInt(t.from))
        .BindInt64(3, t.from_attempt_count);
    Result<bool> row = live->Step();
    if (!row.ok()) return row.status();
    if (*row && !live->ColumnText(0).empty()) {
      return FailedPrecondition("live_attempt",
                                "order " + t.order_id + " cannot fail while attempt " +
                                    live->ColumnText(0) + " is live; clear it first");
    }
  }

  // No RETURNING and no IN lists: SQLite builds a temporary table for either, which costs more
  // than the statement itself. The attempt number follows from the compare-and-set; the price is
  // read only for a refund.
  const int64_t attempt_no =
      t.from_attempt_count + (t.attempt == Transition::Attempt::kStart ? 1 : 0);
  const std::string supplier_ref = CleanFreeText(t.supplier_ref);
  const std::string fail_reason = CleanFreeText(t.fail_reason);
  {
    Result<Statement> update =
        db.Prepare(TransitionUpdateSql(t, /*sets_supplier_ref=*/!supplier_ref.empty()));
    if (!update.ok()) return update.status();
    // ?12 and ?5 are unused; ?14 is used by every shape, so every index below it may be bound.
    update->BindText(1, t.order_id)
        .BindInt64(2, StatusInt(t.from))
        .BindInt64(3, t.from_attempt_count)
        .BindInt64(4, StatusInt(t.to))
        .BindText(6, t.supplier_order_id)
        .BindText(7, t.channel)
        .BindInt64(8, t.now_ms)
        .BindText(9, supplier_ref)
        .BindText(10, fail_reason)
        .BindInt64(11, t.claim_lease_ms)
        .BindText(13, t.claim_owner)
        .BindInt64(14, t.next_check_ms);
    Status s = update->Run();
    if (!s.ok()) return s;
    if (db.Changes() == 0) return Status::Ok();  // lost the compare-and-set: nothing written
    if (db.Changes() != 1)
      return Internal("transition changed " + std::to_string(db.Changes()) + " rows");
  }

  auto append_event = [&](const std::string& kind, const std::string& detail) -> Status {
    const std::string clean_detail = CleanFreeText(detail);
    Result<Statement> event = db.Prepare(
        "INSERT INTO order_events (order_id, at_ms, kind, from_status, to_status, attempt_no, "
        "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!event.ok()) return event.status();
    event->BindText(1, t.order_id)
        .BindInt64(2, t.now_ms)
        .BindText(3, kind)
        .BindInt64(4, StatusInt(t.from))
        .BindInt64(5, StatusInt(t.to))
        .BindInt64(6, attempt_no)
        .BindText(7, clean_detail);
    return event->Run();
  };
  if (!t.event_kind.empty()) {
    if (Status s = append_event(t.event_kind, t.event_detail); !s.ok()) return s;
  }
  if (!t.deadline_missed_detail.empty()) {
    static const std::string kDeadlineMissed(kDeadlineMissedEvent);
    if (Status s = append_event(kDeadlineMissed, t.deadline_missed_detail); !s.ok()) return s;
  }

  if (t.to == OrderStatus::kFailed) {
    std::string merchant_id;
    int64_t price_fen = 0;
    store_rules::Refund refund{.from = t.from, .to = t.to};
    {
      // With the order's debit, for the ledger's rules (an index lookup).
      Result<Statement> order = db.Prepare(
          "SELECT merchant_id, price_fen,"
          " coalesce((SELECT sum(amount_fen) FROM ledger WHERE order_id = ?1 AND kind = 1), 0)"
          " FROM orders WHERE order_id = ?1");
      if (!order.ok()) return order.status();
      order->BindText(1, t.order_id);
      Result<bool> row = order->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Internal("order " + t.order_id + " vanished during its transition");
      merchant_id = order->ColumnText(0);
      price_fen = order->ColumnInt64(1);
      refund.amount_fen = price_fen;
      refund.debit_fen = order->ColumnInt64(2);
    }
    int64_t balance_fen = 0;
    {
      Result<Statement> credit = db.Prepare(
          "UPDATE merchants SET balance_fen = balance_fen + ?2 WHERE merchant_id = ?1 "
          "RETURNING balance_fen");
      if (!credit.ok()) return credit.status();
      credit->BindText(1, merchant_id).BindInt64(2, price_fen);
      Result<bool> row = credit->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Internal("order " + t.order_id + " has no merchant to refund");
      balance_fen = credit->ColumnInt64(0);
      Status s = credit->Run();
      if (!s.ok()) return s;
    }
    refund.balance_after_fen = balance_fen;
    store_rules::AssertRefundAllowed(refund);
    Result<Statement> entry = db.Prepare(
        "INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen, "
        "created_ms, note) VALUES (?1, ?2, 2, ?3, ?4, ?5, ?6)");
    if (!entry.ok()) return entry.status();
    entry->BindText(1, merchant_id)
        .BindText(2, t.order_id)
        .BindInt64(3, price_fen)
        .BindInt64(4, balance_fen)
        .BindInt64(5, t.now_ms)
        .BindText(6, fail_reason);
    Status s = entry->Run();
    if (!s.ok()) return s;
  }
  *applied = true;
  return Status::Ok();
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const SqliteStoreOptions& options, std::unique_ptr<GroupCommitWriter> writer,
              std::unique_ptr<ReadPool> readers, std::unique_ptr<Checkpointer> checkpointer)
      : options_(options),
        readers_(std::move(readers)),
        checkpointer_(std::move(checkpointer)),
        writer_(std::move(writer)) {
    writer_->SetTransactionEnd({.begin = [this] { pending_counts_.Clear(); },
                                .before_commit =
                                    [this](SqliteConnection& db) {
                                      return sqlite::WriteOrderCountChanges(db, pending_counts_);
                                    }});
    accepts_ = std::make_unique<sqlite::AcceptBatcher>(
        writer_.get(),
        [this](SqliteConnection& db, std::span<const Order> orders,
               std::vector<Result<AcceptResult>>& answers) {
          return WriteAccepts(db, orders, answers);
        },
        static_cast<size_t>(options_.max_batch_ops),
        static_cast<size_t>(options_.max_queued_writes));
  }

  Status CreateMerchant(const std::string& merchant_id, const std::string& name,
                        int64_t now_ms) override;
  Result<int64_t> FundMerchant(const std::string& merchant_id, int64_t amount_fen,
                               const std::string& note, int64_t now_ms) override;
  Result<Merchant> GetMerchant(const std::string& merchant_id) override;
  Result<std::vector<LedgerEntry>> ListLedger(const std::string& merchant_id,
                                              int64_t after_entry_id, size_t limit) override;
  Result<LedgerAudit> AuditLedger() override;
  Result<std::vector<Merchant>> ListMerchants(const std::string& after_merchant_id,
                                              size_t limit) override;
  Result<int64_t> HeldFen(const std::string& merchant_id) override;

  Status AddMerchantKey(const MerchantKey& key) override;
  Result<MerchantKey> GetMerchantKey(const std::string& key_id) override;
  Result<std::vector<MerchantKey>> ListMerchantKeys(const std::string& merchant_id) override;
  Status RevokeMerchantKey(const std::string& merchant_id, const std::string& key_id,
                           int64_t now_ms) override;

  Result<AcceptResult> AcceptOrder(const Order& order) override;
  void AcceptOrderAsync(Order order, AcceptCallback done) override;
  Result<Order> GetOrder(const std::string& order_id) override;
  Result<Order> FindOrderByMerchantOrderId(const std::string& merchant_id,
                                           const std::string& merchant_order_id) override;
  Result<std::vector<Order>> ListOrders(const std::string& after_order_id, size_t limit) override;
  Result<std::vector<OrderEvent>> ListEvents(const std::string& order_id) override;
  Result<std::vector<Order>> ReadOrders(std::span<const std::string> order_ids) override;
  Result<std::vector<Order>> FindOrders(const OrderFilter& filter) override;
  Result<OrderCounts> CountOrders() override;
  Result<OpenOrdersSummary> SummarizeOpenOrders(int64_t now_ms) override;
  Status ProbeCommit() override;
  void SetCommitObserver(CommitObserver observer) override {
    writer_->SetCommitObserver(std::move(observer));
  }
  StoreWriteCounts WriteCounts() const override { return write_counter_.Read(); }
  Result<ArchiveReport> ArchiveFinalOrders(const ArchiveRequest& request) override;

  Result<std::vector<Order>> ClaimOrders(std::span<const std::string> order_ids,
                                         const std::string& owner, int64_t now_ms,
                                         int64_t lease_ms) override;
  Status RenewLeases(std::span<const std::string> order_ids, const std::string& owner,
                     int64_t now_ms, int64_t lease_ms) override;
  Result<int64_t> ReleaseLeases(const std::string& owner, int64_t now_ms) override;
  Result<bool> ApplyTransition(const Transition& transition) override;
  std::vector<Result<bool>> ApplyTransitions(std::span<const Transition> transitions) override;
  Result<DueOrders> TakeDueOrders(int64_t now_ms, size_t limit,
                                  int64_t redeliver_after_ms) override;

  Result<std::vector<ClaimedNotification>> ClaimNotifications(const std::string& owner,
                                                              int64_t now_ms, int64_t lease_ms,
                                                              size_t limit) override;
  Result<std::vector<TryRecorded>> RecordNotificationTries(
      std::span<const NotificationOutcome> outcomes) override;
  Result<std::vector<Notification>> ListNotifications(const std::string& order_id) override;
  Result<Notification> GetNotification(int64_t notification_id) override;
  Result<std::vector<NotificationTry>> ListNotificationTries(int64_t notification_id) override;
  Result<Notification> ResendNotification(int64_t notification_id, int64_t now_ms) override;
  Result<NotificationCounts> CountNotifications() override;

 private:
  // Reads the order selected by `sql` with its parameters bound by `bind`.
  template <typename Bind>
  Result<Order> ReadOneOrder(std::string_view sql, Bind&& bind);
  // WriteAcceptBatch, with the orders it created added to the transaction's count changes.
  // REQUIRES: on the writer thread.
  Status WriteAccepts(SqliteConnection& db, std::span<const Order> orders,
                      std::vector<Result<AcceptResult>>& answers);

  const SqliteStoreOptions options_;  // archive_path filled in
  std::unique_ptr<ReadPool> readers_;
  std::unique_ptr<Checkpointer> checkpointer_;
  WriteCounter write_counter_;
  // What the writer's current transaction changes in order_counts: touched only on the writer
  // thread, by the writes as they return OK and by the writer's TransactionEnd.
  store_rules::OrderCountChanges pending_counts_;
  // AcceptOrderAsync's accepts, gathered into writes of many (destroyed after the writer, whose
  // last writes call back into it).
  std::unique_ptr<sqlite::AcceptBatcher> accepts_;
  // Declared last, so destroyed first: the writer finishes its queued writes (and calls back
  // their callers) while everything else is still there.
  std::unique_ptr<GroupCommitWriter> writer_;
};

// --- Merchants and money ---

Status SqliteStore::CreateMerchant(const std::string& merchant_id, const std::string& name,
                                   int64_t now_ms) {
  if (!IsValidMerchantId(merchant_id)) {
    return InvalidArgument("invalid_merchant_id",
                           "merchant id must be 1..64 characters of [A-Za-z0-9_-]");
  }
  if (name.size() > kMaxTextBytes) {
    return InvalidArgument("invalid_merchant_name", "merchant name is too long");
  }
  return writer_->Run([&](SqliteConnection& db) -> Status {
    Result<Statement> insert = db.Prepare(
        "INSERT INTO merchants (merchant_id, name, balance_fen, created_ms) "
        "VALUES (?1, ?2, 0, ?3) ON CONFLICT (merchant_id) DO NOTHING");
    if (!insert.ok()) return insert.status();
    insert->BindText(1, merchant_id).BindText(2, name).BindInt64(3, now_ms);
    Status status = insert->Run();
    if (!status.ok()) return status;
    if (db.Changes() == 0) {
      return AlreadyExists("merchant_exists", "merchant '" + merchant_id + "' already exists");
    }
    return Status::Ok();
  });
}

Result<int64_t> SqliteStore::FundMerchant(const std::string& merchant_id, int64_t amount_fen,
                                          const std::string& note, int64_t now_ms) {
  if (amount_fen <= 0 || amount_fen > kMaxBalanceFen) {
    return InvalidArgument("invalid_amount",
                           "amount_fen must be in 1.." + std::to_string(kMaxBalanceFen));
  }
  int64_t balance_fen = 0;
  Status status = writer_->Run([&](SqliteConnection& db) -> Status {
    Result<Statement> credit = db.Prepare(
        "UPDATE merchants SET balance_fen = balance_fen + ?2 WHERE merchant_id = ?1 "
        "RETURNING balance_fen");
    if (!credit.ok()) return credit.status();
    credit->BindText(1, merchant_id).BindInt64(2, amount_fen);
    Result<bool> row = credit->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
    balance_fen = credit->ColumnInt64(0);
    Status s = credit->Run();  // finishes the RETURNING statement
    if (!s.ok()) return s;
    if (balance_fen > kMaxBalanceFen) {
      return FailedPrecondition(
          "balance_limit", "the balance would exceed " + std::to_string(kMaxBalanceFen) + " fen");
    }
    store_rules::AssertFunding(amount_fen, balance_fen);
    Result<Statement> entry = db.Prepare(
        "INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen, "
        "created_ms, note) VALUES (?1, NULL, 0, ?2, ?3, ?4, ?5)");
    if (!entry.ok()) return entry.status();
    entry->BindText(1, merchant_id)
        .BindInt64(2, amount_fen)
        .BindInt64(3, balance_fen)
        .BindInt64(4, now_ms)
        .BindTextCopy(5, CleanFreeText(note));
    return entry->Run();
  });
  if (!status.ok()) return status;
  return balance_fen;
}

Result<Merchant> SqliteStore::GetMerchant(const std::string& merchant_id) {
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(
      "SELECT merchant_id, name, balance_fen, created_ms FROM merchants WHERE merchant_id = ?1");
  if (!select.ok()) return select.status();
  select->BindText(1, merchant_id);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  Merchant merchant;
  merchant.merchant_id = select->ColumnText(0);
  merchant.name = select->ColumnText(1);
  merchant.balance_fen = select->ColumnInt64(2);
  merchant.created_ms = select->ColumnInt64(3);
  return merchant;
}

Result<std::vector<LedgerEntry>> SqliteStore::ListLedger(const std::string& merchant_id,
                                                         int64_t after_entry_id, size_t limit) {
  limit = std::min(limit, kMaxPageRows);
  ReadPool::Lease db = readers_->Acquire();
  ReadTransaction transaction(*db);
  if (!transaction.status().ok()) return transaction.status();
  {
    Result<Statement> exists = db->Prepare("SELECT 1 FROM merchants WHERE merchant_id = ?1");
    if (!exists.ok()) return exists.status();
    exists->BindText(1, merchant_id);
    Result<bool> row = exists->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  Result<Statement> select = db->Prepare(
      "SELECT entry_id, merchant_id, coalesce(order_id, ''), kind, amount_fen, balance_after_fen, "
      "created_ms, note FROM ledger WHERE merchant_id = ?1 AND entry_id > ?2 "
      "ORDER BY entry_id LIMIT ?3");
  if (!select.ok()) return select.status();
  select->BindText(1, merchant_id)
      .BindInt64(2, after_entry_id)
      .BindInt64(3, static_cast<int64_t>(limit));
  std::vector<LedgerEntry> entries;
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    LedgerEntry& entry = entries.emplace_back();
    entry.entry_id = select->ColumnInt64(0);
    entry.merchant_id = select->ColumnText(1);
    entry.order_id = select->ColumnText(2);
    entry.kind = static_cast<LedgerKind>(select->ColumnInt64(3));
    entry.amount_fen = select->ColumnInt64(4);
    entry.balance_after_fen = select->ColumnInt64(5);
    entry.created_ms = select->ColumnInt64(6);
    entry.note = select->ColumnText(7);
  }
  return entries;
}

Result<std::vector<Merchant>> SqliteStore::ListMerchants(const std::string& after_merchant_id,
                                                         size_t limit) {
  limit = std::min(limit, kMaxPageRows);
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(
      "SELECT merchant_id, name, balance_fen, created_ms FROM merchants WHERE merchant_id > ?1 "
      "ORDER BY merchant_id LIMIT ?2");
  if (!select.ok()) return select.status();
  select->BindText(1, after_merchant_id).BindInt64(2, static_cast<int64_t>(limit));
  std::vector<Merchant> merchants;
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Merchant& merchant = merchants.emplace_back();
    merchant.merchant_id = select->ColumnText(0);
    merchant.name = select->ColumnText(1);
    merchant.balance_fen = select->ColumnInt64(2);
    merchant.created_ms = select->ColumnInt64(3);
  }
  return merchants;
}

Result<int64_t> SqliteStore::HeldFen(const std::string& merchant_id) {
  ReadPool::Lease db = readers_->Acquire();
  // NULL sum (no open order) of an existing merchant is 0; no row at all is no merchant.
  static const std::string kHeld =
      SqlText({"SELECT (SELECT coalesce(sum(price_fen), 0) FROM orders WHERE merchant_id = ?1 AND ",
               kSqliteOpen, ") FROM merchants WHERE merchant_id = ?1"});
  Result<Statement> select = db->Prepare(kHeld);
  if (!select.ok()) return select.status();
  select->BindText(1, merchant_id);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  return select->ColumnInt64(0);
}

// --- Merchant API keys ---

Status SqliteStore::AddMerchantKey(const MerchantKey& key) {
  if (!IsValidMerchantId(key.key_id) || key.sealed_secret.empty() ||
      key.sealed_secret.size() > kMaxTextBytes) {
    return InvalidArgument("invalid_key",
                           "a key needs an id of 1..64 characters of [A-Za-z0-9_-] and a secret");
  }
  if (!IsValidMerchantId(key.merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + key.merchant_id + "'");
  }
  return writer_->Run([&](SqliteConnection& db) -> Status {
    Result<Statement> exists = db.Prepare("SELECT 1 FROM merchants WHERE merchant_id = ?1");
    if (!exists.ok()) return exists.status();
    exists->BindText(1, key.merchant_id);
    Result<bool> found = exists->Step();
    if (!found.ok()) return found.status();
    if (!*found) return NotFound("unknown_merchant", "no merchant '" + key.merchant_id + "'");
    Result<Statement> slots =
        db.Prepare("SELECT slot FROM merchant_keys WHERE merchant_id = ?1 AND revoked_ms = 0");
    if (!slots.ok()) return slots.status();
    slots->BindText(1, key.merchant_id);
    bool taken[kMaxActiveKeysPerMerchant + 1] = {};
    while (true) {
      Result<bool> row = slots->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const int64_t slot = slots->ColumnInt64(0);
      if (slot >= 1 && slot <= kMaxActiveKeysPerMerchant) taken[slot] = true;
    }
    int free_slot = 0;
    for (int slot = kMaxActiveKeysPerMerchant; slot >= 1; --slot) {
      if (!taken[slot]) free_slot = slot;
    }
    if (free_slot == 0) {
      return FailedPrecondition("too_many_keys", "the merchant already has " +
                                                     std::to_string(kMaxActiveKeysPerMerchant) +
                                                     " active keys; revoke one first");
    }
    Result<Statement> insert = db.Prepare(
        "INSERT INTO merchant_keys (key_id, merchant_id, slot, sealed_secret, created_ms, "
        "revoked_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT (key_id) DO NOTHING");
    if (!insert.ok()) return insert.status();
    insert->BindText(1, key.key_id)
        .BindText(2, key.merchant_id)
        .BindInt64(3, free_slot)
        .BindText(4, key.sealed_secret)
        .BindInt64(5, key.created_ms);
    if (Status s = insert->Run(); !s.ok()) return s;
    if (db.Changes() == 0) return AlreadyExists("key_exists", "key '" + key.key_id + "' exists");
    return Status::Ok();
  });
}

namespace {

constexpr std::string_view kKeyColumns =
    "key_id, merchant_id, sealed_secret, created_ms, revoked_ms";

MerchantKey ReadMerchantKey(const Statement& row) {
  MerchantKey key;
  key.key_id = row.ColumnText(0);
  key.merchant_id = row.ColumnText(1);
  key.sealed_secret = row.ColumnText(2);
  key.created_ms = row.ColumnInt64(3);
  key.revoked_ms = row.ColumnInt64(4);
  return key;
}

}  // namespace

Result<MerchantKey> SqliteStore::GetMerchantKey(const std::string& key_id) {
  if (!IsValidMerchantId(key_id)) return NotFound("unknown_key", "no such key");
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select =
      db->Prepare("SELECT " + std::string(kKeyColumns) + " FROM merchant_keys WHERE key_id = ?1");
  if (!select.ok()) return select.status();
  select->BindText(1, key_id);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound("unknown_key", "no such key");
  return ReadMerchantKey(*select);
}

Result<std::vector<MerchantKey>> SqliteStore::ListMerchantKeys(const std::string& merchant_id) {
  ReadPool::Lease db = readers_->Acquire();
  ReadTransaction transaction(*db);
  if (!transaction.status().ok()) return transaction.status();
  {
    Result<Statement> exists = db->Prepare("SELECT 1 FROM merchants WHERE merchant_id = ?1");
    if (!exists.ok()) return exists.status();
    exists->BindText(1, merchant_id);
    Result<bool> row = exists->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  Result<Statement> select =
      db->Prepare("SELECT " + std::string(kKeyColumns) +
                  " FROM merchant_keys WHERE merchant_id = ?1 ORDER BY created_ms, key_id");
  if (!select.ok()) return select.status();
  select->BindText(1, merchant_id);
  std::vector<MerchantKey> keys;
  // Bounded: a merchant has at most as many keys as were ever made for it through the API.
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    keys.push_back(ReadMerchantKey(*select));
  }
  return keys;
}

Status SqliteStore::RevokeMerchantKey(const std::string& merchant_id, const std::string& key_id,
                                      int64_t now_ms) {
  if (!IsValidMerchantId(key_id)) return NotFound("unknown_key", "no such key");
  return writer_->Run([&](SqliteConnection& db) -> Status {
    Result<Statement> exists =
        db.Prepare("SELECT 1 FROM merchant_keys WHERE key_id = ?1 AND merchant_id = ?2");
    if (!exists.ok()) return exists.status();
    exists->BindText(1, key_id).BindText(2, merchant_id);
    Result<bool> found = exists->Step();
    if (!found.ok()) return found.status();
    if (!*found) return NotFound("unknown_key", "merchant '" + merchant_id + "' has no such key");
    Result<Statement> revoke =
        db.Prepare("UPDATE merchant_keys SET revoked_ms = ?2 WHERE key_id = ?1 AND revoked_ms = 0");
    if (!revoke.ok()) return revoke.status();
    revoke->BindText(1, key_id).BindInt64(2, std::max<int64_t>(now_ms, 1));
    return revoke->Run();
  });
}

// The audit reads one snapshot and recomputes every money invariant from the raw rows; it does
// not trust any running total the write path keeps. It scans the ledger and the orders once each.
// Every order the ledger may name, hot or archived, once: only columns that never change after an
// order is final, so that an order found in both files (a crash of the archive job) is one row.
constexpr std::string_view kAllOrders =
    "SELECT order_id, merchant_id, status, price_fen FROM main.orders UNION "
    "SELECT order_id, merchant_id, status, price_fen FROM archive.orders";

Result<LedgerAudit> SqliteStore::AuditLedger() {
  LedgerAudit audit;
  store_rules::AuditProblems problems;
  auto problem = [&](std::string text) { problems.Add(std::move(text)); };

  ReadPool::Lease db = readers_->Acquire();
  ReadTransaction transaction(*db);
  if (!transaction.status().ok()) return transaction.status();

  // Per merchant: balance, ledger sums by kind, and the prices of its orders that keep money.
  {
    Result<Statement> select = db->Prepare(SqlText(
        {"WITH l AS (SELECT merchant_id, sum(amount_fen) AS total,"
         "  sum(CASE WHEN kind = 0 THEN amount_fen ELSE 0 END) AS funded,"
         "  sum(CASE WHEN kind = 1 THEN -amount_fen ELSE 0 END) AS debited,"
         "  sum(CASE WHEN kind = 2 THEN amount_fen ELSE 0 END) AS refunded"
         "  FROM ledger GROUP BY merchant_id),"
         " o AS (SELECT merchant_id, sum(price_fen) AS kept FROM (",
         kAllOrders, ") WHERE status <> ", kSqlFailed,
         "  GROUP BY merchant_id)"
         " SELECT m.merchant_id, m.balance_fen, coalesce(l.total, 0), coalesce(l.funded, 0),"
         "  coalesce(l.debited, 0), coalesce(l.refunded, 0), coalesce(o.kept, 0)"
         " FROM merchants m LEFT JOIN l USING (merchant_id) LEFT JOIN o USING (merchant_id)"
         " ORDER BY m.merchant_id"}));
    if (!select.ok()) return select.status();
    while (true) {
      Result<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const std::string merchant_id = select->ColumnText(0);
      const int64_t balance_fen = select->ColumnInt64(1);
      const int64_t ledger_total_fen = select->ColumnInt64(2);
      const int64_t funded_fen = select->ColumnInt64(3);
      const int64_t kept_price_fen = select->ColumnInt64(6);
      audit.merchants += 1;
      audit.balance_fen += balance_fen;
      audit.funded_fen += funded_fen;
      audit.debited_fen += select->ColumnInt64(4);
      audit.refunded_fen += select->ColumnInt64(5);
      audit.open_and_succeeded_price_fen += kept_price_fen;
      if (balance_fen != ledger_total_fen) {
        problem("merchant " + merchant_id + ": balance " + std::to_string(balance_fen) +
                " != ledger sum " + std::to_string(ledger_total_fen));
      }
      if (balance_fen + kept_price_fen != funded_fen) {
        problem("merchant " + merchant_id + ": balance " + std::to_string(balance_fen) +
                " + open and succeeded prices " + std::to_string(kept_price_fen) + " != funded " +
                std::to_string(funded_fen));
      }
    }
  }

  // Per order: exactly one debit of its price, and one refund of its price iff it failed.
  {
    Result<Statement> select = db->Prepare(SqlText(
        {"WITH d AS (SELECT order_id, count(*) AS n, sum(amount_fen) AS amount,"
         "  max(merchant_id) AS merchant_id FROM ledger WHERE kind = 1 GROUP BY order_id),"
         " r AS (SELECT order_id, count(*) AS n, sum(amount_fen) AS amount,"
         "  max(merchant_id) AS merchant_id FROM ledger WHERE kind = 2 GROUP BY order_id)"
         " SELECT o.order_id, o.status, o.price_fen, coalesce(d.n, 0), coalesce(d.amount, 0),"
         "  coalesce(r.n, 0), coalesce(r.amount, 0)"
         " FROM (",
         kAllOrders,
         ") o LEFT JOIN d USING (order_id) LEFT JOIN r USING (order_id)"
         " WHERE coalesce(d.n, 0) <> 1 OR coalesce(d.amount, 0) <> -o.price_fen"
         "  OR d.merchant_id <> o.merchant_id OR r.merchant_id <> o.merchant_id"
         "  OR coalesce(r.n, 0) <> (o.status = ",
         kSqlFailed, ")  OR coalesce(r.amount, 0) <> (CASE WHEN o.status = ", kSqlFailed,
         " THEN o.price_fen ELSE 0 END)"}));
    if (!select.ok()) return select.status();
    while (true) {
      Result<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      problem("order " + select->ColumnText(0) + " (" +
              std::string(OrderStatusName(static_cast<OrderStatus>(select->ColumnInt64(1)))) +
              ", price " + std::to_string(select->ColumnInt64(2)) +
              "): " + std::to_string(select->ColumnInt64(3)) + " debits totalling " +
              std::to_string(select->ColumnInt64(4)) + ", " +
              std::to_string(select->ColumnInt64(5)) + " refunds totalling " +
              std::to_string(select->ColumnInt64(6)));
    }
  }

  // Each ledger row's balance_after_fen is the running sum of its merchant's ledger.
  {
    Result<Statement> select = db->Prepare(
        "SELECT entry_id, merchant_id, balance_after_fen, running FROM ("
        " SELECT entry_id, merchant_id, balance_after_fen,"
        "  sum(amount_fen) OVER (PARTITION BY merchant_id ORDER BY entry_id) AS running"
        " FROM ledger) WHERE running <> balance_after_fen");
    if (!select.ok()) return select.status();
    while (true) {
      Result<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      problem("ledger entry " + std::to_string(select->ColumnInt64(0)) + " of merchant " +
              select->ColumnText(1) + ": balance_after " + std::to_string(select->ColumnInt64(2)) +
              " != running sum " + std::to_string(select->ColumnInt64(3)));
    }
  }

  problems.WriteTo(audit);
  return audit;
}

// --- Orders ---

Status SqliteStore::WriteAccepts(SqliteConnection& db, std::span<const Order> orders,
                                 std::vector<Result<AcceptResult>>& answers) {
  Status status = WriteAcceptBatch(db, orders, answers);
  if (!status.ok()) return status;
  for (const Result<AcceptResult>& answer : answers) {
    if (answer.ok() && answer->created) pending_counts_.Accepted();
  }
  return status;
}

Result<AcceptResult> SqliteStore::AcceptOrder(const Order& order) {
  Status status = ValidateNewOrder(order);
  if (!status.ok()) return status;
  std::vector<Result<AcceptResult>> answers;
  write_counter_.Count(1);
  status = writer_->Run([&](SqliteConnection& db) {
    return WriteAccepts(db, std::span<const Order>(&order, 1), answers);
  });
  if (!status.ok()) return status;
  return std::move(answers.front());
}

void SqliteStore::AcceptOrderAsync(Order order, AcceptCallback done) {
  if (Status valid = ValidateNewOrder(order); !valid.ok()) {
    done(valid);
    return;
  }
  write_counter_.Count(1);
  accepts_->Add(std::move(order), std::move(done));
}

template <typename Bind>
Result<Order> SqliteStore::ReadOneOrder(std::string_view sql, Bind&& bind) {
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(sql);
  if (!select.ok()) return select.status();
  bind(*select);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound("order_not_found", "no such order");
  return ReadOrder(*select);
}

// The hot copy of an order is read before the archive's: the archive job commits a copy before it
// deletes the hot row, so an order is always found in one of them, and the hot copy wins when it
// is in both (after a crash between the two steps).
Result<Order> SqliteStore::GetOrder(const std::string& order_id) {
  static const std::string kSql =
      SqlText({"SELECT ", kOrderColumns, " FROM main.orders WHERE order_id = ?1 UNION ALL SELECT ",
               kOrderColumns, " FROM archive.orders WHERE order_id = ?1 LIMIT 1"});
  return ReadOneOrder(kSql, [&](Statement& s) { s.BindText(1, order_id); });
}

Result<Order> SqliteStore::FindOrderByMerchantOrderId(const std::string& merchant_id,
                                                      const std::string& merchant_order_id) {
  static const std::string kSql = SqlText(
      {"SELECT ", kOrderColumns,
       " FROM main.orders WHERE merchant_id = ?1 AND merchant_order_id = ?2 UNION ALL SELECT ",
       kOrderColumns,
       " FROM archive.orders WHERE merchant_id = ?1 AND merchant_order_id = ?2 LIMIT 1"});
  return ReadOneOrder(
      kSql, [&](Statement& s) { s.BindText(1, merchant_id).BindText(2, merchant_order_id); });
}

Result<std::vector<Order>> SqliteStore::ReadOrders(std::span<const std::string> order_ids) {
  if (Status status = store_rules::ValidateOrderCount(order_ids.size()); !status.ok()) {
    return status;
  }
  static const std::string kSql = WithOrderColumns("SELECT ", " FROM orders WHERE order_id = ?1");
  std::vector<Order> orders;
  if (order_ids.empty()) return orders;
  ReadPool::Lease db = readers_->Acquire();
  std::unordered_set<std::string_view> seen;
  for (const std::string& order_id : order_ids) {
    if (!seen.insert(order_id).second) continue;
    Result<Statement> select = db->Prepare(kSql);
    if (!select.ok()) return select.status();
    select->BindText(1, order_id);
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (*row) orders.push_back(ReadOrder(*select));
  }
  return orders;
}

Result<std::vector<Order>> SqliteStore::ListOrders(const std::string& after_order_id,
                                                   size_t limit) {
  OrderFilter all;
  all.after_order_id = after_order_id;
  all.limit = limit;
  return FindOrders(all);
}

Result<std::vector<Order>> SqliteStore::FindOrders(const OrderFilter& filter) {
  // Each condition is switched off by its own parameter, so one statement serves every filter.
  // Hot and archived orders merge in order_id order, each table read through its primary key; an
  // order in both files (after a crash of the archive job) is listed once, from the hot file.
  constexpr std::string_view kCondition =
      " order_id > ?1 AND (?2 = '' OR merchant_id = ?2)"
      " AND (?3 < 0 OR status = ?3) AND created_ms >= ?4 AND (?5 = 0 OR created_ms < ?5)";
  static const std::string kSql =
      SqlText({"SELECT ", kOrderColumns, " FROM main.orders WHERE", kCondition,
               " UNION ALL SELECT ", kOrderColumns, " FROM archive.orders a WHERE", kCondition,
               " AND NOT EXISTS (SELECT 1 FROM main.orders h WHERE h.order_id = a.order_id)"
               " ORDER BY order_id LIMIT ?6"});
  const size_t limit = std::min(filter.limit, kMaxPageRows);
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(kSql);
  if (!select.ok()) return select.status();
  select->BindText(1, filter.after_order_id)
      .BindText(2, filter.merchant_id)
      .BindInt64(3, filter.status ? StatusInt(*filter.status) : -1)
      .BindInt64(4, filter.created_from_ms)
      .BindInt64(5, filter.created_to_ms)
      .BindInt64(6, static_cast<int64_t>(limit));
  std::vector<Order> orders;
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    orders.push_back(ReadOrder(*select));
  }
  return orders;
}

Result<std::vector<OrderEvent>> SqliteStore::ListEvents(const std::string& order_id) {
  ReadPool::Lease db = readers_->Acquire();
  ReadTransaction transaction(*db);
  if (!transaction.status().ok()) return transaction.status();
  // Events never change, so the copies of an order's events in both files (after a crash of the
  // archive job) are equal rows, which UNION keeps once.
  Result<Statement> select = db->Prepare(
      "SELECT event_id, order_id, at_ms, kind, from_status, to_status, attempt_no, detail "
      "FROM main.order_events WHERE order_id = ?1 UNION "
      "SELECT event_id, order_id, at_ms, kind, from_status, to_status, attempt_no, detail "
      "FROM archive.order_events WHERE order_id = ?1 ORDER BY event_id LIMIT ?2");
  if (!select.ok()) return select.status();
  select->BindText(1, order_id).BindInt64(2, static_cast<int64_t>(kMaxPageRows));
  std::vector<OrderEvent> events;
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    OrderEvent& event = events.emplace_back();
    event.event_id = select->ColumnInt64(0);
    event.order_id = select->ColumnText(1);
    event.at_ms = select->ColumnInt64(2);
    event.kind = select->ColumnText(3);
    event.from = static_cast<OrderStatus>(select->ColumnInt64(4));
    event.to = static_cast<OrderStatus>(select->ColumnInt64(5));
    event.attempt_no = static_cast<int32_t>(select->ColumnInt64(6));
    event.detail = select->ColumnText(7);
  }
  // Every order has its "accepted" event, so no events means no order.
  if (events.empty()) return NotFound("order_not_found", "no order '" + order_id + "'");
  return events;
}

Result<OrderCounts> SqliteStore::CountOrders() {
  ReadPool::Lease db = readers_->Acquire();
  return sqlite::ReadOrderCounts(*db);
}

Result<OpenOrdersSummary> SqliteStore::SummarizeOpenOrders(int64_t now_ms) {
  OpenOrdersSummary summary;
  for (OrderStatus s : {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown}) {
    summary.open_by_status[s] = 0;
  }
  ReadPool::Lease db = readers_->Acquire();
  // kSqliteOpen is the condition of the partial index orders_due, so only open rows are read.
  static const std::string kSummary =
      SqlText({"SELECT status, count(*), min(created_ms), sum(price_fen), "
               "sum(lease_owner <> '' AND lease_expires_ms <= ?1) FROM orders WHERE ",
               kSqliteOpen, " GROUP BY status"});
  Result<Statement> select = db->Prepare(kSummary);
  if (!select.ok()) return select.status();
  select->BindInt64(1, now_ms);
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    summary.open_by_status[static_cast<OrderStatus>(select->ColumnInt64(0))] =
        select->ColumnInt64(1);
    const int64_t oldest_ms = select->ColumnInt64(2);
    if (summary.oldest_created_ms == 0 || oldest_ms < summary.oldest_created_ms) {
      summary.oldest_created_ms = oldest_ms;
    }
    summary.held_fen += select->ColumnInt64(3);
    summary.lapsed_leases += select->ColumnInt64(4);
  }
  // "state = 0" is the condition of the partial index notifications_due: pending rows only.
  Result<Statement> backlog = db->Prepare(
      "SELECT count(*), coalesce(min(schedule_start_ms), 0) FROM notifications WHERE state = 0");
  if (!backlog.ok()) return backlog.status();
  Result<bool> row = backlog->Step();
  if (!row.ok()) return row.status();
  if (*row) {
    summary.notifications_pending = backlog->ColumnInt64(0);
    summary.oldest_pending_notification_ms = backlog->ColumnInt64(1);
  }
  return summary;
}

// --- Operations ---

Status SqliteStore::ProbeCommit() {
  return writer_->Run([](SqliteConnection&) { return Status::Ok(); });
}

// --- Engine ---

Result<std::vector<Order>> SqliteStore::ClaimOrders(std::span<const std::string> order_ids,
                                                    const std::string& owner, int64_t now_ms,
                                                    int64_t lease_ms) {
  Status valid = ValidateLease(order_ids.size(), owner, lease_ms);
  if (!valid.ok()) return valid;
  std::vector<Order> claimed;
  if (order_ids.empty()) return claimed;
  write_counter_.Count(order_ids.size());
  Status status = writer_->Run([&](SqliteConnection& db) -> Status {
    // A lapsed lease may be taken by anyone; a live one only by its holder, who renews it. The
    // claimed row is read back by a second statement: cheaper than RETURNING (see above).
    static const std::string kReadSql =
        WithOrderColumns("SELECT ", " FROM orders WHERE order_id = ?1");
    claimed.clear();
    std::unordered_set<std::string_view> seen;
    for (const std::string& order_id : order_ids) {
      if (!seen.insert(order_id).second) continue;
      static const std::string kClaim =
          SqlText({"UPDATE orders SET lease_owner = ?2, lease_expires_ms = ?3 "
                   "WHERE order_id = ?1 AND ",
                   kSqliteOpen, " AND (lease_expires_ms <= ?4 OR lease_owner = ?2)"});
      Result<Statement> claim = db.Prepare(kClaim);
      if (!claim.ok()) return claim.status();
      claim->BindText(1, order_id)
          .BindText(2, owner)
          .BindInt64(3, now_ms + lease_ms)
          .BindInt64(4, now_ms);
      if (Status s = claim->Run(); !s.ok()) return s;
      if (db.Changes() == 0) continue;
      Result<Statement> read = db.Prepare(kReadSql);
      if (!read.ok()) return read.status();
      read->BindText(1, order_id);
      Result<bool> row = read->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Internal("order " + order_id + " vanished during its claim");
      claimed.push_back(ReadOrder(*read));
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return claimed;
}

Status SqliteStore::RenewLeases(std::span<const std::string> order_ids, const std::string& owner,
                                int64_t now_ms, int64_t lease_ms) {
  Status valid = ValidateLease(order_ids.size(), owner, lease_ms);
  if (!valid.ok()) return valid;
  if (order_ids.empty()) return Status::Ok();
  write_counter_.Count(order_ids.size());
  return writer_->Run([&](SqliteConnection& db) -> Status {
    for (const std::string& order_id : order_ids) {
      static const std::string kRenew = SqlText(
          {"UPDATE orders SET lease_expires_ms = ?3 WHERE order_id = ?1 AND lease_owner = ?2 AND ",
           kSqliteOpen});
      Result<Statement> renew = db.Prepare(kRenew);
      if (!renew.ok()) return renew.status();
      renew->BindText(1, order_id).BindText(2, owner).BindInt64(3, now_ms + lease_ms);
      Status s = renew->Run();
      if (!s.ok()) return s;
    }
    return Status::Ok();
  });
}

Result<int64_t> SqliteStore::ReleaseLeases(const std::string& owner, int64_t now_ms) {
  // The bounds of a lease on its owner (a release has no duration of its own).
  Status valid = ValidateLease(0, owner, /*lease_ms=*/1);
  if (!valid.ok()) return valid;
  int64_t released = 0;
  Status status = writer_->Run([&](SqliteConnection& db) -> Status {
    // kSqliteOpen as in the partial index orders_due, so only the open orders are read.
    static const std::string kRelease =
        SqlText({"UPDATE orders SET lease_owner = '', lease_expires_ms = 0,"
                 " next_check_ms = min(next_check_ms, ?2) WHERE lease_owner = ?1 AND ",
                 kSqliteOpen});
    Result<Statement> release = db.Prepare(kRelease);
    if (!release.ok()) return release.status();
    release->BindText(1, owner).BindInt64(2, now_ms);
    if (Status s = release->Run(); !s.ok()) return s;
    released = db.Changes();
    return Status::Ok();
  });
  write_counter_.Count(static_cast<size_t>(released));
  if (!status.ok()) return status;
  return released;
}

// The compare-and-set is the WHERE clause of one UPDATE: the row moves only if it is still in the
// (status, attempt_count) the caller last saw, so of two workers racing on one order exactly one
// sees a changed row. The refund of a failed order is in the same savepoint as its status change,
// and ledger_once_per_order refuses a second one even if the state machine had a hole.
Result<bool> SqliteStore::ApplyTransition(const Transition& t) {
  std::vector<Result<bool>> results = ApplyTransitions(std::span<const Transition>(&t, 1));
  return std::move(results.front());
}

std::vector<Result<bool>> SqliteStore::ApplyTransitions(std::span<const Transition> transitions) {
  std::vector<Result<bool>> results(transitions.size(), false);
  std::vector<char> applied(transitions.size(), 0);
  std::vector<size_t> valid;  // indexes of the transitions that reach the writer
  std::vector<GroupCommitWriter::WriteBody> bodies;
  for (size_t i = 0; i < transitions.size(); ++i) {
    if (Status status = ValidateTransition(transitions[i]); !status.ok()) {
      results[i] = status;
      continue;
    }
    valid.push_back(i);
    bodies.push_back([this, &transitions, &applied, i](SqliteConnection& db) {
      bool moved = false;
      Status status = WriteTransition(db, transitions[i], &moved);
      applied[i] = moved;
      if (status.ok() && moved) pending_counts_.Moved(transitions[i].from, transitions[i].to);
      return status;
    });
  }
  if (!bodies.empty()) write_counter_.Count(bodies.size());
  std::vector<Status> statuses = writer_->RunEach(bodies);
  for (size_t k = 0; k < valid.size(); ++k) {
    const size_t i = valid[k];
    if (statuses[k].ok()) {
      results[i] = applied[i] != 0;
    } else {
      results[i] = std::move(statuses[k]);
    }
  }
  return results;
}

Result<DueOrders> SqliteStore::TakeDueOrders(int64_t now_ms, size_t limit,
                                             int64_t redeliver_after_ms) {
  if (redeliver_after_ms <= 0) {
    return InvalidArgument("invalid_redelivery", "redeliver_after_ms must be positive");
  }
  limit = std::min(limit, kMaxIdsPerCall);
  DueOrders due;
  if (limit == 0) return due;
  Status status = writer_->Run([&](SqliteConnection& db) -> Status {
    // kSqliteOpen matches the orders_due partial index. Pushing next_check_ms forward in
    // the same statement is what keeps concurrent sweepers (even in other processes, whose writes
    // SQLite serializes) from taking the same order twice.
    // RETURNING sees the row as updated; the lease columns are left alone here, so it tells
    // which orders still named the owner of a lapsed lease.
    static const std::string kTake =
        SqlText({"UPDATE orders SET next_check_ms = ?1 + ?3 WHERE order_id IN ("
                 " SELECT order_id FROM orders WHERE ",
                 kSqliteOpen,
                 " AND next_check_ms <= ?1"
                 " AND lease_expires_ms <= ?1 ORDER BY next_check_ms LIMIT ?2)"
                 " RETURNING order_id, lease_owner <> ''"});
    Result<Statement> take = db.Prepare(kTake);
    if (!take.ok()) return take.status();
    take->BindInt64(1, now_ms)
        .BindInt64(2, static_cast<int64_t>(limit))
        .BindInt64(3, redeliver_after_ms);
    due = DueOrders{};
    std::vector<std::string> lapsed;
    while (true) {
      Result<bool> row = take->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      due.order_ids.push_back(take->ColumnText(0));
      if (take->ColumnInt64(1) != 0) lapsed.push_back(due.order_ids.back());
    }
    assert(due.order_ids.size() <= limit);
    // Rare (a node died or stalled): cleared, so that the lapse is counted once.
    for (const std::string& order_id : lapsed) {
      Result<Statement> clear = db.Prepare(
          "UPDATE orders SET lease_owner = '', lease_expires_ms = 0 WHERE order_id = ?1");
      if (!clear.ok()) return clear.status();
      clear->BindText(1, order_id);
      if (Status s = clear->Run(); !s.ok()) return s;
    }
    due.lapsed_leases = static_cast<int64_t>(lapsed.size());
    return Status::Ok();
  });
  write_counter_.Count(due.order_ids.size());
  if (!status.ok()) return status;
  return due;
}

// --- Notification outbox ---

constexpr std::string_view kNotificationColumns =
    "notification_id, order_id, merchant_id, notify_url, order_status, state, "
    "schedule_start_ms, tries, next_try_ms, delivered_ms, lease_owner, lease_expires_ms, "
    "created_ms";

std::string WithNotificationColumns(std::string_view before, std::string_view after) {
  return WithColumns(before, kNotificationColumns, after);
}

Notification ReadNotification(const Statement& row) {
  Notification n;
  n.notification_id = row.ColumnInt64(0);
  n.order_id = row.ColumnText(1);
  n.merchant_id = row.ColumnText(2);
  n.notify_url = row.ColumnText(3);
  n.order_status = static_cast<OrderStatus>(row.ColumnInt64(4));
  n.state = static_cast<NotificationState>(row.ColumnInt64(5));
  n.schedule_start_ms = row.ColumnInt64(6);
  n.tries = static_cast<int32_t>(row.ColumnInt64(7));
  n.next_try_ms = row.ColumnInt64(8);
  n.delivered_ms = row.ColumnInt64(9);
  n.lease_owner = row.ColumnText(10);
  n.lease_expires_ms = row.ColumnInt64(11);
  n.created_ms = row.ColumnInt64(12);
  return n;
}

Status NotificationNotFound(int64_t notification_id) {
  return NotFound("notification_not_found", "no notification " + std::to_string(notification_id));
}

Result<std::vector<ClaimedNotification>> SqliteStore::ClaimNotifications(const std::string& owner,
                                                                         int64_t now_ms,
                                                                         int64_t lease_ms,
                                                                         size_t limit) {
  Status valid = ValidateLease(0, owner, lease_ms);
  if (!valid.ok()) return valid;
  limit = std::min(limit, kMaxIdsPerCall);
  std::vector<ClaimedNotification> claimed;
  if (limit == 0) return claimed;
  const GroupCommitWriter::WriteBody write = [&](SqliteConnection& db) -> Status {
    // SQLite serializes writers, even across processes, so the subquery and the UPDATE see the
    // same rows: no row is leased twice. "state = 0" matches the notifications_due index.
    static const std::string kSql = WithNotificationColumns(
        "UPDATE notifications SET lease_owner = ?2, lease_expires_ms = ?1 + ?3"
        " WHERE notification_id IN (SELECT notification_id FROM notifications"
        "  WHERE state = 0 AND next_try_ms <= ?1 AND lease_expires_ms <= ?1"
        "  ORDER BY next_try_ms LIMIT ?4) RETURNING ",
        "");
    Result<Statement> claim = db.Prepare(kSql);
    if (!claim.ok()) return claim.status();
    claim->BindInt64(1, now_ms)
        .BindText(2, owner)
        .BindInt64(3, lease_ms)
        .BindInt64(4, static_cast<int64_t>(limit));
    claimed.clear();
    while (true) {
      Result<bool> row = claim->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      claimed.push_back(ClaimedNotification{ReadNotification(*claim), {}});
    }
    return Status::Ok();
  };
  // The notifier's writes wait for the orders' (GroupCommitWriter).
  Status status = writer_->Run(write, WritePriority::kBackground);
  if (!status.ok()) return status;
  // The orders' fields are read after the commit, on a reader, to keep the one writer's work
  // short: the orders are final, so what is read is what the claim saw. An order missing (which
  // the outbox's foreign key rules out) leaves its fields empty. A read that fails leaves the rows
  // leased until their lease lapses.
  if (!claimed.empty()) {
    static const std::string kOrderSql = SqlText(
        {"SELECT ", store_rules::kNotifiedOrderColumns, " FROM orders WHERE order_id = ?1"});
    ReadPool::Lease db = readers_->Acquire();
    for (ClaimedNotification& c : claimed) {
      Result<Statement> select = db->Prepare(kOrderSql);
      if (!select.ok()) return select.status();
      select->BindText(1, c.notification.order_id);
      Result<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (!*row) continue;
      c.order.merchant_order_id = select->ColumnText(0);
      c.order.face_value_yuan = static_cast<int32_t>(select->ColumnInt64(1));
      c.order.price_fen = select->ColumnInt64(2);
      c.order.created_ms = select->ColumnInt64(3);
      c.order.finished_ms = select->ColumnInt64(4);
      c.order.supplier_ref = select->ColumnText(5);
    }
  }
  std::sort(claimed.begin(), claimed.end(),
            [](const ClaimedNotification& a, const ClaimedNotification& b) {
              return a.notification.next_try_ms < b.notification.next_try_ms;
            });
  return claimed;
}

Result<std::vector<TryRecorded>> SqliteStore::RecordNotificationTries(
    std::span<const NotificationOutcome> outcomes) {
  if (Status valid = store_rules::ValidateNotificationOutcomes(outcomes); !valid.ok()) return valid;
  std::vector<TryRecorded> recorded;
  if (outcomes.empty()) return recorded;
  const GroupCommitWriter::WriteBody write = [&](SqliteConnection& db) -> Status {
    recorded.clear();
    for (const NotificationOutcome& outcome : outcomes) {
      const NotificationTry& t = outcome.attempt;
      Result<Statement> record = db.Prepare(
          "INSERT INTO notification_tries (notification_id, at_ms, http_status, error, latency_ms)"
          " SELECT notification_id, ?2, ?3, ?4, ?5 FROM notifications WHERE notification_id = ?1");
      if (!record.ok()) return record.status();
      record->BindInt64(1, t.notification_id)
          .BindInt64(2, t.at_ms)
          .BindInt64(3, t.http_status)
          .BindTextCopy(4, CleanFreeText(t.error))
          .BindInt64(5, t.latency_ms);
      if (Status s = record->Run(); !s.ok()) return s;
      if (db.Changes() == 0) {
        recorded.push_back(TryRecorded::kNoSuchNotification);
        continue;
      }
      // ?3: 1 delivered, 0 retry at ?4, 2 given up.
      Result<Statement> update = db.Prepare(
          "UPDATE notifications SET state = ?3, tries = tries + 1,"
          " next_try_ms = CASE WHEN ?3 = 0 THEN ?4 ELSE next_try_ms END,"
          " delivered_ms = CASE WHEN ?3 = 1 THEN ?5 ELSE 0 END,"
          " lease_owner = '', lease_expires_ms = 0"
          " WHERE notification_id = ?1 AND lease_owner = ?2 AND state = 0");
      if (!update.ok()) return update.status();
      update->BindInt64(1, t.notification_id)
          .BindText(2, outcome.owner)
          .BindInt64(3, static_cast<int64_t>(store_rules::StateAfter(outcome)))
          .BindInt64(4, outcome.next_try_ms)
          .BindInt64(5, store_rules::DeliveredMs(t));
      if (Status s = update->Run(); !s.ok()) return s;
      recorded.push_back(db.Changes() == 1 ? TryRecorded::kMoved : TryRecorded::kLeaseLost);
    }
    return Status::Ok();
  };
  // The notifier's writes wait for the orders' (GroupCommitWriter).
  Status status = writer_->Run(write, WritePriority::kBackground);
  if (!status.ok()) return status;
  return recorded;
}

Result<std::vector<Notification>> SqliteStore::ListNotifications(const std::string& order_id) {
  static const std::string kSql = WithNotificationColumns(
      "SELECT ", " FROM notifications WHERE order_id = ?1 ORDER BY notification_id");
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(kSql);
  if (!select.ok()) return select.status();
  select->BindText(1, order_id);
  std::vector<Notification> found;
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    found.push_back(ReadNotification(*select));
  }
  return found;
}

Result<Notification> SqliteStore::GetNotification(int64_t notification_id) {
  static const std::string kSql =
      WithNotificationColumns("SELECT ", " FROM notifications WHERE notification_id = ?1");
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(kSql);
  if (!select.ok()) return select.status();
  select->BindInt64(1, notification_id);
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotificationNotFound(notification_id);
  return ReadNotification(*select);
}

Result<std::vector<NotificationTry>> SqliteStore::ListNotificationTries(int64_t notification_id) {
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select = db->Prepare(
      "SELECT notification_id, at_ms, http_status, error, latency_ms FROM notification_tries"
      " WHERE notification_id = ?1 ORDER BY try_id LIMIT ?2");
  if (!select.ok()) return select.status();
  select->BindInt64(1, notification_id).BindInt64(2, static_cast<int64_t>(kMaxPageRows));
  std::vector<NotificationTry> tries;
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    NotificationTry& t = tries.emplace_back();
    t.notification_id = select->ColumnInt64(0);
    t.at_ms = select->ColumnInt64(1);
    t.http_status = static_cast<int32_t>(select->ColumnInt64(2));
    t.error = select->ColumnText(3);
    t.latency_ms = select->ColumnInt64(4);
  }
  return tries;
}

Result<Notification> SqliteStore::ResendNotification(int64_t notification_id, int64_t now_ms) {
  Notification resent;
  Status status = writer_->Run([&](SqliteConnection& db) -> Status {
    static const std::string kSql = WithNotificationColumns(
        "UPDATE notifications SET state = 0, schedule_start_ms = ?2, tries = 0,"
        " next_try_ms = ?2, delivered_ms = 0, lease_owner = '', lease_expires_ms = 0"
        " WHERE notification_id = ?1 RETURNING ",
        "");
    Result<Statement> update = db.Prepare(kSql);
    if (!update.ok()) return update.status();
    update->BindInt64(1, notification_id).BindInt64(2, now_ms);
    Result<bool> row = update->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotificationNotFound(notification_id);
    resent = ReadNotification(*update);
    return update->Run();
  });
  if (!status.ok()) return status;
  return resent;
}

Result<NotificationCounts> SqliteStore::CountNotifications() {
  NotificationCounts counts{{NotificationState::kPending, 0},
                            {NotificationState::kDelivered, 0},
                            {NotificationState::kGivenUp, 0}};
  ReadPool::Lease db = readers_->Acquire();
  Result<Statement> select =
      db->Prepare("SELECT state, count(*) FROM notifications GROUP BY state");
  if (!select.ok()) return select.status();
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    counts[static_cast<NotificationState>(select->ColumnInt64(0))] = select->ColumnInt64(1);
  }
  return counts;
}

Status ValidateOptions(const SqliteStoreOptions& options) {
  auto invalid = [](std::string message) {
    return InvalidArgument("invalid_store_options", std::move(message));
  };
  if (options.path.empty()) return invalid("path is empty");
  // Each connection of an in-memory or URI database would see a different database.
  if (options.path == ":memory:" || options.path.starts_with("file:")) {
    return invalid("path must name a file");
  }
  if (options.max_batch_ops < 1 || options.max_batch_ops > 65536) {
    return invalid("max_batch_ops must be in 1..65536");
  }
  if (options.read_connections < 1 || options.read_connections > 64) {
    return invalid("read_connections must be in 1..64");
  }
  if (options.max_queued_writes < 1) return invalid("max_queued_writes must be >= 1");
  if (options.busy_timeout_ms < 0 || options.enqueue_timeout_ms < 0) {
    return invalid("timeouts must be >= 0");
  }
  return Status::Ok();
}

}  // namespace

Result<ArchiveReport> SqliteStore::ArchiveFinalOrders(const ArchiveRequest& request) {
  if (Status s = store_rules::ValidateArchiveRequest(request); !s.ok()) return s;
  // A connection of the run's own copies each batch, so the writer thread only deletes.
  Result<std::unique_ptr<SqliteConnection>> archiver = SqliteConnection::Open(
      options_.path, SqliteConnection::Mode::kReadWrite, options_.busy_timeout_ms);
  if (!archiver.ok()) return archiver.status();
  if (Status s = sqlite::AttachArchive(**archiver, options_.archive_path, /*create=*/false);
      !s.ok()) {
    return s;
  }
  if (Status s = (*archiver)->Exec("PRAGMA archive.synchronous=FULL"); !s.ok()) return s;

  return store_rules::RunArchiveBatches(request, [&]() -> Result<store_rules::ArchiveBatch> {
    Result<std::vector<std::string>> copied =
        sqlite::CopyBatchToArchive(**archiver, request.finished_before_ms, request.batch_orders);
    if (!copied.ok()) return copied.status();
    store_rules::ArchiveBatch batch{copied->size(), 0};
    if (copied->empty()) return batch;
    if (request.on_batch_copied) request.on_batch_copied(copied->size());
    Status status = writer_->Run([&](SqliteConnection& db) -> Status {
      Result<int64_t> n = sqlite::DeleteArchivedOrders(db, *copied);
      if (!n.ok()) return n.status();
      batch.moved = *n;
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return batch;
  });
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& requested) {
  Status status = ValidateOptions(requested);
  if (!status.ok()) return status;
  SqliteStoreOptions options = requested;
  if (options.archive_path.empty()) options.archive_path = sqlite::ArchivePath(options.path);

  // The write connection is opened first: it creates the file, switches it to WAL and migrates
  // it, all before any reader exists.
  Result<std::unique_ptr<SqliteConnection>> writer = SqliteConnection::Open(
      options.path, SqliteConnection::Mode::kReadWrite, options.busy_timeout_ms);
  if (!writer.ok()) return writer.status();
  // The archive is attached first: the migration that fills order_counts counts its orders too.
  status = sqlite::AttachArchive(**writer, options.archive_path, /*create=*/true);
  if (!status.ok()) return status;
  status = sqlite::ApplyMigrations(**writer, sqlite::StoreMigrations());
  if (!status.ok()) return status;

  // The writer leaves checkpoints to the checkpointer, but for a WAL grown past 64 MiB (say, the
  // checkpointer kept from finishing by long reads), which it still copies back itself.
  status = (*writer)->Exec("PRAGMA wal_autocheckpoint=16384");
  if (!status.ok()) return status;
  Result<std::unique_ptr<SqliteConnection>> checkpoints = SqliteConnection::Open(
      options.path, SqliteConnection::Mode::kReadWrite, options.busy_timeout_ms);
  if (!checkpoints.ok()) return checkpoints.status();

  std::vector<std::unique_ptr<SqliteConnection>> readers;
  for (size_t i = 0; i < options.read_connections; ++i) {
    Result<std::unique_ptr<SqliteConnection>> reader = SqliteConnection::Open(
        options.path, SqliteConnection::Mode::kReadOnly, options.busy_timeout_ms);
    if (!reader.ok()) return reader.status();
    status = sqlite::AttachArchive(**reader, options.archive_path, /*create=*/false);
    if (!status.ok()) return status;
    readers.push_back(std::move(reader).value());
  }

  sqlite::GroupCommitOptions writer_options;
  writer_options.max_batch_ops = static_cast<size_t>(options.max_batch_ops);
  writer_options.max_queued_ops = options.max_queued_writes;
  writer_options.enqueue_timeout = std::chrono::milliseconds(options.enqueue_timeout_ms);
  auto group_writer =
      std::make_unique<GroupCommitWriter>(std::move(writer).value(), writer_options);
  auto read_pool = std::make_unique<ReadPool>(std::move(readers));
  spdlog::debug("store: opened {} with {} readers", options.path, options.read_connections);
  auto checkpointer = std::make_unique<Checkpointer>(std::move(checkpoints).value(),
                                                     std::chrono::milliseconds(100));
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(
      options, std::move(group_writer), std::move(read_pool), std::move(checkpointer)));
}

}  // namespace topup
