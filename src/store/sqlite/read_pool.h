// ReadPool: a fixed set of read-only connections that readers borrow one at a time.
//
// In WAL mode a reader sees the last transaction committed before its read began and never blocks
// the writer, so reads do not queue behind the group commit writer.
//
// Threading: the free list is guarded by mu_. A borrowed connection belongs to the thread holding
// its ReadPool::Lease until the lease is destroyed.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "store/sqlite/sqlite_connection.h"

namespace topup::sqlite {

class ReadPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();  // gives the connection back

    SqliteConnection& operator*() const { return *connection_; }
    SqliteConnection* operator->() const { return connection_; }

   private:
    friend class ReadPool;
    Lease(ReadPool* pool, SqliteConnection* connection) : pool_(pool), connection_(connection) {}
    ReadPool* pool_;
    SqliteConnection* connection_;  // null after a move
  };

  // REQUIRES: !connections.empty(), each connection read-only.
  explicit ReadPool(std::vector<std::unique_ptr<SqliteConnection>> connections);
  // REQUIRES: no Lease is alive.
  ~ReadPool();

  // Blocks until a connection is free. Reads are short (bounded by their LIMITs), so the wait is
  // bounded by the pool size times the longest read.
  Lease Acquire();

 private:
  void Give(SqliteConnection* connection);

  const std::vector<std::unique_ptr<SqliteConnection>> connections_;
  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<SqliteConnection*> free_;  // guarded by mu_
};

// A read transaction on one connection: every statement between construction and destruction
// sees the same snapshot. Use it for reads made of more than one statement.
class ReadTransaction {
 public:
  explicit ReadTransaction(SqliteConnection& connection);
  ~ReadTransaction();  // ends the transaction
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

  const Status& status() const { return status_; }  // whether BEGIN succeeded

 private:
  SqliteConnection& connection_;
  Status status_;
};

}  // namespace topup::sqlite
