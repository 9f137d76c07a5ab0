#include "store/sqlite/checkpointer.h"

#include <spdlog/spdlog.h>

#include "core/thread_name.h"

namespace topup::sqlite {

Checkpointer::Checkpointer(std::unique_ptr<SqliteConnection> connection,
                           std::chrono::milliseconds interval)
    : connection_(std::move(connection)), interval_(interval), thread_([this] { Loop(); }) {}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_one();
  thread_.join();
}

void Checkpointer::Loop() {
  SetThreadName("store-checkpt");
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    // A busy or locked database is normal (another process checkpoints); the next round retries.
    Status status = connection_->Exec("PRAGMA wal_checkpoint(PASSIVE)");
    if (!status.ok()) spdlog::debug("store: checkpoint: {}", status.ToString());
    lock.lock();
  }
}

}  // namespace topup::sqlite
