// PostgresServer: a private PostgreSQL 15 server for tests, from Debian's postgresql-15 package,
// in a fresh directory, on 127.0.0.1 and a free port, with fsync on (as in production).
//
// PostgreSQL refuses to run as root: when the test runs as root, initdb and the server run as the
// `postgres` system user (created by the package), and the directory is handed to that user. The
// server is started through setpriv with a parent-death signal, so a test process that dies
// without running destructors still takes its server down with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "process/child_process.h"
#include "topup/status.h"

namespace topup::testing {

class PostgresServer {
 public:
  // Creates the cluster and starts the server, waiting until it accepts connections. Fails (never
  // skips) when the PostgreSQL 15 binaries are missing: the message says which package to install.
  static Result<std::unique_ptr<PostgresServer>> Start();
  ~PostgresServer();  // stops the server by its PID and removes its directory
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  uint16_t port() const { return port_; }
  // postgresql://topup@127.0.0.1:PORT/postgres (the superuser `topup`, trusted on 127.0.0.1 only)
  std::string url() const { return DatabaseUrl("postgres"); }
  std::string DatabaseUrl(const std::string& database) const;
  bool running() const { return process_.has_value(); }
  // CPU seconds (user + system) the server has used since it last started: the postmaster, the
  // backends and helpers it runs now, and those that exited. 0 when it does not run.
  double CpuSeconds() const;

  // Creates an empty database `name` ([a-z0-9_], 1..63 characters) and returns its URL.
  Result<std::string> CreateDatabase(const std::string& name);
  // Drops database `name`, closing its connections. Keeping the cluster small keeps restarts
  // quick: after a crash the server flushes every file of every database before recovering.
  Status DropDatabase(const std::string& name);

  // Immediate shutdown: the server stops at once, without a checkpoint, as if the machine had
  // lost power (short of losing the page cache). Bounded; SIGKILL if it does not exit.
  void Stop();
  // Stops the server if it runs, then starts it again on the same port and data. A restart after
  // Stop() goes through crash recovery from the WAL: what was committed must still be there.
  Status Restart();

 private:
  PostgresServer(std::string dir, bool as_postgres_user)
      : dir_(std::move(dir)), as_postgres_user_(as_postgres_user) {}
  // Starts the postgres process on port_ and waits, at most `timeout`, until it is ready.
  Status Launch(std::chrono::milliseconds timeout);

  const std::string dir_;  // the data directory is dir_ + "/data"
  const bool as_postgres_user_;
  uint16_t port_ = 0;  // set once by Start

  std::optional<process::ChildProcess> process_;
};

}  // namespace topup::testing
