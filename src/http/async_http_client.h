// AsyncHttpClient: an asynchronous HTTP/1.1 client for one host, with a pool of keep-alive
// connections and hard timeouts, driven by one I/O thread of its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/http_message.h"
#include "topup/status.h"

namespace topup::http {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;
using HttpResponseCallback = std::function<void(Result<HttpResponse>)>;

struct AsyncHttpClientOptions {
  // Connections open at once (busy or idle); 0: no bound. A request that finds none free waits
  // for one to come back, in arrival order, within its own timeout.
  size_t max_connections = 0;
  // Idle keep-alive connections kept for reuse; when more come back, the longest idle is closed.
  size_t max_idle_connections = 256;
  // New connections opened per second at most, with bursts of up to new_connection_burst; 0: no
  // bound. A burst of requests then waits for connections to come back instead of opening one
  // each, which keeps a server's listen queue from overflowing.
  double new_connections_per_s = 0;
  size_t new_connection_burst = 64;
  // Set: HTTPS. The server's certificate must chain to `ca_file` (PEM), or to the system's trust
  // store when it is empty, and name `server_name` (the host when empty), which is also sent as
  // SNI. Sessions are resumed on new connections.
  struct Tls {
    std::string ca_file{};
    std::string server_name{};
  };
  std::optional<Tls> tls{};
  // Set: each address the host resolves to (as text, "10.0.0.1" or "::1") is passed to it before
  // any connection; the refused ones are dropped, and with none left every request fails as
  // Unavailable("not_sent") with a message that starts with kRefusedAddressMessage.
  std::function<Status(const std::string& address)> check_address{};
};

inline constexpr std::string_view kRefusedAddressMessage = "refused address for ";

// Thread-safe. Carries one request per connection at a time, reusing the connections whose answer
// allowed keep-alive (most recently used first) and opening new ones within the bounds above.
class AsyncHttpClient {
 public:
  // Starts the I/O thread. `host` is an address or a name, resolved once on the first connect.
  // With options.tls, a CA file that cannot be read makes every request fail as not sent.
  AsyncHttpClient(std::string host, uint16_t port, AsyncHttpClientOptions options = {});
  // Completes every request still pending and joins the I/O thread; see Send for what their
  // callbacks get. REQUIRES: not called from a callback of this client.
  ~AsyncHttpClient();
  AsyncHttpClient(const AsyncHttpClient&) = delete;
  AsyncHttpClient& operator=(const AsyncHttpClient&) = delete;

  // Sends one request and reads its response; returns at once. `done` runs exactly once, on the
  // client's I/O thread and never inside Send, so it must neither block nor throw. It gets what
  // HttpClient::Send returns, and the errors tell whether the request may have reached the server:
  //   Unavailable("not_sent")        connecting failed, no connection became free within the
  //                                  timeout, or the client was destroyed before the request was
  //                                  written; nothing was sent
  //   DeadlineExceeded("timeout")    the whole exchange took longer than `timeout` (counted from
  //                                  this call, so waiting for the I/O thread counts too)
  //   Unavailable("broken")          the connection failed after sending began, or the client was
  //                                  destroyed before the answer came
  // Never resends: a kept connection found closed before writing is replaced by a new one, but
  // once writing began the outcome is reported. Any HTTP status is a successful exchange.
  // `headers` are added to the request (Host, Content-Type with a body, and the framing headers
  // are the client's own).
  void Send(std::string method, std::string target, std::string body,
            std::chrono::milliseconds timeout, HttpResponseCallback done, HttpHeaders headers = {});

  // Completes every request now, as the destructor would (sent ones as broken, the others as not
  // sent), without waiting for the I/O thread; requests sent afterwards complete as not sent. For
  // a process shutting down that cannot wait for slow answers. Any thread but a callback's.
  void Shutdown();

  // Connections this client has opened so far, and of those (over TLS) how many resumed a session.
  int64_t connections_opened() const;
  int64_t tls_sessions_resumed() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace topup::http
