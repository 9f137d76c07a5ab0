#include "notify_receiver.h"

#include <cassert>

namespace topup::notify::testing {

NotifyReceiver::NotifyReceiver(AnswerPlan plan, const http::PrivateCaFiles* certificates)
    : plan_(std::move(plan)) {
  http::HttpServerOptions options;
  if (certificates != nullptr) {
    options.tls_cert_file = certificates->cert_file;
    options.tls_key_file = certificates->key_file;
  }
  Result<std::unique_ptr<http::HttpServer>> server =
      http::HttpServer::Listen(options, [this](http::HttpRequest request, http::Responder respond) {
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

NotifyReceiver::~NotifyReceiver() {
  server_->Stop();
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
