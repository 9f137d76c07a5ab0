// The Store on SQLite: one database file in WAL mode (and its archive file, see archive.h), one
// writer thread doing group commit, and a small pool of read-only connections for reads.
//
// Durability: every write method returns only after the transaction that holds its write has
// committed with synchronous=FULL, i.e. the WAL is synced. Writes from many threads share one
// transaction and one sync (see group_commit_writer.h); each still succeeds or fails on its own.
// AcceptOrderAsync's accepts are decided in batches (accept_batcher.h), each answered as
// AcceptOrder would have answered it.
//
// Threading: every method may be called from any thread. A write method blocks its caller until
// its group transaction has committed (or failed), but for AcceptOrderAsync, whose callback runs
// on the writer thread after the commit; the write connection belongs to the writer
// thread alone, and a read borrows one of the read connections for the length of the call.
//
// Several processes may open the same file: SQLite's file locks serialize their writers (each
// waits up to busy_timeout_ms for the lock), and every compare-and-set stays correct across them.
//
// Errors besides those store.h documents: Unavailable("store_busy") when another process held the
// write lock for longer than busy_timeout_ms, Unavailable("store_unavailable") on I/O errors,
// Unavailable("store_closed") while the store is being destroyed, and
// ResourceExhausted("store_overloaded") when the write queue stayed full for enqueue_timeout_ms.
// A write that failed this way was not applied, unless the failure was an I/O error at COMMIT
// (see group_commit_writer.h); the store's writes are safe to retry either way.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "topup/status.h"
#include "topup/store.h"

namespace topup {

struct SqliteStoreOptions {
  std::string path;                 // database file; created if missing
  std::string archive_path = {};    // archived orders (see archive.h); empty: "<path>.archive"
  int max_batch_ops = 4096;         // writes per group transaction, 1..65536
  size_t read_connections = 4;      // read-only connections, 1..64
  size_t max_queued_writes = 8192;  // writes waiting for the writer thread, >= 1
  int busy_timeout_ms = 5000;       // wait for another process's lock, >= 0
  int enqueue_timeout_ms = 2000;    // wait for room in the write queue, >= 0
};

// Opens or creates the database at options.path and brings its schema up to date.
// Errors: InvalidArgument("invalid_store_options"); Unavailable("store_unavailable") when the file
// cannot be opened or is not a usable database; FailedPrecondition("schema_too_new") when it was
// written by a newer program.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace topup
