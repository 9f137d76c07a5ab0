// The store's PostgreSQL schema as an ordered list of migrations, and the code that applies them.
//
// The tables, columns and constraints are those of the SQLite schema (src/store/sqlite/schema.cc)
// in PostgreSQL's types. The `schema_version` table holds one row per applied migration; opening a
// database applies, in one transaction, every migration above the highest recorded one. Migrations
// are only ever appended: a released migration is never edited or renumbered.
#pragma once

#include <span>
#include <string_view>

#include "store/postgres/pg_connection.h"
#include "topup/status.h"

namespace topup::postgres {

struct Migration {
  int version = 0;  // 1, 2, 3, ... with no gaps
  std::string_view name;
  std::string_view sql;  // one or more ';'-separated statements
};

// The migrations of the topup store, oldest first.
std::span<const Migration> StoreMigrations();

// Brings the database up to the last of `migrations` (numbered 1..n in order), all in one
// transaction that first takes a transaction-level advisory lock: several nodes starting at once
// apply each migration exactly once, the others wait and then find nothing to do. Returns
// FailedPrecondition("schema_too_new") if the database has a version this code does not know.
// REQUIRES: `connection` is not inside a transaction.
Status ApplyMigrations(PgConnection& connection, std::span<const Migration> migrations);

// The highest applied migration version, 0 for a database that has none.
Result<int> SchemaVersion(PgConnection& connection);

}  // namespace topup::postgres
