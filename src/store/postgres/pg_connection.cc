#include "store/postgres/pg_connection.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <utility>

namespace topup::postgres {
namespace {

// libpq prints NOTICEs (e.g. "relation already exists, skipping") to stderr by default.
void LogNotice(void* /*arg*/, const char* message) { spdlog::debug("postgres: {}", message); }

}  // namespace

// --- Params ---

Params& Params::Text(std::string_view value) {
  values_.emplace_back(value);
  return *this;
}

Params& Params::Int(int64_t value) {
  values_.push_back(std::to_string(value));
  return *this;
}

Params& Params::Bool(bool value) {
  values_.emplace_back(value ? "t" : "f");
  return *this;
}

Params& Params::TextArray(std::span<const std::string> values) {
  std::string literal = "{";
  for (const std::string& value : values) {
    if (literal.size() > 1) literal += ',';
    literal += '"';
    for (char c : value) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  values_.push_back(std::move(literal));
  return *this;
}

Params& Params::IntArray(std::span<const int64_t> values) {
  std::string literal = "{";
  for (int64_t value : values) {
    if (literal.size() > 1) literal += ',';
    literal += std::to_string(value);
  }
  literal += '}';
  values_.push_back(std::move(literal));
  return *this;
}

Params& Params::BoolArray(const std::vector<bool>& values) {
  std::string literal = "{";
  for (bool value : values) {
    if (literal.size() > 1) literal += ',';
    literal += value ? 't' : 'f';
  }
  literal += '}';
  values_.push_back(std::move(literal));
  return *this;
}

std::vector<const char*> Params::Pointers() const {
  std::vector<const char*> pointers;
  pointers.reserve(values_.size());
  for (const std::string& value : values_) pointers.push_back(value.c_str());
  return pointers;
}

// --- PgResult ---

void PgResult::Deleter::operator()(pg_result* result) const { PQclear(result); }

PgResult::PgResult(pg_result* result, std::string connection_error)
    : result_(result), connection_error_(std::move(connection_error)) {}

bool PgResult::ok() const {
  if (result_ == nullptr) return false;
  ExecStatusType status = PQresultStatus(result_.get());
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

std::string PgResult::sqlstate() const {
  if (result_ == nullptr) return "";
  const char* state = PQresultErrorField(result_.get(), PG_DIAG_SQLSTATE);
  return state == nullptr ? "" : state;
}

std::string PgResult::constraint() const {
  if (result_ == nullptr) return "";
  const char* name = PQresultErrorField(result_.get(), PG_DIAG_CONSTRAINT_NAME);
  return name == nullptr ? "" : name;
}

std::string PgResult::message() const {
  if (result_ == nullptr) return connection_error_;
  std::string text = PQresultErrorMessage(result_.get());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? connection_error_ : text;
}

Status PgResult::ToStatus() const {
  const std::string state = sqlstate();
  std::string text = "postgres: " + message();
  if (!state.empty()) text += " (SQLSTATE " + state + ")";
  // No SQLSTATE: the answer never came, i.e. the connection broke.
  if (state.empty() || state.starts_with("08") || state.starts_with("53") ||
      state.starts_with("57P") || state.starts_with("58") || state == "25006") {
    return Unavailable("store_unavailable", std::move(text));
  }
  if (state == "40001" || state == "40P01" || state == "55P03") {
    return Unavailable("store_busy", std::move(text));
  }
  if (state == "57014") return DeadlineExceeded("store_timeout", std::move(text));
  return Internal(std::move(text));
}

int PgResult::rows() const { return result_ == nullptr ? 0 : PQntuples(result_.get()); }

int PgResult::columns() const { return result_ == nullptr ? 0 : PQnfields(result_.get()); }

bool PgResult::IsNull(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view PgResult::Text(int row, int column) const {
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t PgResult::Int(int row, int column) const {
  std::string_view text = Text(row, column);
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

bool PgResult::Bool(int row, int column) const { return Text(row, column) == "t"; }

// --- PgConnection ---

Result<std::unique_ptr<PgConnection>> PgConnection::Open(const std::string& url,
                                                         int connect_timeout_s,
                                                         int statement_timeout_ms) {
  const std::string timeout = std::to_string(connect_timeout_s);
  // expand_dbname: the first "dbname" is the URL itself; the keywords after it override the
  // URL's own values for the same keys.
  const char* keys[] = {"dbname", "connect_timeout", "client_encoding", "application_name",
                        nullptr};
  const char* values[] = {url.c_str(), timeout.c_str(), "UTF8", "topup", nullptr};
  pg_conn* connection = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (connection == nullptr) return Unavailable("store_unavailable", "postgres: out of memory");
  std::unique_ptr<PgConnection> result(new PgConnection(connection));
  if (PQstatus(connection) != CONNECTION_OK) {
    return Unavailable("store_unavailable", "postgres: cannot connect: " + result->ErrorMessage());
  }
  PQsetNoticeProcessor(connection, LogNotice, nullptr);
  // force_custom_plan: a prepared statement is planned for its parameters and the tables as
  // they are at each execution. A generic plan, made once and kept until the next ANALYZE, was
  // made while the tables were nearly empty (a new database, or before autovacuum's first pass)
  // and scanned every order for each id of a batch's array.
  Status status = result->Run(
      "SET synchronous_commit = on; SET plan_cache_mode = force_custom_plan;"
      " SET statement_timeout = " +
      std::to_string(statement_timeout_ms));
  if (!status.ok()) return status;
  return result;
}

PgConnection::~PgConnection() { PQfinish(connection_); }

std::string PgConnection::ErrorMessage() const {
  std::string text = PQerrorMessage(connection_);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "connection lost" : text;
}

Status PgConnection::Prepare(const Query& query) {
  if (prepared_.contains(query.name)) return Status::Ok();
  pg_result* result = PQprepare(connection_, query.name.c_str(), query.sql.c_str(), 0, nullptr);
  PgResult prepared(result, result == nullptr ? ErrorMessage() : "");
  if (!prepared.ok()) return prepared.ToStatus();
  prepared_.insert(query.name);
  return Status::Ok();
}

PgResult PgConnection::Execute(const Query& query, const Params& params) {
  if (!prepared_.contains(query.name)) {
    pg_result* result = PQprepare(connection_, query.name.c_str(), query.sql.c_str(), 0, nullptr);
    PgResult prepared(result, result == nullptr ? ErrorMessage() : "");
    if (!prepared.ok()) return prepared;
    prepared_.insert(query.name);
  }
  std::vector<const char*> values = params.Pointers();
  pg_result* result = PQexecPrepared(connection_, query.name.c_str(), params.size(), values.data(),
                                     nullptr, nullptr, 0);
  return PgResult(result, result == nullptr ? ErrorMessage() : "");
}

// libpq answers a pipeline with each query's result followed by a null, then one
// PGRES_PIPELINE_SYNC result for the sync that ends it. A connection that breaks midway gives a
// failed result and then nulls. Blocking mode is safe however much is sent: while libpq cannot
// send, it reads and buffers the server's answers, so neither side waits on the other for ever.
// An early return leaves the connection in pipeline mode, and the pool drops it (see Usable).
Result<std::vector<PgResult>> PgConnection::ExecutePipeline(std::span<const BoundQuery> queries) {
  std::vector<PgResult> results;
  if (queries.empty()) return results;
  for (const BoundQuery& bound : queries) {
    Status prepared = Prepare(*bound.query);
    if (!prepared.ok()) return prepared;
  }
  auto broken = [this](std::string_view when) {
    return Unavailable("store_unavailable", "postgres: pipeline broken while " + std::string(when) +
                                                ": " + ErrorMessage());
  };
  if (PQenterPipelineMode(connection_) != 1) return broken("starting");
  for (const BoundQuery& bound : queries) {
    std::vector<const char*> values = bound.params.Pointers();
    if (PQsendQueryPrepared(connection_, bound.query->name.c_str(), bound.params.size(),
                            values.data(), nullptr, nullptr, 0) != 1) {
      return broken("sending");
    }
  }
  if (PQpipelineSync(connection_) != 1) return broken("sending");
  results.reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    pg_result* result = PQgetResult(connection_);
    if (result == nullptr) return broken("reading");
    // The text is the message of a result without one: a query skipped after a failure.
    results.emplace_back(result, "skipped: an earlier statement of the pipeline failed");
    pg_result* end = PQgetResult(connection_);
    if (end != nullptr) {
      PQclear(end);
      return broken("reading");  // more than one result for one query: out of step
    }
  }
  pg_result* sync = PQgetResult(connection_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced) return broken("ending");
  if (PQexitPipelineMode(connection_) != 1) return broken("ending");
  return results;
}

PgResult PgConnection::ExecuteOnce(std::string_view sql, const Params& params) {
  std::vector<const char*> values = params.Pointers();
  const std::string text(sql);
  pg_result* result = PQexecParams(connection_, text.c_str(), params.size(), nullptr, values.data(),
                                   nullptr, nullptr, 0);
  return PgResult(result, result == nullptr ? ErrorMessage() : "");
}

Status PgConnection::Run(std::string_view sql) {
  const std::string text(sql);
  // PQexec returns the result of the last statement; an error stops the string there.
  pg_result* answer = PQexec(connection_, text.c_str());
  PgResult result(answer, answer == nullptr ? ErrorMessage() : "");
  if (!result.ok()) return result.ToStatus();
  return Status::Ok();
}

bool PgConnection::Usable() {
  if (PQstatus(connection_) != CONNECTION_OK) return false;
  if (PQtransactionStatus(connection_) != PQTRANS_IDLE) return false;
  if (PQpipelineStatus(connection_) != PQ_PIPELINE_OFF) return false;
  // libpq's socket is non-blocking: this reads whatever arrived while idle, and on EOF marks the
  // connection bad.
  if (PQconsumeInput(connection_) == 0) return false;
  return PQstatus(connection_) == CONNECTION_OK;
}

}  // namespace topup::postgres
