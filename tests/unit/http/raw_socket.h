// Plain POSIX sockets with bounded waits, for tests that must speak malformed or hand-written
// HTTP, or watch exactly how many connections a client opens.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace topup::http::testing {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

inline sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A connected socket to 127.0.0.1:port, or an invalid Fd.
inline Fd ConnectLoopback(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in address = Loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return Fd();
  }
  return fd;
}

// A listening socket on 127.0.0.1 with a kernel-chosen port, stored in *port.
inline Fd ListenLoopback(uint16_t* port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in address = Loopback(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return Fd();
  }
  socklen_t length = sizeof(address);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return fd;
}

// Waits at most `timeout` for `events` on fd. Returns whether they came.
inline bool WaitFor(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd entry{fd, events, 0};
  return ::poll(&entry, 1, static_cast<int>(timeout.count())) == 1;
}

// Accepts one connection within `timeout`, or returns an invalid Fd.
inline Fd AcceptWithin(const Fd& listener, std::chrono::milliseconds timeout) {
  if (!WaitFor(listener.get(), POLLIN, timeout)) return Fd();
  return Fd(::accept(listener.get(), nullptr, nullptr));
}

inline bool SendAll(const Fd& fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads until `done(received)` holds, the peer closes, or `timeout` passes; returns what came.
// *closed tells whether the peer closed (or reset) the connection.
template <typename Done>
std::string ReadUntil(const Fd& fd, std::chrono::milliseconds timeout, Done done,
                      bool* closed = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string received;
  if (closed != nullptr) *closed = false;
  while (!done(received)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !WaitFor(fd.get(), POLLIN, left)) break;
    char chunk[4096];
    const ssize_t n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n <= 0) {
      if (closed != nullptr) *closed = true;
      break;
    }
    received.append(chunk, static_cast<size_t>(n));
  }
  return received;
}

// Reads everything until the peer closes, at most `timeout`.
inline std::string ReadUntilClosed(const Fd& fd, std::chrono::milliseconds timeout, bool* closed) {
  return ReadUntil(
      fd, timeout, [](const std::string&) { return false; }, closed);
}

// Reads one HTTP message head ("...\r\n\r\n") plus `body_bytes` more.
inline std::string ReadHeadAndBody(const Fd& fd, size_t body_bytes,
                                   std::chrono::milliseconds timeout) {
  return ReadUntil(fd, timeout, [body_bytes](const std::string& received) {
    const size_t end = received.find("\r\n\r\n");
    return end != std::string::npos && received.size() >= end + 4 + body_bytes;
  });
}

// Reads one request head; returns it, or "" if none came within `timeout`.
inline std::string ReadRequestHead(const Fd& fd, std::chrono::milliseconds timeout) {
  const std::string head = ReadUntil(fd, timeout, [](const std::string& received) {
    return received.find("\r\n\r\n") != std::string::npos;
  });
  return head.find("\r\n\r\n") != std::string::npos ? head : "";
}

// A 200 answer carrying `body`, closing the connection if `close`.
inline std::string OkResponse(const std::string& body, bool close = false) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" +
         body;
}

// Runs `serve(listener)` on a thread; joins it on destruction.
class RawServer {
 public:
  explicit RawServer(std::function<void(const Fd& listener)> serve) {
    listener_ = ListenLoopback(&port_);
    thread_ = std::thread([this, serve = std::move(serve)] { serve(listener_); });
  }
  ~RawServer() { thread_.join(); }
  uint16_t port() const { return port_; }
  // Whether a connection is waiting to be accepted.
  bool HasPendingConnection() const {
    return WaitFor(listener_.get(), POLLIN, std::chrono::milliseconds(0));
  }

 private:
  uint16_t port_ = 0;
  Fd listener_;
  std::thread thread_;
};

}  // namespace topup::http::testing
