#include "store/sqlite/sqlite_connection.h"

#include <sqlite3.h>

#include <cassert>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

namespace topup::sqlite {

Status SqliteErrorStatus(sqlite3* db, int rc, std::string_view context) {
  std::string message(context);
  message += ": ";
  // sqlite3_errmsg describes the most recent failure on `db`, which is `rc` when called right
  // after the failing call; fall back to the generic text of the code otherwise.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    message += sqlite3_errmsg(db);
  } else {
    message += sqlite3_errstr(rc);
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable("store_busy", std::move(message));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_NOTADB:
      return Unavailable("store_unavailable", std::move(message));
    default:
      return Internal(std::move(message));
  }
}

// --- Statement ---

Statement::Statement(SqliteConnection* connection, sqlite3_stmt* stmt, bool* in_use)
    : connection_(connection), stmt_(stmt), in_use_(in_use) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(other.in_use_),
      bind_error_(other.bind_error_) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (in_use_ == nullptr) {
    sqlite3_finalize(stmt_);
    return;
  }
  // The reset's return code repeats the last step's error, which the caller has seen already.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *in_use_ = false;
}

Statement& Statement::BindInt64(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindText(int index, const std::string& value) {
  // The destructor's sqlite3_clear_bindings drops the pointer before `value` may go.
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindTextCopy(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_error_ != 0) {
    return SqliteErrorStatus(nullptr, bind_error_, std::string("bind: ") + sqlite3_sql(stmt_));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteErrorStatus(connection_->db(), rc, sqlite3_sql(stmt_));
}

Status Statement::Run() {
  while (true) {
    Result<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  int size = sqlite3_column_bytes(stmt_, column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// --- SqliteConnection ---

namespace {

// Runs a PRAGMA that answers with one row and returns that answer as text.
Result<std::string> QueryPragma(SqliteConnection& connection, std::string_view pragma) {
  Result<Statement> stmt = connection.Prepare(pragma);
  if (!stmt.ok()) return stmt.status();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::string();
  return stmt->ColumnText(0);
}

}  // namespace

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path, Mode mode,
                                                                 int busy_timeout_ms) {
  // SQLite counts every allocation of the process under one global mutex unless told not to, and
  // nothing reads those counts. Only possible before SQLite initializes; later it is refused
  // (SQLITE_MISUSE) and changes nothing, which is harmless.
  static std::once_flag configured;
  std::call_once(configured, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= mode == Mode::kReadWrite ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                                    : SQLITE_OPEN_READONLY;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open database file '" + path + "': ";
    message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);  // a no-op on null
    return Unavailable("store_unavailable", std::move(message));
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(db, path));

  // SQLite opens files lazily: a path that is a directory or not a database fails only here.
  Status status;
  if (mode == Mode::kReadWrite) {
    // WAL lets readers run beside the writer; synchronous=FULL syncs the WAL on every COMMIT, which
    // is what makes an acknowledged write survive power loss (NORMAL would only survive a crash of
    // the process).
    // The switch to WAL needs an exclusive lock, which SQLite refuses at once (store_busy, its
    // busy handler not asked) while another connection holds the file's lock in a way that could
    // deadlock, as when several processes open a fresh file together: it is tried again until
    // busy_timeout_ms has passed.
    const auto give_up =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    Result<std::string> journal = QueryPragma(*connection, "PRAGMA journal_mode=WAL");
    while (!journal.ok() && journal.status().reason() == "store_busy" &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      journal = QueryPragma(*connection, "PRAGMA journal_mode=WAL");
    }
    if (!journal.ok()) {
      status = journal.status();
    } else if (*journal != "wal") {
      status =
          Unavailable("store_unavailable",
                      "database '" + path + "' cannot use WAL (journal_mode=" + *journal + ")");
    } else {
      // temp_store=MEMORY keeps the journals of savepoints (one per write of a group
      // transaction) in memory instead of spilling them to a temporary file.
      // secure_delete=OFF: Debian's SQLite is built to zero every freed cell and page, which an
      // UPDATE of an order row pays for; nothing here needs freed bytes erased from the file.
      status = connection->Exec(
          "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; "
          "PRAGMA temp_store=MEMORY; PRAGMA secure_delete=OFF");
    }
  } else {
    status = connection->Exec("PRAGMA query_only=ON; PRAGMA cache_size=-8192");
  }
  if (!status.ok()) {
    return Unavailable("store_unavailable",
                       "cannot use database file '" + path + "': " + status.message());
  }
  return connection;
}

SqliteConnection::SqliteConnection(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)) {}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, cached] : cache_) {
    assert(!cached.in_use && "a Statement outlived its connection");
    sqlite3_finalize(cached.stmt);
  }
  cache_.clear();
  // Every statement is finalized, so close cannot fail with SQLITE_BUSY.
  int rc = sqlite3_close(db_);
  assert(rc == SQLITE_OK);
  (void)rc;
}

Status SqliteConnection::Exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string context = "exec";
  if (error != nullptr) {
    context += " (";
    context += error;
    context += ")";
    sqlite3_free(error);
  }
  return SqliteErrorStatus(db_, rc, context);
}

Status SqliteConnection::Run(std::string_view sql) {
  Result<Statement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  return stmt->Run();
}

Result<Statement> SqliteConnection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Statement(this, it->second.stmt, &it->second.in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  const bool cache = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteErrorStatus(db_, rc, "prepare: " + std::string(sql));
  }
  if (stmt == nullptr) return Internal("prepare: empty statement: " + std::string(sql));
  if (!cache) return Statement(this, stmt, /*in_use=*/nullptr);
  auto [entry, inserted] = cache_.emplace(std::string(sql), CachedStatement{stmt, true});
  assert(inserted);
  (void)inserted;
  return Statement(this, stmt, &entry->second.in_use);
}

int64_t SqliteConnection::Changes() const { return sqlite3_changes64(db_); }

bool SqliteConnection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace topup::sqlite
