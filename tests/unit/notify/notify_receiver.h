// A merchant's notification receiver for tests, on 127.0.0.1: records every request and answers
// as told (a status, after a delay, or never), over HTTP or, given certificates, HTTPS.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_message.h"
#include "http/http_server.h"
#include "http/private_ca.h"

namespace topup::notify::testing {

struct ReceivedRequest {
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// How to answer the n-th request (0-based): a status, after a delay; a negative delay never
// answers (the connection stays open until the receiver stops).
struct Answer {
  int status = 200;
  std::chrono::milliseconds delay{0};
};
using AnswerPlan = std::function<Answer(int request_index)>;

class NotifyReceiver {
 public:
  // HTTP when `certificates` is null, else HTTPS with its server certificate.
  explicit NotifyReceiver(AnswerPlan plan, const http::PrivateCaFiles* certificates = nullptr);
  ~NotifyReceiver();  // stops; requests never answered are dropped

  uint16_t port() const { return port_; }
  // Waits up to `timeout` until at least `count` requests came; returns how many came.
  size_t WaitForRequests(size_t count, std::chrono::milliseconds timeout);
  std::vector<ReceivedRequest> requests() const;
  // TCP connections accepted so far.
  int64_t connections_accepted() const { return server_->connections_accepted(); }

 private:
  void Record(ReceivedRequest request);

  AnswerPlan plan_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<ReceivedRequest> requests_;    // GUARDED_BY(mu_)
  std::vector<http::Responder> unanswered_;  // GUARDED_BY(mu_)
  std::vector<std::thread> delayed_;         // GUARDED_BY(mu_); joined on destruction
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace topup::notify::testing
