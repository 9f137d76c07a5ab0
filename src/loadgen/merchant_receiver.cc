#include "loadgen/merchant_receiver.h"

#include <openssl/crypto.h>
#include <pthread.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <future>

#include "auth/request_signature.h"
#include "core/thread_priority.h"
#include "http/json_answer.h"
#include "topup/clock.h"

namespace topup::loadgen {
namespace {

namespace json = boost::json;

// How far a notification's signing time may be from the receiver's clock, as a merchant checks.
constexpr int64_t kMaxClockSkewS = 300;

std::string LowerCase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// "<order_id> <status>" of a notification body, or "" if it has neither.
std::string OrderAndStatus(const std::string& body) {
  boost::system::error_code error;
  json::value parsed = json::parse(body, error);
  const json::object* object = error ? nullptr : parsed.if_object();
  if (object == nullptr) return "";
  const json::value* order_id = object->if_contains("order_id");
  const json::value* status = object->if_contains("status");
  if (order_id == nullptr || !order_id->is_string() || status == nullptr || !status->is_string()) {
    return "";
  }
  return std::string(order_id->as_string()) + " " + std::string(status->as_string());
}

}  // namespace

MerchantReceiver::MerchantReceiver(MerchantReceiverOptions options)
    : options_(std::move(options)), started_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<MerchantReceiver>> MerchantReceiver::Start(MerchantReceiverOptions options) {
  std::unique_ptr<MerchantReceiver> receiver(new MerchantReceiver(std::move(options)));
  http::HttpServerOptions server_options;
  server_options.io_threads = 1;
  MerchantReceiver* self = receiver.get();
  Result<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Listen(
      server_options, [self](http::HttpRequest request, http::Responder respond) {
        self->Handle(std::move(request), std::move(respond));
      });
  if (!server.ok()) return server.status();
  receiver->server_ = std::move(server).value();
  receiver->server_->Start();
  // The lowest priority, and the thread's CPU clock, taken on the I/O thread itself.
  std::promise<Result<clockid_t>> io_thread;
  boost::asio::post(receiver->server_->executor(), [&io_thread] {
    clockid_t clock{};
    if (!LowerThreadPriority(19) || pthread_getcpuclockid(pthread_self(), &clock) != 0) {
      io_thread.set_value(Internal("cannot lower the receiver's priority or read its CPU clock"));
    } else {
      io_thread.set_value(clock);
    }
  });
  Result<clockid_t> clock = io_thread.get_future().get();
  if (!clock.ok()) return clock.status();
  receiver->io_thread_clock_ = *clock;
  return receiver;
}

MerchantReceiver::~MerchantReceiver() {
  if (server_) server_->Stop();
  std::lock_guard lock(mu_);
  held_.clear();
}

std::string MerchantReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(server_->port()) + "/notify";
}

ReceivedNotifications MerchantReceiver::Snapshot() const {
  std::lock_guard lock(mu_);
  ReceivedNotifications received = received_;
  received.connections_accepted = server_->connections_accepted();
  return received;
}

double MerchantReceiver::CpuSeconds() const {
  timespec used{};
  if (clock_gettime(io_thread_clock_, &used) != 0) return 0;
  return static_cast<double>(used.tv_sec) + static_cast<double>(used.tv_nsec) / 1e9;
}

int64_t MerchantReceiver::acknowledged_distinct() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(received_.first_acknowledged_ms.size());
}

bool MerchantReceiver::SignatureValid(const http::HttpRequest& request) {
  const std::string_view key_id = request.Header(LowerCase(auth::kKeyHeader));
  const std::string timestamp(request.Header(LowerCase(auth::kTimestampHeader)));
  const std::string nonce(request.Header(LowerCase(auth::kNonceHeader)));
  const std::string_view signature = request.Header(LowerCase(auth::kSignatureHeader));
  if (key_id != options_.key_id || !auth::IsValidNonce(nonce) || timestamp.empty()) return false;
  char* end = nullptr;
  const long long signed_s = std::strtoll(timestamp.c_str(), &end, 10);
  if (end == nullptr || *end != '\0') return false;
  if (std::llabs(SystemClock()->NowMs() / 1000 - signed_s) > kMaxClockSkewS) return false;
  const std::string expected = auth::RequestSignature(
      options_.secret, request.method, request.target, timestamp, nonce, request.body);
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return false;
  }
  return nonces_.insert(nonce).second;  // a replayed request is refused like a forged one
}

void MerchantReceiver::Handle(http::HttpRequest request, http::Responder respond) {
  const int64_t since_start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started_)
                                     .count();
  std::lock_guard lock(mu_);
  const std::string notification_id(request.Header("x-topup-notification-id"));
  if (!notification_id.empty()) {
    received_.requests_by_notification_id[std::atoll(notification_id.c_str())]++;
  }
  for (const ReceiverFault& fault : options_.faults) {
    if (since_start_ms < fault.from_ms || since_start_ms >= fault.until_ms) continue;
    if (fault.kind == ReceiverFault::Kind::kHang) {
      received_.hung_on_purpose++;
      held_.push_back(std::move(respond));
      return;
    }
    received_.failed_on_purpose++;
    return respond(http::JsonAnswer(503, R"({"code":"receiver_failing"})"));
  }
  const std::string key = OrderAndStatus(request.body);
  if (request.method != "POST" || key.empty() || !SignatureValid(request)) {
    received_.bad_signatures++;
    return respond(http::JsonAnswer(401, R"({"code":"bad_signature"})"));
  }
  received_.acknowledged++;
  const bool first = received_.first_acknowledged_ms.emplace(key, SystemClock()->NowMs()).second;
  if (!first) received_.duplicated++;
  respond(http::JsonAnswer(200, R"({"code":"ok"})"));
}

}  // namespace topup::loadgen
