// The archive of a SQLite store: a second database file, ATTACHed to every connection of the store
// as schema `archive`, that holds the final orders the retention job moved out of the hot tables,
// with their events, notifications and notification tries. The ledger stays in the hot file.
//
// A transaction that writes both files is atomic per file only (WAL mode has no multi-file
// commit), so a batch moves in two transactions: its rows are copied into the archive (INSERT OR
// IGNORE, so copying again is harmless) and committed; then, on the store's writer, the hot rows
// whose copies are in the archive are deleted. A crash in between leaves each order of the batch
// in both files; readers prefer the hot copy, and the next run copies nothing new and deletes the
// hot one. Nothing is lost and nothing is counted twice at any point.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_connection.h"
#include "topup/status.h"

namespace topup::sqlite {

// Where the archive of the store at `store_path` lives: next to it, "<store_path>.archive".
std::string ArchivePath(const std::string& store_path);

// ATTACHes the archive file at `archive_path` as schema `archive`. With `create`, also creates
// the file and its tables if missing, switches it to WAL and syncs its commits as the hot file's.
// REQUIRES: `connection` is not in a transaction.
Status AttachArchive(SqliteConnection& connection, const std::string& archive_path, bool create);

// Copies into the archive, in one transaction committed on return, up to `batch` archivable
// orders (store_rules::ArchivableOrderCondition) finished before `finished_before_ms` and all
// their rows, and returns their ids. An order that owns the newest event, notification or try of
// the hot file waits for a later run: deleting that row would let SQLite give its id again. Runs on a connection of its own (with the archive attached),
// which reads the hot file and writes only the archive, so it never holds the hot file's write
// lock.
Result<std::vector<std::string>> CopyBatchToArchive(SqliteConnection& archiver,
                                                    int64_t finished_before_ms, size_t batch);

// Deletes from the hot tables the orders of `order_ids` whose copies the archive holds as they
// are now (final, the notification neither pending nor changed since the copy), with their
// events, notification and tries, and returns how many orders it deleted. A write for the
// store's writer thread.
Result<int64_t> DeleteArchivedOrders(SqliteConnection& writer,
                                     std::span<const std::string> order_ids);

}  // namespace topup::sqlite
