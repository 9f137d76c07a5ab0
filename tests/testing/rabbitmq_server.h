// RabbitMqServer: a private RabbitMQ node for tests, on 127.0.0.1 with free ports and a fresh
// directory for its data, logs, configuration and Erlang cookie, so it never meets a system broker
// (nor its epmd). Management and every other plugin are off.
//
// The node runs as the current user, root included: the broker's own start script is run
// directly (not the Debian wrapper, which switches to the rabbitmq user), with HOME in the
// temporary directory for the Erlang cookie. It gets its own epmd on a free port, started and
// stopped by PID here. Startup takes several seconds (about 10 s on a small machine).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "process/child_process.h"
#include "topup/status.h"

namespace topup::testing {

class RabbitMqServer {
 public:
  // Starts epmd and the node and waits until AMQP accepts a login. Fails (never skips) when
  // rabbitmq-server or epmd is not installed: the message says which package to install.
  static Result<std::unique_ptr<RabbitMqServer>> Start();
  ~RabbitMqServer();  // stops the node and its epmd by PID and removes the directory
  RabbitMqServer(const RabbitMqServer&) = delete;
  RabbitMqServer& operator=(const RabbitMqServer&) = delete;

  uint16_t port() const { return amqp_port_; }
  // amqp://guest:guest@127.0.0.1:PORT/%2f
  std::string url() const;
  bool running() const { return node_.has_value(); }

  // SIGTERM (the node shuts down cleanly, keeping durable queues and persistent messages), a
  // bounded wait, then SIGKILL. Its epmd keeps running.
  void Stop();
  // Stops the node if it runs, then starts it again with the same ports and data.
  Status Restart();

 private:
  struct Ports {
    uint16_t amqp = 0;
    uint16_t dist = 0;
    uint16_t epmd = 0;
  };
  RabbitMqServer(std::string script, std::string dir, std::string node_name, Ports ports)
      : script_(std::move(script)),
        dir_(std::move(dir)),
        node_name_(std::move(node_name)),
        amqp_port_(ports.amqp),
        dist_port_(ports.dist),
        epmd_port_(ports.epmd) {}
  Status StartEpmd(const std::string& epmd_binary);
  Status Launch(std::chrono::milliseconds timeout);

  const std::string script_;
  const std::string dir_;
  const std::string node_name_;
  const uint16_t amqp_port_;
  const uint16_t dist_port_;
  const uint16_t epmd_port_;
  std::optional<process::ChildProcess> epmd_;
  std::optional<process::ChildProcess> node_;
};

}  // namespace topup::testing
