// A thin owner of one sqlite3 connection and its cache of prepared statements.
//
// Threading: a SqliteConnection is not thread-safe. It is opened in SQLite's multi-thread mode
// (SQLITE_OPEN_NOMUTEX), so at most one thread may use it at a time; whoever holds it (the group
// commit writer, or a reader that leased it from the ReadPool) is its only user until it gives it
// back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "topup/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace topup::sqlite {

class SqliteConnection;

// Maps a SQLite result code onto a Status. Busy and I/O conditions, which retrying may cure,
// become Unavailable; everything else (a bad statement, a violated constraint, corruption) is
// Internal because the store's own SQL caused it.
Status SqliteErrorStatus(sqlite3* db, int rc, std::string_view context);

// One execution of a prepared statement borrowed from a connection's cache. Bind parameters
// (1-based, as in SQL "?1"), then Step() through the rows. The destructor resets the statement and
// clears its bindings, which also ends any read it started, so a Statement must not outlive the
// connection it came from. Move-only.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind errors (only possible for a wrong index or out of memory) are remembered and returned by
  // the next Step() or Run().
  Statement& BindInt64(int index, int64_t value);
  // Binds `value` without a copy: SQLite reads it in place until this Statement is reset, so it
  // must outlive this Statement and stay unchanged. Temporaries are refused at compile time.
  Statement& BindText(int index, const std::string& value);
  Statement& BindText(int index, std::string&& value) = delete;
  // Copies the text: for a temporary, or a view whose owner may change or go before the steps.
  Statement& BindTextCopy(int index, std::string_view value);
  Statement& BindNull(int index);

  // Advances to the next row. Returns true when a row is available, false when the statement is
  // done, or the error.
  Result<bool> Step();
  // Steps until done, ignoring any rows.
  Status Run();

  // REQUIRES: the last Step() returned true.
  int64_t ColumnInt64(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class SqliteConnection;
  // `in_use` is the cache entry's flag when the statement belongs to the connection's cache (it is
  // then reset and handed back on destruction), null for a one-off that must be finalized.
  Statement(SqliteConnection* connection, sqlite3_stmt* stmt, bool* in_use);

  SqliteConnection* connection_;
  sqlite3_stmt* stmt_;  // null after a move
  bool* in_use_;
  int bind_error_ = 0;  // first SQLite error code of a Bind*, 0 if none
};

class SqliteConnection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (kReadWrite: and creates if needed) the database file at `path` and sets the
  // connection's busy timeout. A kReadWrite connection is switched to WAL with synchronous=FULL,
  // so that a COMMIT returns only once the transaction is on stable storage. Returns
  // Unavailable("store_unavailable") with SQLite's explanation if the file cannot be opened.
  static Result<std::unique_ptr<SqliteConnection>> Open(const std::string& path, Mode mode,
                                                        int busy_timeout_ms);

  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;
  ~SqliteConnection();  // finalizes every cached statement, then closes

  // Runs one or more ';'-separated statements that return no rows we need (DDL, PRAGMAs).
  // Prepares them every time; use Run() for statements that are run often.
  Status Exec(const std::string& sql);
  // Runs one cached statement to completion, ignoring any rows (BEGIN, SAVEPOINT, COMMIT, ...).
  Status Run(std::string_view sql);

  // Returns `sql` prepared, from the cache when it was prepared before. If the cached statement is
  // borrowed already (the same SQL used twice at once), returns a one-off instead.
  Result<Statement> Prepare(std::string_view sql);

  // Rows changed by the most recent INSERT, UPDATE or DELETE on this connection.
  int64_t Changes() const;
  // True while an explicit transaction is open (SQLite leaves autocommit mode).
  bool InTransaction() const;

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  SqliteConnection(sqlite3* db, std::string path);

  sqlite3* const db_;
  const std::string path_;
  // Bounded by the number of distinct SQL texts in the store's source. Node-based, so the
  // `in_use` flags that borrowed Statements point to stay put when the map grows.
  std::unordered_map<std::string, CachedStatement, StringHash, std::equal_to<>> cache_;
};

}  // namespace topup::sqlite
