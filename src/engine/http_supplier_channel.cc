#include "engine/http_supplier_channel.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <future>
#include <utility>

#include "engine/supplier_answer.h"

namespace topup {
namespace {

namespace json = boost::json;

// Percent-encodes everything but unreserved characters.
std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// Runs `start_call(done)` and waits for the answer it passes to `done`. The promise is shared with
// the callback so that it outlives set_value even when this thread returns at once.
template <typename StartCall>
SupplierAnswer WaitForAnswer(StartCall start_call) {
  auto promise = std::make_shared<std::promise<SupplierAnswer>>();
  std::future<SupplierAnswer> answer = promise->get_future();
  start_call([promise](SupplierAnswer value) { promise->set_value(std::move(value)); });
  return answer.get();
}

}  // namespace

std::optional<BaseUrl> ParseBaseUrl(std::string_view url) {
  BaseUrl parsed;
  if (url.starts_with("https://")) {
    parsed.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  while (url.ends_with('/')) url.remove_suffix(1);
  size_t slash = url.find('/');
  parsed.path_prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  url = url.substr(0, slash);
  size_t colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view digits = url.substr(colon + 1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  parsed.host = std::string(url.substr(0, colon));
  parsed.port = static_cast<uint16_t>(value);
  return parsed;
}

Result<std::unique_ptr<HttpSupplierChannel>> HttpSupplierChannel::Create(
    HttpSupplierChannelOptions options) {
  std::optional<BaseUrl> url = ParseBaseUrl(options.base_url);
  if (!url) {
    return InvalidArgument("invalid_base_url",
                           "supplier base URL must look like http[s]://host:port[/path], got \"" +
                               options.base_url + "\"");
  }
  if (!url->tls) {
    options.client.tls.reset();
  } else if (!options.client.tls) {
    options.client.tls = http::AsyncHttpClientOptions::Tls{};  // the system's trust store
  }
  return std::unique_ptr<HttpSupplierChannel>(new HttpSupplierChannel(
      std::move(options), std::move(url->host), url->port, std::move(url->path_prefix)));
}

HttpSupplierChannel::HttpSupplierChannel(HttpSupplierChannelOptions options, std::string host,
                                         uint16_t port, std::string path_prefix)
    : options_(std::move(options)),
      submit_target_(path_prefix + "/recharge"),
      query_target_prefix_(path_prefix + "/query?supplier_order_id="),
      client_(std::move(host), port, options_.client) {}

SupplierAnswer HttpSupplierChannel::Submit(const SubmitRequest& request) {
  return WaitForAnswer([&](AnswerCallback done) { SubmitAsync(request, std::move(done)); });
}

SupplierAnswer HttpSupplierChannel::Query(std::string_view supplier_order_id) {
  return WaitForAnswer(
      [&](AnswerCallback done) { QueryAsync(supplier_order_id, std::move(done)); });
}

void HttpSupplierChannel::SubmitAsync(const SubmitRequest& request, AnswerCallback done) {
  unsigned char scratch[512];  // the object is built without touching the heap
  json::monotonic_resource memory(scratch, sizeof(scratch));
  json::object body(&memory);
  body["supplier_order_id"] = request.supplier_order_id;
  body["phone"] = request.phone;
  body["face_value"] = request.face_value_yuan;
  const std::chrono::milliseconds timeout =
      request.timeout.count() > 0 ? std::min(request.timeout, options_.attempt_timeout)
                                  : options_.attempt_timeout;
  client_.Send("POST", submit_target_, json::serialize(body), timeout,
               [done = std::move(done)](Result<http::HttpResponse> response) {
                 done(SubmitAnswer(response));
               });
}

void HttpSupplierChannel::QueryAsync(std::string_view supplier_order_id, AnswerCallback done) {
  client_.Send("GET", query_target_prefix_ + UrlEncode(supplier_order_id), "",
               options_.query_timeout,
               [done = std::move(done)](Result<http::HttpResponse> response) {
                 done(QueryAnswer(response));
               });
}

}  // namespace topup
