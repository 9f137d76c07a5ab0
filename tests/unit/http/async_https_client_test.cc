// AsyncHttpClient over TLS, against a small HTTPS server of the test's own with a certificate from
// a private CA made at run time.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "http/async_http_client.h"
#include "http/http_server.h"
#include "http/private_ca.h"

namespace topup::http {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Serves one connection at a time on 127.0.0.1, answering each request with its target as the
// body; with `close_each`, closes the connection after every answer.
class TestHttpsServer {
 public:
  TestHttpsServer(const PrivateCaFiles& certs, bool close_each)
      : context_(net::ssl::context::tls_server), close_each_(close_each) {
    context_.use_certificate_chain_file(certs.cert_file);
    context_.use_private_key_file(certs.key_file, net::ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestHttpsServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int requests() const { return requests_.load(); }

 private:
  void Serve() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      net::ssl::stream<tcp::socket> stream(std::move(socket), context_);
      stream.handshake(net::ssl::stream_base::server, ec);
      if (ec) continue;  // a client that did not trust us
      boost::beast::flat_buffer buffer;
      while (!stopping_) {
        bhttp::request<bhttp::string_body> request;
        bhttp::read(stream, buffer, request, ec);
        if (ec) break;
        requests_++;
        bhttp::response<bhttp::string_body> response(bhttp::status::ok, 11);
        response.body() = std::string(request.target());
        response.keep_alive(!close_each_);
        response.prepare_payload();
        bhttp::write(stream, response, ec);
        if (ec || close_each_) break;
      }
      stream.shutdown(ec);
    }
  }

  net::io_context ioc_;
  net::ssl::context context_;
  tcp::acceptor acceptor_{ioc_};
  const bool close_each_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

Result<HttpResponse> Get(AsyncHttpClient& client, std::string target) {
  auto promise = std::make_shared<std::promise<Result<HttpResponse>>>();
  std::future<Result<HttpResponse>> answer = promise->get_future();
  client.Send("GET", std::move(target), "", 5s, [promise](Result<HttpResponse> response) {
    promise->set_value(std::move(response));
  });
  if (answer.wait_for(10s) != std::future_status::ready) return Internal("no answer in time");
  return answer.get();
}

class AsyncHttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-tls-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    Result<PrivateCaFiles> certs = MakePrivateCa(dir_.string());
    ASSERT_TRUE(certs.ok()) << certs.status().ToString();
    certs_ = *certs;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  AsyncHttpClientOptions Trusting(std::string server_name = "") const {
    AsyncHttpClientOptions options;
    options.tls = AsyncHttpClientOptions::Tls{.ca_file = certs_.ca_file,
                                              .server_name = std::move(server_name)};
    return options;
  }

  std::filesystem::path dir_;
  PrivateCaFiles certs_;
};

TEST_F(AsyncHttpsClientTest, KeepsOneVerifiedConnectionAlive) {
  TestHttpsServer server(certs_, /*close_each=*/false);
  AsyncHttpClient client("127.0.0.1", server.port(), Trusting());
  for (int i = 0; i < 20; ++i) {
    Result<HttpResponse> response = Get(client, "/n/" + std::to_string(i));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->body, "/n/" + std::to_string(i));
  }
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST_F(AsyncHttpsClientTest, NewConnectionsResumeTheSession) {
  TestHttpsServer server(certs_, /*close_each=*/true);
  AsyncHttpClient client("localhost", server.port(), Trusting());
  for (int i = 0; i < 5; ++i) {
    Result<HttpResponse> response = Get(client, "/r");
    ASSERT_TRUE(response.ok()) << response.status().ToString();
  }
  EXPECT_EQ(client.connections_opened(), 5);
  EXPECT_GE(client.tls_sessions_resumed(), 3);  // every connection after the first one or two
}

TEST_F(AsyncHttpsClientTest, AServerItCannotVerifyGetsNothing) {
  TestHttpsServer server(certs_, /*close_each=*/false);
  // The system's trust store does not know the private CA.
  AsyncHttpClientOptions untrusting;
  untrusting.tls = AsyncHttpClientOptions::Tls{};
  AsyncHttpClient stranger("127.0.0.1", server.port(), untrusting);
  Result<HttpResponse> response = Get(stranger, "/secret");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "not_sent") << response.status().ToString();

  // A certificate for another name is refused too.
  AsyncHttpClient misnamed("127.0.0.1", server.port(), Trusting("supplier.example"));
  response = Get(misnamed, "/secret");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "not_sent") << response.status().ToString();
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(AsyncHttpsClientTest, AnUnreadableCaFileFailsEveryRequestAsNotSent) {
  TestHttpsServer server(certs_, /*close_each=*/false);
  AsyncHttpClientOptions options;
  options.tls = AsyncHttpClientOptions::Tls{.ca_file = (dir_ / "missing.pem").string()};
  AsyncHttpClient client("127.0.0.1", server.port(), options);
  Result<HttpResponse> response = Get(client, "/x");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "not_sent");
  EXPECT_NE(response.status().message().find("missing.pem"), std::string::npos);
}

TEST_F(AsyncHttpsClientTest, OurServerServesHttpsWithItsCertificate) {
  HttpServerOptions options;
  options.tls_cert_file = certs_.cert_file;
  options.tls_key_file = certs_.key_file;
  auto server = HttpServer::Listen(options, [](HttpRequest request, Responder respond) {
    HttpResponse response;
    response.body = "secure " + request.target;
    respond(std::move(response));
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  (*server)->Start();
  AsyncHttpClient client("127.0.0.1", (*server)->port(), Trusting());
  for (int i = 0; i < 3; ++i) {
    Result<HttpResponse> response = Get(client, "/t");
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->body, "secure /t");
  }
  EXPECT_EQ(client.connections_opened(), 1);
  // A plain-HTTP client gets nothing it could take for an answer.
  AsyncHttpClient plain("127.0.0.1", (*server)->port());
  Result<HttpResponse> response = Get(plain, "/t");
  EXPECT_FALSE(response.ok());
  (*server)->Stop();
}

TEST_F(AsyncHttpsClientTest, AServerWithoutUsableCertificateFilesDoesNotStart) {
  HttpServerOptions options;
  options.tls_cert_file = (dir_ / "missing.pem").string();
  options.tls_key_file = certs_.key_file;
  auto server = HttpServer::Listen(options, [](HttpRequest, Responder) {});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().reason(), "bad_tls_files");
}

}  // namespace
}  // namespace topup::http
