// HttpServer: an asynchronous HTTP/1.1 server with keep-alive on a small pool of I/O threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "http/http_message.h"
#include "topup/status.h"

namespace topup::http {

// Ends one request: either sends its response (operator()) or resets its connection (Reset()).
// Callable from any thread; exactly one of the two, once, for all copies together. If it is
// destroyed without being called, the connection is closed without an answer (shutdown, then
// close: the client sees the connection end, a FIN), which is how the supplier simulator plays
// "credited but never answered".
class Responder {
 public:
  class Impl;
  explicit Responder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void operator()(HttpResponse response) const;
  // Aborts the connection instead of answering: no response is written, the socket is closed
  // with SO_LINGER {on, 0} so the kernel sends RST and drops anything unsent, and the connection
  // is not reused. The client's next read fails with ECONNRESET rather than seeing an orderly end
  // of stream. Done on the connection's strand; a no-op once the server is stopped.
  void Reset() const;

 private:
  std::shared_ptr<Impl> impl_;
};

// Called on an I/O thread for every complete request. It must not block: long work is posted
// elsewhere and answered later through the Responder.
using HttpHandler = std::function<void(HttpRequest request, Responder respond)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; see HttpServer::port()
  int io_threads = 1;
  size_t body_limit_bytes = 64 * 1024;   // larger bodies get 413 with a JSON error
  size_t header_limit_bytes = 8 * 1024;  // larger headers get 431 headers_too_large
  size_t max_header_fields = 64;         // more header fields get 431 headers_too_large
  // A connection that sent nothing of a next request for this long is closed (keep-alive idle).
  int idle_timeout_s = 60;
  // Once a request's first byte came, its headers must be complete within this long, and then
  // its body within idle_timeout_s: a client trickling headers is cut within seconds.
  int header_timeout_s = 10;
  size_t max_connections = 10'000;  // further connections are accepted and closed at once
  // The same, per client IP address. No tighter than max_connections by default: a supplier
  // simulator takes all of an engine's connections from one address.
  size_t max_connections_per_address = 10'000;
  // Both set: HTTPS with this certificate chain and private key (PEM files). The TLS handshake
  // must complete within header_timeout_s.
  std::string tls_cert_file{};
  std::string tls_key_file{};
  // Optional: told of every response sent (not of requests dropped or reset), on an I/O thread,
  // with the route `route_of` gave the request's path (a string with static storage), its status
  // and the time from the request read to the response handed over. Both must be cheap.
  std::function<std::string_view(std::string_view path)> route_of;
  std::function<void(std::string_view route, int status, std::chrono::nanoseconds took)>
      on_response;
};

class HttpServer {
 public:
  // Binds and listens; Start() begins serving. Unavailable("bind_failed") if the address is taken;
  // InvalidArgument("bad_tls_files") if the certificate or key cannot be used.
  static Result<std::unique_ptr<HttpServer>> Listen(const HttpServerOptions& options,
                                                    HttpHandler handler);
  virtual ~HttpServer() = default;

  virtual uint16_t port() const = 0;
  // TCP connections accepted so far, those closed at once over max_connections included.
  virtual int64_t connections_accepted() const = 0;
  // Starts the I/O threads. Returns immediately.
  virtual void Start() = 0;
  // The first step of a graceful stop: stops accepting connections, and answers every request
  // that arrives from now on with 503 {"code":"shutting_down"} and Connection: close. Requests
  // already handed to the handler are answered as usual, and their connections then close. Waits
  // up to `bound` for those answers to be written; returns whether they all were. Call Stop()
  // afterwards. REQUIRES: not called on an I/O thread.
  virtual bool Drain(std::chrono::milliseconds bound) = 0;
  // Stops accepting, closes connections, joins the I/O threads. Idempotent.
  virtual void Stop() = 0;
  // Executor of the I/O threads, for timers (e.g. the simulator's latency).
  virtual boost::asio::any_io_executor executor() = 0;
};

}  // namespace topup::http
