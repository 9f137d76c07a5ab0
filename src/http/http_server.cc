// Threading model. The io_context is run by `io_threads` threads. Each connection has its own
// strand: every member of Connection below is touched only by handlers on that strand (or by
// Stop() after the I/O threads were joined). The server's registry of live connections is guarded
// by ServerImpl::mu_. Responders may be called from any thread: they never touch a connection
// directly, they post onto its strand, and only while the ResponderGate is open; Stop() closes the
// gate before it stops the io_context, so no Responder reaches a connection or the io_context
// afterwards.
#include "http/http_server.h"

#include "core/thread_name.h"

#include <atomic>
#include <cassert>
#include <chrono>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace topup::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// After a response that closes the connection, the server stops sending and keeps reading (and
// discarding) what the client still sends, for at most this long and this many bytes, so that
// closing does not reset the connection and destroy the response before the client reads it.
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr size_t kLingerMaxBytes = 4 * 1024 * 1024;
constexpr size_t kLingerChunkBytes = 16 * 1024;
// What the first read of a request asks for; the header and body reads take the rest.
constexpr size_t kReadChunkBytes = 16 * 1024;
// Pause before accepting again after an accept error such as "too many open files".
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr int kMaxIoThreads = 256;

class ServerImpl;

// Shared by the server and every Responder::Impl. Once `open` is false, Responders do nothing.
struct ResponderGate {
  std::shared_mutex mu;
  bool open = true;  // GUARDED_BY(mu)
};

// One accepted TCP connection. Serves one request at a time: it reads a request, hands it to the
// handler, waits for the Responder, writes the response, then reads the next request.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerImpl* server, tcp::socket socket, std::string address);

  // Begins serving on the strand. Any thread.
  void Start();
  // Writes `response`, or closes the connection if it is nullopt (the Responder was dropped).
  // REQUIRES: on the strand.
  void Deliver(std::optional<HttpResponse> response);
  // Closes the connection with RST instead of answering (Responder::Reset).
  // REQUIRES: on the strand.
  void Abort();
  // Closes the socket. REQUIRES: the I/O threads are stopped and joined.
  void CloseAfterStop();

  const net::any_io_executor& strand() const { return strand_; }
  const std::string& address() const { return address_; }  // the client's IP address

 private:
  void ReadRequest();
  void OnFirstBytes(beast::error_code ec, size_t bytes);
  // Feeds what is buffered to the parser without waiting: the header only, or, once the parser
  // is eager, as much of the body as is there. Returns false if it failed and answered.
  bool ParseBuffered();
  void ReadHeader();
  void OnHeader(beast::error_code ec, size_t bytes);
  // The request's header is complete: refuses what must not be served, else reads the body.
  void ReadBody();
  void OnRead(beast::error_code ec, size_t bytes);
  void HandleRequest();
  void SendError(bhttp::status status, std::string_view code, std::string_view message);
  void Write(bool keep_alive);
  void OnWrite(bool keep_alive, beast::error_code ec, size_t bytes);
  void Linger();
  void LingerRead();
  void OnLingerRead(beast::error_code ec, size_t bytes);
  void Close();
  // Counts the current request as open (read, its answer not yet written) for Drain(), once.
  void OpenRequest();
  void CloseRequest();
  void OnHandshake(beast::error_code ec);
  // Runs `io(stream)` on the TLS stream for HTTPS, on the TCP stream otherwise.
  template <typename Io>
  void WithStream(Io io) {
    if (tls_) {
      io(*tls_);
    } else {
      io(stream_);
    }
  }

  ServerImpl* const server_;
  const net::any_io_executor strand_;  // the socket's executor; immutable, read by any thread
  const std::string address_;

  // Owned by the strand.
  beast::tcp_stream stream_;
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls_;  // over stream_, for HTTPS
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  unsigned request_version_ = 11;
  bool keep_alive_ = false;  // what the current request asked for
  std::string_view route_;   // of the current request, for options().on_response
  std::chrono::steady_clock::time_point request_read_at_;
  bool awaiting_response_ = false;  // the handler holds a Responder for the current request
  bool request_open_ = false;       // counted in ServerImpl::open_requests_
  bool closed_ = false;
  size_t lingered_bytes_ = 0;
};

}  // namespace

// Sends at most one response for one request; see Responder in the header.
class Responder::Impl {
 public:
  Impl(std::weak_ptr<Connection> connection, std::shared_ptr<ResponderGate> gate)
      : connection_(std::move(connection)), gate_(std::move(gate)) {}
  ~Impl() {
    if (!answered_.exchange(true, std::memory_order_acq_rel)) Deliver(std::nullopt);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void Respond(HttpResponse response) {
    if (!Claim()) return;
    Deliver(std::move(response));
  }

  void Reset() {
    if (!Claim()) return;
    OnStrand([](Connection& connection) { connection.Abort(); });
  }

 private:
  // Marks the request answered; false (and an assertion in debug builds) if it already was.
  bool Claim() {
    const bool already = answered_.exchange(true, std::memory_order_acq_rel);
    assert(!already && "a Responder was called twice");
    return !already;
  }

  void Deliver(std::optional<HttpResponse> response) {
    OnStrand([response = std::move(response)](Connection& connection) mutable {
      connection.Deliver(std::move(response));
    });
  }

  // Posts `action(connection)` onto the connection's strand, unless the server is stopped or the
  // connection already released.
  template <typename Action>
  void OnStrand(Action action) {
    // Shared lock: Responders of different connections deliver concurrently; Stop() takes the
    // exclusive lock to close the gate, after which the connection and the io_context may be gone.
    std::shared_lock lock(gate_->mu);
    if (!gate_->open) return;
    std::shared_ptr<Connection> connection = connection_.lock();
    if (connection == nullptr) return;  // already closed and released
    const net::any_io_executor strand = connection->strand();
    net::post(strand, [connection = std::move(connection), action = std::move(action)]() mutable {
      action(*connection);
    });
  }

  const std::weak_ptr<Connection> connection_;
  const std::shared_ptr<ResponderGate> gate_;
  std::atomic<bool> answered_{false};
};

void Responder::operator()(HttpResponse response) const {
  if (impl_ != nullptr) impl_->Respond(std::move(response));
}

void Responder::Reset() const {
  if (impl_ != nullptr) impl_->Reset();
}

namespace {

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(const HttpServerOptions& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        gate_(std::make_shared<ResponderGate>()),
        ioc_(options.io_threads),
        acceptor_(net::make_strand(ioc_)),
        accept_retry_timer_(acceptor_.get_executor()) {}

  ~ServerImpl() override { Stop(); }

  Status Bind(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
      return Unavailable("bind_failed", "cannot listen on " + endpoint.address().to_string() + ":" +
                                            std::to_string(endpoint.port()) + ": " + ec.message());
    }
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }
  int64_t connections_accepted() const override { return connections_accepted_.load(); }

  // Loads the certificate and key of options_ for HTTPS; does nothing without them.
  Status SetUpTls() {
    if (options_.tls_cert_file.empty() && options_.tls_key_file.empty()) return Status::Ok();
    tls_context_.emplace(net::ssl::context::tls_server);
    tls_context_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                              net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                              net::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    tls_context_->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (!ec) tls_context_->use_private_key_file(options_.tls_key_file, net::ssl::context::pem, ec);
    if (ec) {
      return InvalidArgument("bad_tls_files", "cannot use the certificate " +
                                                  options_.tls_cert_file + " and key " +
                                                  options_.tls_key_file + ": " + ec.message());
    }
    return Status::Ok();
  }
  // Null unless HTTPS. Immutable once serving.
  net::ssl::context* tls_context() { return tls_context_ ? &*tls_context_ : nullptr; }

  void Start() override {
    std::lock_guard lock(lifecycle_mu_);
    if (started_ || stopped_) return;
    started_ = true;
    // No I/O thread runs yet, so initiating the first accept here races with nothing.
    Accept();
    threads_.reserve(static_cast<size_t>(options_.io_threads));
    for (int i = 0; i < options_.io_threads; ++i) {
      threads_.emplace_back([this] {
        SetThreadName("http-io");
        RunIoThread();
      });
    }
  }

  bool Drain(std::chrono::milliseconds bound) override {
    draining_ = true;
    // On the acceptor's strand, where the accept loop runs.
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      accept_retry_timer_.cancel();
    });
    // Bounded polling: this runs once, at shutdown, and the I/O threads need not signal anyone.
    constexpr std::chrono::milliseconds kPoll{5};
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (open_requests_.load() > 0) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(kPoll);
    }
    return true;
  }

  void Stop() override {
    std::lock_guard lock(lifecycle_mu_);
    if (stopped_) return;
    stopped_ = true;
    {
      std::unique_lock gate_lock(gate_->mu);
      gate_->open = false;
    }
    ioc_.stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
    // The I/O threads are joined: from here this thread is the only one touching the acceptor
    // and the connections. Handlers still queued in the io_context are destroyed with it.
    beast::error_code ec;
    acceptor_.close(ec);
    accept_retry_timer_.cancel();
    std::unordered_map<Connection*, std::shared_ptr<Connection>> connections;
    {
      std::lock_guard registry_lock(mu_);
      connections.swap(connections_);
    }
    for (auto& [raw, connection] : connections) connection->CloseAfterStop();
  }

  net::any_io_executor executor() override { return ioc_.get_executor(); }

  const HttpServerOptions& options() const { return options_; }
  const std::shared_ptr<ResponderGate>& gate() const { return gate_; }
  bool draining() const { return draining_.load(); }
  void RequestOpened() { open_requests_.fetch_add(1); }
  void RequestClosed() { open_requests_.fetch_sub(1); }

  // Runs the user's handler. It is called concurrently from all I/O threads.
  void Handle(HttpRequest request, Responder respond) const {
    handler_(std::move(request), std::move(respond));
  }

  // Drops a closed connection from the registry. Called on the connection's strand.
  void Forget(Connection* connection) {
    std::lock_guard lock(mu_);
    if (connections_.erase(connection) == 0) return;
    auto it = connections_per_address_.find(connection->address());
    if (it != connections_per_address_.end() && --it->second == 0) {
      connections_per_address_.erase(it);
    }
  }

 private:
  void RunIoThread() {
    // run() returns when the io_context is stopped. A handler that throws does not take the
    // server down: the loop goes back to serving (each pass runs at least that handler).
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception&) {
      }
    }
  }

  // The accept loop: one accept (or retry timer) is pending at a time, and its handlers run on the
  // acceptor's strand, as does Drain()'s close of the acceptor.
  void Accept() {
    if (draining_) return;
    acceptor_.async_accept(
        net::make_strand(ioc_),
        [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || draining_) return;
    if (ec) {
      accept_retry_timer_.expires_after(kAcceptRetryDelay);
      accept_retry_timer_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    connections_accepted_.fetch_add(1, std::memory_order_relaxed);
    beast::error_code endpoint_ec;
    const tcp::endpoint remote = socket.remote_endpoint(endpoint_ec);
    std::string address = endpoint_ec ? std::string() : remote.address().to_string();
    auto connection = std::make_shared<Connection>(this, std::move(socket), std::move(address));
    bool admitted = false;
    {
      std::lock_guard lock(mu_);
      size_t& from_address = connections_per_address_[connection->address()];
      if (connections_.size() < options_.max_connections &&
          from_address < options_.max_connections_per_address) {
        connections_.emplace(connection.get(), connection);
        from_address++;
        admitted = true;
      } else if (from_address == 0) {
        connections_per_address_.erase(connection->address());
      }
    }
    // A connection over the bound is closed at once, by the destructor of its only reference.
    if (admitted) connection->Start();
    Accept();
  }

  const HttpServerOptions options_;
  const HttpHandler handler_;
  std::atomic<int64_t> connections_accepted_{0};
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> open_requests_{0};         // read and not yet answered on the wire
  std::optional<net::ssl::context> tls_context_;  // set before serving, then only read
  const std::shared_ptr<ResponderGate> gate_;
  // Declared before everything that holds sockets or timers, so it is destroyed after them.
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_timer_;
  uint16_t port_ = 0;

  std::mutex lifecycle_mu_;           // serializes Start() and Stop()
  bool started_ = false;              // GUARDED_BY(lifecycle_mu_)
  bool stopped_ = false;              // GUARDED_BY(lifecycle_mu_)
  std::vector<std::thread> threads_;  // GUARDED_BY(lifecycle_mu_)

  std::mutex mu_;
  // Every open connection, so Stop() can close them. Bounded by options_.max_connections.
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;  // GUARDED_BY(mu_)
  // How many of connections_ each client address holds. GUARDED_BY(mu_); no zero entries.
  std::unordered_map<std::string, size_t> connections_per_address_;
};

std::string JsonError(std::string_view code, std::string_view message) {
  // Both strings are constants of this file: nothing to escape.
  std::string body;
  body.reserve(32 + code.size() + message.size());
  body.append(R"({"code":")")
      .append(code)
      .append(R"(","message":")")
      .append(message)
      .append(R"("})");
  return body;
}

void ToLower(std::string* s) {
  for (char& c : *s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

}  // namespace

Connection::Connection(ServerImpl* server, tcp::socket socket, std::string address)
    : server_(server),
      strand_(socket.get_executor()),
      address_(std::move(address)),
      stream_(std::move(socket)) {
  beast::error_code ec;
  stream_.socket().set_option(tcp::no_delay(true), ec);  // best effort
}

void Connection::Start() {
  net::dispatch(strand_, [self = shared_from_this()] {
    net::ssl::context* tls = self->server_->tls_context();
    if (tls == nullptr) {
      self->ReadRequest();
      return;
    }
    self->tls_.emplace(self->stream_, *tls);
    self->stream_.expires_after(std::chrono::seconds(self->server_->options().header_timeout_s));
    self->tls_->async_handshake(net::ssl::stream_base::server,
                                [self](beast::error_code ec) { self->OnHandshake(ec); });
  });
}

void Connection::OnHandshake(beast::error_code ec) {
  if (closed_) return;
  if (ec) {  // not a TLS client, or one that does not trust us
    Close();
    return;
  }
  ReadRequest();
}

// A request is read in three steps, each with its own time bound: its first bytes (the keep-alive
// idle timeout), its header (the header timeout, from the first byte on), its body (the idle
// timeout again).
void Connection::ReadRequest() {
  if (closed_) return;
  parser_.emplace();
  parser_->body_limit(server_->options().body_limit_bytes);
  parser_->header_limit(static_cast<uint32_t>(server_->options().header_limit_bytes));
  if (buffer_.size() > 0) {  // the client pipelined: the next request is already here
    ReadHeader();
    return;
  }
  stream_.expires_after(std::chrono::seconds(server_->options().idle_timeout_s));
  WithStream([this](auto& stream) {
    stream.async_read_some(buffer_.prepare(kReadChunkBytes),
                           [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                             self->OnFirstBytes(ec, bytes);
                           });
  });
}

void Connection::OnFirstBytes(beast::error_code ec, size_t bytes) {
  if (closed_) return;
  if (ec) {  // idle too long, or the client went away between requests
    Close();
    return;
  }
  buffer_.commit(bytes);
  ReadHeader();
}

bool Connection::ParseBuffered() {
  // Each pass consumes input or returns, so the loop is bounded by the buffer's size.
  while (buffer_.size() > 0 && !parser_->is_done()) {
    beast::error_code ec;
    const size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) return true;
    if (ec) {
      OnRead(ec, 0);
      return false;
    }
    if (used == 0 || (!parser_->eager() && parser_->is_header_done())) return true;
  }
  return true;
}

void Connection::ReadHeader() {
  // Most requests arrive whole in one read: parsed here, they take no further asynchronous step.
  if (!ParseBuffered()) return;
  if (parser_->is_header_done()) {
    ReadBody();
    return;
  }
  stream_.expires_after(std::chrono::seconds(server_->options().header_timeout_s));
  WithStream([this](auto& stream) {
    bhttp::async_read_header(stream, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                               self->OnHeader(ec, bytes);
                             });
  });
}

void Connection::OnHeader(beast::error_code ec, size_t bytes) {
  if (closed_) return;
  if (ec) {
    OnRead(ec, bytes);
    return;
  }
  ReadBody();
}

void Connection::ReadBody() {
  const bhttp::request<bhttp::string_body>& message = parser_->get();
  const size_t fields = static_cast<size_t>(std::distance(message.begin(), message.end()));
  if (fields > server_->options().max_header_fields) {
    SendError(bhttp::status::request_header_fields_too_large, "headers_too_large",
              "the request has more header fields than the server accepts");
    return;
  }
  // RFC 9112 §6.3: with a Transfer-Encoding other than exactly "chunked" the body's length is
  // unknown, and whoever reads on takes the body for a next request (request smuggling). The
  // answer closes the connection, so nothing after this header is ever read as a request.
  if (const size_t encodings = message.count(bhttp::field::transfer_encoding); encodings > 0) {
    if (encodings != 1 || !beast::iequals(message[bhttp::field::transfer_encoding], "chunked")) {
      SendError(bhttp::status::bad_request, "bad_transfer_encoding",
                "Transfer-Encoding must be exactly chunked");
      return;
    }
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host is refused.
  if (message.version() >= 11 && message.count(bhttp::field::host) != 1) {
    SendError(bhttp::status::bad_request, "missing_host",
              "an HTTP/1.1 request needs exactly one Host header");
    return;
  }
  parser_->eager(true);
  if (!ParseBuffered()) return;
  if (parser_->is_done()) {
    HandleRequest();
    return;
  }
  stream_.expires_after(std::chrono::seconds(server_->options().idle_timeout_s));
  WithStream([this](auto& stream) {
    bhttp::async_read(stream, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                        self->OnRead(ec, bytes);
                      });
  });
}

void Connection::OnRead(beast::error_code ec, size_t /*bytes*/) {
  if (closed_) return;
  if (!ec) {
    HandleRequest();
    return;
  }
  if (ec == bhttp::error::body_limit) {
    SendError(bhttp::status::payload_too_large, "body_too_large",
              "the request body is larger than the server accepts");
    return;
  }
  if (ec == bhttp::error::header_limit) {
    SendError(bhttp::status::request_header_fields_too_large, "headers_too_large",
              "the request headers are larger than the server accepts");
    return;
  }
  // Parse errors get an answer; a connection that ends, times out or fails is just closed.
  const bool parse_error =
      ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
  if (parse_error && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    SendError(bhttp::status::bad_request, "bad_request", "malformed HTTP request");
    return;
  }
  Close();
}

void Connection::HandleRequest() {
  if (server_->draining()) {
    SendError(bhttp::status::service_unavailable, "shutting_down",
              "the server is shutting down; send the request again to another node or later");
    return;
  }
  OpenRequest();
  bhttp::request<bhttp::string_body>& message = parser_->get();
  keep_alive_ = message.keep_alive();
  request_version_ = message.version();

  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  ParseTarget(request.target, &request.path, &request.query);
  for (const auto& field : message) {
    std::string name(field.name_string());
    ToLower(&name);
    auto [it, inserted] = request.headers.try_emplace(std::move(name), field.value());
    if (!inserted) it->second.append(", ").append(field.value());  // repeated header: a list
  }
  request.body = std::move(message.body());
  if (server_->options().on_response) {
    route_ = server_->options().route_of ? server_->options().route_of(request.path) : "";
    request_read_at_ = std::chrono::steady_clock::now();
  }

  // While the handler holds the Responder there is no time bound on the connection: answering
  // (or dropping the Responder) is the handler's contract.
  stream_.expires_never();
  awaiting_response_ = true;
  Responder respond(std::make_shared<Responder::Impl>(weak_from_this(), server_->gate()));
  try {
    server_->Handle(std::move(request), std::move(respond));
  } catch (const std::exception&) {
    // The handler's Responder copies were destroyed by the unwinding: if none was called, the
    // connection closes without an answer, as for a dropped Responder.
  }
}

void Connection::Deliver(std::optional<HttpResponse> response) {
  if (closed_ || !awaiting_response_) return;
  awaiting_response_ = false;
  if (!response.has_value()) {
    Close();
    return;
  }
  if (server_->options().on_response) {
    server_->options().on_response(route_, response->status,
                                   std::chrono::steady_clock::now() - request_read_at_);
  }
  response_.clear();  // the header fields of the previous response
  response_.result(static_cast<unsigned>(response->status));
  response_.version(request_version_);
  response_.set(bhttp::field::content_type, response->content_type);
  for (const auto& [name, value] : response->headers) response_.insert(name, value);
  response_.body() = std::move(response->body);
  // A draining server closes each connection after its answer, so that clients go elsewhere.
  if (server_->draining()) keep_alive_ = false;
  response_.keep_alive(keep_alive_);  // adds "Connection: close" when the client asked for it
  response_.prepare_payload();        // Content-Length
  Write(keep_alive_);
}

void Connection::Abort() {
  if (closed_ || !awaiting_response_) return;
  awaiting_response_ = false;
  closed_ = true;
  // No shutdown first: that would send a FIN, and the client would read an orderly end of stream
  // before the RST. A zero linger time makes close() discard the send queue and send RST.
  beast::error_code ec;
  stream_.socket().set_option(net::socket_base::linger(true, 0), ec);
  stream_.close();  // also cancels the timer; no operation is pending while awaiting a response
  CloseRequest();
  server_->Forget(this);
}

void Connection::SendError(bhttp::status status, std::string_view code, std::string_view message) {
  OpenRequest();
  if (server_->options().on_response) {
    server_->options().on_response("(unread)", static_cast<int>(status),
                                   std::chrono::nanoseconds(0));
  }
  response_.clear();
  response_.result(status);
  response_.version(11);
  response_.set(bhttp::field::content_type, "application/json");
  response_.body() = JsonError(code, message);
  response_.keep_alive(false);
  response_.prepare_payload();
  Write(false);
}

void Connection::Write(bool keep_alive) {
  stream_.expires_after(std::chrono::seconds(server_->options().idle_timeout_s));
  WithStream([this, keep_alive](auto& stream) {
    bhttp::async_write(stream, response_,
                       [self = shared_from_this(), keep_alive](beast::error_code ec, size_t bytes) {
                         self->OnWrite(keep_alive, ec, bytes);
                       });
  });
}

void Connection::OnWrite(bool keep_alive, beast::error_code ec, size_t /*bytes*/) {
  CloseRequest();
  if (closed_) return;
  if (ec) {
    Close();
    return;
  }
  if (keep_alive) {
    ReadRequest();
  } else {
    Linger();
  }
}

void Connection::Linger() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    Close();
    return;
  }
  stream_.expires_after(kLingerTimeout);  // one bound for the whole linger
  buffer_.clear();
  lingered_bytes_ = 0;
  LingerRead();
}

void Connection::LingerRead() {
  stream_.async_read_some(buffer_.prepare(kLingerChunkBytes),
                          [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                            self->OnLingerRead(ec, bytes);
                          });
}

void Connection::OnLingerRead(beast::error_code ec, size_t bytes) {
  if (closed_) return;
  lingered_bytes_ += bytes;
  // Ends at the client's end of stream, an error, the timeout or the byte bound.
  if (ec || lingered_bytes_ >= kLingerMaxBytes) {
    Close();
    return;
  }
  LingerRead();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();  // also cancels the pending operations and the timer
  CloseRequest();
  server_->Forget(this);
}

void Connection::OpenRequest() {
  if (request_open_) return;
  request_open_ = true;
  server_->RequestOpened();
}

void Connection::CloseRequest() {
  if (!request_open_) return;
  request_open_ = false;
  server_->RequestClosed();
}

void Connection::CloseAfterStop() {
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(const HttpServerOptions& options,
                                                       HttpHandler handler) {
  if (options.io_threads < 1 || options.io_threads > kMaxIoThreads ||
      options.body_limit_bytes == 0 || options.header_limit_bytes == 0 ||
      options.header_limit_bytes > UINT32_MAX || options.max_header_fields == 0 ||
      options.idle_timeout_s < 1 || options.header_timeout_s < 1 || options.max_connections == 0 ||
      options.max_connections_per_address == 0 || !handler) {
    return InvalidArgument("bad_server_options",
                           "io_threads must be in [1, 256]; body and header limits, timeouts and "
                           "connection caps positive; the handler set");
  }
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.address, ec);
  if (ec) return InvalidArgument("bad_address", "not an IP address: " + options.address);
  auto server = std::make_unique<ServerImpl>(options, std::move(handler));
  if (Status tls = server->SetUpTls(); !tls.ok()) return tls;
  Status status = server->Bind(tcp::endpoint(address, options.port));
  if (!status.ok()) return status;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace topup::http
