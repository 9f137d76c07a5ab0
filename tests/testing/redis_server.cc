#include "testing/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "testing/server_support.h"

namespace topup::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kStartTimeout{20'000};
constexpr std::chrono::milliseconds kStopTimeout{10'000};

// True if the server on 127.0.0.1:port answers PING with PONG (not, e.g., LOADING).
bool AnswersPing(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool pong = false;
  constexpr std::string_view kPing = "PING\r\n";
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      send(fd, kPing.data(), kPing.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(kPing.size())) {
    pollfd poll_fd{fd, POLLIN, 0};
    char buffer[64];
    if (poll(&poll_fd, 1, 1'000) == 1) {
      ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      pong = n >= 5 && std::string_view(buffer, 5) == "+PONG";
    }
  }
  close(fd);
  return pong;
}

}  // namespace

Result<std::unique_ptr<RedisServer>> RedisServer::Start() {
  std::string binary = FindExecutable("redis-server");
  if (binary.empty()) {
    return Unavailable("redis_not_installed",
                       "redis-server not found: install the Debian package redis-server");
  }
  Status last;
  // The free port may be taken between picking and binding it: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    Result<uint16_t> port = process::PickFreePort();
    if (!port.ok()) return port.status();
    Result<std::string> dir = MakeTempDir("topup-redis-");
    if (!dir.ok()) return dir.status();
    std::unique_ptr<RedisServer> server(new RedisServer(binary, *dir, *port));
    last = server->Launch(kStartTimeout);
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() {
  Stop();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

void RedisServer::Stop() {
  if (!process_) return;
  process_->Stop(SIGTERM, kStopTimeout);
  process_.reset();
}

Status RedisServer::Restart() {
  Stop();
  return Launch(kStartTimeout);
}

Status RedisServer::Launch(std::chrono::milliseconds timeout) {
  const std::string log = dir_ + "/redis.log";
  Result<process::ChildProcess> child = process::ChildProcess::Spawn(
      {binary_, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_, "--save", "",
       "--appendonly", "yes", "--daemonize", "no", "--logfile", log},
      dir_ + "/redis.stderr");
  if (!child.ok()) return child.status();
  process_.emplace(std::move(*child));
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (AnswersPing(port_)) return Status::Ok();
    if (ChildExited(process_->pid())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return Unavailable("redis_not_started",
                     "redis-server on port " + std::to_string(port_) +
                         " did not answer PING; its log:" + LastLines(log, 10) +
                         LastLines(dir_ + "/redis.stderr", 5));
}

}  // namespace topup::testing
