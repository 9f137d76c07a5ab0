// ConnectionPool: at most `size` connections to one PostgreSQL database, opened when first needed
// and handed to one caller at a time.
//
// A caller that finds every connection busy waits, at most acquire_timeout, for one to come back.
// A connection that broke (server restart, network) is dropped when it is returned or when it is
// next handed out, and a new one is opened in its place.
//
// Threading: idle_ and open_ are guarded by mu_. A leased connection belongs to the thread holding
// its Lease until the lease is destroyed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/postgres/pg_connection.h"
#include "topup/status.h"

namespace topup::postgres {

struct ConnectionPoolOptions {
  std::string url;
  size_t size = 8;  // >= 1
  std::chrono::milliseconds acquire_timeout{2000};
  int connect_timeout_s = 5;
  int statement_timeout_ms = 30'000;
};

class ConnectionPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();  // gives the connection back, or drops it if it is no longer usable

    PgConnection& operator*() const { return *connection_; }
    PgConnection* operator->() const { return connection_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<PgConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    ConnectionPool* pool_;
    std::unique_ptr<PgConnection> connection_;  // null after a move
  };

  explicit ConnectionPool(ConnectionPoolOptions options);
  ~ConnectionPool();  // REQUIRES: no lease outstanding
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A usable connection. ResourceExhausted("store_overloaded") if none came free within
  // acquire_timeout; Unavailable("store_unavailable") if a new one could not be opened.
  Result<Lease> Acquire();

  size_t open_connections() const;

 private:
  void Release(std::unique_ptr<PgConnection> connection);

  const ConnectionPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable returned_cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // most recently used last
  size_t open_ = 0;                                  // idle + leased + being opened, <= size
};

}  // namespace topup::postgres
