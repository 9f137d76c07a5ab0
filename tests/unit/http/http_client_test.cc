// HttpClient against hand-written servers, which show exactly how many connections it opens and
// what it does when the server misbehaves.
#include "http/http_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "raw_socket.h"

namespace topup::http {
namespace {

using namespace std::chrono_literals;
using testing::AcceptWithin;
using testing::Fd;
using testing::ListenLoopback;
using testing::OkResponse;
using testing::RawServer;
using testing::ReadRequestHead;
using testing::ReadUntil;
using testing::SendAll;
using testing::WaitFor;

constexpr auto kWait = 10s;

TEST(HttpClientTest, ReusesOneConnection) {
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
  HttpClient client("127.0.0.1", server.port());
  for (int i = 0; i < kRequests; ++i) {
    Result<HttpResponse> response = client.Send("GET", "/n", "", 5s);
    ASSERT_TRUE(response.ok()) << i << ": " << response.status().ToString();
    ASSERT_EQ(response->body, std::to_string(i));
  }
  EXPECT_FALSE(server.HasPendingConnection());
}

TEST(HttpClientTest, ReconnectsWhenTheServerClosedTheKeptConnection) {
  std::promise<void> first_closed;
  RawServer server([&first_closed](const Fd& listener) {
    {
      Fd first = AcceptWithin(listener, kWait);
      if (!first.valid() || ReadRequestHead(first, kWait).empty() ||
          !SendAll(first, OkResponse("first"))) {
        first_closed.set_value();
        return;
      }
    }  // closed without a "Connection: close" warning, as an idle timeout does
    first_closed.set_value();
    Fd second = AcceptWithin(listener, kWait);
    if (second.valid() && !ReadRequestHead(second, kWait).empty())
      SendAll(second, OkResponse("second"));
  });
  HttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> first = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->body, "first");
  ASSERT_EQ(first_closed.get_future().wait_for(kWait), std::future_status::ready);

  Result<HttpResponse> second = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->body, "second");
}

TEST(HttpClientTest, ConnectionCloseAnswerIsNotReused) {
  RawServer server([](const Fd& listener) {
    for (const char* body : {"one", "two"}) {
      Fd connection = AcceptWithin(listener, kWait);
      if (!connection.valid() || ReadRequestHead(connection, kWait).empty()) return;
      SendAll(connection, OkResponse(body, /*close=*/true));
      ReadUntil(connection, kWait, [](const std::string&) { return false; });  // until closed
    }
  });
  HttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> one = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->body, "one");
  Result<HttpResponse> two = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->body, "two");
}

TEST(HttpClientTest, UnaskedBytesOnTheKeptConnectionMakeANewOne) {
  RawServer server([](const Fd& listener) {
    Fd first = AcceptWithin(listener, kWait);
    if (!first.valid() || ReadRequestHead(first, kWait).empty()) return;
    SendAll(first, OkResponse("first") + OkResponse("stray"));  // one answer too many
    Fd second = AcceptWithin(listener, kWait);
    if (second.valid() && !ReadRequestHead(second, kWait).empty())
      SendAll(second, OkResponse("second"));
  });
  HttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> first = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->body, "first");
  Result<HttpResponse> second = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->body, "second");
}

TEST(HttpClientTest, BrokenWhenTheServerClosesAfterReading) {
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid()) !ReadRequestHead(connection, kWait).empty();
  });
  HttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response = client.Send("POST", "/recharge", "", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
}

TEST(HttpClientTest, BrokenOnAMalformedAnswer) {
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      SendAll(connection, "this is not HTTP\r\n\r\n");
      ReadUntil(connection, kWait, [](const std::string&) { return false; });  // until closed
    }
  });
  HttpClient client("127.0.0.1", server.port());
  Result<HttpResponse> response = client.Send("GET", "/", "", 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
}

TEST(HttpClientTest, TimeoutWhenTheAnswerStalls) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  RawServer server([released](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty()) {
      SendAll(connection, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
      released.wait_for(kWait);
    }
  });
  HttpClient client("127.0.0.1", server.port());
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> response = client.Send("GET", "/", "", 250ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  release.set_value();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(response.status().reason(), "timeout") << response.status().ToString();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, kWait);
}

TEST(HttpClientTest, ResolvesLocalhost) {
  RawServer server([](const Fd& listener) {
    Fd connection = AcceptWithin(listener, kWait);
    if (connection.valid() && !ReadRequestHead(connection, kWait).empty())
      SendAll(connection, OkResponse("hi"));
  });
  HttpClient client("localhost", server.port());
  Result<HttpResponse> response = client.Send("GET", "/", "", 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, "hi");
}

}  // namespace
}  // namespace topup::http
