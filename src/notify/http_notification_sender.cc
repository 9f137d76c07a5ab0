#include "notify/http_notification_sender.h"

#include <utility>

#include "core/notify_address.h"

namespace topup::notify {

struct HttpNotificationSender::Origin {
  std::unique_ptr<http::AsyncHttpClient> client;
  size_t in_flight = 0;      // sends whose callback has not run; GUARDED_BY(mu_)
  int64_t last_used_ms = 0;  // the sending thread only
};

namespace {

// An origin idle this long is dropped, so that its name is resolved (and checked) again on the
// next try rather than trusted forever.
constexpr int64_t kOriginIdleMs = 60'000;

}  // namespace

HttpNotificationSender::HttpNotificationSender(const Clock* clock,
                                               HttpNotificationSenderOptions options)
    : clock_(clock), options_(std::move(options)) {}

HttpNotificationSender::~HttpNotificationSender() {
  // Each client first, while its Origin (which its last callbacks touch) is still whole.
  for (auto& [name, origin] : origins_) origin->client.reset();
  origins_.clear();
}

void HttpNotificationSender::Send(NotificationRequest request, Done done) {
  Origin* origin = OriginFor(request);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++origin->in_flight;
  }
  origin->last_used_ms = clock_->NowMs();
  origin->client->Send(
      "POST", std::move(request.target), std::move(request.body), request.timeout,
      [this, origin, done = std::move(done)](Result<http::HttpResponse> response) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          --origin->in_flight;
        }
        done(std::move(response));
      },
      std::move(request.headers));
}

bool HttpNotificationSender::Idle(const Origin& origin) {
  std::lock_guard<std::mutex> lock(mu_);
  return origin.in_flight == 0;
}

void HttpNotificationSender::DropIdleOrigins() {
  const int64_t now_ms = clock_->NowMs();
  for (auto it = origins_.begin(); it != origins_.end();) {
    if (Idle(*it->second) && now_ms - it->second->last_used_ms > kOriginIdleMs) {
      it = origins_.erase(it);
    } else {
      ++it;
    }
  }
}

HttpNotificationSender::Origin* HttpNotificationSender::OriginFor(
    const NotificationRequest& request) {
  const std::string name =
      request.scheme + "://" + request.host + ":" + std::to_string(request.port);
  auto found = origins_.find(name);
  if (found != origins_.end()) return found->second.get();
  if (origins_.size() >= options_.max_origins) {
    // Drops the least recently used idle origin; with none idle the map grows past the bound
    // until tries finish (it is bounded by the notifier's tries in flight in any case).
    auto victim = origins_.end();
    for (auto it = origins_.begin(); it != origins_.end(); ++it) {
      if (!Idle(*it->second)) continue;
      if (victim == origins_.end() || it->second->last_used_ms < victim->second->last_used_ms) {
        victim = it;
      }
    }
    if (victim != origins_.end()) origins_.erase(victim);
  }
  http::AsyncHttpClientOptions client_options;
  client_options.max_connections = options_.max_connections_per_origin;
  client_options.max_idle_connections = options_.max_connections_per_origin;
  if (request.scheme == "https") {
    client_options.tls = http::AsyncHttpClientOptions::Tls{options_.ca_file, request.host};
  }
  if (!options_.allow_private) {
    client_options.check_address = [](const std::string& address) {
      return CheckNotifyAddress(address);
    };
  }
  auto origin = std::make_unique<Origin>();
  origin->client = std::make_unique<http::AsyncHttpClient>(request.host, request.port,
                                                           std::move(client_options));
  Origin* raw = origin.get();
  origins_.emplace(name, std::move(origin));
  return raw;
}

}  // namespace topup::notify
