// PgConnection: one libpq connection with its own prepared statements, and PgResult, the answer
// to one statement. Everything is sent and read in libpq's text format.
//
// Threading: a PgConnection is used by one thread at a time (ConnectionPool hands it out).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "topup/status.h"

struct pg_conn;
struct pg_result;

namespace topup::postgres {

// A statement prepared once per connection under `name` (unique per SQL text) and executed by
// name afterwards, so the server parses and plans it once per connection.
struct Query {
  std::string name;
  std::string sql;
};

// Parameters $1, $2, ... in text format. Text must be storable (see IsStorableText).
class Params {
 public:
  Params& Text(std::string_view value);
  Params& Int(int64_t value);
  Params& Bool(bool value);
  // A text[] literal: {"a","b"} with '"' and '\' escaped.
  Params& TextArray(std::span<const std::string> values);
  // A bigint[] literal: {1,2}.
  Params& IntArray(std::span<const int64_t> values);
  // A boolean[] literal: {t,f}.
  Params& BoolArray(const std::vector<bool>& values);

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object: valid until it is changed or destroyed.
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::string> values_;
};

// One statement of a pipeline: a query and its parameters.
struct BoundQuery {
  const Query* query;
  Params params;
};

class PgResult {
 public:
  // Takes ownership of `result` (which may be null after a broken connection); `connection_error`
  // describes the failure when it is.
  PgResult(pg_result* result, std::string connection_error);
  PgResult(PgResult&&) noexcept = default;
  PgResult& operator=(PgResult&&) noexcept = default;

  bool ok() const;
  // The SQLSTATE of a failed statement ("23505", ...); empty when ok or when no answer came.
  std::string sqlstate() const;
  // The constraint a failed statement violated, if any.
  std::string constraint() const;
  std::string message() const;
  // The failure as a Status: Unavailable("store_unavailable") for a lost connection or a server
  // that is shutting down, Unavailable("store_busy") for lock conflicts, DeadlineExceeded
  // ("store_timeout") for statement_timeout, Internal otherwise. REQUIRES: !ok().
  Status ToStatus() const;

  int rows() const;
  int columns() const;
  bool IsNull(int row, int column) const;
  std::string_view Text(int row, int column) const;  // "" for NULL
  int64_t Int(int row, int column) const;            // 0 for NULL
  bool Bool(int row, int column) const;              // false for NULL

 private:
  struct Deleter {
    void operator()(pg_result* result) const;
  };
  std::unique_ptr<pg_result, Deleter> result_;
  std::string connection_error_;
};

class PgConnection {
 public:
  // Connects to `url` (a libpq URI) and sets the session up: UTF-8, synchronous_commit on (an
  // acknowledged commit is on disk whatever the server's default), prepared statements planned
  // at each execution (plan_cache_mode), and a statement timeout.
  // Unavailable("store_unavailable") when the server cannot be reached or refuses the login.
  static Result<std::unique_ptr<PgConnection>> Open(const std::string& url, int connect_timeout_s,
                                                    int statement_timeout_ms);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Executes `query` with `params`, preparing it on this connection first if needed.
  PgResult Execute(const Query& query, const Params& params);
  // Sends every query of `queries` before reading any answer, so that the lot costs about one
  // round trip, and returns one result per query, in order. They run in one transaction (an
  // implicit one unless the first is a BEGIN). Once one fails the server skips the rest, whose
  // results are failed too; the first failed result is the one that says why.
  // Unavailable("store_unavailable") if the connection broke, when how far the server got is
  // unknown. A query that cannot be prepared gives its error before anything is sent.
  Result<std::vector<PgResult>> ExecutePipeline(std::span<const BoundQuery> queries);
  // Executes `sql` once with `params`, unprepared (for rare statements).
  PgResult ExecuteOnce(std::string_view sql, const Params& params);
  // Runs one or more ';'-separated statements without parameters.
  Status Run(std::string_view sql);

  // False once the connection is lost or left inside a transaction or a pipeline; the pool then
  // replaces it.
  // Also notices a server that closed the connection while it sat idle, so that a statement is
  // not sent into a dead socket.
  bool Usable();

 private:
  explicit PgConnection(pg_conn* connection) : connection_(connection) {}
  // Prepares `query` on this connection unless it already is.
  Status Prepare(const Query& query);
  std::string ErrorMessage() const;

  pg_conn* connection_;
  std::unordered_set<std::string> prepared_;  // names of the statements prepared here
};

}  // namespace topup::postgres
