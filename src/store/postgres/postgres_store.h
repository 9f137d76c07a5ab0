// The Store on PostgreSQL, for several topup processes sharing one database.
//
// Every write is one statement, hence one transaction, sent as a statement prepared once per pooled
// connection: one round trip per call in the common case. ApplyTransitions is the exception: it
// writes a batch in one transaction with one commit, all its compare-and-sets in one multi-row
// statement, its statements sent in pipelines (at most three round trips), and locks orders by
// id, then merchants by id, so that batches from several processes cannot deadlock one another.
// A batch rolled back for one of its transitions, or that keeps failing, is written one
// transition at a time.
// The ledger audit reads in one REPEATABLE READ transaction. Several processes may share the
// database: row locks, compare-and-set updates and SKIP LOCKED sweeps keep their writes correct
// against each other.
// Retention: ArchiveFinalOrders moves final orders into archive tables of the same database, one
// transaction per batch (archive.h); the reads that see archived orders read both.
// Durability: each session runs with synchronous_commit = on, so a write returns only after its
// commit is flushed to the server's WAL.
//
// Threading: every method may be called from any thread and blocks it for the length of its
// transaction, but for AcceptOrderAsync, which queues the call for one of at most two store
// threads. Each takes every call waiting (up to 256) and answers them as AcceptOrder would, one
// after another, in one transaction with one commit and one statement per table: it decides each
// order (store_rules::PlanAccepts) from the balances and the stored orders it reads without locks,
// and writes the new orders, events and ledger rows with one multi-row INSERT each and one balance
// update per merchant, which locks the merchants (in merchant id order) only from the debit to the
// commit and refuses a balance that no longer fits the plan (the batch is then planned again). A
// batch rolled back for one of its orders, or that keeps failing, is written order by order.
// `done` runs on that thread after the commit, or at once on the caller's with
// ResourceExhausted("store_overloaded") when accept_queue_max calls are already waiting.
//
// Semantics, limits and error reasons are those documented in topup/store.h and implemented by the
// SQLite store, with one addition: text PostgreSQL cannot store (invalid UTF-8, NUL bytes) is
// refused in identifiers (invalid_order, invalid_transition, ...) and replaced by '?' in free text.
// Deadlocks and serialization failures, which PostgreSQL rolls back entirely, are retried a few
// times; a connection lost mid-call gives Unavailable("store_unavailable"), and the call's outcome
// is then unknown.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "topup/status.h"
#include "topup/store.h"

namespace topup {

struct PostgresStoreOptions {
  // postgresql://user[:password]@host[:port]/database[?param=value...] (or postgres://...)
  std::string url;
  size_t pool_size = 8;              // connections, 1..256; opened when first needed
  size_t accept_queue_max = 20'000;  // AcceptOrderAsync calls waiting for a batch, 1..10^6
  int acquire_timeout_ms = 2000;     // wait for a free connection, >= 0
  int connect_timeout_s = 5;         // per connection attempt, 1..600
  int statement_timeout_ms = 30000;  // server-side bound on one statement, 1..3'600'000
};

// Connects to options.url and brings the schema up to date (safe when several processes open the
// same database at once). Errors: InvalidArgument("invalid_store_options");
// Unavailable("store_unavailable") when the server cannot be reached;
// FailedPrecondition("schema_too_new") when the database was written by a newer program.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresStoreOptions& options);

}  // namespace topup
