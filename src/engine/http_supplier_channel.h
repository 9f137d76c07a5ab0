// HttpSupplierChannel: a supplier reached over supplier protocol v1 (JSON over HTTP/1.1).
//
//   POST /recharge {"supplier_order_id", "phone", "face_value"}
//        -> {"status": "success"|"failed"|"processing", "supplier_ref"?, "reason"?}
//   GET  /query?supplier_order_id=...
//        -> {"status": "success"|"failed"|"processing"|"not_found", "supplier_ref"?}
//
// How answers map to outcomes, and why:
//  * refused connection: kNotSent (nothing left this host);
//  * timeout or broken connection after sending began: kUnknown (it may have been credited);
//  * HTTP 4xx to a submit: kFailed (the supplier refused the request, so it will not credit it);
//  * HTTP 5xx or an unreadable body: kUnknown (the supplier may have acted before failing).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/async_http_client.h"
#include "topup/status.h"
#include "topup/supplier_channel.h"

namespace topup {

struct HttpSupplierChannelOptions {
  std::string name = "sim";
  std::string base_url;  // "http://host:port[/path]"; the protocol's paths go below it
  std::chrono::milliseconds attempt_timeout{10'000};
  std::chrono::milliseconds query_timeout{3'000};
  // Connections to the supplier. For an https base URL, client.tls says what to trust (the
  // system's store when unset).
  http::AsyncHttpClientOptions client{};
};

class HttpSupplierChannel final : public SupplierChannel {
 public:
  // InvalidArgument("invalid_base_url") unless base_url is http[s]://host:port[/path].
  static Result<std::unique_ptr<HttpSupplierChannel>> Create(HttpSupplierChannelOptions options);

  const std::string& name() const override { return options_.name; }
  // The blocking calls wait for the asynchronous ones. REQUIRES: not called from an
  // AnswerCallback of this channel (it runs on the thread that would have to answer).
  SupplierAnswer Submit(const SubmitRequest& request) override;
  SupplierAnswer Query(std::string_view supplier_order_id) override;
  // `done` runs on the channel's I/O thread, never inside the call.
  void SubmitAsync(const SubmitRequest& request, AnswerCallback done) override;
  void QueryAsync(std::string_view supplier_order_id, AnswerCallback done) override;
  void ShutDown() override { client_.Shutdown(); }

 private:
  HttpSupplierChannel(HttpSupplierChannelOptions options, std::string host, uint16_t port,
                      std::string path_prefix);

  const HttpSupplierChannelOptions options_;
  const std::string submit_target_;        // "[/path]/recharge"
  const std::string query_target_prefix_;  // "[/path]/query?supplier_order_id="
  // One connection per call in flight, kept alive for the next, bounded by options_.client. Last,
  // so that it is destroyed (and answers what is still pending) first.
  http::AsyncHttpClient client_;
};

// A supplier's base URL: "http[s]://host:port[/path][/]".
struct BaseUrl {
  bool tls = false;  // https
  std::string host;
  uint16_t port = 0;
  std::string path_prefix;  // "" or "/path", without a trailing slash
};
std::optional<BaseUrl> ParseBaseUrl(std::string_view url);

}  // namespace topup
