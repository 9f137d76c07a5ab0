// RedisServer: a private redis-server for tests, on 127.0.0.1, a free port and a fresh directory,
// with the append-only file on so that a restart keeps the data (as a production setup would).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "process/child_process.h"
#include "topup/status.h"

namespace topup::testing {

class RedisServer {
 public:
  // Starts the server and waits until it answers PING. Fails (never skips) when redis-server is not
  // installed: the message says which package to install.
  static Result<std::unique_ptr<RedisServer>> Start();
  ~RedisServer();  // stops the server by its PID and removes its directory
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  // redis://127.0.0.1:PORT/0
  std::string url() const;
  bool running() const { return process_.has_value(); }

  // SIGTERM (Redis writes its append-only file and exits), a bounded wait, then SIGKILL.
  void Stop();
  // Stops the server if it runs, then starts it again on the same port and directory.
  Status Restart();

 private:
  RedisServer(std::string binary, std::string dir, uint16_t port)
      : binary_(std::move(binary)), dir_(std::move(dir)), port_(port) {}
  Status Launch(std::chrono::milliseconds timeout);

  const std::string binary_;
  const std::string dir_;
  const uint16_t port_;
  std::optional<process::ChildProcess> process_;
};

}  // namespace topup::testing
