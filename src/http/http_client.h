// HttpClient: a blocking HTTP/1.1 client for one host, with keep-alive and hard timeouts.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/http_message.h"
#include "topup/status.h"

namespace topup::http {

// Not thread-safe: one per thread (HttpClientPool hands them out).
class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the response, reusing the kept-alive connection when it is still
  // open. Never resends. Errors tell whether the request may have reached the server:
  //   Unavailable("not_sent")        connecting failed; nothing was sent
  //   DeadlineExceeded("timeout")    the whole exchange took longer than `timeout`
  //   Unavailable("broken")          the connection failed after sending began
  // Any HTTP status is a successful exchange. `headers` are added to the request (Host,
  // Content-Type and the framing headers are the client's own).
  Result<HttpResponse> Send(const std::string& method, const std::string& target,
                            const std::string& body, std::chrono::milliseconds timeout,
                            const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace topup::http
