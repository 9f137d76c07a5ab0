// Threading model. Send() only posts the request to the io_context; everything else (the pools of
// connections, every Connection and its exchange, the requests waiting for a connection, the
// resolved endpoints, `stopping_`) is owned by the one I/O thread and touched by nothing else, so
// no lock is taken after the post.
//
// Each exchange lives in the Connection that carries it, so a request costs no allocation of its
// own beyond the posted handler, and a reused connection reuses its buffers. The handlers of an
// exchange hold a plain pointer to the connection: it stays in `busy_` until all of them (connect,
// or write and read; and the deadline timer) have completed, and only then does Finish() move it to
// the idle pool or close it.
#include "http/async_http_client.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <charconv>
#include <deque>
#include <optional>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "core/thread_name.h"
#include "http/client_support.h"

namespace topup::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// An idle connection keeps a read buffer up to this size; a larger one is given back.
constexpr size_t kMaxKeptReadBufferBytes = 64 * 1024;
// While requests wait for a connection, they are looked at this often: for a new-connection token,
// and to answer those whose timeout passed.
constexpr std::chrono::milliseconds kWaitingTick{20};

// Headers the client writes itself, so a caller's copy is left out.
bool IsClientOwnedHeader(std::string_view name, bool has_body) {
  return beast::iequals(name, "host") || beast::iequals(name, "content-length") ||
         beast::iequals(name, "transfer-encoding") || beast::iequals(name, "connection") ||
         (has_body && beast::iequals(name, "content-type"));
}

// Methods that announce an empty body with "Content-Length: 0" (as Beast's prepare_payload does).
bool StatesEmptyBodyLength(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "OPTIONS";
}

struct Request {
  std::string method;
  std::string target;
  std::string body;
  HttpHeaders headers;
  std::chrono::milliseconds timeout{0};
  Clock::time_point deadline;
  HttpResponseCallback done;
};

// One TCP connection, and the exchange it carries while it is busy.
struct Connection {
  explicit Connection(net::io_context& ioc) : socket(ioc), deadline_timer(ioc) {}
  // Closing without a TLS close_notify would make OpenSSL drop the session from resumption; the
  // session outlives the connection (see KeepTlsSession), so mark it as quietly shut down.
  ~Connection() {
    if (tls) SSL_set_shutdown(tls->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }

  // Forgets the finished exchange; the buffers keep their capacity for the next one.
  void ClearExchange() {
    request = Request{};
    parser.reset();
    socket_operations = 0;
    timer_pending = false;
    write_started = false;
    write_done = false;
    timed_out = false;
    connect_ec = {};
    write_ec = {};
    read_ec = {};
  }

  tcp::socket socket;
  std::optional<net::ssl::stream<tcp::socket&>> tls;  // over `socket`, for HTTPS
  net::steady_timer deadline_timer;                   // bounds the whole exchange
  beast::flat_buffer read_buffer;  // bytes past the last response make the connection unusable
  std::string head;                // the request head being written
  size_t busy_index = 0;           // position in Impl::busy_ while an exchange runs

  Request request;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  int socket_operations = 0;  // connect, or write and read, not yet completed
  bool timer_pending = false;
  bool write_started = false;  // from here on the request may reach the server
  bool write_done = false;
  bool timed_out = false;
  beast::error_code connect_ec;
  beast::error_code write_ec;
  beast::error_code read_ec;
};

}  // namespace

class AsyncHttpClient::Impl {
 public:
  Impl(std::string host, uint16_t port, AsyncHttpClientOptions options)
      : host_(std::move(host)),
        port_(port),
        host_header_(host_ + ":" + std::to_string(port)),
        options_(options),
        ioc_(1),
        work_guard_(net::make_work_guard(ioc_)),
        waiting_timer_(ioc_),
        tokens_(static_cast<double>(options_.new_connection_burst)),
        tls_context_(MakeTlsContext(options_, &tls_error_)),
        io_thread_([this] {
          SetThreadName("http-client");
          ioc_.run();
        }) {}

  // Closes every connection, which completes the exchanges in flight, lets the requests still
  // queued complete as not sent, and returns once the I/O thread has run out of work.
  ~Impl() {
    assert(std::this_thread::get_id() != io_thread_.get_id());
    Shutdown();
    work_guard_.reset();
    io_thread_.join();
    assert(busy_.empty());
    if (tls_session_ != nullptr) SSL_SESSION_free(tls_session_);
  }

  // Any thread. Idempotent: once stopping_, a second pass finds nothing left to close.
  void Shutdown() {
    net::post(ioc_, [this] {
      stopping_ = true;
      waiting_timer_.cancel();
      ExpireWaiting(/*all=*/true);
      idle_.clear();
      for (const std::unique_ptr<Connection>& connection : busy_) {
        beast::error_code ignored;
        connection->socket.close(ignored);
      }
    });
  }

  // Any thread.
  int64_t connections_opened() const { return connections_opened_.load(); }
  int64_t tls_sessions_resumed() const { return tls_sessions_resumed_.load(); }

  // Any thread.
  void Post(Request request) {
    net::post(ioc_, [this, request = std::move(request)]() mutable { Start(std::move(request)); });
  }

 private:
  // Requests are started in arrival order: a new one waits behind those already waiting.
  void Start(Request request) {
    waiting_.push_back(std::move(request));
    StartWaiting();
  }

  // Starts waiting requests while a connection is free or may be opened.
  void StartWaiting() {
    while (!waiting_.empty()) {
      Request& request = waiting_.front();
      if (stopping_ || Clock::now() >= request.deadline) {
        AnswerNotStarted(std::move(request));
        waiting_.pop_front();
        continue;
      }
      std::unique_ptr<Connection> connection = TakeIdleConnection();
      const bool needs_connect = connection == nullptr;
      if (needs_connect) {
        if (!MayOpenConnection()) break;
        if (!tls_error_.empty()) {
          request.done(Unavailable("not_sent", "TLS to " + host_header_ + ": " + tls_error_));
          waiting_.pop_front();
          continue;
        }
        if (Status resolved = ResolveOnce(); !resolved.ok()) {
          request.done(std::move(resolved));
          waiting_.pop_front();
          continue;
        }
        connection = std::make_unique<Connection>(ioc_);
        tokens_ -= 1;
        connections_opened_++;
      }
      Launch(std::move(connection), std::move(request), needs_connect);
      waiting_.pop_front();
    }
    if (!waiting_.empty() && !waiting_timer_armed_) {
      waiting_timer_armed_ = true;
      waiting_timer_.expires_after(kWaitingTick);
      waiting_timer_.async_wait([this](beast::error_code ec) {
        waiting_timer_armed_ = false;
        if (ec || stopping_) return;
        ExpireWaiting(/*all=*/false);
        StartWaiting();
      });
    }
  }

  // Whether a new connection may be opened now: under max_connections, with a token left.
  bool MayOpenConnection() {
    if (options_.max_connections > 0 && busy_.size() + idle_.size() >= options_.max_connections) {
      return false;
    }
    if (options_.new_connections_per_s <= 0) return true;
    const Clock::time_point now = Clock::now();
    const double burst = static_cast<double>(std::max<size_t>(1, options_.new_connection_burst));
    const std::chrono::duration<double> elapsed = now - tokens_at_;
    tokens_ = std::min(burst, tokens_ + elapsed.count() * options_.new_connections_per_s);
    tokens_at_ = now;
    return tokens_ >= 1;
  }

  // Answers the waiting requests whose timeout passed (all of them when `all`) as not sent.
  void ExpireWaiting(bool all) {
    const Clock::time_point now = Clock::now();
    std::erase_if(waiting_, [&](Request& request) {
      if (!all && now < request.deadline) return false;
      AnswerNotStarted(std::move(request));
      return true;
    });
  }

  void AnswerNotStarted(Request request) {
    const char* why = stopping_ ? "the client was shut down" : "not started within the timeout";
    request.done(Unavailable("not_sent", request.method + " " + request.target + " to " +
                                             host_header_ + " not sent: " + why));
  }

  void Launch(std::unique_ptr<Connection> connection, Request request, bool needs_connect) {
    Connection* c = connection.get();
    c->request = std::move(request);
    AddBusy(std::move(connection));

    c->timer_pending = true;
    c->deadline_timer.expires_at(c->request.deadline);
    c->deadline_timer.async_wait([this, c](beast::error_code ec) { OnDeadline(c, ec); });
    if (needs_connect) {
      c->socket_operations = 1;
      net::async_connect(c->socket, endpoints_.begin(), endpoints_.end(),
                         [this, c](beast::error_code ec, auto) { OnConnected(c, ec); });
    } else {
      WriteAndRead(c);
    }
  }

  // The most recently used idle connection that the server has not closed, or null. A
  // non-blocking peek costs one system call and turns the common stale keep-alive connection
  // (closed by the server while idle) into a fresh connect instead of a request that might be
  // lost after it was sent.
  std::unique_ptr<Connection> TakeIdleConnection() {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->read_buffer.size() != 0) continue;  // the server sent something unasked
      if (client_support::IdleSocketIsUsable(connection->socket.native_handle())) {
        return connection;
      }
    }
    return nullptr;
  }

  // Names are resolved once per client, synchronously on the I/O thread (and without a time
  // bound): suppliers are configured by address or by a name the local resolver knows. Returns OK
  // once `endpoints_` holds at least one address, else Unavailable("not_sent").
  Status ResolveOnce() {
    if (!endpoints_.empty()) return Status::Ok();
    beast::error_code ec;
    std::vector<tcp::endpoint> found;
    const net::ip::address address = net::ip::make_address(host_, ec);
    if (!ec) {
      found.emplace_back(address, port_);
    } else {
      tcp::resolver resolver(ioc_);
      const auto results = resolver.resolve(host_, std::to_string(port_), ec);
      if (ec || results.empty()) {
        return Unavailable("not_sent", "cannot resolve " + host_ + ": " +
                                           (ec ? ec.message() : std::string("no address")));
      }
      for (const auto& entry : results) found.push_back(entry.endpoint());
    }
    // The check runs on what will be connected to, so a name that resolves somewhere it must
    // not go is refused even if it looked harmless when it was given.
    Status refused = Status::Ok();
    for (const tcp::endpoint& endpoint : found) {
      if (options_.check_address) {
        Status allowed = options_.check_address(endpoint.address().to_string());
        if (!allowed.ok()) {
          refused = std::move(allowed);
          continue;
        }
      }
      endpoints_.push_back(endpoint);
    }
    if (endpoints_.empty()) {
      return Unavailable("not_sent",
                         std::string(kRefusedAddressMessage) + host_ + ": " + refused.message());
    }
    return Status::Ok();
  }

  void OnConnected(Connection* c, beast::error_code ec) {
    c->socket_operations = 0;
    if (ec || c->timed_out || stopping_) {
      c->connect_ec = ec;
      c->deadline_timer.cancel();
      FinishIfIdle(c);
      return;
    }
    beast::error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);  // best effort
    if (!tls_context_) {
      WriteAndRead(c);
      return;
    }
    // Nothing of the request is written before the handshake completes, so a failed handshake
    // is "not sent".
    c->tls.emplace(c->socket, *tls_context_);
    SSL* ssl = c->tls->native_handle();
    const std::string& name = TlsServerName();
    SSL_set_tlsext_host_name(ssl, name.c_str());
    c->tls->set_verify_callback(net::ssl::host_name_verification(name));
    if (tls_session_ != nullptr) SSL_set_session(ssl, tls_session_);
    c->socket_operations = 1;
    c->tls->async_handshake(net::ssl::stream_base::client, [this, c](beast::error_code hs_ec) {
      c->socket_operations = 0;
      if (hs_ec || c->timed_out || stopping_) {
        c->connect_ec = hs_ec;
        c->deadline_timer.cancel();
        FinishIfIdle(c);
        return;
      }
      if (SSL_session_reused(c->tls->native_handle())) tls_sessions_resumed_++;
      WriteAndRead(c);
    });
  }

  const std::string& TlsServerName() const {
    return options_.tls->server_name.empty() ? host_ : options_.tls->server_name;
  }

  // Keeps a session of the server's for new connections to resume, once it has a resumable one.
  void KeepTlsSession(Connection& c) {
    if (!c.tls || (tls_session_ != nullptr && SSL_SESSION_is_resumable(tls_session_))) return;
    SSL_SESSION* session = SSL_get1_session(c.tls->native_handle());
    if (session == nullptr) return;
    if (!SSL_SESSION_is_resumable(session)) {
      SSL_SESSION_free(session);
      return;
    }
    if (tls_session_ != nullptr) SSL_SESSION_free(tls_session_);
    tls_session_ = session;
  }

  // The client's TLS context, or nullopt without options.tls. When the trusted certificates
  // cannot be loaded, *error says why.
  static std::optional<net::ssl::context> MakeTlsContext(const AsyncHttpClientOptions& options,
                                                         std::string* error) {
    if (!options.tls) return std::nullopt;
    net::ssl::context context(net::ssl::context::tls_client);
    context.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                        net::ssl::context::no_tlsv1_1);
    context.set_verify_mode(net::ssl::verify_peer);
    beast::error_code ec;
    if (options.tls->ca_file.empty()) {
      context.set_default_verify_paths(ec);
    } else {
      context.load_verify_file(options.tls->ca_file, ec);
    }
    if (ec) {
      *error = "cannot load the trusted certificates " +
               (options.tls->ca_file.empty() ? std::string("of the system")
                                             : "from " + options.tls->ca_file) +
               ": " + ec.message();
    }
    return context;
  }

  // The response is read while the request is written, so that a server that answers early (say
  // 413 before the whole body arrived) is heard rather than seen as a broken write.
  void WriteAndRead(Connection* c) {
    WriteHead(c->request, &c->head);
    c->parser.emplace();
    c->parser->body_limit(client_support::kMaxResponseBodyBytes);
    if (c->request.method == "HEAD") c->parser->skip(true);
    c->write_started = true;
    c->socket_operations = 2;
    const std::array<net::const_buffer, 2> buffers{net::buffer(c->head),
                                                   net::buffer(c->request.body)};
    auto exchange = [this, c, &buffers](auto& stream) {
      net::async_write(stream, buffers, [this, c](beast::error_code ec, size_t) {
        c->write_done = true;
        c->write_ec = ec;
        SocketOperationDone(c);
      });
      bhttp::async_read(stream, c->read_buffer, *c->parser,
                        [this, c](beast::error_code ec, size_t) {
                          c->read_ec = ec;
                          // The read decides the outcome: a complete answer ends the exchange even
                          // if the server stopped reading the request, and a failed one makes the
                          // rest of the write pointless.
                          if (!c->write_done) {
                            beast::error_code ignored;
                            c->socket.cancel(ignored);
                          }
                          SocketOperationDone(c);
                        });
    };
    if (c->tls) {
      exchange(*c->tls);
    } else {
      exchange(c->socket);
    }
  }

  void WriteHead(const Request& request, std::string* head) const {
    const bool has_body = !request.body.empty();
    head->clear();
    head->append(request.method).append(" ").append(request.target);
    head->append(" HTTP/1.1\r\nHost: ").append(host_header_).append("\r\n");
    for (const auto& [name, value] : request.headers) {
      if (IsClientOwnedHeader(name, has_body)) continue;
      head->append(name).append(": ").append(value).append("\r\n");
    }
    if (has_body) head->append("Content-Type: application/json\r\n");
    if (has_body || StatesEmptyBodyLength(request.method)) {
      char digits[24];
      const auto [end, error] = std::to_chars(digits, digits + sizeof(digits), request.body.size());
      assert(error == std::errc());
      head->append("Content-Length: ").append(digits, end).append("\r\n");
    }
    head->append("\r\n");
  }

  void SocketOperationDone(Connection* c) {
    assert(c->socket_operations > 0);
    if (--c->socket_operations > 0) return;
    c->deadline_timer.cancel();
    FinishIfIdle(c);
  }

  // A timer that expired after the last socket operation completed changes nothing.
  void OnDeadline(Connection* c, beast::error_code ec) {
    c->timer_pending = false;
    if (!ec && c->socket_operations > 0) {
      c->timed_out = true;
      beast::error_code ignored;
      c->socket.close(ignored);  // completes the pending operations
    }
    FinishIfIdle(c);
  }

  void FinishIfIdle(Connection* c) {
    if (c->socket_operations == 0 && !c->timer_pending) Finish(c);
  }

  // REQUIRES: no handler of the exchange is pending.
  void Finish(Connection* c) {
    bool reusable = false;
    Result<HttpResponse> result = Outcome(*c, &reusable);
    HttpResponseCallback done = std::move(c->request.done);
    std::unique_ptr<Connection> connection = RemoveBusy(c);
    connection->ClearExchange();
    if (result.ok()) KeepTlsSession(*connection);  // a whole answer came over it
    if (reusable) KeepIdle(std::move(connection));
    connection.reset();  // closes the socket unless kept
    done(std::move(result));
    if (!waiting_.empty()) StartWaiting();  // a connection came back, or room for a new one
  }

  // Classifies the finished exchange as HttpClient::Send does. Sets *reusable when the
  // connection may carry another request.
  Result<HttpResponse> Outcome(Connection& c, bool* reusable) const {
    const Request& request = c.request;
    if (!c.write_started) {
      const std::string why = c.timed_out ? "timed out"
                              : stopping_ ? "the client was shut down"
                                          : c.connect_ec.message();
      return Unavailable("not_sent", "cannot connect to " + host_header_ + ": " + why);
    }
    if (c.read_ec) {
      if (c.timed_out) {
        return DeadlineExceeded("timeout", request.method + " " + request.target + " to " +
                                               host_header_ + " got no complete answer within " +
                                               std::to_string(request.timeout.count()) + " ms");
      }
      const std::string why =
          stopping_ ? "the client was shut down before the answer came" : c.read_ec.message();
      return Unavailable("broken", request.method + " " + request.target + " to " + host_header_ +
                                       ": connection failed after sending began: " + why);
    }

    bhttp::response<bhttp::string_body> message = c.parser->release();
    *reusable =
        !c.write_ec && !c.timed_out && !stopping_ && message.keep_alive() && !message.need_eof();
    return client_support::FromBeast(std::move(message));
  }

  void AddBusy(std::unique_ptr<Connection> connection) {
    connection->busy_index = busy_.size();
    busy_.push_back(std::move(connection));
  }

  std::unique_ptr<Connection> RemoveBusy(Connection* c) {
    const size_t index = c->busy_index;
    assert(index < busy_.size() && busy_[index].get() == c);
    std::unique_ptr<Connection> connection = std::move(busy_[index]);
    if (index + 1 != busy_.size()) {
      busy_[index] = std::move(busy_.back());
      busy_[index]->busy_index = index;
    }
    busy_.pop_back();
    return connection;
  }

  // The longest idle connection is the one the server most likely closed: it goes first.
  void KeepIdle(std::unique_ptr<Connection> connection) {
    if (options_.max_idle_connections == 0) return;
    if (idle_.size() >= options_.max_idle_connections) idle_.erase(idle_.begin());
    if (connection->read_buffer.capacity() > kMaxKeptReadBufferBytes) {
      connection->read_buffer.shrink_to_fit();
    }
    idle_.push_back(std::move(connection));
  }

  const std::string host_;
  const uint16_t port_;
  const std::string host_header_;
  const AsyncHttpClientOptions options_;

  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_guard_;

  // Owned by the I/O thread.
  std::vector<tcp::endpoint> endpoints_;           // resolved on the first connect
  std::vector<std::unique_ptr<Connection>> idle_;  // least recently used first
  std::vector<std::unique_ptr<Connection>> busy_;  // each knows its index
  std::deque<Request> waiting_;                    // for a connection, in arrival order
  net::steady_timer waiting_timer_;                // looks at waiting_ again while it is not empty
  bool waiting_timer_armed_ = false;
  double tokens_;                                 // new connections that may be opened now
  Clock::time_point tokens_at_ = Clock::now();    // when tokens_ was last refilled
  bool stopping_ = false;                         // set by Shutdown()
  std::atomic<int64_t> connections_opened_{0};    // written by the I/O thread, read by any
  std::atomic<int64_t> tls_sessions_resumed_{0};  // written by the I/O thread, read by any
  std::string tls_error_;                         // why tls_context_ is unusable; set at start
  std::optional<net::ssl::context> tls_context_;  // set with options_.tls
  SSL_SESSION* tls_session_ = nullptr;            // owned; the one new connections resume

  std::thread io_thread_;  // last: starts once everything above is built
};

AsyncHttpClient::AsyncHttpClient(std::string host, uint16_t port, AsyncHttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(host), port, options)) {}

AsyncHttpClient::~AsyncHttpClient() = default;

void AsyncHttpClient::Shutdown() { impl_->Shutdown(); }

int64_t AsyncHttpClient::connections_opened() const { return impl_->connections_opened(); }

int64_t AsyncHttpClient::tls_sessions_resumed() const { return impl_->tls_sessions_resumed(); }

void AsyncHttpClient::Send(std::string method, std::string target, std::string body,
                           std::chrono::milliseconds timeout, HttpResponseCallback done,
                           HttpHeaders headers) {
  impl_->Post(Request{.method = std::move(method),
                      .target = std::move(target),
                      .body = std::move(body),
                      .headers = std::move(headers),
                      .timeout = timeout,
                      .deadline = Clock::now() + timeout,
                      .done = std::move(done)});
}

}  // namespace topup::http
