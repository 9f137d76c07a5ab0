#include "store/sqlite/read_pool.h"

#include <cassert>
#include <utility>

namespace topup::sqlite {

ReadPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::exchange(other.connection_, nullptr)) {}

ReadPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Give(connection_);
}

ReadPool::ReadPool(std::vector<std::unique_ptr<SqliteConnection>> connections)
    : connections_(std::move(connections)) {
  assert(!connections_.empty());
  for (const auto& connection : connections_) free_.push_back(connection.get());
}

ReadPool::~ReadPool() {
  assert(free_.size() == connections_.size() && "a Lease outlived its pool");
}

ReadPool::Lease ReadPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  free_cv_.wait(lock, [this] { return !free_.empty(); });
  SqliteConnection* connection = free_.back();
  free_.pop_back();
  return Lease(this, connection);
}

void ReadPool::Give(SqliteConnection* connection) {
  assert(!connection->InTransaction() && "a read transaction outlived its lease");
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(connection);
    assert(free_.size() <= connections_.size());
  }
  free_cv_.notify_one();
}

ReadTransaction::ReadTransaction(SqliteConnection& connection) : connection_(connection) {
  status_ = connection_.Run("BEGIN");
}

ReadTransaction::~ReadTransaction() {
  // A read-only transaction has nothing to commit; ending it just releases the snapshot.
  if (connection_.InTransaction()) (void)connection_.Run("COMMIT");
}

}  // namespace topup::sqlite
