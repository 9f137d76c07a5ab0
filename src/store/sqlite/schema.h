// The store's schema as an ordered list of migrations, and the code that applies them.
//
// The `schema_version` table holds one row per applied migration. Opening a database applies, in
// one transaction, every migration whose version is above the highest recorded one, so an older
// file is brought up to date and a current one is left untouched. Migrations are only ever
// appended: a released migration is never edited or renumbered.
#pragma once

#include <span>
#include <string_view>

#include "store/sqlite/sqlite_connection.h"
#include "topup/status.h"

namespace topup::sqlite {

struct Migration {
  int version = 0;  // 1, 2, 3, ... with no gaps
  std::string_view name;
  std::string_view sql;  // one or more ';'-separated statements
};

// The migrations of the topup store, oldest first.
std::span<const Migration> StoreMigrations();

// Brings the database up to the last of `migrations` (which must be numbered 1..n in order).
// Everything, including the version rows, is written in one IMMEDIATE transaction: either all
// missing migrations are applied or none is. Returns FailedPrecondition("schema_too_new") if the
// database has a version this code does not know.
// REQUIRES: `connection` is read-write, not inside a transaction, and has the store's archive
// attached (AttachArchive), which a migration may read.
Status ApplyMigrations(SqliteConnection& connection, std::span<const Migration> migrations);

// The highest applied migration version, 0 for a database that has none.
Result<int> SchemaVersion(SqliteConnection& connection);

}  // namespace topup::sqlite
