// The client drives Beast's asynchronous operations on a private io_context from the calling
// thread (run() returns once every operation of the exchange completed), so that one deadline set
// on the tcp_stream bounds connect, write and read alike.
#include "http/http_client.h"

#include <cassert>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/client_support.h"

namespace topup::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

}  // namespace

struct HttpClient::Impl {
  Impl(std::string host_in, uint16_t port_in)
      : host(std::move(host_in)),
        port(port_in),
        host_header(host + ":" + std::to_string(port)),
        ioc(1),
        stream(ioc) {}

  ~Impl() { Disconnect(); }

  // Whether the kept connection can carry another request (see client_support.h).
  bool KeptConnectionIsUsable() {
    return buffer.size() == 0 &&
           client_support::IdleSocketIsUsable(stream.socket().native_handle());
  }

  void Disconnect() {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
    buffer.clear();
    connected = false;
  }

  // Returns OK once connected, or Unavailable("not_sent"): whatever went wrong, no byte of the
  // request was written.
  Status Connect(Clock::time_point deadline) {
    if (endpoints.empty()) {
      beast::error_code ec;
      const net::ip::address address = net::ip::make_address(host, ec);
      if (!ec) {
        endpoints.emplace_back(address, port);
      } else {
        // Names are resolved once per client, synchronously (and without a time bound): suppliers
        // are configured by address or by a name the local resolver knows.
        tcp::resolver resolver(ioc);
        const auto results = resolver.resolve(host, std::to_string(port), ec);
        if (ec) return Unavailable("not_sent", "cannot resolve " + host + ": " + ec.message());
        for (const auto& entry : results) endpoints.push_back(entry.endpoint());
      }
    }
    beast::error_code connect_ec;
    stream.expires_at(deadline);
    stream.async_connect(
        endpoints, [&connect_ec](beast::error_code ec, const tcp::endpoint&) { connect_ec = ec; });
    ioc.restart();
    ioc.run();
    if (connect_ec) {
      Disconnect();
      const std::string what =
          connect_ec == beast::error::timeout ? "timed out" : connect_ec.message();
      return Unavailable("not_sent", "cannot connect to " + host_header + ": " + what);
    }
    beast::error_code ec;
    stream.socket().set_option(tcp::no_delay(true), ec);  // best effort
    connected = true;
    return Status::Ok();
  }

  const std::string host;
  const uint16_t port;
  const std::string host_header;
  std::vector<tcp::endpoint> endpoints;  // resolved on first connect

  net::io_context ioc;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool connected = false;
};

HttpClient::HttpClient(std::string host, uint16_t port)
    : impl_(std::make_unique<Impl>(std::move(host), port)) {}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::Send(
    const std::string& method, const std::string& target, const std::string& body,
    std::chrono::milliseconds timeout,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  Impl& s = *impl_;
  const Clock::time_point deadline = Clock::now() + timeout;
  if (s.connected && !s.KeptConnectionIsUsable()) s.Disconnect();
  if (!s.connected) {
    Status status = s.Connect(deadline);
    if (!status.ok()) return status;
  }

  // The body is sent from the caller's string, not copied.
  bhttp::request<bhttp::span_body<const char>> request;
  const bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown) {
    request.method_string(method);
  } else {
    request.method(verb);
  }
  request.target(target);
  request.version(11);
  request.set(bhttp::field::host, s.host_header);
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty()) request.set(bhttp::field::content_type, "application/json");
  request.body() = bhttp::span_body<const char>::value_type(body.data(), body.size());
  request.keep_alive(true);
  request.prepare_payload();

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(client_support::kMaxResponseBodyBytes);

  // The response is read while the request is written, so that a server that answers early
  // (say 413 before the whole body arrived) is heard rather than seen as a broken write.
  beast::error_code write_ec;
  beast::error_code read_ec;
  bool write_done = false;
  bool read_done = false;
  s.stream.expires_at(deadline);  // one bound for the write and the read together
  bhttp::async_write(s.stream, request, [&](beast::error_code ec, size_t) {
    write_ec = ec;
    write_done = true;
  });
  bhttp::async_read(s.stream, s.buffer, parser, [&](beast::error_code ec, size_t) {
    read_ec = ec;
    read_done = true;
    // A complete answer ends the exchange even if the server stopped reading the request.
    if (!ec && !write_done) s.stream.socket().cancel();
  });
  s.ioc.restart();
  s.ioc.run();  // returns when both operations have completed
  assert(write_done && read_done);

  if (read_ec) {
    const bool timed_out = read_ec == beast::error::timeout || write_ec == beast::error::timeout;
    s.Disconnect();
    if (timed_out) {
      return DeadlineExceeded("timeout", method + " " + target + " to " + s.host_header +
                                             " got no complete answer within " +
                                             std::to_string(timeout.count()) + " ms");
    }
    return Unavailable("broken",
                       method + " " + target + " to " + s.host_header +
                           ": connection failed after sending began: " + read_ec.message());
  }

  bhttp::response<bhttp::string_body> message = parser.release();
  const bool reusable = !write_ec && message.keep_alive() && !message.need_eof();
  if (!reusable) s.Disconnect();

  return client_support::FromBeast(std::move(message));
}

}  // namespace topup::http
