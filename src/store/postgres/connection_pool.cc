#include "store/postgres/connection_pool.h"

#include <cassert>
#include <utility>

namespace topup::postgres {

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)) {}

ConnectionPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Release(std::move(connection_));
}

ConnectionPool::ConnectionPool(ConnectionPoolOptions options) : options_(std::move(options)) {
  assert(options_.size >= 1);
}

ConnectionPool::~ConnectionPool() {
  std::lock_guard<std::mutex> lock(mu_);
  assert(open_ == idle_.size() && "a connection is still leased");
}

size_t ConnectionPool::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  // Each pass either hands out a connection, opens one, or drops a dead one (which frees a slot
  // for the next pass), so the loop ends by the deadline at the latest.
  while (true) {
    std::unique_ptr<PgConnection> connection;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const bool available = returned_cv_.wait_until(
          lock, deadline, [this] { return !idle_.empty() || open_ < options_.size; });
      if (!available) {
        return Status(StatusCode::kResourceExhausted, "store_overloaded",
                      "no database connection came free within " +
                          std::to_string(options_.acquire_timeout.count()) + " ms (pool of " +
                          std::to_string(options_.size) + ")");
      }
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;  // reserves the slot while connecting outside the lock
      }
    }
    if (connection != nullptr) {
      if (connection->Usable()) return Lease(this, std::move(connection));
      connection.reset();  // broken while idle: drop it and try again
      {
        std::lock_guard<std::mutex> lock(mu_);
        --open_;
      }
      returned_cv_.notify_one();
      continue;
    }
    Result<std::unique_ptr<PgConnection>> opened =
        PgConnection::Open(options_.url, options_.connect_timeout_s, options_.statement_timeout_ms);
    if (!opened.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        --open_;
      }
      returned_cv_.notify_one();
      return opened.status();
    }
    return Lease(this, std::move(opened).value());
  }
}

void ConnectionPool::Release(std::unique_ptr<PgConnection> connection) {
  const bool usable = connection->Usable();
  if (!usable) connection.reset();  // closed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (usable) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
  }
  returned_cv_.notify_one();
}

}  // namespace topup::postgres
