#include "sim/callback_sender.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include "http/http_client.h"

namespace topup::sim {
namespace {

constexpr std::string_view kScheme = "http://";
constexpr std::string_view kLoopback = "127.0.0.1";
constexpr size_t kMaxTargets = 16;
constexpr int kMaxThreads = 64;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Status BadUrl(std::string_view url) {
  return InvalidArgument("bad_callback_url",
                         "callback_url must be http://127.0.0.1:PORT/path (several separated by "
                         "commas), not '" +
                             std::string(url) + "'");
}

Result<CallbackTarget> ParseOneUrl(std::string_view url) {
  if (url.substr(0, kScheme.size()) != kScheme) return BadUrl(url);
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || authority.substr(0, colon) != kLoopback) {
    return BadUrl(url);
  }
  const std::string_view port_text = authority.substr(colon + 1);
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return BadUrl(url);
  }
  CallbackTarget target;
  target.host = std::string(kLoopback);
  target.port = static_cast<uint16_t>(port);
  target.target = std::string(path);
  return target;
}

// One POST on a fresh connection, bounded by `timeout` as a whole. Returns the HTTP status, or
// Unavailable("not_sent") when no connection could be made (the next target may be tried), or
// Unavailable("broken") / DeadlineExceeded("timeout") once sending began.
// One try on a fresh connection, so a service node that died in between is noticed at connect.
Result<int> PostOnce(const CallbackTarget& target, const std::string& body,
                     const std::string& signature_hex, std::chrono::milliseconds timeout) {
  http::HttpClient client(target.host, target.port);
  Result<http::HttpResponse> response =
      client.Send("POST", target.target, body, timeout, {{"X-Signature", signature_hex}});
  if (!response.ok()) return response.status();
  return response->status;
}

}  // namespace

Result<std::vector<CallbackTarget>> ParseCallbackUrls(std::string_view urls) {
  std::vector<CallbackTarget> targets;
  for (;;) {
    const size_t comma = urls.find(',');
    Result<CallbackTarget> target = ParseOneUrl(Trim(urls.substr(0, comma)));
    if (!target.ok()) return target.status();
    targets.push_back(std::move(target).value());
    if (targets.size() > kMaxTargets) {
      return InvalidArgument("bad_callback_url", "at most 16 callback URLs per channel");
    }
    if (comma == std::string_view::npos) break;
    urls.remove_prefix(comma + 1);
  }
  return targets;
}

CallbackSender::CallbackSender(const CallbackSenderOptions& options) : options_(options) {}

CallbackSender::~CallbackSender() { Stop(); }

void CallbackSender::Start() {
  const int threads = std::clamp(options_.threads, 1, kMaxThreads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

void CallbackSender::Enqueue(CallbackDelivery delivery) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.queue_max) {
      queue_.push_back(std::move(delivery));
      cv_.notify_one();
      return;
    }
  }
  delivery.counters->dropped.fetch_add(1, std::memory_order_relaxed);
}

void CallbackSender::Stop() {
  std::deque<CallbackDelivery> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  for (const CallbackDelivery& delivery : dropped) {
    delivery.counters->dropped.fetch_add(1, std::memory_order_relaxed);
  }
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void CallbackSender::Run() {
  for (;;) {
    CallbackDelivery delivery;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      delivery = std::move(queue_.front());
      queue_.pop_front();
    }
    Deliver(delivery);
  }
}

bool CallbackSender::WaitUnlessStopped(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, delay, [this] { return stopping_; });
}

void CallbackSender::Deliver(const CallbackDelivery& delivery) {
  // One io_context per delivery keeps the sender threads independent of each other.
  std::chrono::milliseconds backoff = options_.retry_backoff;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (attempt > 0) {
      if (!WaitUnlessStopped(backoff)) {
        delivery.counters->dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      backoff *= 2;
    }
    // The first target that accepts a connection answers for this try; a node that is down
    // refuses the connection and the next one is asked.
    std::optional<Result<int>> answer;
    for (const CallbackTarget& target : *delivery.targets) {
      answer = PostOnce(target, delivery.body, delivery.signature_hex, options_.timeout);
      if (answer->ok() || answer->status().reason() != "not_sent") break;
    }
    if (!answer.has_value() || !answer->ok()) continue;  // transport error: retry
    const int status = answer->value();
    if (status >= 200 && status < 300) {
      delivery.counters->sent.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (status == 404) {
      delivery.counters->unknown_id.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (status < 500) break;  // the service refuses this callback; resending will not help
  }
  delivery.counters->failed.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace topup::sim
