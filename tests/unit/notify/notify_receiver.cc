#include "notify_receiver.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cassert>

namespace topup::notify::testing {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// One connection at a time, blocking: enough for the deliveries of a test.
struct NotifyReceiver::Tls {
  net::io_context ioc;
  net::ssl::context context{net::ssl::context::tls_server};
  tcp::acceptor acceptor{ioc};
  std::atomic<bool> stopping{false};
  std::atomic<int> connection_fd{-1};  // the connection being served, to cut it when stopping
  std::thread thread;
};

NotifyReceiver::NotifyReceiver(AnswerPlan plan,
                               const topup::testing::TestCertificates* certificates)
    : plan_(std::move(plan)) {
  if (certificates != nullptr) {
    ServeTls(*certificates);
    return;
  }
  Result<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Listen(
      http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
        ReceivedRequest received{request.target, request.headers, request.body};
        int index = 0;
        {
          std::lock_guard<std::mutex> lock(mu_);
          index = static_cast<int>(requests_.size());
        }
        const Answer answer = plan_(index);
        Record(std::move(received));
        http::HttpResponse response;
        response.status = answer.status;
        // 204 and 304 carry no body.
        response.body = answer.status == 204 || answer.status == 304 ? "" : "{}";
        if (answer.delay.count() < 0) {
          std::lock_guard<std::mutex> lock(mu_);
          unanswered_.push_back(respond);
        } else if (answer.delay.count() == 0) {
          respond(response);
        } else {
          std::lock_guard<std::mutex> lock(mu_);
          delayed_.emplace_back([respond, response, delay = answer.delay] {
            std::this_thread::sleep_for(delay);  // plays a slow merchant, waits for nothing
            respond(response);
          });
        }
      });
  assert(server.ok());
  server_ = std::move(server).value();
  port_ = server_->port();
  server_->Start();
}

void NotifyReceiver::ServeTls(const topup::testing::TestCertificates& certificates) {
  tls_ = std::make_unique<Tls>();
  tls_->context.use_certificate_chain_file(certificates.cert_file);
  tls_->context.use_private_key_file(certificates.key_file, net::ssl::context::pem);
  tls_->acceptor.open(tcp::v4());
  tls_->acceptor.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  tls_->acceptor.listen();
  port_ = tls_->acceptor.local_endpoint().port();
  tls_->thread = std::thread([this] {
    while (!tls_->stopping) {
      boost::system::error_code ec;
      tcp::socket socket(tls_->ioc);
      tls_->acceptor.accept(socket, ec);
      if (ec) return;
      tls_->connection_fd = socket.native_handle();
      net::ssl::stream<tcp::socket> stream(std::move(socket), tls_->context);
      stream.handshake(net::ssl::stream_base::server, ec);
      if (ec) continue;
      boost::beast::flat_buffer buffer;
      while (!tls_->stopping) {
        bhttp::request<bhttp::string_body> request;
        bhttp::read(stream, buffer, request, ec);
        if (ec) break;
        ReceivedRequest received;
        received.target = std::string(request.target());
        for (const auto& field : request) {
          std::string name(field.name_string());
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          received.headers[name] = std::string(field.value());
        }
        received.body = request.body();
        int index = 0;
        {
          std::lock_guard<std::mutex> lock(mu_);
          index = static_cast<int>(requests_.size());
        }
        const Answer answer = plan_(index);
        Record(std::move(received));
        bhttp::response<bhttp::string_body> response(static_cast<bhttp::status>(answer.status), 11);
        response.body() = answer.status == 204 ? "" : "{}";
        response.keep_alive(true);
        response.prepare_payload();
        bhttp::write(stream, response, ec);
        if (ec) break;
      }
      stream.shutdown(ec);
    }
  });
}

NotifyReceiver::~NotifyReceiver() {
  if (server_) server_->Stop();
  if (tls_) {
    tls_->stopping = true;
    ::shutdown(tls_->acceptor.native_handle(), SHUT_RDWR);  // wakes the blocking accept
    if (int fd = tls_->connection_fd.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);  // and a read
    tls_->thread.join();
  }
  std::vector<std::thread> delayed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    delayed.swap(delayed_);
    unanswered_.clear();
  }
  for (std::thread& thread : delayed) thread.join();
}

void NotifyReceiver::Record(ReceivedRequest request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(request));
  }
  arrived_.notify_all();
}

size_t NotifyReceiver::WaitForRequests(size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  return requests_.size();
}

std::vector<ReceivedRequest> NotifyReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

}  // namespace topup::notify::testing
