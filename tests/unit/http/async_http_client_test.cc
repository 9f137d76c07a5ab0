// AsyncHttpClient against hand-written servers, which show exactly how many connections it opens,
// what reaches them, and what it does when the server misbehaves.
#include "http/async_http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "http/http_server.h"
#include "raw_socket.h"

namespace topup::http {
namespace {

using namespace std::chrono_literals;
using testing::AcceptWithin;
using testing::Fd;
using testing::ListenLoopback;
using testing::OkResponse;
using testing::RawServer;
using testing::ReadHeadAndBody;
using testing::ReadRequestHead;
using testing::ReadUntil;
using testing::ReadUntilClosed;
using testing::SendAll;
using testing::WaitFor;

constexpr auto kWait = 10s;

// Sends one request and waits a bounded time for its callback.
Result<HttpResponse> SendAndWait(AsyncHttpClient& client, std::string method, std::string target,
                                 std::string body, std::chrono::milliseconds timeout,
                                 HttpHeaders headers = {}) {
  auto promise = std::make_shared<std::promise<Result<HttpResponse>>>();
  std::future<Result<HttpResponse>> answer = promise->get_future();
  client.Send(
      std::move(method), std::move(target), std::move(body), timeout,
      [promise](Result<HttpResponse> response) { promise->set_value(std::move(response)); },
      std::move(headers));
  if (answer.wait_for(kWait) != std::future_status::ready) {
    return Internal("the callback did not run within the test's bound");
  }
  return answer.get();
}

// Collects the answers of many requests, and how often each callback ran.
class Answers {
 public:
  explicit Answers(size_t count) : calls_(count, 0), answers_(count) {}

  HttpResponseCallback For(size_t index) {
    return [this, index](Result<HttpResponse> response) {
      std::lock_guard lock(mu_);
      ++calls_[index];
      answers_[index].emplace(std::move(response));
      ++completed_;
      changed_.notify_all();
    };
  }
  bool WaitForAll(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [this] { return completed_ >= calls_.size(); });
  }
  // REQUIRES: no callback can still run.
  int calls(size_t index) const { return calls_[index]; }
  const std::optional<Result<HttpResponse>>& answer(size_t index) const { return answers_[index]; }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<int> calls_;                                    // GUARDED_BY(mu_)
  std::vector<std::optional<Result<HttpResponse>>> answers_;  // GUARDED_BY(mu_)
  size_t completed_ = 0;                                      // GUARDED_BY(mu_)
};

TEST(AsyncHttpClientTest, PlainExchange) {
  std::promise<std::string> received;
  RawServer server([&received](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    const std::string request = ReadHeadAndBody(connection, 7, kWait);
    received.set_value(request);
    SendAll(connection,
            "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Reply: yes\r\n"
            "Content-Length: 5\r\n\r\nhello");
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response =
      SendAndWait(client, "POST", "/recharge", R"({"a":1})", 5s, {{"X-Trace", "t1"}});
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->content_type, "text/plain");
  EXPECT_EQ(response->body, "hello");
  ASSERT_EQ(response->headers.size(), 1u);
  EXPECT_EQ(response->headers[0].first, "X-Reply");
  EXPECT_EQ(response->headers[0].second, "yes");

  const std::string request = received.get_future().get();
  EXPECT_TRUE(request.starts_with("POST /recharge HTTP/1.1\r\n")) << request;
  EXPECT_NE(request.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nX-Trace: t1\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nContent-Length: 7\r\n"), std::string::npos) << request;
  EXPECT_TRUE(request.ends_with("\r\n\r\n{\"a\":1}")) << request;
}

TEST(AsyncHttpClientTest, ReusesOneConnectionForSequentialRequests) {
  constexpr int kRequests = 100;
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);  // one accept only
    for (int i = 0; i < kRequests && connection.valid(); ++i) {
      if (ReadRequestHead(connection, kWait).empty() ||
          !SendAll(connection, OkResponse(std::to_string(i)))) {
        return;
      }
    }
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  for (int i = 0; i < kRequests; ++i) {
    Result<HttpResponse> response = SendAndWait(client, "GET", "/n", "", 5s);
    ASSERT_TRUE(response.ok()) << i << ": " << response.status().ToString();
    ASSERT_EQ(response->body, std::to_string(i));
  }
  EXPECT_FALSE(server.HasPendingConnection());
}

TEST(AsyncHttpClientTest, AnswersManyConcurrentRequests) {
  auto server = HttpServer::Listen(HttpServerOptions{}, [](HttpRequest request, Responder respond) {
    HttpResponse response;
    response.body = request.target;
    respond(std::move(response));
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  (*server)->Start();
  AsyncHttpClient client("127.0.0.1", (*server)->port());
  for (int wave = 0; wave < 2; ++wave) {  // the second wave runs on kept connections
    constexpr size_t kRequests = 200;
    Answers answers(kRequests);
    for (size_t i = 0; i < kRequests; ++i) {
      client.Send("GET", "/n/" + std::to_string(i), "", 5s, answers.For(i));
    }
    ASSERT_TRUE(answers.WaitForAll(kWait));
    for (size_t i = 0; i < kRequests; ++i) {
      EXPECT_EQ(answers.calls(i), 1) << i;
      const Result<HttpResponse>& response = *answers.answer(i);
      ASSERT_TRUE(response.ok()) << i << ": " << response.status().ToString();
      EXPECT_EQ(response->body, "/n/" + std::to_string(i));
    }
  }
  (*server)->Stop();
}

// A server that answers each request after `delay`, from a thread of its own per request (joined
// before the server stops).
class SlowServer {
 public:
  explicit SlowServer(std::chrono::milliseconds delay) {
    HttpServerOptions options;
    options.io_threads = 2;
    auto server =
        HttpServer::Listen(options, [this, delay](HttpRequest request, Responder respond) {
          std::lock_guard lock(mu_);
          answerers_.emplace_back([delay, target = request.target, respond = std::move(respond)] {
            std::this_thread::sleep_for(delay);  // the server's latency, not a wait for a condition
            HttpResponse response;
            response.body = target;
            respond(std::move(response));
          });
        });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    server_->Start();
  }
  ~SlowServer() {
    std::vector<std::thread> answerers;
    {
      std::lock_guard lock(mu_);
      answerers.swap(answerers_);
    }
    for (std::thread& answerer : answerers) answerer.join();
    server_->Stop();
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::mutex mu_;
  std::vector<std::thread> answerers_;  // GUARDED_BY(mu_)
  std::unique_ptr<HttpServer> server_;
};

TEST(AsyncHttpClientTest, ABurstWaitsForBoundedConnectionsInsteadOfOpeningOneEach) {
  SlowServer server(20ms);
  AsyncHttpClient client("127.0.0.1", server.port(),
                         AsyncHttpClientOptions{.max_connections = 4, .max_idle_connections = 4});
  constexpr size_t kRequests = 100;
  Answers answers(kRequests);
  for (size_t i = 0; i < kRequests; ++i) {
    client.Send("GET", "/n/" + std::to_string(i), "", 5s, answers.For(i));
  }
  ASSERT_TRUE(answers.WaitForAll(kWait));
  for (size_t i = 0; i < kRequests; ++i) {
    EXPECT_EQ(answers.calls(i), 1) << i;
    const Result<HttpResponse>& response = *answers.answer(i);
    ASSERT_TRUE(response.ok()) << i << ": " << response.status().ToString();
    EXPECT_EQ(response->body, "/n/" + std::to_string(i));
  }
  EXPECT_EQ(client.connections_opened(), 4);
}

TEST(AsyncHttpClientTest, ARequestThatFindsNoConnectionInTimeIsNotSent) {
  SlowServer server(1'000ms);
  AsyncHttpClient client("127.0.0.1", server.port(), AsyncHttpClientOptions{.max_connections = 1});
  Answers answers(2);
  client.Send("GET", "/slow", "", 5s, answers.For(0));
  client.Send("GET", "/waits", "", 200ms, answers.For(1));  // no connection frees up in time
  ASSERT_TRUE(answers.WaitForAll(kWait));
  ASSERT_TRUE(answers.answer(0)->ok());
  const Result<HttpResponse>& waited = *answers.answer(1);
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().reason(), "not_sent") << waited.status().ToString();
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(AsyncHttpClientTest, NewConnectionsAreOpenedAtABoundedRate) {
  SlowServer server(300ms);
  AsyncHttpClient client(
      "127.0.0.1", server.port(),
      AsyncHttpClientOptions{.new_connections_per_s = 20, .new_connection_burst = 2});
  constexpr size_t kRequests = 10;
  Answers answers(kRequests);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kRequests; ++i) client.Send("GET", "/n", "", 5s, answers.For(i));
  std::this_thread::sleep_for(100ms);
  // A burst of two, then one every 50 ms: nowhere near one connection per request yet.
  EXPECT_LE(client.connections_opened(), 2 + 4);
  ASSERT_TRUE(answers.WaitForAll(kWait));
  for (size_t i = 0; i < kRequests; ++i) EXPECT_TRUE(answers.answer(i)->ok()) << i;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
}

TEST(AsyncHttpClientTest, RefusedConnectionIsNotSent) {
  uint16_t port = 0;
  {
    Fd listener = ListenLoopback(&port);  // closed again: nobody listens on the port
  }
  AsyncHttpClient client("127.0.0.1", port);
  Result<HttpResponse> response = SendAndWait(client, "POST", "/recharge", "{}", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().reason(), "not_sent") << response.status().ToString();
}

TEST(AsyncHttpClientTest, SilentServerTimesOutWithinTheBound) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  RawServer server([released](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) released.wait_for(kWait);
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> response = SendAndWait(client, "GET", "/", "", 250ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  release.set_value();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(response.status().reason(), "timeout") << response.status().ToString();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, kWait);  // bounded by the timeout, with room for a loaded machine
}

TEST(AsyncHttpClientTest, StalledAnswerTimesOut) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  RawServer server([released](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      SendAll(connection, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
      released.wait_for(kWait);
    }
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response = SendAndWait(client, "GET", "/", "", 250ms);
  release.set_value();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "timeout") << response.status().ToString();
}

TEST(AsyncHttpClientTest, BrokenWhenTheServerClosesAfterReadingAndNotResent) {
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid()) ReadRequestHead(connection, kWait);
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response = SendAndWait(client, "POST", "/recharge", "{}", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
  EXPECT_FALSE(server.HasPendingConnection());
}

TEST(AsyncHttpClientTest, BrokenOnAMalformedAnswer) {
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      SendAll(connection, "this is not HTTP\r\n\r\n");
      bool closed = false;
      ReadUntilClosed(connection, kWait, &closed);
    }
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response = SendAndWait(client, "GET", "/", "", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
}

// The server ends the idle kept connection (as an idle timeout does); the next request goes on a
// new connection, and nothing of it reaches the old one.
TEST(AsyncHttpClientTest, ReplacesAKeptConnectionTheServerClosedAndSendsOnce) {
  std::promise<void> first_closed;
  std::promise<std::string> late_on_first;
  RawServer server([&](const Fd& listener) {
    Fd first = AcceptWithin(listener, kWait);
    if (!first.valid() || ReadRequestHead(first, kWait).empty() ||
        !SendAll(first, OkResponse("first"))) {
      first_closed.set_value();
      late_on_first.set_value("");
      return;
    }
    ::shutdown(first.get(), SHUT_WR);  // ends it for the client, but still hears what comes
    first_closed.set_value();
    Fd second = AcceptWithin(listener, kWait);
    if (second.valid() && !ReadRequestHead(second, kWait).empty())
      SendAll(second, OkResponse("second"));
    bool closed = false;
    late_on_first.set_value(ReadUntilClosed(first, kWait, &closed));
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> first = SendAndWait(client, "POST", "/recharge", "{}", 5s);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->body, "first");
  ASSERT_EQ(first_closed.get_future().wait_for(kWait), std::future_status::ready);

  Result<HttpResponse> second = SendAndWait(client, "POST", "/recharge", "{}", 5s);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->body, "second");
  std::future<std::string> late = late_on_first.get_future();
  ASSERT_EQ(late.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(late.get(), "");  // the client closed the old connection without writing to it
  EXPECT_FALSE(server.HasPendingConnection());
}

TEST(AsyncHttpClientTest, ConnectionCloseAnswerIsNotReused) {
  RawServer server([](const Fd& listener) {
    for (const char* body : {"one", "two"}) {
      Fd connection = AcceptWithin(listener, kWait);
      if (!connection.valid() || ReadRequestHead(connection, kWait).empty()) return;
      SendAll(connection, OkResponse(body, /*close=*/true));
      bool closed = false;
      ReadUntilClosed(connection, kWait, &closed);
    }
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> one = SendAndWait(client, "GET", "/", "", 5s);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->body, "one");
  Result<HttpResponse> two = SendAndWait(client, "GET", "/", "", 5s);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->body, "two");
}

// A server may answer before it read the whole request (say 413); the answer is what counts.
TEST(AsyncHttpClientTest, HearsAnAnswerSentBeforeTheBodyWasRead) {
  std::promise<void> client_done;
  std::shared_future<void> done = client_done.get_future().share();
  RawServer server([done](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      SendAll(connection,
              "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      done.wait_for(kWait);  // stops reading, without resetting the connection
    }
  });
  AsyncHttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response =
      SendAndWait(client, "POST", "/big", std::string(32 * 1024 * 1024, 'x'), 5s);
  client_done.set_value();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 413);
}

TEST(AsyncHttpClientTest, ResolvesLocalhost) {
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      SendAll(connection, OkResponse("hi"));
    }
  });
  AsyncHttpClient client("localhost", server.port());
  Result<HttpResponse> response = SendAndWait(client, "GET", "/", "", 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, "hi");
}

TEST(AsyncHttpClientTest, DestructorCompletesAPendingRequest) {
  std::promise<void> request_read;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  RawServer server([&request_read, released](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      request_read.set_value();
      released.wait_for(kWait);
    }
  });
  std::atomic<int> calls{0};
  std::optional<Result<HttpResponse>> outcome;  // written on the I/O thread, read after the join
  const auto start = std::chrono::steady_clock::now();
  {
    AsyncHttpClient client("127.0.0.1", server.port());
    client.Send("POST", "/recharge", "{}", kWait, [&](Result<HttpResponse> response) {
      ++calls;
      outcome.emplace(std::move(response));
    });
    ASSERT_EQ(request_read.get_future().wait_for(kWait), std::future_status::ready);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, kWait);
  release.set_value();
  EXPECT_EQ(calls.load(), 1);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->ok());
  EXPECT_EQ(outcome->status().reason(), "broken") << outcome->status().ToString();
}

TEST(AsyncHttpClientTest, DestructorCompletesEveryQueuedRequestOnce) {
  uint16_t port = 0;
  Fd listener = ListenLoopback(&port);  // connects may succeed, nothing is ever answered
  constexpr size_t kRequests = 50;
  Answers answers(kRequests);
  {
    AsyncHttpClient client("127.0.0.1", port);
    for (size_t i = 0; i < kRequests; ++i) client.Send("GET", "/", "", kWait, answers.For(i));
  }
  ASSERT_TRUE(answers.WaitForAll(0ms));
  for (size_t i = 0; i < kRequests; ++i) {
    EXPECT_EQ(answers.calls(i), 1) << i;
    const Result<HttpResponse>& response = *answers.answer(i);
    ASSERT_FALSE(response.ok());
    EXPECT_TRUE(response.status().reason() == "not_sent" || response.status().reason() == "broken")
        << response.status().ToString();
  }
}

}  // namespace
}  // namespace topup::http
