// HttpServer and HttpClient together on 127.0.0.1, plus raw sockets where the client would hide
// what the server does.
#include "http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "http/http_client.h"
#include "raw_socket.h"

namespace topup::http {
namespace {

using namespace std::chrono_literals;
using testing::AcceptWithin;
using testing::ConnectLoopback;
using testing::Fd;
using testing::ListenLoopback;
using testing::ReadUntil;
using testing::ReadUntilClosed;
using testing::SendAll;

// Bound on waits for things that should happen at once; generous for slow sanitizer builds.
constexpr auto kWait = 10s;

HttpResponse Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

// Answers "<method> <path> q=<query x> h=<header x-test> b=<body>" with header X-Echo: yes.
void Echo(HttpRequest request, Responder respond) {
  std::string query = request.query.count("x") ? request.query.at("x") : "-";
  HttpResponse response =
      Text(200, request.method + " " + request.path + " q=" + query +
                    " h=" + std::string(request.Header("x-test")) + " b=" + request.body);
  response.headers.emplace_back("X-Echo", "yes");
  respond(std::move(response));
}

// Reads one response with a Content-Length body from a raw socket.
std::string ReadOneResponse(const Fd& fd, bool* closed = nullptr) {
  return ReadUntil(
      fd, kWait,
      [](const std::string& received) {
        const size_t end = received.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        const size_t length_at = received.find("Content-Length: ");
        if (length_at == std::string::npos || length_at > end) return true;
        const size_t length = std::stoul(received.substr(length_at + 16));
        return received.size() >= end + 4 + length;
      },
      closed);
}

// Reads from a raw socket until the peer ends the connection or kWait passes; stores what came in
// *received. Returns the errno of the read that failed (ECONNRESET for a reset), 0 at an orderly
// end of stream, or -1 if the connection did not end in time.
int ReadToEndErrno(const Fd& fd, std::string* received) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !testing::WaitFor(fd.get(), POLLIN, left)) return -1;
    char chunk[4096];
    const ssize_t n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n < 0) return errno;
    if (n == 0) return 0;
    received->append(chunk, static_cast<size_t>(n));
  }
}

// Responders parked by a handler until the test releases them. Thread-safe.
class ParkedResponders {
 public:
  void Park(Responder respond) {
    std::lock_guard lock(mu_);
    parked_.push_back(std::move(respond));
    cv_.notify_all();
  }
  // Waits at most kWait until `count` have been parked.
  bool WaitForCount(size_t count) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return parked_.size() >= count; });
  }
  std::optional<Responder> Take() {
    std::lock_guard lock(mu_);
    if (parked_.empty()) return std::nullopt;
    Responder respond = std::move(parked_.front());
    parked_.pop_front();
    return respond;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Responder> parked_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpHandler handler, HttpServerOptions options = {}) {
    Result<std::unique_ptr<HttpServer>> server = HttpServer::Listen(options, std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
    server_->Start();
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }

  uint16_t port() const { return server_->port(); }

  // State that handlers touch lives in the fixture, declared before the server, so it outlives
  // the I/O threads even when a test ends early.
  ParkedResponders parked;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoundTrip) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo));
  HttpClient client("127.0.0.1", port());

  Result<HttpResponse> get = client.Send("GET", "/path/a?x=hello+w%6Frld", "", 5s);
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->content_type, "text/plain");
  EXPECT_EQ(get->body, "GET /path/a q=hello world h= b=");
  bool echo_header = false;
  for (const auto& [name, value] : get->headers) echo_header |= name == "X-Echo" && value == "yes";
  EXPECT_TRUE(echo_header);

  Result<HttpResponse> post = client.Send("POST", "/recharge", R"({"a":1})", 5s);
  ASSERT_TRUE(post.ok()) << post.status().ToString();
  EXPECT_EQ(post->body, R"(POST /recharge q=- h= b={"a":1})");
}

TEST_F(HttpServerTest, StatusAndJsonContentTypePassThrough) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](HttpRequest, Responder respond) {
    HttpResponse response;
    response.status = 422;
    response.body = R"({"code":"insufficient_balance"})";
    respond(std::move(response));
  }));
  HttpClient client("127.0.0.1", port());
  Result<HttpResponse> response = client.Send("POST", "/v1/orders", "{}", 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 422);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->body, R"({"code":"insufficient_balance"})");
}

TEST_F(HttpServerTest, HeadersReachTheHandlerInLowerCase) {
  auto seen = std::make_shared<std::promise<std::string>>();
  ASSERT_NO_FATAL_FAILURE(StartServer([seen](HttpRequest request, Responder respond) {
    seen->set_value(std::string(request.Header("x-test")) + "|" +
                    std::string(request.Header("host")));
    respond(Text(200, "ok"));
  }));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nHost: example\r\nX-TEST: Value\r\n\r\n"));
  EXPECT_NE(ReadOneResponse(fd).find("200 OK"), std::string::npos);
  std::future<std::string> future = seen->get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(future.get(), "Value|example");
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  for (int i = 0; i < 200; ++i) {
    const std::string body = std::to_string(i);
    ASSERT_TRUE(SendAll(fd, "POST /n HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body));
    bool closed = false;
    const std::string response = ReadOneResponse(fd, &closed);
    ASSERT_FALSE(closed) << "server closed the kept-alive connection after " << i;
    ASSERT_NE(response.find("HTTP/1.1 200 OK"), std::string::npos) << response;
    ASSERT_NE(response.find("b=" + body), std::string::npos) << response;
    ASSERT_EQ(response.find("Connection: close"), std::string::npos) << response;
  }
}

TEST_F(HttpServerTest, ClientKeepsOneConnectionForManyRequests) {
  // With a bound of one connection, any connection the client opened besides its first would be
  // closed at once, and that request would fail.
  HttpServerOptions options;
  options.max_connections = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  HttpClient client("127.0.0.1", port());
  for (int i = 0; i < 2000; ++i) {
    Result<HttpResponse> response = client.Send("POST", "/n", std::to_string(i), 5s);
    ASSERT_TRUE(response.ok()) << i << ": " << response.status().ToString();
    ASSERT_EQ(response->body, "POST /n q=- h= b=" + std::to_string(i));
  }
  // The bound is real: a second client's connection is closed without an answer.
  HttpClient other("127.0.0.1", port());
  Result<HttpResponse> refused = other.Send("GET", "/", "", 5s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().reason(), "broken") << refused.status().ToString();
}

TEST_F(HttpServerTest, ConnectionCloseIsHonored) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd, "GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  const std::string response = ReadUntilClosed(fd, kWait, &closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(response.find("HTTP/1.1 200 OK"), std::string::npos) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_NE(response.find("Content-Length: "), std::string::npos) << response;
  EXPECT_NE(response.find("Content-Type: text/plain"), std::string::npos) << response;
}

TEST_F(HttpServerTest, BodyTooLargeGets413) {
  HttpServerOptions options;
  options.body_limit_bytes = 1024;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  HttpClient client("127.0.0.1", port());

  Result<HttpResponse> big = client.Send("POST", "/recharge", std::string(256 * 1024, 'x'), 5s);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(big->content_type, "application/json");
  EXPECT_NE(big->body.find(R"("code":"body_too_large")"), std::string::npos) << big->body;

  // The limit is on the body only, and the client recovers on a new connection.
  Result<HttpResponse> small = client.Send("POST", "/recharge", std::string(1024, 'y'), 5s);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->status, 200);
}

TEST_F(HttpServerTest, GarbageGets400AndClose) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd, "hello there, this is not HTTP\r\n\r\n"));
  bool closed = false;
  const std::string response = ReadUntilClosed(fd, kWait, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: application/json"), std::string::npos) << response;
  EXPECT_NE(response.find(R"("code":"bad_request")"), std::string::npos) << response;
}

// A Transfer-Encoding other than exactly "chunked" gets 400 and a closed connection: the body
// must never be served as a second request (request smuggling).
TEST_F(HttpServerTest, TransferEncodingOtherThanChunkedGets400AndClose) {
  std::atomic<int> handled{0};
  ASSERT_NO_FATAL_FAILURE(StartServer([&handled](HttpRequest request, Responder respond) {
    handled++;
    Echo(std::move(request), std::move(respond));
  }));
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& encoding :
       {std::string("xchunked"), std::string("chunked, identity"), std::string("identity"),
        std::string("gzip"), std::string("chunked\r\nTransfer-Encoding: chunked")}) {
    Fd fd = ConnectLoopback(port());
    ASSERT_TRUE(fd.valid());
    ASSERT_TRUE(SendAll(fd, "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + encoding +
                                "\r\n\r\n" + smuggled));
    bool closed = false;
    const std::string response = ReadUntilClosed(fd, kWait, &closed);
    EXPECT_TRUE(closed) << encoding;
    EXPECT_EQ(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << encoding << response;
    EXPECT_EQ(response.find("smuggled"), std::string::npos) << encoding << response;
    EXPECT_EQ(response.find("HTTP/1.1", 1), std::string::npos) << "one answer only: " << response;
  }
  EXPECT_EQ(handled.load(), 0);
  // Exactly chunked is served.
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n"));
  const std::string response = ReadOneResponse(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("b=abc"), std::string::npos) << response;
}

TEST_F(HttpServerTest, Http11WithoutExactlyOneHostGets400) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo));
  for (const std::string& request : {std::string("GET / HTTP/1.1\r\n\r\n"),
                                     std::string("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")}) {
    Fd fd = ConnectLoopback(port());
    ASSERT_TRUE(fd.valid());
    ASSERT_TRUE(SendAll(fd, request));
    bool closed = false;
    const std::string response = ReadUntilClosed(fd, kWait, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << response;
    EXPECT_NE(response.find(R"("code":"missing_host")"), std::string::npos) << response;
  }
  // HTTP/1.0 has no Host requirement.
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(SendAll(fd, "GET /old HTTP/1.0\r\n\r\n"));
  bool closed = false;
  const std::string response = ReadUntilClosed(fd, kWait, &closed);
  EXPECT_NE(response.find(" 200 OK\r\n"), std::string::npos) << response;
}

TEST_F(HttpServerTest, AClientTricklingItsHeaderIsCutByTheHeaderTimeout) {
  HttpServerOptions options;
  options.idle_timeout_s = 30;
  options.header_timeout_s = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n"));  // and never the blank line
  bool closed = false;
  ReadUntilClosed(fd, kWait, &closed);
  EXPECT_TRUE(closed);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 8s) << "cut by the header timeout, not the idle one";
}

TEST_F(HttpServerTest, TooManyHeaderFieldsGet431) {
  HttpServerOptions options;
  options.max_header_fields = 8;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  std::string request = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 8; ++i) request += "X-F" + std::to_string(i) + ": v\r\n";
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(SendAll(fd, request + "\r\n"));
  bool closed = false;
  const std::string response = ReadUntilClosed(fd, kWait, &closed);
  EXPECT_EQ(response.rfind("HTTP/1.1 431 ", 0), 0u) << response;
  EXPECT_NE(response.find(R"("code":"headers_too_large")"), std::string::npos) << response;
  // Within the bound it is served.
  Fd ok = ConnectLoopback(port());
  ASSERT_TRUE(SendAll(ok, "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"));
  EXPECT_EQ(ReadOneResponse(ok).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST_F(HttpServerTest, ConnectionsPerClientAddressAreCapped) {
  HttpServerOptions options;
  options.max_connections_per_address = 2;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  const std::string request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<Fd> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(ConnectLoopback(port()));
    ASSERT_TRUE(SendAll(held.back(), request));
    EXPECT_EQ(ReadOneResponse(held.back()).rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << i;
  }
  // The third from the same address is closed without an answer.
  Fd third = ConnectLoopback(port());
  ASSERT_TRUE(third.valid());
  SendAll(third, request);
  bool closed = false;
  EXPECT_EQ(ReadUntilClosed(third, kWait, &closed), "");
  EXPECT_TRUE(closed);
  // Once one of the two goes, a new connection is served again (the server notices the close
  // asynchronously, hence the bounded retries).
  held.pop_back();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    Fd again = ConnectLoopback(port());
    if (SendAll(again, request) && ReadOneResponse(again).rfind("HTTP/1.1 200 OK\r\n", 0) == 0) {
      served = true;
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, IdleConnectionIsClosed) {
  HttpServerOptions options;
  options.idle_timeout_s = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  const std::string received = ReadUntilClosed(fd, kWait, &closed);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(received.empty()) << received;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
}

TEST_F(HttpServerTest, HandlerAnswersFromAnotherThread) {
  // A worker thread answers every request, in arrival order, while the I/O threads move on.
  struct Work {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<HttpRequest, Responder>> queue;  // GUARDED_BY(mu)
    bool done = false;                                    // GUARDED_BY(mu)
  };
  auto work = std::make_shared<Work>();
  HttpServerOptions options;
  options.io_threads = 2;
  ASSERT_NO_FATAL_FAILURE(StartServer(
      [work](HttpRequest request, Responder respond) {
        std::lock_guard lock(work->mu);
        work->queue.emplace_back(std::move(request), std::move(respond));
        work->cv.notify_one();
      },
      options));
  std::thread worker([work] {
    std::unique_lock lock(work->mu);
    for (;;) {
      work->cv.wait(lock, [&] { return work->done || !work->queue.empty(); });
      if (work->queue.empty()) return;
      auto [request, respond] = std::move(work->queue.front());
      work->queue.pop_front();
      lock.unlock();
      respond(Text(200, "worker:" + request.body));
      lock.lock();
    }
  });

  std::vector<std::thread> clients;
  std::atomic<int> ok_count{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client("127.0.0.1", port());
      for (int i = 0; i < 250; ++i) {
        const std::string body = std::to_string(c) + "-" + std::to_string(i);
        Result<HttpResponse> response = client.Send("POST", "/w", body, 5s);
        if (response.ok() && response->body == "worker:" + body) ok_count.fetch_add(1);
      }
    });
  }
  for (std::thread& client : clients) client.join();
  {
    std::lock_guard lock(work->mu);
    work->done = true;
    work->cv.notify_one();
  }
  worker.join();
  EXPECT_EQ(ok_count.load(), 1000);
}

TEST_F(HttpServerTest, ManyConcurrentClients) {
  HttpServerOptions options;
  options.io_threads = 2;
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo, options));
  std::vector<std::thread> clients;
  std::atomic<int> ok_count{0};
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      HttpClient client("127.0.0.1", port());
      for (int i = 0; i < 500; ++i) {
        Result<HttpResponse> response = client.Send("GET", "/x?x=" + std::to_string(i), "", 5s);
        if (response.ok() && response->body == "GET /x q=" + std::to_string(i) + " h= b=") {
          ok_count.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(ok_count.load(), 4000);
}

TEST_F(HttpServerTest, DroppedResponderBreaksTheConnection) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](HttpRequest, Responder) {}));
  HttpClient client("127.0.0.1", port());
  Result<HttpResponse> response = client.Send("POST", "/recharge", "{}", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
}

TEST_F(HttpServerTest, ResponderDroppedLaterOnAnotherThreadBreaksTheConnection) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer([&](HttpRequest, Responder respond) { parked.Park(std::move(respond)); }));
  std::future<Result<HttpResponse>> pending = std::async(std::launch::async, [&] {
    HttpClient client("127.0.0.1", port());
    return client.Send("POST", "/recharge", "{}", 5s);
  });
  ASSERT_TRUE(parked.WaitForCount(1));
  std::thread([respond = parked.Take()] {}).join();  // the last copy dies on another thread
  ASSERT_EQ(pending.wait_for(kWait), std::future_status::ready);
  Result<HttpResponse> response = pending.get();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
}

TEST_F(HttpServerTest, ResetAbortsTheConnectionWithRst) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](HttpRequest request, Responder respond) {
    if (request.path == "/reset") return respond.Reset();
    Echo(std::move(request), std::move(respond));
  }));
  // A kept-alive request that is reset: not a byte of answer, and a reset rather than an end of
  // stream, so the client cannot mistake it for a server that closed after answering.
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd, "POST /reset HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"));
  std::string received;
  EXPECT_EQ(ReadToEndErrno(fd, &received), ECONNRESET);
  EXPECT_EQ(received, "");

  // HttpClient sees the reset as a broken connection, and the server serves on.
  HttpClient client("127.0.0.1", port());
  Result<HttpResponse> reset = client.Send("POST", "/reset", "{}", 5s);
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(reset.status().reason(), "broken") << reset.status().ToString();
  EXPECT_NE(reset.status().ToString().find("reset"), std::string::npos)
      << reset.status().ToString();
  Result<HttpResponse> next = client.Send("GET", "/after", "", 5s);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->body, "GET /after q=- h= b=");
}

TEST_F(HttpServerTest, ResetFromAnotherThreadAfterTheHandlerReturned) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer([&](HttpRequest, Responder respond) { parked.Park(std::move(respond)); }));
  Fd fd = ConnectLoopback(port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(parked.WaitForCount(1));
  std::thread([respond = parked.Take()] { respond->Reset(); }).join();
  std::string received;
  EXPECT_EQ(ReadToEndErrno(fd, &received), ECONNRESET);
  EXPECT_EQ(received, "");
}

TEST_F(HttpServerTest, ClientTimesOutWhenTheServerNeverAnswers) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer([&](HttpRequest, Responder respond) { parked.Park(std::move(respond)); }));
  HttpClient client("127.0.0.1", port());
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> response = client.Send("POST", "/recharge", "{}", 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(response.status().reason(), "timeout") << response.status().ToString();
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, kWait);
  EXPECT_TRUE(parked.WaitForCount(1));

  // The late answer goes nowhere, and the client recovers on a new connection.
  (*parked.Take())(Text(200, "late"));
  std::thread answer_next([&] {
    if (parked.WaitForCount(1)) (*parked.Take())(Text(200, "fresh"));
  });
  Result<HttpResponse> next = client.Send("GET", "/", "", 5s);
  answer_next.join();
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->body, "fresh");
}

TEST_F(HttpServerTest, NotSentWhenNothingListens) {
  uint16_t port = 0;
  {
    Fd listener = ListenLoopback(&port);
    ASSERT_TRUE(listener.valid());
  }  // closed: connecting to the port is now refused
  HttpClient client("127.0.0.1", port);
  Result<HttpResponse> response = client.Send("POST", "/recharge", "{}", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().reason(), "not_sent") << response.status().ToString();
}

TEST_F(HttpServerTest, BindFailsWhenThePortIsTaken) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Echo));
  HttpServerOptions options;
  options.port = port();
  Result<std::unique_ptr<HttpServer>> second = HttpServer::Listen(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().reason(), "bind_failed") << second.status().ToString();
}

TEST_F(HttpServerTest, StopClosesOpenConnections) {
  ASSERT_NO_FATAL_FAILURE(StartServer([&](HttpRequest request, Responder respond) {
    if (request.path == "/hold") {
      parked.Park(std::move(respond));
    } else {
      respond(Text(200, "ok"));
    }
  }));
  // One idle kept-alive connection, one raw idle connection, one request waiting for its answer.
  HttpClient idle_client("127.0.0.1", port());
  ASSERT_TRUE(idle_client.Send("GET", "/", "", 5s).ok());
  Fd raw = ConnectLoopback(port());
  ASSERT_TRUE(raw.valid());
  std::future<Result<HttpResponse>> waiting = std::async(std::launch::async, [&] {
    HttpClient client("127.0.0.1", port());
    return client.Send("POST", "/hold", "{}", kWait);
  });
  ASSERT_TRUE(parked.WaitForCount(1));

  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);

  ASSERT_EQ(waiting.wait_for(kWait), std::future_status::ready);
  Result<HttpResponse> held = waiting.get();
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.status().reason(), "broken") << held.status().ToString();

  bool closed = false;
  ReadUntilClosed(raw, kWait, &closed);
  EXPECT_TRUE(closed);

  // The kept connection is seen closed, and nothing listens any more.
  Result<HttpResponse> after = idle_client.Send("GET", "/", "", 5s);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().reason(), "not_sent") << after.status().ToString();

  // Answering or dropping after Stop is harmless, also once the server is gone.
  (*parked.Take())(Text(200, "too late"));
  server_->Stop();  // idempotent
  server_.reset();
}

// A graceful stop: the listener closes, a request arriving on a kept connection gets 503
// shutting_down, the request under way is answered (with Connection: close), and Drain returns
// once that answer is written.
TEST_F(HttpServerTest, DrainAnswersWhatIsUnderWayAndRefusesWhatComesAfter) {
  ASSERT_NO_FATAL_FAILURE(StartServer([&](HttpRequest request, Responder respond) {
    if (request.path == "/hold") {
      parked.Park(std::move(respond));
    } else {
      respond(Text(200, "ok"));
    }
  }));
  Fd kept = ConnectLoopback(port());
  ASSERT_TRUE(kept.valid());
  ASSERT_TRUE(SendAll(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_NE(ReadOneResponse(kept).find("200 OK"), std::string::npos);
  Fd holding = ConnectLoopback(port());
  ASSERT_TRUE(holding.valid());
  ASSERT_TRUE(SendAll(holding, "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(parked.WaitForCount(1));

  std::future<bool> drained = std::async(std::launch::async, [&] { return server_->Drain(kWait); });
  // Still waiting for the held answer.
  EXPECT_EQ(drained.wait_for(300ms), std::future_status::timeout);
  // Nothing new is accepted...
  Result<HttpResponse> fresh = HttpClient("127.0.0.1", port()).Send("GET", "/", "", 2s);
  EXPECT_FALSE(fresh.ok());
  // ...and a kept connection's next request is refused, and that connection closed.
  ASSERT_TRUE(SendAll(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string refused = ReadOneResponse(kept);
  EXPECT_NE(refused.find("503 Service Unavailable"), std::string::npos) << refused;
  EXPECT_NE(refused.find("\"code\":\"shutting_down\""), std::string::npos) << refused;
  bool closed = false;
  ReadUntilClosed(kept, kWait, &closed);
  EXPECT_TRUE(closed);

  (*parked.Take())(Text(200, "held"));
  ASSERT_EQ(drained.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(drained.get());
  const std::string answered = ReadOneResponse(holding);
  EXPECT_NE(answered.find("200 OK"), std::string::npos) << answered;
  EXPECT_NE(answered.find("held"), std::string::npos) << answered;
  EXPECT_NE(answered.find("Connection: close"), std::string::npos) << answered;
  server_->Stop();
}

// Drain gives up after its bound when an answer never comes; Stop then closes the connection.
TEST_F(HttpServerTest, DrainIsBounded) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer([&](HttpRequest, Responder respond) { parked.Park(std::move(respond)); }));
  Fd holding = ConnectLoopback(port());
  ASSERT_TRUE(holding.valid());
  ASSERT_TRUE(SendAll(holding, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(parked.WaitForCount(1));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(server_->Drain(200ms));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
  server_->Stop();
  bool closed = false;
  ReadUntilClosed(holding, kWait, &closed);
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerTest, ResponderOutlivesTheServer) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer([&](HttpRequest, Responder respond) { parked.Park(std::move(respond)); }));
  std::future<Result<HttpResponse>> waiting = std::async(std::launch::async, [&] {
    HttpClient client("127.0.0.1", port());
    return client.Send("POST", "/hold", "{}", kWait);
  });
  ASSERT_TRUE(parked.WaitForCount(1));
  server_.reset();  // Stop and destroy while the Responder is held
  ASSERT_EQ(waiting.wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(waiting.get().ok());
  std::optional<Responder> respond = parked.Take();
  ASSERT_TRUE(respond.has_value());
  (*respond)(Text(200, "nobody listens"));
}

TEST_F(HttpServerTest, InvalidOptionsAreRejected) {
  HttpServerOptions options;
  options.io_threads = 0;
  EXPECT_EQ(HttpServer::Listen(options, Echo).status().reason(), "bad_server_options");
  options = HttpServerOptions();
  options.address = "not an address";
  EXPECT_EQ(HttpServer::Listen(options, Echo).status().reason(), "bad_address");
}

}  // namespace
}  // namespace topup::http
