#include "notify/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "auth/request_signature.h"
#include "core/notify_address.h"
#include "core/thread_name.h"
#include "core/url.h"
#include "notify/notification_body.h"
#include "notify/retry_schedule.h"

namespace topup::notify {

struct Notifier::Origin {
  std::unique_ptr<http::AsyncHttpClient> client;
  size_t in_flight = 0;      // sends whose callback has not run; notifier thread and callbacks
  int64_t last_used_ms = 0;  // notifier thread only
};

namespace {

// An origin idle this long is dropped, so that its name is resolved (and checked) again on the
// next try rather than trusted forever.
constexpr int64_t kOriginIdleMs = 60'000;

}  // namespace

Notifier::Notifier(Store* store, Clock* clock, const auth::SecretBox* secret_box,
                   NotifierOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      signing_keys_(store, secret_box, options_.key_cache_ms, options_.key_cache_merchants) {
  // Room for every try in flight: Post never refuses an outcome.
  record_pool_.emplace(4, options_.max_in_flight + 16);
  thread_ = std::thread([this] { Run(); });
}

Notifier::~Notifier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
  // The clients are gone (their last callbacks posted outcomes); record those, then stop.
  record_pool_.reset();
}

void Notifier::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  changed_.notify_all();
}

int64_t Notifier::tries_recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tries_recorded_;
}

int64_t Notifier::delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivered_;
}

void Notifier::Run() {
  SetThreadName("notifier");
  const auto poll = std::chrono::milliseconds(options_.poll_interval_ms);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait_for(lock, poll, [this] { return stopping_ || wake_; });
      wake_ = false;
      if (stopping_) break;
    }
    ClaimAndSend();
    // Idle origins go, so their names are resolved and checked afresh next time.
    const int64_t now_ms = clock_->NowMs();
    for (auto it = clients_.begin(); it != clients_.end();) {
      bool idle = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        idle = it->second->in_flight == 0;
      }
      if (idle && now_ms - it->second->last_used_ms > kOriginIdleMs) {
        it = clients_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Tries under way get up to one timeout to finish; the clients' destruction ends the rest.
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(options_.try_timeout_ms + 1'000),
                      [this] { return in_flight_ == 0; });
  }
  // Each client first, while its Origin (which its last callbacks touch) is still whole.
  for (auto& [origin, slot] : clients_) slot->client.reset();
  clients_.clear();
}

void Notifier::ClaimAndSend() {
  size_t room = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    room = options_.max_in_flight - std::min(options_.max_in_flight, in_flight_);
  }
  if (room == 0) return;
  Result<std::vector<Notification>> claimed =
      store_->ClaimNotifications(options_.owner, clock_->NowMs(), options_.lease_ms, room);
  if (!claimed.ok()) {
    spdlog::warn("notifier: cannot claim notifications: {}", claimed.status().ToString());
    return;
  }
  for (const Notification& notification : *claimed) Send(notification);
  // A full claim means more may be due: look again at once rather than after a poll.
  if (claimed->size() == room) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
}

void Notifier::Send(const Notification& notification) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  const int64_t start_ms = clock_->NowMs();
  auto fail = [&](const std::string& error, std::string_view outcome = "failed") {
    NotificationTry attempt;
    attempt.notification_id = notification.notification_id;
    attempt.at_ms = start_ms;
    attempt.error = error;
    Record(notification, std::move(attempt), outcome);
  };

  Result<Url> url = ParseUrl(notification.notify_url);
  if (!url.ok()) return fail("invalid notify_url");
  if (!options_.allow_private) {
    // A literal address is refused here; a name is checked on what it resolves to.
    if (Status s = CheckNotifyUrl(notification.notify_url, false); !s.ok()) {
      return fail(s.message(), "refused");
    }
  }
  Result<Order> order = store_->GetOrder(notification.order_id);
  if (!order.ok()) return fail("order: " + order.status().ToString());
  Result<SigningKey> key = signing_keys_.Get(notification.merchant_id, start_ms);
  if (!key.ok()) return fail(key.status().message());

  const std::string body = NotificationBody(*order);
  http::HttpHeaders headers = auth::SignatureHeaders(key->key_id, key->secret, "POST", url->target,
                                                     body, start_ms / 1000, auth::NewNonce());
  headers.emplace_back("X-Topup-Notification-Id", std::to_string(notification.notification_id));

  http::AsyncHttpClient* client = ClientFor(url->scheme, url->host, url->port);
  const std::string origin = url->scheme + "://" + url->host + ":" + std::to_string(url->port);
  Origin* slot = clients_.at(origin).get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++slot->in_flight;
  }
  slot->last_used_ms = start_ms;
  client->Send(
      "POST", url->target, body, std::chrono::milliseconds(options_.try_timeout_ms),
      [this, notification, start_ms, slot](Result<http::HttpResponse> response) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          --slot->in_flight;
        }
        NotificationTry attempt;
        attempt.notification_id = notification.notification_id;
        attempt.at_ms = start_ms;
        attempt.latency_ms = std::max<int64_t>(0, clock_->NowMs() - start_ms);
        std::string_view outcome = "failed";
        if (response.ok()) {
          attempt.http_status = static_cast<int32_t>(response->status);
          if (response->status >= 200 && response->status < 300) outcome = "acknowledged";
        } else {
          attempt.error = response.status().ToString();
          if (response.status().code() == StatusCode::kDeadlineExceeded) outcome = "timeout";
          if (response.status().message().starts_with(http::kRefusedAddressMessage)) {
            outcome = "refused";
          }
        }
        Record(notification, std::move(attempt), outcome);
      },
      std::move(headers));
}

void Notifier::Record(const Notification& notification, NotificationTry attempt,
                      std::string_view outcome) {
  const bool delivered = outcome == "acknowledged";
  const bool posted = record_pool_->Post([this, notification, attempt, delivered, kind = outcome] {
    NotificationOutcome outcome;
    outcome.attempt = attempt;
    outcome.owner = options_.owner;
    outcome.delivered = delivered;
    if (!delivered) {
      outcome.next_try_ms =
          NextTryMs(notification.schedule_start_ms, notification.tries + 1, clock_->NowMs());
    }
    Result<bool> recorded = store_->RecordNotificationTry(outcome);
    if (!recorded.ok()) {
      // The lease lapses and the row is tried again: at least once, never lost.
      spdlog::warn("notifier: cannot record a try of notification {}: {}",
                   notification.notification_id, recorded.status().ToString());
    } else if (!delivered && outcome.next_try_ms == 0 && *recorded) {
      spdlog::warn("notifier: gave up notification {} of order {} after {} tries",
                   notification.notification_id, notification.order_id, notification.tries + 1);
    }
    if (recorded.ok() && options_.on_try) {
      options_.on_try(TryReport{
          .outcome = kind,
          .gave_up = !delivered && outcome.next_try_ms == 0 && *recorded,
          .delivered_after_ms =
              delivered ? std::max<int64_t>(0, clock_->NowMs() - notification.schedule_start_ms)
                        : 0});
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      --in_flight_;
      ++tries_recorded_;
      if (delivered) ++delivered_;
    }
    changed_.notify_all();
  });
  // The pool holds room for every try in flight, so this cannot happen.
  if (!posted) {
    spdlog::error("notifier: outcome of notification {} dropped", notification.notification_id);
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
}

http::AsyncHttpClient* Notifier::ClientFor(const std::string& scheme, const std::string& host,
                                           uint16_t port) {
  const std::string origin = scheme + "://" + host + ":" + std::to_string(port);
  auto found = clients_.find(origin);
  if (found != clients_.end()) return found->second->client.get();
  if (clients_.size() >= options_.max_origins) {
    // Drops the least recently used idle origin; with none idle the map grows past the bound
    // until tries finish (it is bounded by max_in_flight in any case).
    auto victim = clients_.end();
    for (auto it = clients_.begin(); it != clients_.end(); ++it) {
      std::lock_guard<std::mutex> lock(mu_);
      if (it->second->in_flight != 0) continue;
      if (victim == clients_.end() || it->second->last_used_ms < victim->second->last_used_ms) {
        victim = it;
      }
    }
    if (victim != clients_.end()) clients_.erase(victim);
  }
  http::AsyncHttpClientOptions client_options;
  client_options.max_connections = options_.max_connections_per_origin;
  client_options.max_idle_connections = options_.max_connections_per_origin;
  if (scheme == "https") {
    client_options.tls = http::AsyncHttpClientOptions::Tls{options_.ca_file, host};
  }
  if (!options_.allow_private) {
    client_options.check_address = [](const std::string& address) {
      return CheckNotifyAddress(address);
    };
  }
  auto slot = std::make_unique<Origin>();
  slot->client = std::make_unique<http::AsyncHttpClient>(host, port, std::move(client_options));
  http::AsyncHttpClient* client = slot->client.get();
  clients_.emplace(origin, std::move(slot));
  return client;
}

}  // namespace topup::notify
