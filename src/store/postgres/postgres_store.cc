#include "store/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/postgres/archive.h"
#include "store/postgres/connection_pool.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/schema.h"
#include "store/rules/accept_plan.h"
#include "store/rules/archive_rules.h"
#include "store/rules/ledger_rules.h"
#include "store/rules/order_counts.h"
#include "store/rules/store_rules.h"
#include "store/rules/write_counter.h"

namespace topup {
namespace {

using postgres::ConnectionPool;
using postgres::Params;
using postgres::PgResult;
using postgres::Query;
using store_rules::AnswerForExisting;
using store_rules::CleanFreeText;
using store_rules::IsStorableText;
using store_rules::kMaxBalanceFen;
using store_rules::kMaxPageRows;
using store_rules::kMaxTextBytes;
using store_rules::kOrderColumns;
using store_rules::kPostgresOpen;
using store_rules::kSqlFailed;
using store_rules::kSqlFinalStatuses;
using store_rules::SqlText;

// Tries per call when PostgreSQL aborts a statement for a deadlock or a serialization failure.
constexpr int kMaxAttempts = 5;

// Reads the order whose columns start at `first` in `row`.
Order ReadOrder(const PgResult& result, int row, int first = 0) {
  Order order;
  order.order_id = result.Text(row, first + 0);
  order.merchant_id = result.Text(row, first + 1);
  order.merchant_order_id = result.Text(row, first + 2);
  order.phone = result.Text(row, first + 3);
  order.carrier = static_cast<Carrier>(result.Int(row, first + 4));
  order.face_value_yuan = static_cast<int32_t>(result.Int(row, first + 5));
  order.price_fen = result.Int(row, first + 6);
  order.notify_url = result.Text(row, first + 7);
  order.status = static_cast<OrderStatus>(result.Int(row, first + 8));
  order.attempt_count = static_cast<int32_t>(result.Int(row, first + 9));
  order.supplier_order_id = result.Text(row, first + 10);
  order.attempt_sent_ms = result.Int(row, first + 11);
  order.channel = result.Text(row, first + 12);
  order.supplier_ref = result.Text(row, first + 13);
  order.fail_reason = result.Text(row, first + 14);
  order.created_ms = result.Int(row, first + 15);
  order.deadline_ms = result.Int(row, first + 16);
  order.updated_ms = result.Int(row, first + 17);
  order.finished_ms = result.Int(row, first + 18);
  order.next_check_ms = result.Int(row, first + 19);
  order.lease_owner = result.Text(row, first + 20);
  order.lease_expires_ms = result.Int(row, first + 21);
  return order;
}

std::string WithOrderColumns(std::string_view before, std::string_view after) {
  std::string sql(before);
  sql += kOrderColumns;
  sql += after;
  return sql;
}

// The one order matching `where` (on the orders table's columns), hot or archived. The archive
// job moves a batch in one transaction, so an order is in exactly one of the tables in any
// snapshot.
std::string OneOrderHotOrArchived(std::string_view where) {
  return SqlText({"SELECT ", kOrderColumns, " FROM orders WHERE ", where, " UNION ALL SELECT ",
                  kOrderColumns, " FROM archived_orders WHERE ", where, " LIMIT 1"});
}

int StatusInt(OrderStatus status) { return static_cast<int>(status); }

// The values of one transition as the rows of `t`, from parameters $1..$18: $1 order_id, $2 from,
// $3 from_attempt_count, $4 to, $5 attempt (0 keep, 1 start, 2 clear), $6 supplier_order_id,
// $7 channel, $8 now_ms, $9 supplier_ref, $10 fail_reason, $11 next_check_ms, $12 release_lease,
// $13 event_kind, $14 event_detail, $15 refuse a live attempt, $16 deadline_missed_detail
// (kDeadlineMissedEvent's, appended after $13's), $17 claim_owner, $18 claim_lease_ms.
constexpr std::string_view kOneTransition =
    "SELECT $1::text AS order_id, $2::integer AS from_status, $3::integer AS from_attempts,"
    " $4::integer AS to_status, $5::integer AS attempt, $6::text AS supplier_order_id,"
    " $7::text AS channel, $8::bigint AS now_ms, $9::text AS supplier_ref,"
    " $10::text AS fail_reason, $11::bigint AS next_check_ms, $12::boolean AS release_lease,"
    " $13::text AS event_kind, $14::text AS event_detail, $15::boolean AS refuse_live,"
    " $16::text AS deadline_detail, $17::text AS claim_owner, $18::bigint AS claim_lease_ms";
// The same from arrays, one element per transition.
constexpr std::string_view kTransitionArrays =
    "SELECT * FROM unnest ($1::text[], $2::integer[], $3::integer[], $4::integer[],"
    " $5::integer[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[],"
    " $11::bigint[], $12::boolean[], $13::text[], $14::text[], $15::boolean[], $16::text[],"
    " $17::text[], $18::bigint[]) AS u (order_id, from_status, from_attempts, to_status, attempt,"
    " supplier_order_id, channel, now_ms, supplier_ref, fail_reason, next_check_ms,"
    " release_lease, event_kind, event_detail, refuse_live, deadline_detail, claim_owner,"
    " claim_lease_ms)";

// The debit of the order $1 (or $2), as a column.
constexpr std::string_view kDebitOfOrder1 =
    " (SELECT coalesce(sum(amount_fen), 0) FROM ledger WHERE order_id = $1::text AND kind = 1)";
constexpr std::string_view kDebitOfOrder2 =
    " (SELECT coalesce(sum(amount_fen), 0) FROM ledger WHERE order_id = $2::text AND kind = 1)";

// The compare-and-set of each order of `transitions` (kOneTransition or kTransitionArrays) and
// its events, the start of apply_transition and move_orders. `moved` has the moved orders.
std::string MoveOrdersSql(std::string_view transitions) {
  return SqlText(
      {"WITH t AS (", transitions,
       "),"
       " moved AS ("
       "  UPDATE orders SET"
       "   status = t.to_status,"
       "   attempt_count = orders.attempt_count + CASE WHEN t.attempt = 1 THEN 1 ELSE 0 END,"
       "   supplier_order_id = CASE t.attempt WHEN 0 THEN orders.supplier_order_id"
       "    WHEN 1 THEN t.supplier_order_id ELSE '' END,"
       "   attempt_sent_ms = CASE t.attempt WHEN 0 THEN orders.attempt_sent_ms"
       "    WHEN 1 THEN t.now_ms ELSE 0 END,"
       "   channel = CASE WHEN t.attempt = 1 THEN t.channel ELSE orders.channel END,"
       "   supplier_ref = CASE WHEN t.supplier_ref <> '' THEN t.supplier_ref"
       "    ELSE orders.supplier_ref END,"
       "   fail_reason = CASE WHEN t.to_status = ",
       kSqlFailed,
       " THEN t.fail_reason ELSE orders.fail_reason END,"
       "   finished_ms = CASE WHEN t.to_status IN ",
       kSqlFinalStatuses,
       " THEN t.now_ms ELSE orders.finished_ms END,"
       "   updated_ms = t.now_ms,"
       "   next_check_ms = t.next_check_ms,"
       "   lease_owner = CASE WHEN t.release_lease THEN ''"
       "    WHEN t.claim_owner <> '' THEN t.claim_owner ELSE orders.lease_owner END,"
       "   lease_expires_ms = CASE WHEN t.release_lease THEN 0"
       "    WHEN t.claim_owner <> '' THEN t.now_ms + t.claim_lease_ms"
       "    ELSE orders.lease_expires_ms END"
       "  FROM t"
       "  WHERE orders.order_id = t.order_id AND orders.status = t.from_status"
       "   AND orders.attempt_count = t.from_attempts"
       "   AND NOT (t.refuse_live AND orders.supplier_order_id <> '')"
       "   AND (t.claim_owner = '' OR orders.lease_expires_ms <= t.now_ms"
       "    OR orders.lease_owner = t.claim_owner)"
       "  RETURNING orders.order_id, orders.merchant_id, orders.price_fen, orders.attempt_count,"
       "   t.from_status, t.to_status, t.now_ms, t.event_kind, t.event_detail,"
       "   t.deadline_detail),"
       " event AS ("
       "  INSERT INTO order_events (order_id, at_ms, kind, from_status, to_status, attempt_no,"
       "   detail)"
       "  SELECT order_id, now_ms, event_kind, from_status, to_status, attempt_count, event_detail"
       "   FROM moved WHERE event_kind <> ''"
       "  UNION ALL"
       "  SELECT order_id, now_ms, 'deadline_missed', from_status, to_status, attempt_count,"
       "   deadline_detail FROM moved WHERE deadline_detail <> '')"});
}

// "failed" promises the phone can no longer be credited: refusing to refund while an attempt may
// still succeed is what keeps a phone from being credited for free.
bool RefusesLiveAttempt(const Transition& t) {
  return t.to == OrderStatus::kFailed && t.attempt == Transition::Attempt::kKeep;
}

int AttemptMode(const Transition& t) {
  return t.attempt == Transition::Attempt::kKeep    ? 0
         : t.attempt == Transition::Attempt::kStart ? 1
                                                    : 2;
}

// The parameters of kOneTransition for `t`. REQUIRES: ValidateTransition(t) is OK.
Params TransitionParams(const Transition& t) {
  Params params;
  params.Text(t.order_id)
      .Int(StatusInt(t.from))
      .Int(t.from_attempt_count)
      .Int(StatusInt(t.to))
      .Int(AttemptMode(t))
      .Text(t.supplier_order_id)
      .Text(t.channel)
      .Int(t.now_ms)
      .Text(CleanFreeText(t.supplier_ref))
      .Text(CleanFreeText(t.fail_reason))
      .Int(t.next_check_ms)
      .Bool(t.release_lease)
      .Text(t.event_kind)
      .Text(CleanFreeText(t.event_detail))
      .Bool(RefusesLiveAttempt(t))
      .Text(CleanFreeText(t.deadline_missed_detail))
      .Text(t.claim_owner)
      .Int(t.claim_lease_ms);
  return params;
}

// The column of `items` (pointers) that `field` reads, for a statement's array parameter.
template <typename Items, typename Field>
auto Column(const Items& items, Field field) {
  std::vector<std::decay_t<decltype(field(**items.begin()))>> column;
  column.reserve(items.size());
  for (const auto* item : items) column.push_back(field(*item));
  return column;
}

// The parameters of kTransitionArrays for `transitions`, as TransitionParams's for each.
Params TransitionArrayParams(std::span<const Transition* const> transitions) {
  using T = const Transition&;
  auto column = [&](auto field) { return Column(transitions, field); };
  auto number = [&](auto field) {
    return Column(transitions, [&](T t) { return static_cast<int64_t>(field(t)); });
  };
  Params params;
  params.TextArray(column([](T t) { return t.order_id; }))
      .IntArray(number([](T t) { return StatusInt(t.from); }))
      .IntArray(number([](T t) { return t.from_attempt_count; }))
      .IntArray(number([](T t) { return StatusInt(t.to); }))
      .IntArray(number([](T t) { return AttemptMode(t); }))
      .TextArray(column([](T t) { return t.supplier_order_id; }))
      .TextArray(column([](T t) { return t.channel; }))
      .IntArray(number([](T t) { return t.now_ms; }))
      .TextArray(column([](T t) { return CleanFreeText(t.supplier_ref); }))
      .TextArray(column([](T t) { return CleanFreeText(t.fail_reason); }))
      .IntArray(number([](T t) { return t.next_check_ms; }))
      .BoolArray(column([](T t) { return t.release_lease; }))
      .TextArray(column([](T t) { return t.event_kind; }))
      .TextArray(column([](T t) { return CleanFreeText(t.event_detail); }))
      .BoolArray(column([](T t) { return RefusesLiveAttempt(t); }))
      .TextArray(column([](T t) { return CleanFreeText(t.deadline_missed_detail); }))
      .TextArray(column([](T t) { return t.claim_owner; }))
      .IntArray(number([](T t) { return t.claim_lease_ms; }));
  return params;
}

// The columns of a notification, in the order ReadNotification expects.
constexpr std::string_view kNotificationColumns =
    "notification_id, order_id, merchant_id, notify_url, order_status, state, schedule_start_ms,"
    " tries, next_try_ms, delivered_ms, lease_owner, lease_expires_ms, created_ms";

Notification ReadNotification(const PgResult& result, int row) {
  Notification n;
  n.notification_id = result.Int(row, 0);
  n.order_id = result.Text(row, 1);
  n.merchant_id = result.Text(row, 2);
  n.notify_url = result.Text(row, 3);
  n.order_status = static_cast<OrderStatus>(result.Int(row, 4));
  n.state = static_cast<NotificationState>(result.Int(row, 5));
  n.schedule_start_ms = result.Int(row, 6);
  n.tries = static_cast<int32_t>(result.Int(row, 7));
  n.next_try_ms = result.Int(row, 8);
  n.delivered_ms = result.Int(row, 9);
  n.lease_owner = result.Text(row, 10);
  n.lease_expires_ms = result.Int(row, 11);
  n.created_ms = result.Int(row, 12);
  return n;
}

Status NotificationNotFound(int64_t notification_id) {
  return NotFound("notification_not_found", "no notification " + std::to_string(notification_id));
}

// Every order the ledger may name, hot or archived: in exactly one of the tables in any snapshot.
constexpr std::string_view kAllOrders =
    "SELECT order_id, merchant_id, status, price_fen FROM orders UNION ALL "
    "SELECT order_id, merchant_id, status, price_fen FROM archived_orders";

// The rows of order_counts this connection's transactions change (see the migration "order
// counts"): one slot of 32 per server process, so that writers on other connections rarely wait
// for each other's count rows. Every transaction changes its count rows last, after every other
// lock it takes, and commits in the same or the next round trip, so no one waits for a count
// row's holder for long and no lock cycle goes through a count row and another row. Two
// transactions on connections that share a slot may still take that slot's rows in different
// status orders: PostgreSQL breaks such a deadlock after deadlock_timeout, and the store tries the
// aborted transaction again (40P01 is retryable everywhere).
constexpr std::string_view kOrderCountSlot = "pg_backend_pid() % 32";

// FindOrders' filter, on either orders table.
constexpr std::string_view kFindCondition =
    " order_id > $1::text AND ($2::text = '' OR merchant_id = $2::text)"
    " AND ($3::integer < 0 OR status = $3::integer) AND created_ms >= $4::bigint"
    " AND ($5::bigint = 0 OR created_ms < $5::bigint)";

// Every statement of the store. Parameters are cast where PostgreSQL cannot infer their type
// (select lists, CASE), and the same way at every use.
struct Statements {
  Query create_merchant{"topup_create_merchant",
                        "INSERT INTO merchants (merchant_id, name, balance_fen, created_ms) "
                        "VALUES ($1, $2, 0, $3) ON CONFLICT (merchant_id) DO NOTHING RETURNING 1"};

  // Credits the merchant unless that would pass the balance limit; the second column tells an
  // unknown merchant from one at its limit.
  Query fund_merchant{
      "topup_fund_merchant",
      "WITH credit AS ("
      "  UPDATE merchants SET balance_fen = balance_fen + $2::bigint"
      "  WHERE merchant_id = $1::text AND balance_fen + $2::bigint <= $5::bigint"
      "  RETURNING balance_fen),"
      " entry AS ("
      "  INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen,"
      "   created_ms, note)"
      "  SELECT $1::text, NULL, 0, $2::bigint, balance_fen, $3::bigint, $4::text FROM credit)"
      " SELECT (SELECT balance_fen FROM credit),"
      "  EXISTS (SELECT 1 FROM merchants WHERE merchant_id = $1::text)"};

  // Takes the lowest free slot. Columns: the merchant exists, a slot was free, the key was
  // inserted. Exists and free but not inserted: the id is taken, or another node took the slot
  // between this statement's snapshot and its insert.
  Query add_merchant_key{
      "topup_add_merchant_key",
      "WITH m AS (SELECT 1 FROM merchants WHERE merchant_id = $1::text),"
      " free AS (SELECT s FROM (VALUES (1), (2)) AS v (s) WHERE s NOT IN"
      "  (SELECT slot FROM merchant_keys WHERE merchant_id = $1::text AND revoked_ms = 0)"
      "  ORDER BY s LIMIT 1),"
      " ins AS (INSERT INTO merchant_keys (key_id, merchant_id, slot, sealed_secret, created_ms,"
      "  revoked_ms) SELECT $2::text, $1::text, s, $3::text, $4::bigint, 0 FROM m, free"
      "  ON CONFLICT DO NOTHING RETURNING 1)"
      " SELECT EXISTS (SELECT 1 FROM m), EXISTS (SELECT 1 FROM free), EXISTS (SELECT 1 FROM ins)"};

  Query get_merchant_key{"topup_get_merchant_key",
                         "SELECT key_id, merchant_id, sealed_secret, created_ms, revoked_ms"
                         " FROM merchant_keys WHERE key_id = $1::text"};

  // No row: no such merchant. One row of NULLs: a merchant without keys.
  Query list_merchant_keys{
      "topup_list_merchant_keys",
      "SELECT k.key_id, k.merchant_id, k.sealed_secret, k.created_ms, k.revoked_ms"
      " FROM merchants m LEFT JOIN merchant_keys k ON k.merchant_id = m.merchant_id"
      " WHERE m.merchant_id = $1::text ORDER BY k.created_ms, k.key_id"};

  // One row if the merchant has the key (revoked now or before), none otherwise.
  Query revoke_merchant_key{
      "topup_revoke_merchant_key",
      "WITH r AS (UPDATE merchant_keys SET revoked_ms = $3::bigint"
      "  WHERE key_id = $2::text AND merchant_id = $1::text AND revoked_ms = 0 RETURNING 1)"
      " SELECT 1 FROM merchant_keys WHERE key_id = $2::text AND merchant_id = $1::text"};

  Query get_merchant{"topup_get_merchant",
                     "SELECT merchant_id, name, balance_fen, created_ms FROM merchants "
                     "WHERE merchant_id = $1"};

  // No row: no such merchant. One row of NULLs: a merchant with no entries in the page.
  Query list_ledger{
      "topup_list_ledger",
      "SELECT l.entry_id, l.merchant_id, coalesce(l.order_id, ''), l.kind, l.amount_fen,"
      " l.balance_after_fen, l.created_ms, l.note"
      " FROM merchants m LEFT JOIN LATERAL ("
      "  SELECT * FROM ledger WHERE ledger.merchant_id = m.merchant_id AND entry_id > $2::bigint"
      "  ORDER BY entry_id LIMIT $3::bigint) l ON true"
      " WHERE m.merchant_id = $1::text ORDER BY l.entry_id"};

  Query audit_merchants{
      "topup_audit_merchants",
      SqlText({"WITH l AS (SELECT merchant_id, sum(amount_fen)::bigint AS total,"
               "  sum(CASE WHEN kind = 0 THEN amount_fen ELSE 0 END)::bigint AS funded,"
               "  sum(CASE WHEN kind = 1 THEN -amount_fen ELSE 0 END)::bigint AS debited,"
               "  sum(CASE WHEN kind = 2 THEN amount_fen ELSE 0 END)::bigint AS refunded"
               "  FROM ledger GROUP BY merchant_id),"
               " o AS (SELECT merchant_id, sum(price_fen)::bigint AS kept FROM (",
               kAllOrders, ") a WHERE status <> ", kSqlFailed,
               "  GROUP BY merchant_id)"
               " SELECT m.merchant_id, m.balance_fen, coalesce(l.total, 0), coalesce(l.funded, 0),"
               "  coalesce(l.debited, 0), coalesce(l.refunded, 0), coalesce(o.kept, 0)"
               " FROM merchants m LEFT JOIN l USING (merchant_id) LEFT JOIN o USING (merchant_id)"
               " ORDER BY m.merchant_id"})};

  Query audit_orders{
      "topup_audit_orders",
      SqlText({"WITH d AS (SELECT order_id, count(*) AS n, sum(amount_fen)::bigint AS amount,"
               "  max(merchant_id) AS merchant_id FROM ledger WHERE kind = 1 GROUP BY order_id),"
               " r AS (SELECT order_id, count(*) AS n, sum(amount_fen)::bigint AS amount,"
               "  max(merchant_id) AS merchant_id FROM ledger WHERE kind = 2 GROUP BY order_id)"
               " SELECT o.order_id, o.status, o.price_fen, coalesce(d.n, 0), coalesce(d.amount, 0),"
               "  coalesce(r.n, 0), coalesce(r.amount, 0)"
               " FROM (",
               kAllOrders,
               ") o LEFT JOIN d USING (order_id) LEFT JOIN r USING (order_id)"
               " WHERE coalesce(d.n, 0) <> 1 OR coalesce(d.amount, 0) <> -o.price_fen"
               "  OR d.merchant_id <> o.merchant_id OR r.merchant_id <> o.merchant_id"
               "  OR coalesce(r.n, 0) <> (CASE WHEN o.status = ",
               kSqlFailed,
               " THEN 1 ELSE 0 END)"
               "  OR coalesce(r.amount, 0) <> (CASE WHEN o.status = ",
               kSqlFailed,
               " THEN o.price_fen ELSE 0 END)"
               " ORDER BY o.order_id"})};

  Query audit_running{
      "topup_audit_running",
      "SELECT entry_id, merchant_id, balance_after_fen, running FROM ("
      " SELECT entry_id, merchant_id, balance_after_fen,"
      "  (sum(amount_fen) OVER (PARTITION BY merchant_id ORDER BY entry_id))::bigint AS running"
      " FROM ledger) s WHERE running <> balance_after_fen ORDER BY entry_id"};

  // AcceptOrder in one statement, hence one transaction and one round trip:
  //  - existing: an earlier order with this merchant order id, as of the statement's snapshot;
  //  - debit: only if there is none, and only if the balance covers the price (re-checked on the
  //    newest row version after waiting for a concurrent debit's lock);
  //  - created: the order, only if debited; ON CONFLICT DO NOTHING when an identical request
  //    committed after our snapshot;
  //  - the ledger row is inserted from the debit, not from `created`: if `created` lost that race,
  //    the ledger row's order check (ledger_order_id_fkey, a constraint trigger since the
  //    archive dropped the foreign key) fails at the end of the statement, which rolls back the
  //    debit too. AcceptOrder then runs the statement again and finds the winner.
  // Result: created count, merchant known, then the existing order's columns (NULL if none).
  Query accept_order{
      "topup_accept_order",
      "WITH existing AS (" +
          OneOrderHotOrArchived("merchant_id = $2::text AND merchant_order_id = $3::text") +
          "),"
          " debit AS ("
          "  UPDATE merchants SET balance_fen = balance_fen - $7::bigint"
          "  WHERE merchant_id = $2::text AND balance_fen >= $7::bigint"
          "  AND NOT EXISTS (SELECT 1 FROM existing)"
          "  RETURNING balance_fen),"
          " created AS (INSERT INTO orders (" +
          WithOrderColumns(
              "",
              ") SELECT $1::text, $2::text, $3::text, $4::text, $5::integer, $6::integer,"
              "  $7::bigint, $8::text, 0, 0, '', $9::bigint, $10::text, $11::text, $12::text,"
              "  $13::bigint, $14::bigint, $15::bigint, 0, $16::bigint, $17::text, $18::bigint"
              "  FROM debit"
              "  ON CONFLICT (merchant_id, merchant_order_id) DO NOTHING"
              "  RETURNING order_id),"
              " debit_entry AS ("
              "  INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen,"
              "   created_ms, note)"
              "  SELECT $2::text, $1::text, 1, -$7::bigint, balance_fen, $13::bigint, ''"
              "  FROM debit),"
              " accepted_event AS ("
              "  INSERT INTO order_events (order_id, at_ms, kind, from_status, to_status,"
              "   attempt_no, detail)"
              "  SELECT order_id, $13::bigint, 'accepted', 0, 0, 0, '' FROM created),"
              " counted AS ("
              "  UPDATE order_counts SET orders = orders + 1 WHERE status = 0 AND slot = " +
                  std::string(kOrderCountSlot) +
                  "  AND EXISTS (SELECT 1 FROM created))"
                  " SELECT (SELECT count(*) FROM created),"
                  "  EXISTS (SELECT 1 FROM merchants WHERE merchant_id = $2::text), e.*"
                  " FROM (VALUES (0)) AS one (x) LEFT JOIN existing e ON true")};

  // The statements of an accept batch (TryAcceptBatch), each for the whole batch.
  // The balances of the merchants $1, read without a lock: the batch's plan is checked against
  // the balance it finds when it debits (debit_merchants).
  Query read_balances{"topup_read_balances",
                      "SELECT merchant_id, balance_fen FROM merchants"
                      " WHERE merchant_id = ANY ($1::text[])"};
  // Locks the merchants $1 in merchant id order, as every writer of several merchant rows does.
  Query lock_merchants{"topup_lock_merchants",
                       "SELECT 1 FROM merchants WHERE merchant_id = ANY ($1::text[])"
                       " ORDER BY merchant_id FOR NO KEY UPDATE"};
  // The stored orders, hot or archived, with any of the (merchant id, merchant order id) pairs
  // $1, $2. DISTINCT pairs joined to each table: one unique-index probe per pair (an IN (subquery)
  // was planned as a scan of every stored order).
  Query find_batch_orders{
      "topup_find_batch_orders",
      SqlText({"WITH k AS MATERIALIZED (SELECT DISTINCT * FROM unnest ($1::text[], $2::text[])"
               "  AS k (m, mo))"
               " SELECT ",
               kOrderColumns,
               " FROM k JOIN orders ON merchant_id = k.m AND merchant_order_id = k.mo"
               " UNION ALL SELECT ",
               kOrderColumns,
               " FROM k JOIN archived_orders ON merchant_id = k.m AND merchant_order_id = k.mo"})};
  // One row per element of the arrays, which hold accept_order's parameters $1..$18 in order.
  // orders' UNIQUE (merchant_id, merchant_order_id) refuses an order whose merchant order id
  // another order took since the batch's read; an archived one is skipped here instead, and the
  // debit's ledger row for it then fails ledger_order_id_fkey: either way the statement fails.
  Query insert_orders{
      "topup_insert_orders",
      WithOrderColumns("INSERT INTO orders (", "") +
          ") SELECT o, m, mo, ph, ca, fv, pr, nu, 0, 0, '', sent, ch, ref, fr, cr, dl, up, 0, nc,"
          " lo, le FROM unnest ($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[],"
          " $6::integer[], $7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::text[],"
          " $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[],"
          " $17::text[], $18::bigint[])"
          " AS u (o, m, mo, ph, ca, fv, pr, nu, sent, ch, ref, fr, cr, dl, up, nc, lo, le)"
          " WHERE NOT EXISTS (SELECT 1 FROM archived_orders a"
          "  WHERE a.merchant_id = u.m AND a.merchant_order_id = u.mo)"};
  Query insert_accepted_events{
      "topup_insert_accepted_events",
      "INSERT INTO order_events (order_id, at_ms, kind, from_status, to_status, attempt_no,"
      " detail)"
      " SELECT o, c, 'accepted', 0, 0, 0, '' FROM unnest ($1::text[], $2::bigint[])"
      "  WITH ORDINALITY AS u (o, c, n) ORDER BY n"};
  // Takes $3 from merchant $1, one row per merchant, and writes the debits' ledger rows ($5
  // merchant, $6 order, $7 price, $8 now; entry ids in the arrays' order, which is the order of
  // the debits) with the balances after them, from the balance the debit found. The plan holds if
  // that balance covers $3, or, where the plan refused an order for its balance ($4), if it is
  // still the $2 the batch read. Otherwise the balance becomes -1, which the balance's CHECK
  // (merchants_balance_fen_check) refuses: the statement fails and the transaction with it. So
  // does a debit without its merchant (a NULL balance after), which merchants never deleted rule
  // out: orders no longer reference merchants, and this is where an order's merchant is checked.
  Query debit_merchants{
      "topup_debit_merchants",
      "WITH d AS ("
      "  UPDATE merchants SET balance_fen = CASE"
      "   WHEN merchants.balance_fen >= x.amount"
      "    AND (NOT x.exact OR merchants.balance_fen = x.read)"
      "   THEN merchants.balance_fen - x.amount ELSE -1 END"
      "  FROM unnest ($1::text[], $2::bigint[], $3::bigint[], $4::boolean[])"
      "   AS x (merchant_id, read, amount, exact)"
      "  WHERE merchants.merchant_id = x.merchant_id"
      "  RETURNING merchants.merchant_id, merchants.balance_fen + x.amount AS before)"
      " INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen,"
      "  created_ms, note)"
      " SELECT e.m, e.o, 1, -e.p,"
      "  (d.before - sum(e.p) OVER (PARTITION BY e.m ORDER BY e.n))::bigint, e.c, ''"
      " FROM unnest ($5::text[], $6::text[], $7::bigint[], $8::bigint[]) WITH ORDINALITY"
      "  AS e (m, o, p, c, n) LEFT JOIN d ON d.merchant_id = e.m ORDER BY e.n"};

  Query get_order{"topup_get_order", OneOrderHotOrArchived("order_id = $1::text")};
  Query read_orders{"topup_read_orders",
                    WithOrderColumns("SELECT ", " FROM orders WHERE order_id = ANY ($1::text[])")};
  Query find_order{
      "topup_find_order",
      OneOrderHotOrArchived("merchant_id = $1::text AND merchant_order_id = $2::text")};
  Query list_events{"topup_list_events",
                    "SELECT event_id, order_id, at_ms, kind, from_status, to_status, attempt_no,"
                    " detail FROM order_events WHERE order_id = $1::text UNION ALL"
                    " SELECT event_id, order_id, at_ms, kind, from_status, to_status, attempt_no,"
                    " detail FROM archived_order_events WHERE order_id = $1::text"
                    " ORDER BY event_id LIMIT $2::bigint"};
  Query list_merchants{"topup_list_merchants",
                       "SELECT merchant_id, name, balance_fen, created_ms FROM merchants"
                       " WHERE merchant_id > $1::text ORDER BY merchant_id LIMIT $2::bigint"};
  // No row: no such merchant.
  Query held_fen{"topup_held_fen",
                 SqlText({"SELECT (SELECT coalesce(sum(price_fen), 0)::bigint FROM orders"
                          " WHERE merchant_id = $1::text AND ",
                          kPostgresOpen, ") FROM merchants WHERE merchant_id = $1::text"})};
  // Each condition is switched off by its own parameter, so one statement serves every filter.
  // Hot and archived orders merge in order_id order (a Merge Append of the two primary keys).
  Query find_orders{"topup_find_orders",
                    SqlText({"SELECT ", kOrderColumns, " FROM orders WHERE", kFindCondition,
                             " UNION ALL SELECT ", kOrderColumns, " FROM archived_orders WHERE",
                             kFindCondition, " ORDER BY order_id LIMIT $6::bigint"})};
  Query count_orders{"topup_count_orders",
                     "SELECT status, sum(orders)::bigint FROM order_counts GROUP BY status"};
  // Adds $2 to the count of status $1 (arrays, in status order) in this connection's slot.
  Query change_order_counts{
      "topup_change_order_counts",
      SqlText({"UPDATE order_counts SET orders = orders + c.n"
               " FROM unnest ($1::integer[], $2::bigint[]) AS c (status, n)"
               " WHERE order_counts.status = c.status AND order_counts.slot = ",
               kOrderCountSlot})};
  // kPostgresOpen is the condition of the partial index orders_due: only open rows.
  Query summarize_open_orders{
      "topup_summarize_open_orders",
      SqlText({"SELECT status, count(*), min(created_ms), sum(price_fen),"
               " count(*) FILTER (WHERE lease_owner <> '' AND lease_expires_ms <= $1::bigint)"
               " FROM orders WHERE ",
               kPostgresOpen, " GROUP BY status"})};
  // "state = 0" is the condition of the partial index notifications_due: pending rows only.
  Query summarize_notification_backlog{
      "topup_summarize_notification_backlog",
      "SELECT count(*), coalesce(min(schedule_start_ms), 0) FROM notifications WHERE state = 0"};

  // A lapsed lease may be taken by anyone; a live one only by its holder, who renews it.
  Query claim_orders{
      "topup_claim_orders",
      WithOrderColumns(
          SqlText({"UPDATE orders SET lease_owner = $2::text, lease_expires_ms = $3::bigint"
                   " WHERE order_id = ANY ($1::text[]) AND ",
                   kPostgresOpen,
                   " AND (lease_expires_ms <= $4::bigint OR lease_owner = $2::text) RETURNING "}),
          "")};
  Query renew_leases{"topup_renew_leases",
                     SqlText({"UPDATE orders SET lease_expires_ms = $3::bigint"
                              " WHERE order_id = ANY ($1::text[]) AND lease_owner = $2::text AND ",
                              kPostgresOpen})};
  // kPostgresOpen as in the partial index orders_due, so only the open orders are read.
  Query release_leases{"topup_release_leases",
                       SqlText({"UPDATE orders SET lease_owner = '', lease_expires_ms = 0,"
                                " next_check_ms = LEAST(next_check_ms, $2::bigint)"
                                " WHERE lease_owner = $1::text AND ",
                                kPostgresOpen, " RETURNING 1"})};

  // The compare-and-set is the WHERE clause of the UPDATE: the row moves only if it is still in
  // the (status, attempt_count) the caller last saw, re-checked on the newest row version once
  // any concurrent writer's lock is released, so of two racing workers exactly one moves it. The
  // event, the refund and its ledger row hang off the UPDATE's RETURNING, so they are written iff
  // it applied, in the same transaction. $15 refuses to fail an order whose attempt is live.
  // Result: rows moved (0 or 1), merchants refunded (0 or 1), and for a refund, for the ledger's
  // rules: its amount, the balance after it and the order's debit.
  Query apply_transition{
      "topup_apply_transition",
      MoveOrdersSql(kOneTransition) +
          SqlText({", refund AS ("
                   "  UPDATE merchants SET balance_fen = merchants.balance_fen +"
                   "   moved.price_fen FROM moved"
                   "  WHERE merchants.merchant_id = moved.merchant_id AND $4::integer = ",
                   kSqlFailed,
                   "  RETURNING merchants.merchant_id, merchants.balance_fen,"
                   "   moved.price_fen),"
                   " refund_entry AS ("
                   "  INSERT INTO ledger (merchant_id, order_id, kind, amount_fen,"
                   "   balance_after_fen, created_ms, note)"
                   "  SELECT merchant_id, $1::text, 2, price_fen, balance_fen, $8::bigint,"
                   "   $10::text FROM refund),"
                   // Both gates are read before any count row: the order and its merchant are
                   // locked first, as kOrderCountSlot asks.
                   " counted AS ("
                   "  UPDATE order_counts SET orders = orders +"
                   "   CASE WHEN status = $4::integer THEN 1 ELSE -1 END"
                   "  WHERE slot = ",
                   kOrderCountSlot,
                   "  AND status IN ($2::integer, $4::integer) AND $2::integer <> $4::integer"
                   "  AND (SELECT count(*) FROM moved) = 1"
                   "  AND (SELECT count(*) FROM refund) = CASE WHEN $4::integer = ",
                   kSqlFailed,
                   " THEN 1 ELSE 0 END)"
                   " SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM refund),"
                   "  (SELECT price_fen FROM refund), (SELECT balance_fen FROM refund),",
                   kDebitOfOrder1})};
  // The statements of a transition batch (TryBatch). lock_orders locks the orders $1 in order id
  // order. move_orders is apply_transition without the refund for every transition of the arrays
  // (kTransitionArrays), for ApplyTransitions, which refunds afterwards in merchant order. Result:
  // each moved order with its merchant and price.
  Query lock_orders{"topup_lock_orders",
                    "SELECT 1 FROM orders WHERE order_id = ANY ($1::text[]) ORDER BY order_id"
                    " FOR NO KEY UPDATE"};
  Query move_orders{"topup_move_orders", MoveOrdersSql(kTransitionArrays) +
                                             " SELECT order_id, merchant_id, price_fen FROM moved"};
  // move_orders with the moved orders' count changes, for a batch that refunds nothing: it locks
  // nothing after its orders, so its count rows stay the last it locks, and its COMMIT can go in
  // the same pipeline.
  Query move_orders_counted{
      "topup_move_orders_counted",
      MoveOrdersSql(kTransitionArrays) +
          SqlText({", counted AS ("
                   "  UPDATE order_counts SET orders = orders + c.n"
                   "  FROM (SELECT status, sum(n) AS n FROM (SELECT from_status AS status, -1 AS n"
                   "   FROM moved UNION ALL SELECT to_status, 1 FROM moved) AS d GROUP BY status)"
                   "   AS c"
                   "  WHERE order_counts.status = c.status AND order_counts.slot = ",
                   kOrderCountSlot,
                   ")"
                   " SELECT order_id, merchant_id, price_fen FROM moved"})};
  // live_attempt for each of the orders $1 still in status $2 and attempt count $3 (arrays):
  // those of them with a live attempt, and its supplier order id.
  Query live_attempts{"topup_live_attempts",
                      "SELECT o.order_id, o.supplier_order_id"
                      " FROM unnest ($1::text[], $2::integer[], $3::integer[]) AS t (order_id,"
                      "  from_status, from_attempts)"
                      " JOIN orders o ON o.order_id = t.order_id AND o.status = t.from_status"
                      "  AND o.attempt_count = t.from_attempts"
                      " WHERE o.supplier_order_id <> ''"};
  // Refunds $3 of order $2 to merchant $1 with its ledger row ($4 now, $5 note). Result: one row,
  // the balance after the refund and the order's debit.
  Query refund_order{
      "topup_refund_order",
      SqlText({"WITH refund AS ("
               "  UPDATE merchants SET balance_fen = balance_fen + $3::bigint"
               "  WHERE merchant_id = $1::text RETURNING balance_fen)"
               " INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen,"
               "  created_ms, note)"
               " SELECT $1::text, $2::text, 2, $3::bigint, balance_fen, $4::bigint, $5::text"
               " FROM refund RETURNING balance_after_fen,",
               kDebitOfOrder2})};
  Query begin{"topup_begin", "BEGIN"};
  // Assigns a transaction id, which a server that cannot write (read-only, disk full) refuses.
  Query probe_commit{"topup_probe_commit", "SELECT txid_current()"};
  Query commit{"topup_commit", "COMMIT"};
  Query live_attempt{"topup_live_attempt",
                     "SELECT supplier_order_id FROM orders"
                     " WHERE order_id = $1::text AND status = $2::integer"
                     " AND attempt_count = $3::integer"};

  // FOR UPDATE SKIP LOCKED: a sweeper never waits for another's rows, and a row another sweeper
  // took and committed after our snapshot is re-checked on its newest version, whose
  // next_check_ms is no longer due, so no order is handed out twice within redeliver_after_ms.
  // kPostgresOpen matches the orders_due partial index.
  // A lapsed lease is cleared, and `lapsed` (from the row as it was) says it was there.
  Query take_due{"topup_take_due",
                 SqlText({"WITH due AS ("
                          "  SELECT order_id, lease_owner <> '' AS lapsed FROM orders"
                          "  WHERE ",
                          kPostgresOpen,
                          " AND next_check_ms <= $1::bigint"
                          "  AND lease_expires_ms <= $1::bigint"
                          "  ORDER BY next_check_ms LIMIT $2::bigint"
                          "  FOR UPDATE SKIP LOCKED)"
                          " UPDATE orders SET next_check_ms = $1::bigint + $3::bigint,"
                          "  lease_owner = '', lease_expires_ms = 0 FROM due"
                          " WHERE orders.order_id = due.order_id"
                          " RETURNING orders.order_id, due.lapsed"})};

  // FOR UPDATE SKIP LOCKED: two nodes claiming at once take disjoint rows without waiting for
  // each other, and a row another node leased and committed after our snapshot is re-checked on
  // its newest version, whose lease has not lapsed. "state = 0" matches notifications_due. Each
  // row comes with its order's fields.
  Query claim_notifications{
      "topup_claim_notifications",
      "WITH due AS ("
      "  SELECT notification_id AS due_id FROM notifications"
      "  WHERE state = 0 AND next_try_ms <= $1::bigint AND lease_expires_ms <= $1::bigint"
      "  ORDER BY next_try_ms LIMIT $4::bigint FOR UPDATE SKIP LOCKED),"
      " claimed AS ("
      "  UPDATE notifications SET lease_owner = $2::text,"
      "   lease_expires_ms = $1::bigint + $3::bigint FROM due"
      "  WHERE notification_id = due.due_id"
      "  RETURNING " +
          std::string(kNotificationColumns) +
          ")"
          " SELECT claimed.*, notified.* FROM claimed LEFT JOIN LATERAL (SELECT " +
          std::string(store_rules::kNotifiedOrderColumns) +
          "  FROM orders WHERE orders.order_id = claimed.order_id) notified ON true"};
  // One row per outcome, as arrays in the same order; state 1 delivered, 0 retry at next_try_ms,
  // 2 given up. Result, in the outcomes' order: whether the try was recorded (false: no such
  // row), whether the row moved.
  Query record_notification_tries{
      "topup_record_notification_tries",
      "WITH outcome AS ("
      "  SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[],"
      "   $5::bigint[], $6::bigint[], $7::integer[], $8::text[], $9::bigint[]) WITH ORDINALITY"
      "  AS o(notification_id, owner, state, next_try_ms, delivered_ms, at_ms, http_status,"
      "   error, latency_ms, ord)),"
      " recorded AS ("
      "  INSERT INTO notification_tries (notification_id, at_ms, http_status, error, latency_ms)"
      "  SELECT o.notification_id, o.at_ms, o.http_status, o.error, o.latency_ms"
      "  FROM outcome o JOIN notifications n ON n.notification_id = o.notification_id"
      "  ORDER BY o.ord RETURNING notification_id),"
      " moved AS ("
      "  UPDATE notifications n SET state = o.state, tries = n.tries + 1,"
      "   next_try_ms = CASE WHEN o.state = 0 THEN o.next_try_ms ELSE n.next_try_ms END,"
      "   delivered_ms = CASE WHEN o.state = 1 THEN o.delivered_ms ELSE 0 END,"
      "   lease_owner = '', lease_expires_ms = 0"
      "  FROM outcome o"
      "  WHERE n.notification_id = o.notification_id AND n.lease_owner = o.owner AND n.state = 0"
      "  RETURNING n.notification_id)"
      " SELECT o.notification_id IN (SELECT notification_id FROM recorded),"
      "  o.notification_id IN (SELECT notification_id FROM moved)"
      " FROM outcome o ORDER BY o.ord"};
  Query list_notifications{"topup_list_notifications",
                           "SELECT " + std::string(kNotificationColumns) +
                               " FROM notifications WHERE order_id = $1::text"
                               " ORDER BY notification_id"};
  Query get_notification{"topup_get_notification",
                         "SELECT " + std::string(kNotificationColumns) +
                             " FROM notifications WHERE notification_id = $1::bigint"};
  Query list_notification_tries{
      "topup_list_notification_tries",
      "SELECT notification_id, at_ms, http_status, error, latency_ms FROM notification_tries"
      " WHERE notification_id = $1::bigint ORDER BY try_id LIMIT $2::bigint"};
  Query resend_notification{
      "topup_resend_notification",
      "UPDATE notifications SET state = 0, schedule_start_ms = $2::bigint, tries = 0,"
      " next_try_ms = $2::bigint, delivered_ms = 0, lease_owner = '', lease_expires_ms = 0"
      " WHERE notification_id = $1::bigint RETURNING " +
          std::string(kNotificationColumns)};
  Query count_notifications{"topup_count_notifications",
                            "SELECT state, count(*) FROM notifications GROUP BY state"};
};

const Statements& Sql() {
  static const Statements statements;
  return statements;
}

bool IsRetryable(const PgResult& result) {
  const std::string state = result.sqlstate();
  return state == "40001" || state == "40P01";
}

// An accept batch's debit_merchants, refused because the balance no longer fits the batch's plan.
bool IsRefusedDebit(const PgResult& result) {
  return result.sqlstate() == "23514" && result.constraint() == "merchants_balance_fen_check";
}

// Transitions ApplyTransitions writes in one transaction: bounds how long one batch holds its row
// locks, and the size of its pipelines.
constexpr size_t kMaxTransitionsPerTransaction = 512;

// Accepts AcceptOrderAsync writes in one transaction: bounds how long one batch holds its
// merchants' rows, and the size of its pipeline.
constexpr size_t kMaxAcceptsPerTransaction = 256;
// Accept batches written at once, each on its own pooled connection (at most pool_size). Batches
// of one merchant queue for its row: two let one batch be answered while the next is written,
// and the fewer there are, the larger each grows.
constexpr size_t kMaxAcceptBatchesInFlight = 2;

// An AcceptOrderAsync call waiting for a batch.
struct PendingAccept {
  Order order;
  AcceptCallback done;
};

// The parameters of accept_order for `order`. REQUIRES: ValidateNewOrder(order) is OK.
Params AcceptParams(const Order& order) {
  Params params;
  params.Text(order.order_id)
      .Text(order.merchant_id)
      .Text(order.merchant_order_id)
      .Text(order.phone)
      .Int(static_cast<int64_t>(order.carrier))
      .Int(order.face_value_yuan)
      .Int(order.price_fen)
      .Text(order.notify_url)
      .Int(order.attempt_sent_ms)
      .Text(order.channel)
      .Text(CleanFreeText(order.supplier_ref))
      .Text(CleanFreeText(order.fail_reason))
      .Int(order.created_ms)
      .Int(order.deadline_ms)
      .Int(order.updated_ms)
      .Int(order.next_check_ms)
      .Text(order.lease_owner)
      .Int(order.lease_expires_ms);
  return params;
}

// The parameters of change_order_counts for `changes`.
Params OrderCountChangeParams(const store_rules::OrderCountChanges& changes) {
  std::vector<int64_t> statuses, counts;
  for (const auto& [status, n] : changes.Changed()) {
    statuses.push_back(StatusInt(status));
    counts.push_back(n);
  }
  return Params().IntArray(statuses).IntArray(counts);
}

// What AcceptOrder answers for `order` given the successful answer of its accept_order.
// insufficient_balance may be stale: the statement's snapshot predates an identical merchant
// order id committed while its debit waited for that writer's lock (see IsShortBalance).
Result<AcceptResult> ReadAccepted(const Order& order, const PgResult& result) {
  if (result.Int(0, 0) == 1) {
    AcceptResult accepted;
    accepted.order = order;
    accepted.order.supplier_ref = CleanFreeText(order.supplier_ref);
    accepted.order.fail_reason = CleanFreeText(order.fail_reason);
    accepted.created = true;
    return accepted;
  }
  if (!result.IsNull(0, 2)) return AnswerForExisting(order, ReadOrder(result, 0, 2));
  if (!result.Bool(0, 1)) {
    return NotFound("unknown_merchant", "no merchant '" + order.merchant_id + "'");
  }
  return FailedPrecondition("insufficient_balance", "the balance is below the price of " +
                                                        std::to_string(order.price_fen) + " fen");
}

// A short balance is looked at again by a later statement (a newer snapshot): the debit of an
// accept waits for the writer that holds the merchant's row, and when that writer committed the
// same merchant order id (and took the last of the balance), the accept's own snapshot, older
// than that commit, did not see it. The merchant is then owed the order or the conflict.
bool IsShortBalance(const Result<AcceptResult>& answer) {
  return !answer.ok() && answer.status().reason() == "insufficient_balance";
}

// What one transition of a batch did inside the batch's transaction, before the commit.
struct BatchOutcome {
  Result<bool> result = false;  // true: moved; false: lost; or FailedPrecondition("live_attempt")
  std::string merchant_id;      // moved: the order's merchant and price, for the refund
  int64_t price_fen = 0;
};

// How one try of a batch's transaction ended.
struct BatchEnd {
  enum class Kind {
    kCommitted,      // every outcome is final
    kRetry,          // rolled back for a deadlock or a serialization failure: try again
    kDrop,           // rolled back because of one item, unknown which: each is written alone
    kAbandon,        // rolled back (or never begun) for a reason that concerns the whole batch
    kCommitUnknown,  // the connection broke during COMMIT
  };
  Kind kind = Kind::kCommitted;
  Status status;  // kDrop, kAbandon, kCommitUnknown: why
};

// How a batch's try ended given the answer to its COMMIT.
BatchEnd CommitEnd(const PgResult& committed) {
  if (committed.ok()) return BatchEnd{};
  // COMMIT ends the transaction even when it fails; without an answer, its outcome is unknown.
  if (committed.sqlstate().empty()) {
    return BatchEnd{BatchEnd::Kind::kCommitUnknown, committed.ToStatus()};
  }
  if (IsRetryable(committed)) return BatchEnd{BatchEnd::Kind::kRetry, Status::Ok()};
  return BatchEnd{BatchEnd::Kind::kAbandon, committed.ToStatus()};
}

// The indexes of the items that `validate` accepts, stably sorted by `lock_key` (the order in
// which a batch takes its row locks); the others get their error in `results`.
template <typename Item, typename Answer, typename Validate, typename LockKey>
std::vector<size_t> ValidInLockOrder(std::span<const Item> items, std::vector<Answer>& results,
                                     Validate validate, LockKey lock_key) {
  std::vector<size_t> valid;
  valid.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (Status status = validate(items[i]); status.ok()) {
      valid.push_back(i);
    } else {
      results[i] = std::move(status);
    }
  }
  std::stable_sort(valid.begin(), valid.end(),
                   [&](size_t a, size_t b) { return lock_key(items[a]) < lock_key(items[b]); });
  return valid;
}

class PostgresStore final : public Store {
 public:
  PostgresStore(std::unique_ptr<ConnectionPool> pool, size_t pool_size, size_t accept_queue_max)
      : pool_(std::move(pool)), accept_queue_max_(accept_queue_max) {
    const size_t threads = std::min(pool_size, kMaxAcceptBatchesInFlight);
    for (size_t i = 0; i < threads; ++i) accept_threads_.emplace_back([this] { RunAccepts(); });
  }
  // Answers every accept already queued, then joins the accept threads.
  ~PostgresStore() override {
    {
      std::lock_guard<std::mutex> lock(accept_mu_);
      accept_stopping_ = true;
    }
    accept_ready_.notify_all();
    for (std::thread& thread : accept_threads_) thread.join();
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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
  // Told of the batched transactions: the accepts written together and the transitions applied
  // together (one-statement writes are not batches and are not told).
  void SetCommitObserver(CommitObserver observer) override {
    commit_observer_ = std::move(observer);
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
  // Runs `query` on a pooled connection. Deadlocks and serialization failures are retried:
  // PostgreSQL rolled the whole statement back, so running it again cannot apply anything twice.
  // Any other failed statement is returned as it is, for the caller to look at.
  Result<PgResult> RunRaw(const Query& query, const Params& params);
  // Like RunRaw, with a failed statement turned into its Status.
  Result<PgResult> Run(const Query& query, const Params& params);
  // ApplyTransition without counting the write (the caller has).
  Result<bool> ApplyOne(const Transition& t);
  // AcceptOrder without counting the write (the caller has).
  Result<AcceptResult> AcceptOne(const Order& order);
  // The single order selected by `query`, or NotFound("order_not_found").
  Result<Order> ReadOneOrder(const Query& query, const Params& params);

  // Applies transitions[i] for each i of `batch` in one transaction, storing each result in
  // results[i]. Returns the indices left for the caller to apply one by one: all of them when a
  // try was rolled back for one of them, or after kMaxAttempts tries. REQUIRES: `batch` is sorted
  // by order id and its transitions are valid.
  std::vector<size_t> ApplyInOneTransaction(std::span<const Transition> transitions,
                                            std::vector<size_t> batch,
                                            std::vector<Result<bool>>& results);
  // One try of ApplyInOneTransaction on `db`: fills outcomes[p] for each position p of `batch`.
  BatchEnd TryBatch(postgres::PgConnection& db, std::span<const Transition> transitions,
                    const std::vector<size_t>& batch, std::vector<BatchOutcome>& outcomes);

  // The body of each accept thread: takes every waiting accept (up to a batch) and answers them
  // once written, until the store closes and the queue is empty.
  void RunAccepts();
  // AcceptOrder for each of `orders`, in one transaction where it can: result i is orders[i]'s.
  // A batch rolled back for one of its orders, or that keeps failing, is accepted order by order.
  std::vector<Result<AcceptResult>> AcceptBatch(std::span<const Order> orders);
  // Writes orders[i] for each i of `batch` in one transaction, storing each answer in
  // results[i]. Returns the indices left for the caller to accept one by one. REQUIRES: `batch`
  // is sorted by merchant id and its orders are valid.
  std::vector<size_t> AcceptInOneTransaction(std::span<const Order> orders,
                                             std::vector<size_t> batch,
                                             std::vector<Result<AcceptResult>>& results);
  // One try of AcceptInOneTransaction on `db`: fills outcomes[p] for each position p of `batch`.
  BatchEnd TryAcceptBatch(postgres::PgConnection& db, std::span<const Order> orders,
                          const std::vector<size_t>& batch,
                          std::vector<Result<AcceptResult>>& outcomes);

  // Tells the observer, if any, of a committed batch of `writes` begun at `began`.
  void ObserveCommit(size_t writes, std::chrono::steady_clock::time_point began) const {
    if (!commit_observer_) return;
    commit_observer_(writes, std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::steady_clock::now() - began));
  }

  std::unique_ptr<ConnectionPool> pool_;
  CommitObserver commit_observer_;  // set before the first write, then only read
  WriteCounter write_counter_;

  // AcceptOrderAsync's calls wait in accept_queue_ for one of accept_threads_.
  const size_t accept_queue_max_;
  std::mutex accept_mu_;
  std::condition_variable accept_ready_;
  std::deque<PendingAccept> accept_queue_;  // GUARDED_BY(accept_mu_), at most accept_queue_max_
  bool accept_stopping_ = false;            // GUARDED_BY(accept_mu_)
  std::vector<std::thread> accept_threads_;
};

Result<PgResult> PostgresStore::RunRaw(const Query& query, const Params& params) {
  for (int attempt = 1;; ++attempt) {
    Result<ConnectionPool::Lease> connection = pool_->Acquire();
    if (!connection.ok()) return connection.status();
    PgResult result = (*connection)->Execute(query, params);
    if (result.ok() || !IsRetryable(result) || attempt >= kMaxAttempts) return result;
    spdlog::debug("store: retrying {} after {}", query.name, result.message());
  }
}

Result<PgResult> PostgresStore::Run(const Query& query, const Params& params) {
  Result<PgResult> result = RunRaw(query, params);
  if (result.ok() && !result->ok()) return result->ToStatus();
  return result;
}

Result<Order> PostgresStore::ReadOneOrder(const Query& query, const Params& params) {
  Result<PgResult> result = Run(query, params);
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotFound("order_not_found", "no such order");
  return ReadOrder(*result, 0);
}

// --- Retention ---

Result<ArchiveReport> PostgresStore::ArchiveFinalOrders(const ArchiveRequest& request) {
  return store_rules::RunArchiveBatches(request, [&]() -> Result<store_rules::ArchiveBatch> {
    // A batch aborted for a deadlock (its locks against live writes') is rolled back whole, so
    // it is tried again after a short wait rather than ending the run.
    for (int attempt = 1;; ++attempt) {
      Result<store_rules::ArchiveBatch> batch = [&]() -> Result<store_rules::ArchiveBatch> {
        Result<ConnectionPool::Lease> connection = pool_->Acquire();  // not held while waiting
        if (!connection.ok()) return connection.status();
        return postgres::MoveBatchToArchive(**connection, request.finished_before_ms,
                                            request.batch_orders, request.on_batch_copied);
      }();
      if (batch.ok()) return batch;
      std::optional<std::chrono::milliseconds> delay =
          store_rules::ArchiveRetryDelay(batch.status(), attempt);
      if (!delay) return batch;
      spdlog::info("archive: trying a batch again after {}", batch.status().ToString());
      std::this_thread::sleep_for(*delay);
    }
  });
}

// --- Merchants and money ---

Status PostgresStore::CreateMerchant(const std::string& merchant_id, const std::string& name,
                                     int64_t now_ms) {
  if (!IsValidMerchantId(merchant_id)) {
    return InvalidArgument("invalid_merchant_id",
                           "merchant id must be 1..64 characters of [A-Za-z0-9_-]");
  }
  if (name.size() > kMaxTextBytes || !IsStorableText(name)) {
    return InvalidArgument("invalid_merchant_name", "merchant name is too long or not UTF-8");
  }
  Result<PgResult> result =
      Run(Sql().create_merchant, Params().Text(merchant_id).Text(name).Int(now_ms));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) {
    return AlreadyExists("merchant_exists", "merchant '" + merchant_id + "' already exists");
  }
  return Status::Ok();
}

Result<int64_t> PostgresStore::FundMerchant(const std::string& merchant_id, int64_t amount_fen,
                                            const std::string& note, int64_t now_ms) {
  if (amount_fen <= 0 || amount_fen > kMaxBalanceFen) {
    return InvalidArgument("invalid_amount",
                           "amount_fen must be in 1.." + std::to_string(kMaxBalanceFen));
  }
  if (!IsValidMerchantId(merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  Result<PgResult> result = Run(Sql().fund_merchant, Params()
                                                         .Text(merchant_id)
                                                         .Int(amount_fen)
                                                         .Int(now_ms)
                                                         .Text(CleanFreeText(note))
                                                         .Int(kMaxBalanceFen));
  if (!result.ok()) return result.status();
  if (result->IsNull(0, 0)) {
    if (!result->Bool(0, 1))
      return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
    return FailedPrecondition(
        "balance_limit", "the balance would exceed " + std::to_string(kMaxBalanceFen) + " fen");
  }
  return result->Int(0, 0);
}

Result<Merchant> PostgresStore::GetMerchant(const std::string& merchant_id) {
  if (!IsValidMerchantId(merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  Result<PgResult> result = Run(Sql().get_merchant, Params().Text(merchant_id));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  Merchant merchant;
  merchant.merchant_id = result->Text(0, 0);
  merchant.name = result->Text(0, 1);
  merchant.balance_fen = result->Int(0, 2);
  merchant.created_ms = result->Int(0, 3);
  return merchant;
}

// --- Merchant API keys ---

namespace {

MerchantKey ReadMerchantKey(const PgResult& result, int row) {
  MerchantKey key;
  key.key_id = result.Text(row, 0);
  key.merchant_id = result.Text(row, 1);
  key.sealed_secret = result.Text(row, 2);
  key.created_ms = result.Int(row, 3);
  key.revoked_ms = result.Int(row, 4);
  return key;
}

}  // namespace

Status PostgresStore::AddMerchantKey(const MerchantKey& key) {
  if (!IsValidMerchantId(key.key_id) || key.sealed_secret.empty() ||
      key.sealed_secret.size() > kMaxTextBytes || !IsStorableText(key.sealed_secret)) {
    return InvalidArgument("invalid_key",
                           "a key needs an id of 1..64 characters of [A-Za-z0-9_-] and a secret");
  }
  if (!IsValidMerchantId(key.merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + key.merchant_id + "'");
  }
  Result<PgResult> result = Run(
      Sql().add_merchant_key,
      Params().Text(key.merchant_id).Text(key.key_id).Text(key.sealed_secret).Int(key.created_ms));
  if (!result.ok()) return result.status();
  if (!result->Bool(0, 0)) {
    return NotFound("unknown_merchant", "no merchant '" + key.merchant_id + "'");
  }
  if (!result->Bool(0, 1)) {
    return FailedPrecondition("too_many_keys", "the merchant already has " +
                                                   std::to_string(kMaxActiveKeysPerMerchant) +
                                                   " active keys; revoke one first");
  }
  if (!result->Bool(0, 2)) {
    return AlreadyExists("key_exists",
                         "key '" + key.key_id + "' exists, or another key took the last slot");
  }
  return Status::Ok();
}

Result<MerchantKey> PostgresStore::GetMerchantKey(const std::string& key_id) {
  if (!IsValidMerchantId(key_id)) return NotFound("unknown_key", "no such key");
  Result<PgResult> result = Run(Sql().get_merchant_key, Params().Text(key_id));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotFound("unknown_key", "no such key");
  return ReadMerchantKey(*result, 0);
}

Result<std::vector<MerchantKey>> PostgresStore::ListMerchantKeys(const std::string& merchant_id) {
  if (!IsValidMerchantId(merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  Result<PgResult> result = Run(Sql().list_merchant_keys, Params().Text(merchant_id));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  std::vector<MerchantKey> keys;
  for (int row = 0; row < result->rows(); ++row) {
    if (result->IsNull(row, 0)) continue;  // the merchant has no key
    keys.push_back(ReadMerchantKey(*result, row));
  }
  return keys;
}

Status PostgresStore::RevokeMerchantKey(const std::string& merchant_id, const std::string& key_id,
                                        int64_t now_ms) {
  if (!IsValidMerchantId(key_id) || !IsValidMerchantId(merchant_id)) {
    return NotFound("unknown_key", "no such key");
  }
  Result<PgResult> result =
      Run(Sql().revoke_merchant_key,
          Params().Text(merchant_id).Text(key_id).Int(std::max<int64_t>(now_ms, 1)));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) {
    return NotFound("unknown_key", "merchant '" + merchant_id + "' has no such key");
  }
  return Status::Ok();
}

Result<std::vector<LedgerEntry>> PostgresStore::ListLedger(const std::string& merchant_id,
                                                           int64_t after_entry_id, size_t limit) {
  if (!IsValidMerchantId(merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  limit = std::min(limit, kMaxPageRows);
  Result<PgResult> result =
      Run(Sql().list_ledger,
          Params().Text(merchant_id).Int(after_entry_id).Int(static_cast<int64_t>(limit)));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  std::vector<LedgerEntry> entries;
  for (int row = 0; row < result->rows(); ++row) {
    if (result->IsNull(row, 0)) continue;  // the merchant has no entry in this page
    LedgerEntry& entry = entries.emplace_back();
    entry.entry_id = result->Int(row, 0);
    entry.merchant_id = result->Text(row, 1);
    entry.order_id = result->Text(row, 2);
    entry.kind = static_cast<LedgerKind>(result->Int(row, 3));
    entry.amount_fen = result->Int(row, 4);
    entry.balance_after_fen = result->Int(row, 5);
    entry.created_ms = result->Int(row, 6);
    entry.note = result->Text(row, 7);
  }
  return entries;
}

// The audit reads one snapshot (a REPEATABLE READ transaction) and recomputes every money
// invariant from the raw rows; it does not trust any running total the write path keeps.
Result<LedgerAudit> PostgresStore::AuditLedger() {
  LedgerAudit audit;
  store_rules::AuditProblems problems;
  auto problem = [&](std::string text) { problems.Add(std::move(text)); };

  Result<ConnectionPool::Lease> connection = pool_->Acquire();
  if (!connection.ok()) return connection.status();
  postgres::PgConnection& db = **connection;
  Status status = db.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!status.ok()) return status;
  status = [&]() -> Status {
    // Per merchant: balance, ledger sums by kind, and the prices of its orders that keep money.
    PgResult merchants = db.Execute(Sql().audit_merchants, Params());
    if (!merchants.ok()) return merchants.ToStatus();
    for (int row = 0; row < merchants.rows(); ++row) {
      const std::string merchant_id(merchants.Text(row, 0));
      const int64_t balance_fen = merchants.Int(row, 1);
      const int64_t ledger_total_fen = merchants.Int(row, 2);
      const int64_t funded_fen = merchants.Int(row, 3);
      const int64_t kept_price_fen = merchants.Int(row, 6);
      audit.merchants += 1;
      audit.balance_fen += balance_fen;
      audit.funded_fen += funded_fen;
      audit.debited_fen += merchants.Int(row, 4);
      audit.refunded_fen += merchants.Int(row, 5);
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

    // Per order: exactly one debit of its price, and one refund of its price iff it failed.
    PgResult orders = db.Execute(Sql().audit_orders, Params());
    if (!orders.ok()) return orders.ToStatus();
    for (int row = 0; row < orders.rows(); ++row) {
      problem("order " + std::string(orders.Text(row, 0)) + " (" +
              std::string(OrderStatusName(static_cast<OrderStatus>(orders.Int(row, 1)))) +
              ", price " + std::to_string(orders.Int(row, 2)) +
              "): " + std::to_string(orders.Int(row, 3)) + " debits totalling " +
              std::to_string(orders.Int(row, 4)) + ", " + std::to_string(orders.Int(row, 5)) +
              " refunds totalling " + std::to_string(orders.Int(row, 6)));
    }

    // Each ledger row's balance_after_fen is the running sum of its merchant's ledger.
    PgResult running = db.Execute(Sql().audit_running, Params());
    if (!running.ok()) return running.ToStatus();
    for (int row = 0; row < running.rows(); ++row) {
      problem("ledger entry " + std::to_string(running.Int(row, 0)) + " of merchant " +
              std::string(running.Text(row, 1)) + ": balance_after " +
              std::to_string(running.Int(row, 2)) + " != running sum " +
              std::to_string(running.Int(row, 3)));
    }
    return Status::Ok();
  }();
  // A read-only transaction: ending it either way changes nothing. A connection left in a failed
  // transaction is dropped by the pool.
  Status ended = db.Run(status.ok() ? "COMMIT" : "ROLLBACK");
  if (!status.ok()) return status;
  if (!ended.ok()) return ended;

  problems.WriteTo(audit);
  return audit;
}

// --- Orders ---

Result<AcceptResult> PostgresStore::AcceptOrder(const Order& order) {
  write_counter_.Count(1);
  return AcceptOne(order);
}

Result<AcceptResult> PostgresStore::AcceptOne(const Order& order) {
  Status status = store_rules::ValidateNewOrder(order);
  if (!status.ok()) return status;
  const Params params = AcceptParams(order);
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    Result<PgResult> result = RunRaw(Sql().accept_order, params);
    if (!result.ok()) return result.status();
    if (!result->ok()) {
      const std::string state = result->sqlstate();
      const std::string constraint = result->constraint();
      if (state == "23503" && constraint == "ledger_order_id_fkey") {
        continue;  // an identical request committed first: the next run returns its order
      }
      if (state == "23505" && constraint == "orders_pkey") {
        return AlreadyExists("order_id_exists", "order id '" + order.order_id + "' is taken");
      }
      return result->ToStatus();
    }
    Result<AcceptResult> answer = ReadAccepted(order, *result);
    if (!IsShortBalance(answer)) return answer;
    Result<Order> existing = FindOrderByMerchantOrderId(order.merchant_id, order.merchant_order_id);
    return existing.ok() ? AnswerForExisting(order, std::move(existing).value()) : answer;
  }
  return Unavailable("store_busy", "order " + order.order_id +
                                       " kept losing races on its "
                                       "merchant order id");
}

// Group commit: accepts that arrive while earlier batches are being written wait in the queue and
// are written together, by the next free accept thread, in one transaction with one commit. A lone
// accept is written at once, as a batch of one.
void PostgresStore::AcceptOrderAsync(Order order, AcceptCallback done) {
  write_counter_.Count(1);
  {
    std::lock_guard<std::mutex> lock(accept_mu_);
    if (accept_queue_.size() < accept_queue_max_) {
      accept_queue_.push_back(PendingAccept{std::move(order), std::move(done)});
      done = nullptr;
    }
  }
  if (done == nullptr) {
    accept_ready_.notify_one();
    return;
  }
  done(Status(StatusCode::kResourceExhausted, "store_overloaded",
              "too many accepts are waiting for a database connection"));
}

void PostgresStore::RunAccepts() {
  for (;;) {
    std::vector<PendingAccept> batch;
    {
      std::unique_lock<std::mutex> lock(accept_mu_);
      accept_ready_.wait(lock, [this] { return accept_stopping_ || !accept_queue_.empty(); });
      if (accept_queue_.empty()) return;  // stopping, and nothing is left to answer
      const size_t count = std::min(accept_queue_.size(), kMaxAcceptsPerTransaction);
      batch.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        batch.push_back(std::move(accept_queue_.front()));
        accept_queue_.pop_front();
      }
    }
    std::vector<Order> orders;
    orders.reserve(batch.size());
    for (PendingAccept& pending : batch) orders.push_back(std::move(pending.order));
    std::vector<Result<AcceptResult>> results = AcceptBatch(orders);
    assert(results.size() == batch.size());
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  }
}

std::vector<Result<AcceptResult>> PostgresStore::AcceptBatch(std::span<const Order> orders) {
  std::vector<Result<AcceptResult>> results(orders.size(),
                                            Result<AcceptResult>(Internal("not accepted")));
  // Merchants are locked in merchant id order, and one merchant's orders keep their arrival order.
  std::vector<size_t> valid =
      ValidInLockOrder(orders, results, store_rules::ValidateNewOrder,
                       [](const Order& o) -> const std::string& { return o.merchant_id; });
  if (valid.empty()) return results;
  for (size_t i : AcceptInOneTransaction(orders, std::move(valid), results)) {
    results[i] = AcceptOne(orders[i]);
  }
  return results;
}

std::vector<size_t> PostgresStore::AcceptInOneTransaction(
    std::span<const Order> orders, std::vector<size_t> batch,
    std::vector<Result<AcceptResult>>& results) {
  Result<ConnectionPool::Lease> connection = pool_->Acquire();
  if (!connection.ok()) {
    for (size_t i : batch) results[i] = connection.status();
    return {};
  }
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    std::vector<Result<AcceptResult>> outcomes(batch.size(),
                                               Result<AcceptResult>(Internal("not accepted")));
    BatchEnd end = TryAcceptBatch(**connection, orders, batch, outcomes);
    switch (end.kind) {
      case BatchEnd::Kind::kCommitted:
        for (size_t p = 0; p < batch.size(); ++p) results[batch[p]] = std::move(outcomes[p]);
        return {};
      case BatchEnd::Kind::kRetry:
        spdlog::debug("store: retrying a batch of {} accepts", batch.size());
        break;
      case BatchEnd::Kind::kDrop:
        // Rolled back for one of its orders, unknown which: each is accepted on its own.
        return batch;
      case BatchEnd::Kind::kAbandon:
        // Rolled back: nothing of the batch is written.
        for (size_t i : batch) results[i] = end.status;
        return {};
      case BatchEnd::Kind::kCommitUnknown:
        // A refusal or an earlier order wrote nothing either way; a created order may or may not
        // be committed.
        for (size_t p = 0; p < batch.size(); ++p) {
          Result<AcceptResult>& outcome = outcomes[p];
          results[batch[p]] = outcome.ok() && outcome->created ? Result<AcceptResult>(end.status)
                                                               : std::move(outcome);
        }
        return {};
    }
  }
  return batch;
}

// The parameters of insert_orders for `orders` (accept_order's $1..$18, one array each).
Params InsertOrdersParams(std::span<const Order* const> orders) {
  auto text = [&](auto field) { return Column(orders, field); };
  auto number = [&](auto field) {
    return Column(orders, [&](const Order& o) { return static_cast<int64_t>(field(o)); });
  };
  Params params;
  params.TextArray(text([](const Order& o) { return o.order_id; }))
      .TextArray(text([](const Order& o) { return o.merchant_id; }))
      .TextArray(text([](const Order& o) { return o.merchant_order_id; }))
      .TextArray(text([](const Order& o) { return o.phone; }))
      .IntArray(number([](const Order& o) { return o.carrier; }))
      .IntArray(number([](const Order& o) { return o.face_value_yuan; }))
      .IntArray(number([](const Order& o) { return o.price_fen; }))
      .TextArray(text([](const Order& o) { return o.notify_url; }))
      .IntArray(number([](const Order& o) { return o.attempt_sent_ms; }))
      .TextArray(text([](const Order& o) { return o.channel; }))
      .TextArray(text([](const Order& o) { return o.supplier_ref; }))
      .TextArray(text([](const Order& o) { return o.fail_reason; }))
      .IntArray(number([](const Order& o) { return o.created_ms; }))
      .IntArray(number([](const Order& o) { return o.deadline_ms; }))
      .IntArray(number([](const Order& o) { return o.updated_ms; }))
      .IntArray(number([](const Order& o) { return o.next_check_ms; }))
      .TextArray(text([](const Order& o) { return o.lease_owner; }))
      .IntArray(number([](const Order& o) { return o.lease_expires_ms; }));
  return params;
}

// Two round trips on one connection, whatever the batch's size, and one statement per table:
//  1. read, without locks, the balances of the batch's merchants and the stored orders with the
//     batch's merchant order ids;
//  2. BEGIN, the orders store_rules::PlanAccepts creates and their "accepted" events, each in one
//     multi-row INSERT; then lock the merchants (in merchant id order), one debit per merchant
//     (the sum of its orders' prices) with its orders' ledger rows, and COMMIT.
// So a merchant's row is held from its debit to the commit, within one round trip: for the
// ledger rows and a WAL flush, while no client or network step waits.
// The plan was made from reads that another writer may since have outdated; step 2 writes it only
// where it still holds, so the batch answers each order as AcceptOrder would have, one after
// another, in the batch's order, at the debit:
//  - an order that the plan creates is refused by UNIQUE (merchant_id, merchant_order_id) if
//    another order took its merchant order id since (or skipped if that one is archived already,
//    which its ledger row's order check then refuses);
//  - a debit is refused unless the balance found covers it, and, for a merchant of which the plan
//    refused an order for its balance, unless the balance is still the one read;
//  - an order id taken by another merchant's order (or a bug) fails a statement.
// A refused debit rolls the try back and the batch is planned again from new reads (kRetry);
// another failed statement rolls it back too, and kDrop sends the batch to AcceptOrder one order
// at a time, which says which order it was. Stored orders never leave (an archived one is still
// found), and an unknown merchant's answer is true of the read.
//
// Locks: merchants in merchant id order (lock_merchants), as other accept batches and the refunds
// of ApplyTransitions take them, after its new order rows, which no other transaction can lock: a
// transition batch (orders, then merchants) that waits for one of its merchants cannot be waited
// for in return. AcceptOrder locks its merchant and then inserts: with the same merchant order id
// in flight in both, the two can deadlock, which PostgreSQL breaks and kRetry retries.
BatchEnd PostgresStore::TryAcceptBatch(postgres::PgConnection& db, std::span<const Order> orders,
                                       const std::vector<size_t>& batch,
                                       std::vector<Result<AcceptResult>>& outcomes) {
  const auto began = std::chrono::steady_clock::now();
  auto rollback = [&db] { (void)db.Run("ROLLBACK"); };
  auto failed = [&](const PgResult& result, BatchEnd::Kind kind) {
    rollback();
    if (IsRetryable(result) || IsRefusedDebit(result)) {
      return BatchEnd{BatchEnd::Kind::kRetry, Status::Ok()};
    }
    // No SQLSTATE: the connection broke, which no other try on it can mend.
    if (result.sqlstate().empty()) return BatchEnd{BatchEnd::Kind::kAbandon, result.ToStatus()};
    return BatchEnd{kind, result.ToStatus()};
  };

  std::vector<Order> planned_orders;
  std::vector<std::string> merchant_ids, merchant_order_ids;
  planned_orders.reserve(batch.size());
  for (size_t i : batch) {
    planned_orders.push_back(orders[i]);
    merchant_ids.push_back(orders[i].merchant_id);
    merchant_order_ids.push_back(orders[i].merchant_order_id);
  }
  std::vector<std::string> distinct_merchants = merchant_ids;  // sorted: the batch is
  distinct_merchants.erase(std::unique(distinct_merchants.begin(), distinct_merchants.end()),
                           distinct_merchants.end());

  const postgres::BoundQuery reads[] = {
      {&Sql().read_balances, Params().TextArray(distinct_merchants)},
      {&Sql().find_batch_orders, Params().TextArray(merchant_ids).TextArray(merchant_order_ids)}};
  Result<std::vector<PgResult>> read = db.ExecutePipeline(reads);
  if (!read.ok()) return BatchEnd{BatchEnd::Kind::kAbandon, read.status()};
  for (const PgResult& result : *read) {
    if (!result.ok()) return failed(result, BatchEnd::Kind::kAbandon);
  }
  std::map<std::string, int64_t> balances_fen;
  const PgResult& balances = (*read)[0];
  for (int row = 0; row < balances.rows(); ++row) {
    balances_fen.emplace(balances.Text(row, 0), balances.Int(row, 1));
  }
  std::map<store_rules::MerchantOrderKey, Order> stored;
  const PgResult& found = (*read)[1];
  for (int row = 0; row < found.rows(); ++row) {
    Order order = ReadOrder(found, row);
    store_rules::MerchantOrderKey key{order.merchant_id, order.merchant_order_id};
    stored.emplace(std::move(key), std::move(order));
  }

  store_rules::AcceptPlan plan = store_rules::PlanAccepts(planned_orders, balances_fen, stored);
  std::vector<const Order*> created;
  std::set<std::string> short_merchants;  // of which the plan refused an order for its balance
  for (size_t p = 0; p < plan.accepts.size(); ++p) {
    const Result<AcceptResult>& answer = plan.accepts[p].answer;
    if (answer.ok() && answer->created) {
      created.push_back(&answer->order);
    } else if (!answer.ok() && answer.status().reason() == "insufficient_balance") {
      short_merchants.insert(planned_orders[p].merchant_id);
    }
  }
  std::vector<postgres::BoundQuery> writes;
  if (!created.empty()) {
    std::vector<std::string> debited_merchants;
    std::vector<int64_t> read_fen, debited_fen;
    std::vector<bool> exact;
    for (const auto& [merchant_id, amount_fen] : plan.debited_fen) {
      debited_merchants.push_back(merchant_id);
      read_fen.push_back(balances_fen[merchant_id]);
      debited_fen.push_back(amount_fen);
      exact.push_back(short_merchants.contains(merchant_id));
    }
    auto created_ms = Column(created, [](const Order& o) { return o.created_ms; });
    auto order_ids = Column(created, [](const Order& o) { return o.order_id; });
    store_rules::OrderCountChanges counted;
    counted.Accepted(static_cast<int64_t>(created.size()));
    writes = {{&Sql().begin, Params()},
              {&Sql().insert_orders, InsertOrdersParams(created)},
              {&Sql().insert_accepted_events, Params().TextArray(order_ids).IntArray(created_ms)},
              {&Sql().lock_merchants, Params().TextArray(debited_merchants)},
              {&Sql().debit_merchants,
               Params()
                   .TextArray(debited_merchants)
                   .IntArray(read_fen)
                   .IntArray(debited_fen)
                   .BoolArray(exact)
                   .TextArray(Column(created, [](const Order& o) { return o.merchant_id; }))
                   .TextArray(order_ids)
                   .IntArray(Column(created, [](const Order& o) { return o.price_fen; }))
                   .IntArray(created_ms)},
              {&Sql().change_order_counts, OrderCountChangeParams(counted)},
              {&Sql().commit, Params()}};
  }
  // Nothing to write: every answer is true of the read.
  if (writes.empty()) {
    for (size_t p = 0; p < batch.size(); ++p) outcomes[p] = std::move(plan.accepts[p].answer);
    return BatchEnd{};
  }
  Result<std::vector<PgResult>> written = db.ExecutePipeline(writes);
  if (!written.ok()) {
    // Sent but unanswered: how far the server got, the COMMIT included, is unknown.
    for (size_t p = 0; p < batch.size(); ++p) outcomes[p] = std::move(plan.accepts[p].answer);
    return BatchEnd{BatchEnd::Kind::kCommitUnknown, written.status()};
  }
  for (size_t w = 0; w + 1 < written->size(); ++w) {
    if (!(*written)[w].ok()) return failed((*written)[w], BatchEnd::Kind::kDrop);
  }
  for (size_t p = 0; p < batch.size(); ++p) outcomes[p] = std::move(plan.accepts[p].answer);
  BatchEnd end = CommitEnd(written->back());
  if (end.kind == BatchEnd::Kind::kCommitted) ObserveCommit(batch.size(), began);
  return end;
}

Result<Order> PostgresStore::GetOrder(const std::string& order_id) {
  if (!IsStorableText(order_id)) return NotFound("order_not_found", "no such order");
  return ReadOneOrder(Sql().get_order, Params().Text(order_id));
}

Result<Order> PostgresStore::FindOrderByMerchantOrderId(const std::string& merchant_id,
                                                        const std::string& merchant_order_id) {
  if (!IsStorableText(merchant_id) || !IsStorableText(merchant_order_id)) {
    return NotFound("order_not_found", "no such order");
  }
  return ReadOneOrder(Sql().find_order, Params().Text(merchant_id).Text(merchant_order_id));
}

Result<std::vector<Order>> PostgresStore::ListOrders(const std::string& after_order_id,
                                                     size_t limit) {
  OrderFilter all;
  all.after_order_id = after_order_id;
  all.limit = limit;
  return FindOrders(all);
}

Result<std::vector<Order>> PostgresStore::FindOrders(const OrderFilter& filter) {
  if (!IsStorableText(filter.after_order_id) || !IsStorableText(filter.merchant_id)) {
    return InvalidArgument("invalid_cursor", "the cursor or merchant id is not valid UTF-8");
  }
  const size_t limit = std::min(filter.limit, store_rules::kMaxPageRows);
  Result<PgResult> result =
      Run(Sql().find_orders, Params()
                                 .Text(filter.after_order_id)
                                 .Text(filter.merchant_id)
                                 .Int(filter.status ? StatusInt(*filter.status) : -1)
                                 .Int(filter.created_from_ms)
                                 .Int(filter.created_to_ms)
                                 .Int(static_cast<int64_t>(limit)));
  if (!result.ok()) return result.status();
  std::vector<Order> orders;
  orders.reserve(static_cast<size_t>(result->rows()));
  for (int row = 0; row < result->rows(); ++row) orders.push_back(ReadOrder(*result, row));
  return orders;
}

Result<std::vector<Merchant>> PostgresStore::ListMerchants(const std::string& after_merchant_id,
                                                           size_t limit) {
  if (!IsStorableText(after_merchant_id)) {
    return InvalidArgument("invalid_cursor", "the cursor is not valid UTF-8");
  }
  limit = std::min(limit, store_rules::kMaxPageRows);
  Result<PgResult> result =
      Run(Sql().list_merchants, Params().Text(after_merchant_id).Int(static_cast<int64_t>(limit)));
  if (!result.ok()) return result.status();
  std::vector<Merchant> merchants;
  for (int row = 0; row < result->rows(); ++row) {
    Merchant& merchant = merchants.emplace_back();
    merchant.merchant_id = result->Text(row, 0);
    merchant.name = result->Text(row, 1);
    merchant.balance_fen = result->Int(row, 2);
    merchant.created_ms = result->Int(row, 3);
  }
  return merchants;
}

Result<int64_t> PostgresStore::HeldFen(const std::string& merchant_id) {
  if (!IsStorableText(merchant_id)) {
    return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  }
  Result<PgResult> result = Run(Sql().held_fen, Params().Text(merchant_id));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotFound("unknown_merchant", "no merchant '" + merchant_id + "'");
  return result->Int(0, 0);
}

Result<std::vector<OrderEvent>> PostgresStore::ListEvents(const std::string& order_id) {
  if (!IsStorableText(order_id)) return NotFound("order_not_found", "no order '" + order_id + "'");
  Result<PgResult> result =
      Run(Sql().list_events, Params().Text(order_id).Int(static_cast<int64_t>(kMaxPageRows)));
  if (!result.ok()) return result.status();
  std::vector<OrderEvent> events;
  for (int row = 0; row < result->rows(); ++row) {
    OrderEvent& event = events.emplace_back();
    event.event_id = result->Int(row, 0);
    event.order_id = result->Text(row, 1);
    event.at_ms = result->Int(row, 2);
    event.kind = result->Text(row, 3);
    event.from = static_cast<OrderStatus>(result->Int(row, 4));
    event.to = static_cast<OrderStatus>(result->Int(row, 5));
    event.attempt_no = static_cast<int32_t>(result->Int(row, 6));
    event.detail = result->Text(row, 7);
  }
  // Every order has its "accepted" event, so no events means no order.
  if (events.empty()) return NotFound("order_not_found", "no order '" + order_id + "'");
  return events;
}

Result<OrderCounts> PostgresStore::CountOrders() {
  OrderCounts counts = store_rules::ZeroOrderCounts();
  Result<PgResult> result = Run(Sql().count_orders, Params());
  if (!result.ok()) return result.status();
  for (int row = 0; row < result->rows(); ++row) {
    counts[static_cast<OrderStatus>(result->Int(row, 0))] = result->Int(row, 1);
  }
  return counts;
}

Result<OpenOrdersSummary> PostgresStore::SummarizeOpenOrders(int64_t now_ms) {
  OpenOrdersSummary summary;
  for (OrderStatus s : {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown}) {
    summary.open_by_status[s] = 0;
  }
  Result<PgResult> result = Run(Sql().summarize_open_orders, Params().Int(now_ms));
  if (!result.ok()) return result.status();
  for (int row = 0; row < result->rows(); ++row) {
    summary.open_by_status[static_cast<OrderStatus>(result->Int(row, 0))] = result->Int(row, 1);
    const int64_t oldest_ms = result->Int(row, 2);
    if (summary.oldest_created_ms == 0 || oldest_ms < summary.oldest_created_ms) {
      summary.oldest_created_ms = oldest_ms;
    }
    summary.held_fen += result->Int(row, 3);
    summary.lapsed_leases += result->Int(row, 4);
  }
  Result<PgResult> backlog = Run(Sql().summarize_notification_backlog, Params());
  if (!backlog.ok()) return backlog.status();
  if (backlog->rows() > 0) {
    summary.notifications_pending = backlog->Int(0, 0);
    summary.oldest_pending_notification_ms = backlog->Int(0, 1);
  }
  return summary;
}

// --- Operations ---

Status PostgresStore::ProbeCommit() {
  Result<PgResult> result = Run(Sql().probe_commit, Params());
  return result.ok() ? Status::Ok() : result.status();
}

// --- Engine ---

// The distinct ids that can exist, sorted: rows are then locked in one order by every caller,
// which keeps concurrent claims from deadlocking each other.
std::vector<std::string> SortedStorableIds(std::span<const std::string> order_ids) {
  std::vector<std::string> ids;
  ids.reserve(order_ids.size());
  for (const std::string& id : order_ids) {
    if (IsStorableText(id)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// The orders of `result`, in the order of `order_ids`, each once. REQUIRES: every row's order id
// is in `order_ids`.
std::vector<Order> InCallersOrder(const PgResult& result, std::span<const std::string> order_ids) {
  std::unordered_map<std::string, Order> by_id;
  for (int row = 0; row < result.rows(); ++row) {
    Order order = ReadOrder(result, row);
    std::string id = order.order_id;
    by_id.emplace(std::move(id), std::move(order));
  }
  std::vector<Order> orders;
  orders.reserve(by_id.size());
  for (const std::string& id : order_ids) {
    auto it = by_id.find(id);
    if (it == by_id.end()) continue;
    orders.push_back(std::move(it->second));
    by_id.erase(it);
  }
  assert(by_id.empty());
  return orders;
}

Result<std::vector<Order>> PostgresStore::ReadOrders(std::span<const std::string> order_ids) {
  if (Status status = store_rules::ValidateOrderCount(order_ids.size()); !status.ok()) {
    return status;
  }
  const std::vector<std::string> ids = SortedStorableIds(order_ids);
  if (ids.empty()) return std::vector<Order>();
  Result<PgResult> result = Run(Sql().read_orders, Params().TextArray(ids));
  if (!result.ok()) return result.status();
  return InCallersOrder(*result, order_ids);
}

Result<std::vector<Order>> PostgresStore::ClaimOrders(std::span<const std::string> order_ids,
                                                      const std::string& owner, int64_t now_ms,
                                                      int64_t lease_ms) {
  Status status = store_rules::ValidateLease(order_ids.size(), owner, lease_ms);
  if (!status.ok()) return status;
  const std::vector<std::string> ids = SortedStorableIds(order_ids);
  if (ids.empty()) return std::vector<Order>();
  write_counter_.Count(ids.size());
  Result<PgResult> result = Run(
      Sql().claim_orders, Params().TextArray(ids).Text(owner).Int(now_ms + lease_ms).Int(now_ms));
  if (!result.ok()) return result.status();
  return InCallersOrder(*result, order_ids);
}

Status PostgresStore::RenewLeases(std::span<const std::string> order_ids, const std::string& owner,
                                  int64_t now_ms, int64_t lease_ms) {
  Status status = store_rules::ValidateLease(order_ids.size(), owner, lease_ms);
  if (!status.ok()) return status;
  const std::vector<std::string> ids = SortedStorableIds(order_ids);
  if (ids.empty()) return Status::Ok();
  write_counter_.Count(ids.size());
  Result<PgResult> result =
      Run(Sql().renew_leases, Params().TextArray(ids).Text(owner).Int(now_ms + lease_ms));
  return result.status();
}

Result<int64_t> PostgresStore::ReleaseLeases(const std::string& owner, int64_t now_ms) {
  // The bounds of a lease on its owner (a release has no duration of its own).
  Status status = store_rules::ValidateLease(0, owner, /*lease_ms=*/1);
  if (!status.ok()) return status;
  Result<PgResult> result = Run(Sql().release_leases, Params().Text(owner).Int(now_ms));
  write_counter_.Count(result.ok() ? static_cast<size_t>(result->rows()) : 0);
  if (!result.ok()) return result.status();
  return static_cast<int64_t>(result->rows());
}

Result<bool> PostgresStore::ApplyTransition(const Transition& t) {
  write_counter_.Count(1);
  return ApplyOne(t);
}

Result<bool> PostgresStore::ApplyOne(const Transition& t) {
  Status status = store_rules::ValidateTransition(t);
  if (!status.ok()) return status;
  const bool refuse_live = RefusesLiveAttempt(t);
  Result<PgResult> result = Run(Sql().apply_transition, TransitionParams(t));
  if (!result.ok()) return result.status();
  if (result->Int(0, 0) == 1) {
    if (t.to == OrderStatus::kFailed && result->Int(0, 1) != 1) {
      // Cannot happen: an order's merchant exists (schema.cc); AuditLedger would show it.
      spdlog::error("store: failed without a refund order_id={}", t.order_id);
      return Internal("order " + t.order_id + " has no merchant to refund");
    }
    if (result->Int(0, 1) == 1) {
      store_rules::AssertRefundAllowed({.from = t.from,
                                        .to = t.to,
                                        .amount_fen = result->Int(0, 2),
                                        .debit_fen = result->Int(0, 4),
                                        .balance_after_fen = result->Int(0, 3)});
    }
    return true;
  }
  if (!refuse_live) return false;
  // Not applied: either the compare-and-set lost, or the attempt is live. The second read is a
  // later moment than the UPDATE; either answer is true of some moment during this call.
  Result<PgResult> live =
      Run(Sql().live_attempt,
          Params().Text(t.order_id).Int(StatusInt(t.from)).Int(t.from_attempt_count));
  if (!live.ok()) return live.status();
  if (live->rows() == 1 && !live->Text(0, 0).empty()) {
    return FailedPrecondition("live_attempt",
                              "order " + t.order_id + " cannot fail while attempt " +
                                  std::string(live->Text(0, 0)) + " is live; clear it first");
  }
  return false;
}

std::vector<Result<bool>> PostgresStore::ApplyTransitions(std::span<const Transition> transitions) {
  std::vector<Result<bool>> results(transitions.size(), Result<bool>(false));
  // Every batch locks its orders in order id order, so that batches cannot deadlock each other.
  std::vector<size_t> valid =
      ValidInLockOrder(transitions, results, store_rules::ValidateTransition,
                       [](const Transition& t) -> const std::string& { return t.order_id; });
  if (!valid.empty()) write_counter_.Count(valid.size());
  for (size_t first = 0; first < valid.size(); first += kMaxTransitionsPerTransaction) {
    const size_t last = std::min(valid.size(), first + kMaxTransitionsPerTransaction);
    std::vector<size_t> left = ApplyInOneTransaction(
        transitions, std::vector<size_t>(valid.begin() + first, valid.begin() + last), results);
    for (size_t i : left) results[i] = ApplyOne(transitions[i]);
  }
  return results;
}

std::vector<size_t> PostgresStore::ApplyInOneTransaction(std::span<const Transition> transitions,
                                                         std::vector<size_t> batch,
                                                         std::vector<Result<bool>>& results) {
  Result<ConnectionPool::Lease> connection = pool_->Acquire();
  if (!connection.ok()) {
    for (size_t i : batch) results[i] = connection.status();
    return {};
  }
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    std::vector<BatchOutcome> outcomes(batch.size());
    BatchEnd end = TryBatch(**connection, transitions, batch, outcomes);
    switch (end.kind) {
      case BatchEnd::Kind::kCommitted:
        for (size_t p = 0; p < batch.size(); ++p) results[batch[p]] = outcomes[p].result;
        return {};
      case BatchEnd::Kind::kRetry:
        spdlog::debug("store: retrying a batch of {} transitions", batch.size());
        break;
      case BatchEnd::Kind::kDrop:
        // Rolled back for one of its transitions, unknown which: each is applied on its own.
        return batch;
      case BatchEnd::Kind::kAbandon:
        for (size_t i : batch) results[i] = end.status;
        return {};
      case BatchEnd::Kind::kCommitUnknown:
        // What did not move wrote nothing either way; what moved may or may not be committed.
        for (size_t p = 0; p < batch.size(); ++p) {
          const Result<bool>& outcome = outcomes[p].result;
          results[batch[p]] = outcome.ok() && *outcome ? Result<bool>(end.status) : outcome;
        }
        return {};
    }
  }
  return batch;
}

// One round trip on one connection, whatever the batch's size, and one statement for all the
// compare-and-sets: they and their events (and, for the transitions to failed that did not move,
// a look at their live attempts) in one pipeline, with the COMMIT unless a transition of the batch
// is to failed. Those batches refund afterwards: the refunds in a second pipeline, then the
// COMMIT, a round trip each.
//
// Locks: the first pipeline locks the batch's orders in order id order (lock_orders, before the
// update, whose join may visit them in any order), the second the refunded merchants in merchant
// id order, after every order lock. Other writes lock one merchant only (AcceptOrder,
// FundMerchant), merchants in id order (accept batches), one order and then its merchant
// (ApplyTransition), or orders only (claims, renewals, sweeps). So the only possible cycle is
// with a claim or a renewal whose plan locks its orders out of id order; PostgreSQL breaks it,
// and the call it fails retries.
//
// No savepoints: a transaction with more than 64 subtransactions slows every snapshot of every
// session on the server. A statement that fails rolls the whole try back instead, and kDrop has
// each transition applied on its own; statements of valid transitions fail only for lost
// connections, timeouts and bugs, so this is rare.
BatchEnd PostgresStore::TryBatch(postgres::PgConnection& db,
                                 std::span<const Transition> transitions,
                                 const std::vector<size_t>& batch,
                                 std::vector<BatchOutcome>& outcomes) {
  const auto began = std::chrono::steady_clock::now();
  auto rollback = [&db] { (void)db.Run("ROLLBACK"); };
  auto failed = [&](const PgResult& result) {
    rollback();
    if (IsRetryable(result)) return BatchEnd{BatchEnd::Kind::kRetry, Status::Ok()};
    // No SQLSTATE: the connection broke, which no other try on it can mend.
    if (result.sqlstate().empty()) return BatchEnd{BatchEnd::Kind::kAbandon, result.ToStatus()};
    return BatchEnd{BatchEnd::Kind::kDrop, result.ToStatus()};
  };
  // Runs `queries`; the COMMIT's answer, when `with_commit` (the last query), is left to the
  // caller.
  auto pipeline = [&](std::span<const postgres::BoundQuery> queries, std::vector<PgResult>& results,
                      bool with_commit) -> std::optional<BatchEnd> {
    Result<std::vector<PgResult>> answered = db.ExecutePipeline(queries);
    if (!answered.ok()) {
      if (!with_commit) {
        rollback();
        return BatchEnd{BatchEnd::Kind::kAbandon, answered.status()};
      }
      // How far the server got, the COMMIT included, is unknown: any order may have moved.
      for (BatchOutcome& outcome : outcomes) outcome.result = true;
      return BatchEnd{BatchEnd::Kind::kCommitUnknown, answered.status()};
    }
    results = std::move(answered).value();
    for (size_t r = 0; r + (with_commit ? 1 : 0) < results.size(); ++r) {
      if (!results[r].ok()) return failed(results[r]);
    }
    return std::nullopt;
  };

  std::vector<const Transition*> batched, refusing;  // refusing: those that refuse a live attempt
  bool may_refund = false;
  for (size_t i : batch) {
    batched.push_back(&transitions[i]);
    if (RefusesLiveAttempt(transitions[i])) refusing.push_back(&transitions[i]);
    may_refund = may_refund || transitions[i].to == OrderStatus::kFailed;
  }
  std::vector<postgres::BoundQuery> queries = {
      {&Sql().begin, Params()},
      {&Sql().lock_orders,
       Params().TextArray(Column(batched, [](const Transition& t) { return t.order_id; }))},
      {may_refund ? &Sql().move_orders : &Sql().move_orders_counted,
       TransitionArrayParams(batched)}};
  if (!refusing.empty()) {
    queries.push_back(
        {&Sql().live_attempts,
         Params()
             .TextArray(Column(refusing, [](const Transition& t) { return t.order_id; }))
             .IntArray(
                 Column(refusing, [](const Transition& t) { return int64_t{StatusInt(t.from)}; }))
             .IntArray(Column(refusing,
                              [](const Transition& t) { return int64_t{t.from_attempt_count}; }))});
  }
  if (!may_refund) queries.push_back({&Sql().commit, Params()});
  std::vector<PgResult> moves;
  if (std::optional<BatchEnd> end = pipeline(queries, moves, !may_refund)) return *end;

  struct Moved {
    std::string merchant_id;
    int64_t price_fen;
  };
  std::unordered_map<std::string, Moved> moved;
  for (int row = 0; row < moves[2].rows(); ++row) {
    moved.emplace(moves[2].Text(row, 0),
                  Moved{std::string(moves[2].Text(row, 1)), moves[2].Int(row, 2)});
  }
  std::unordered_map<std::string, std::string> live;  // order id -> supplier order id
  if (!refusing.empty()) {
    for (int row = 0; row < moves[3].rows(); ++row)
      live.emplace(moves[3].Text(row, 0), moves[3].Text(row, 1));
  }
  std::vector<size_t> refunds;  // positions of the transitions to failed that moved
  store_rules::OrderCountChanges counted;
  for (size_t p = 0; p < batch.size(); ++p) {
    const Transition& t = transitions[batch[p]];
    if (auto it = moved.find(t.order_id); it != moved.end()) {
      outcomes[p] = BatchOutcome{true, std::move(it->second.merchant_id), it->second.price_fen};
      counted.Moved(t.from, t.to);
      if (t.to == OrderStatus::kFailed) refunds.push_back(p);
      continue;
    }
    // Not moved: the compare-and-set lost, or the attempt is live (see ApplyTransition).
    if (auto it = live.find(t.order_id); it != live.end() && RefusesLiveAttempt(t)) {
      outcomes[p].result =
          FailedPrecondition("live_attempt", "order " + t.order_id + " cannot fail while attempt " +
                                                 it->second + " is live; clear it first");
    }
  }

  if (!may_refund) {
    BatchEnd end = CommitEnd(moves.back());
    if (end.kind == BatchEnd::Kind::kCommitted) ObserveCommit(batch.size(), began);
    return end;
  }

  // The refunds, in merchant order.
  std::sort(refunds.begin(), refunds.end(), [&](size_t a, size_t b) {
    if (outcomes[a].merchant_id != outcomes[b].merchant_id) {
      return outcomes[a].merchant_id < outcomes[b].merchant_id;
    }
    return transitions[batch[a]].order_id < transitions[batch[b]].order_id;
  });
  queries.clear();
  for (size_t p : refunds) {
    const Transition& t = transitions[batch[p]];
    queries.push_back({&Sql().refund_order, Params()
                                                .Text(outcomes[p].merchant_id)
                                                .Text(t.order_id)
                                                .Int(outcomes[p].price_fen)
                                                .Int(t.now_ms)
                                                .Text(CleanFreeText(t.fail_reason))});
  }
  // Then the counts, after every other lock.
  if (!counted.empty()) {
    queries.push_back({&Sql().change_order_counts, OrderCountChangeParams(counted)});
  }
  std::vector<PgResult> refunded;
  if (std::optional<BatchEnd> end = pipeline(queries, refunded, false)) return *end;
  for (size_t r = 0; r < refunds.size(); ++r) {
    if (refunded[r].rows() != 1) {
      // Cannot happen: an order's merchant exists (schema.cc); nothing of it is written.
      rollback();
      const std::string& order_id = transitions[batch[refunds[r]]].order_id;
      spdlog::error("store: no merchant to refund order_id={}", order_id);
      return BatchEnd{BatchEnd::Kind::kDrop,
                      Internal("order " + order_id + " has no merchant to refund")};
    }
    const size_t p = refunds[r];
    store_rules::AssertRefundAllowed({.from = transitions[batch[p]].from,
                                      .to = transitions[batch[p]].to,
                                      .amount_fen = outcomes[p].price_fen,
                                      .debit_fen = refunded[r].Int(0, 1),
                                      .balance_after_fen = refunded[r].Int(0, 0)});
  }

  BatchEnd end = CommitEnd(db.Execute(Sql().commit, Params()));
  if (end.kind == BatchEnd::Kind::kCommitted) ObserveCommit(batch.size(), began);
  return end;
}

Result<DueOrders> PostgresStore::TakeDueOrders(int64_t now_ms, size_t limit,
                                               int64_t redeliver_after_ms) {
  if (redeliver_after_ms <= 0) {
    return InvalidArgument("invalid_redelivery", "redeliver_after_ms must be positive");
  }
  limit = std::min(limit, store_rules::kMaxIdsPerCall);
  DueOrders due;
  if (limit == 0) return due;
  Result<PgResult> result =
      Run(Sql().take_due,
          Params().Int(now_ms).Int(static_cast<int64_t>(limit)).Int(redeliver_after_ms));
  if (!result.ok()) {
    write_counter_.Count(0);
    return result.status();
  }
  write_counter_.Count(static_cast<size_t>(result->rows()));
  due.order_ids.reserve(static_cast<size_t>(result->rows()));
  for (int row = 0; row < result->rows(); ++row) {
    due.order_ids.emplace_back(result->Text(row, 0));
    due.lapsed_leases += result->Bool(row, 1) ? 1 : 0;
  }
  assert(due.order_ids.size() <= limit);
  return due;
}

// --- Notification outbox ---

Result<std::vector<ClaimedNotification>> PostgresStore::ClaimNotifications(const std::string& owner,
                                                                           int64_t now_ms,
                                                                           int64_t lease_ms,
                                                                           size_t limit) {
  Status status = store_rules::ValidateLease(0, owner, lease_ms);
  if (!status.ok()) return status;
  limit = std::min(limit, store_rules::kMaxIdsPerCall);
  std::vector<ClaimedNotification> claimed;
  if (limit == 0) return claimed;
  Result<PgResult> result =
      Run(Sql().claim_notifications,
          Params().Int(now_ms).Text(owner).Int(lease_ms).Int(static_cast<int64_t>(limit)));
  if (!result.ok()) return result.status();
  constexpr int kFirst = 13;  // the order's columns follow the notification's
  for (int row = 0; row < result->rows(); ++row) {
    ClaimedNotification& c = claimed.emplace_back();
    c.notification = ReadNotification(*result, row);
    c.order.merchant_order_id = result->Text(row, kFirst + 0);
    c.order.face_value_yuan = static_cast<int32_t>(result->Int(row, kFirst + 1));
    c.order.price_fen = result->Int(row, kFirst + 2);
    c.order.created_ms = result->Int(row, kFirst + 3);
    c.order.finished_ms = result->Int(row, kFirst + 4);
    c.order.supplier_ref = result->Text(row, kFirst + 5);
  }
  std::sort(claimed.begin(), claimed.end(),
            [](const ClaimedNotification& a, const ClaimedNotification& b) {
              return a.notification.next_try_ms < b.notification.next_try_ms;
            });
  return claimed;
}

Result<std::vector<TryRecorded>> PostgresStore::RecordNotificationTries(
    std::span<const NotificationOutcome> outcomes) {
  if (Status valid = store_rules::ValidateNotificationOutcomes(outcomes); !valid.ok()) return valid;
  std::vector<TryRecorded> recorded;
  if (outcomes.empty()) return recorded;
  // Integers travel as text[] literals too; PostgreSQL casts them to the arrays' types.
  std::vector<std::string> ids, owners, states, next_tries, delivered, at, http, errors, latency;
  for (const NotificationOutcome& outcome : outcomes) {
    const NotificationTry& t = outcome.attempt;
    ids.push_back(std::to_string(t.notification_id));
    owners.push_back(outcome.owner);
    states.push_back(std::to_string(static_cast<int>(store_rules::StateAfter(outcome))));
    next_tries.push_back(std::to_string(outcome.next_try_ms));
    delivered.push_back(std::to_string(store_rules::DeliveredMs(t)));
    at.push_back(std::to_string(t.at_ms));
    http.push_back(std::to_string(t.http_status));
    errors.push_back(CleanFreeText(t.error));
    latency.push_back(std::to_string(t.latency_ms));
  }
  Result<PgResult> result = Run(Sql().record_notification_tries, Params()
                                                                     .TextArray(ids)
                                                                     .TextArray(owners)
                                                                     .TextArray(states)
                                                                     .TextArray(next_tries)
                                                                     .TextArray(delivered)
                                                                     .TextArray(at)
                                                                     .TextArray(http)
                                                                     .TextArray(errors)
                                                                     .TextArray(latency));
  if (!result.ok()) return result.status();
  assert(result->rows() == static_cast<int>(outcomes.size()));
  for (int row = 0; row < result->rows(); ++row) {
    recorded.push_back(!result->Bool(row, 0)  ? TryRecorded::kNoSuchNotification
                       : result->Bool(row, 1) ? TryRecorded::kMoved
                                              : TryRecorded::kLeaseLost);
  }
  return recorded;
}

Result<std::vector<Notification>> PostgresStore::ListNotifications(const std::string& order_id) {
  std::vector<Notification> found;
  if (!IsStorableText(order_id)) return found;
  Result<PgResult> result = Run(Sql().list_notifications, Params().Text(order_id));
  if (!result.ok()) return result.status();
  for (int row = 0; row < result->rows(); ++row) found.push_back(ReadNotification(*result, row));
  return found;
}

Result<Notification> PostgresStore::GetNotification(int64_t notification_id) {
  Result<PgResult> result = Run(Sql().get_notification, Params().Int(notification_id));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotificationNotFound(notification_id);
  return ReadNotification(*result, 0);
}

Result<std::vector<NotificationTry>> PostgresStore::ListNotificationTries(int64_t notification_id) {
  Result<PgResult> result =
      Run(Sql().list_notification_tries,
          Params().Int(notification_id).Int(static_cast<int64_t>(store_rules::kMaxPageRows)));
  if (!result.ok()) return result.status();
  std::vector<NotificationTry> tries;
  for (int row = 0; row < result->rows(); ++row) {
    NotificationTry& t = tries.emplace_back();
    t.notification_id = result->Int(row, 0);
    t.at_ms = result->Int(row, 1);
    t.http_status = static_cast<int32_t>(result->Int(row, 2));
    t.error = result->Text(row, 3);
    t.latency_ms = result->Int(row, 4);
  }
  return tries;
}

Result<Notification> PostgresStore::ResendNotification(int64_t notification_id, int64_t now_ms) {
  Result<PgResult> result =
      Run(Sql().resend_notification, Params().Int(notification_id).Int(now_ms));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return NotificationNotFound(notification_id);
  return ReadNotification(*result, 0);
}

Result<NotificationCounts> PostgresStore::CountNotifications() {
  NotificationCounts counts{{NotificationState::kPending, 0},
                            {NotificationState::kDelivered, 0},
                            {NotificationState::kGivenUp, 0}};
  Result<PgResult> result = Run(Sql().count_notifications, Params());
  if (!result.ok()) return result.status();
  for (int row = 0; row < result->rows(); ++row) {
    counts[static_cast<NotificationState>(result->Int(row, 0))] = result->Int(row, 1);
  }
  return counts;
}

Status ValidateOptions(const PostgresStoreOptions& options) {
  auto invalid = [](std::string message) {
    return InvalidArgument("invalid_store_options", std::move(message));
  };
  if (!options.url.starts_with("postgresql://") && !options.url.starts_with("postgres://")) {
    return invalid("url must start with postgresql://");
  }
  if (options.pool_size < 1 || options.pool_size > 256) {
    return invalid("pool_size must be in 1..256");
  }
  if (options.accept_queue_max < 1 || options.accept_queue_max > 1'000'000) {
    return invalid("accept_queue_max must be in 1..1000000");
  }
  if (options.acquire_timeout_ms < 0) return invalid("acquire_timeout_ms must be >= 0");
  if (options.connect_timeout_s < 1 || options.connect_timeout_s > 600) {
    return invalid("connect_timeout_s must be in 1..600");
  }
  if (options.statement_timeout_ms < 1 || options.statement_timeout_ms > 3'600'000) {
    return invalid("statement_timeout_ms must be in 1..3600000");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresStoreOptions& options) {
  Status status = ValidateOptions(options);
  if (!status.ok()) return status;
  postgres::ConnectionPoolOptions pool_options;
  pool_options.url = options.url;
  pool_options.size = options.pool_size;
  pool_options.acquire_timeout = std::chrono::milliseconds(options.acquire_timeout_ms);
  pool_options.connect_timeout_s = options.connect_timeout_s;
  pool_options.statement_timeout_ms = options.statement_timeout_ms;
  auto pool = std::make_unique<ConnectionPool>(std::move(pool_options));
  {
    Result<ConnectionPool::Lease> connection = pool->Acquire();
    if (!connection.ok()) return connection.status();
    status = postgres::ApplyMigrations(**connection, postgres::StoreMigrations());
    if (!status.ok()) return status;
  }
  spdlog::debug("store: opened PostgreSQL store with a pool of {}", options.pool_size);
  return std::unique_ptr<Store>(std::make_unique<PostgresStore>(std::move(pool), options.pool_size,
                                                                options.accept_queue_max));
}

}  // namespace topup
