#include "testing/rabbitmq_server.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "testing/server_support.h"

namespace topup::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Where Debian's rabbitmq-server package puts the broker's own start script (the one on PATH is a
// wrapper that switches to the rabbitmq user).
constexpr const char* kBrokerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";
// Generous: about 10 s here, more on a loaded machine.
constexpr std::chrono::milliseconds kStartTimeout{120'000};
constexpr std::chrono::milliseconds kStopTimeout{30'000};

Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::trunc);
  file << content;
  file.close();
  if (!file) return Unavailable("write_failed", "cannot write " + path);
  return Status::Ok();
}

// True if the broker on 127.0.0.1:port completes an AMQP handshake and login as guest.
bool AcceptsLogin(uint16_t port) {
  amqp_connection_state_t connection = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(connection);
  timeval timeout{2, 0};
  amqp_set_handshake_timeout(connection, &timeout);
  amqp_set_rpc_timeout(connection, &timeout);
  bool ok = false;
  if (socket != nullptr &&
      amqp_socket_open_noblock(socket, "127.0.0.1", port, &timeout) == AMQP_STATUS_OK) {
    amqp_rpc_reply_t login = amqp_login(connection, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0,
                                        AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    ok = login.reply_type == AMQP_RESPONSE_NORMAL;
    if (ok) amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(connection);
  return ok;
}

}  // namespace

Result<std::unique_ptr<RabbitMqServer>> RabbitMqServer::Start() {
  if (access(kBrokerScript, X_OK) != 0) {
    return Unavailable("rabbitmq_not_installed", std::string(kBrokerScript) +
                                                     " not found: install the Debian package "
                                                     "rabbitmq-server");
  }
  std::string epmd = FindExecutable("epmd", "/usr/lib/erlang/bin");
  if (epmd.empty()) {
    return Unavailable("epmd_not_installed",
                       "epmd not found: install the Debian package "
                       "erlang-base (rabbitmq-server depends on it)");
  }
  Ports ports;
  for (uint16_t* port : {&ports.amqp, &ports.dist, &ports.epmd}) {
    for (int attempt = 0; attempt < 10 && *port == 0; ++attempt) {
      Result<uint16_t> picked = process::PickFreePort();
      if (!picked.ok()) return picked.status();
      if (*picked != ports.amqp && *picked != ports.dist && *picked != ports.epmd) {
        *port = *picked;
      }
    }
    if (*port == 0) return Unavailable("no_free_port", "could not pick distinct free ports");
  }
  Result<std::string> dir = MakeTempDir("topup-rabbitmq-");
  if (!dir.ok()) return dir.status();
  const std::string node_name =
      "topup-test-" + std::to_string(getpid()) + "-" + std::to_string(ports.amqp) + "@localhost";
  std::unique_ptr<RabbitMqServer> server(new RabbitMqServer(kBrokerScript, *dir, node_name, ports));

  std::error_code error;
  for (const char* sub : {"home", "mnesia", "log"}) fs::create_directories(*dir + "/" + sub, error);
  const std::string config = "listeners.tcp.default = 127.0.0.1:" + std::to_string(ports.amqp) +
                             "\n"
                             "log.console = false\n"
                             "log.file.level = info\n"
                             // A nearly full test disk must not block publishers.
                             "disk_free_limit.absolute = 1MB\n";
  for (Status written :
       {WriteFile(*dir + "/rabbitmq.conf", config), WriteFile(*dir + "/enabled_plugins", "[].\n"),
        WriteFile(*dir + "/rabbitmq-env.conf", "")}) {
    if (!written.ok()) return written;
  }
  if (Status epmd_started = server->StartEpmd(epmd); !epmd_started.ok()) return epmd_started;
  if (Status launched = server->Launch(kStartTimeout); !launched.ok()) return launched;
  return server;
}

RabbitMqServer::~RabbitMqServer() {
  Stop();
  if (epmd_) epmd_->Stop(SIGTERM, std::chrono::seconds(5));
  epmd_.reset();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string RabbitMqServer::url() const {
  return "amqp://guest:guest@127.0.0.1:" + std::to_string(amqp_port_) + "/%2f";
}

void RabbitMqServer::Stop() {
  if (!node_) return;
  node_->Stop(SIGTERM, kStopTimeout);
  node_.reset();
}

Status RabbitMqServer::Restart() {
  Stop();
  return Launch(kStartTimeout);
}

Status RabbitMqServer::StartEpmd(const std::string& epmd_binary) {
  Result<process::ChildProcess> child = process::ChildProcess::Spawn(
      {epmd_binary, "-port", std::to_string(epmd_port_), "-address", "127.0.0.1"},
      dir_ + "/epmd.log");
  if (!child.ok()) return child.status();
  epmd_.emplace(std::move(*child));
  if (Status open = process::WaitForTcpPort(epmd_port_, std::chrono::seconds(10)); !open.ok()) {
    return Unavailable("epmd_not_started", "epmd did not listen on port " +
                                               std::to_string(epmd_port_) + ":" +
                                               LastLines(dir_ + "/epmd.log", 5));
  }
  return Status::Ok();
}

Status RabbitMqServer::Launch(std::chrono::milliseconds timeout) {
  const char* path = std::getenv("PATH");
  const std::string output = dir_ + "/rabbitmq.out";
  // A clean environment so nothing of the caller's (or of a system broker's) configuration leaks
  // in. RABBITMQ_ALLOW_INPUT makes the start script exec the Erlang VM, so the child's PID is the
  // node's own; -noinput keeps the VM off the terminal all the same.
  std::vector<std::string> argv = {
      "env",
      "-i",
      std::string("PATH=") + (path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin"),
      "LANG=C.UTF-8",
      "LC_ALL=C.UTF-8",
      "HOME=" + dir_ + "/home",
      "RABBITMQ_ALLOW_INPUT=true",
      "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput -kernel inet_dist_use_interface {127,0,0,1}",
      "RABBITMQ_NODENAME=" + node_name_,
      "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
      "RABBITMQ_NODE_PORT=" + std::to_string(amqp_port_),
      "RABBITMQ_DIST_PORT=" + std::to_string(dist_port_),
      "ERL_EPMD_PORT=" + std::to_string(epmd_port_),
      "ERL_EPMD_ADDRESS=127.0.0.1",
      "RABBITMQ_CONF_ENV_FILE=" + dir_ + "/rabbitmq-env.conf",
      "RABBITMQ_CONFIG_FILE=" + dir_ + "/rabbitmq.conf",
      "RABBITMQ_ADVANCED_CONFIG_FILE=" + dir_ + "/advanced.config",
      "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins",
      "RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia",
      "RABBITMQ_LOG_BASE=" + dir_ + "/log",
      "RABBITMQ_PID_FILE=" + dir_ + "/rabbitmq.pid",
      "/bin/sh",
      "-c",
      "exec \"$0\" >>\"$1\" 2>&1 </dev/null",
      script_,
      output};
  Result<process::ChildProcess> child = process::ChildProcess::Spawn(argv, output);
  if (!child.ok()) return child.status();
  node_.emplace(std::move(*child));
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (AcceptsLogin(amqp_port_)) return Status::Ok();
    if (ChildExited(node_->pid())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  return Unavailable("rabbitmq_not_started",
                     "RabbitMQ node " + node_name_ + " did not accept an AMQP login on port " +
                         std::to_string(amqp_port_) + "; its output:" + LastLines(output, 15) +
                         "\nits log:" + LastLines(dir_ + "/log/" + node_name_ + ".log", 15));
}

}  // namespace topup::testing
