// Checkpointer: copies the WAL back into the database file from a thread of its own.
//
// SQLite's default is that the connection whose COMMIT pushes the WAL past 1000 pages runs the
// checkpoint inside that COMMIT. Here that connection is the group commit writer, the one serial
// resource of the store, and every write waiting behind it would wait for the copy and the sync
// of the database file too. A PASSIVE checkpoint on another connection runs alongside the writer
// and never blocks it; the writer starts the WAL over once a checkpoint has copied all of it.
//
// Threading: the connection belongs to the checkpointer's thread from construction until the
// destructor has joined it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "store/sqlite/sqlite_connection.h"

namespace topup::sqlite {

class Checkpointer {
 public:
  // Starts the thread, which checkpoints every `interval`. REQUIRES: a read-write connection.
  Checkpointer(std::unique_ptr<SqliteConnection> connection, std::chrono::milliseconds interval);
  ~Checkpointer();  // stops and joins the thread
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  void Loop();

  const std::unique_ptr<SqliteConnection> connection_;  // used only by thread_
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;     // last: started once everything above is constructed
};

}  // namespace topup::sqlite
