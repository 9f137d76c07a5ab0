#include "notify/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <unordered_set>
#include <utility>
#include <vector>

#include "auth/request_signature.h"
#include "core/notify_address.h"
#include "core/thread_name.h"
#include "core/thread_priority.h"
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

// Outcomes per store write at most (the stores take up to 4,096).
constexpr size_t kMaxTriesPerRecord = 1'024;

}  // namespace

Notifier::Notifier(Store* store, Clock* clock, const auth::SecretBox* secret_box,
                   NotifierOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      signing_keys_(store, secret_box, options_.key_cache_ms, options_.key_cache_merchants) {
  thread_ = std::thread([this] { Run(); });
}

Notifier::~Notifier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
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

std::vector<Notifier::FinishedTry> Notifier::WaitForWork(std::unique_lock<std::mutex>& lock) {
  const auto poll_at =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.poll_interval_ms);
  while (!stopping_ && !wake_) {
    const auto now = std::chrono::steady_clock::now();
    if (!finished_.empty() && (finished_.size() >= options_.record_batch || now >= record_due_)) {
      break;
    }
    if (now >= poll_at) break;
    changed_.wait_until(lock, finished_.empty() ? poll_at : std::min(poll_at, record_due_));
  }
  wake_ = false;
  std::vector<FinishedTry> finished;
  finished.swap(finished_);
  return finished;
}

void Notifier::Run() {
  SetThreadName("notifier");
  if (options_.nice > 0 && !LowerThreadPriority(options_.nice)) {
    spdlog::warn("notifier: cannot lower the priority of its threads");
  }
  while (true) {
    std::vector<FinishedTry> finished;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      finished = WaitForWork(lock);
      stopping = stopping_;
    }
    RecordTries(std::move(finished));
    if (stopping) break;
    ClaimAndSend();
    DropIdleOrigins();
  }
  // Tries under way get up to one timeout to finish; the clients' destruction ends the rest,
  // whose callbacks queue them as failed.
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(options_.try_timeout_ms + 1'000),
                      [this] { return in_flight_ == finished_.size(); });
  }
  // Each client first, while its Origin (which its last callbacks touch) is still whole.
  for (auto& [origin, slot] : clients_) slot->client.reset();
  clients_.clear();
  std::vector<FinishedTry> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished.swap(finished_);
  }
  RecordTries(std::move(finished));
}

void Notifier::DropIdleOrigins() {
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

void Notifier::ClaimAndSend() {
  size_t room = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    room = options_.max_in_flight - std::min(options_.max_in_flight, in_flight_);
  }
  // A claim is a store write: it waits until a quarter of the slots are free, so that each leases
  // many rows rather than a few as tries trickle back. Every recording frees slots and is
  // followed by a claim, so a backlog is worked through without waiting for the poll.
  if (room < std::max<size_t>(1, options_.max_in_flight / 4)) return;
  Result<std::vector<ClaimedNotification>> claimed =
      store_->ClaimNotifications(options_.owner, clock_->NowMs(), options_.lease_ms, room);
  if (!claimed.ok()) {
    spdlog::warn("notifier: cannot claim notifications: {}", claimed.status().ToString());
    return;
  }
  for (const ClaimedNotification& one : *claimed) Send(one);
}

void Notifier::Send(const ClaimedNotification& claimed) {
  const Notification& notification = claimed.notification;
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
    Finish(notification, std::move(attempt), outcome);
  };

  Result<Url> url = ParseUrl(notification.notify_url);
  if (!url.ok()) return fail("invalid notify_url");
  if (!options_.allow_private) {
    // A literal address is refused here; a name is checked on what it resolves to.
    if (Status s = CheckNotifyUrl(notification.notify_url, false); !s.ok()) {
      return fail(s.message(), "refused");
    }
  }
  Result<SigningKey> key = signing_keys_.Get(notification.merchant_id, start_ms);
  if (!key.ok()) return fail(key.status().message());

  const std::string body = NotificationBody(claimed);
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
        Finish(notification, std::move(attempt), outcome);
      },
      std::move(headers));
}

void Notifier::Finish(const Notification& notification, NotificationTry attempt,
                      std::string_view outcome) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The first starts the linger; a full batch cuts it short. Others need no wake.
    if (finished_.empty()) {
      record_due_ =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.record_linger_ms);
      wake = true;
    }
    finished_.push_back(FinishedTry{notification, std::move(attempt), outcome});
    wake = wake || finished_.size() == options_.record_batch || in_flight_ == finished_.size();
  }
  if (wake) changed_.notify_all();
}

void Notifier::RecordTries(std::vector<FinishedTry> tries) {
  // A store write names each notification once; a repeat (its lease lapsed and it was claimed
  // again while the first try was still out) goes in the next write.
  while (!tries.empty()) {
    std::vector<FinishedTry> batch;
    std::vector<FinishedTry> later;
    std::unordered_set<int64_t> named;
    for (FinishedTry& t : tries) {
      if (batch.size() < kMaxTriesPerRecord &&
          named.insert(t.notification.notification_id).second) {
        batch.push_back(std::move(t));
      } else {
        later.push_back(std::move(t));
      }
    }
    RecordBatch(batch);
    tries = std::move(later);
  }
}

void Notifier::RecordBatch(std::span<const FinishedTry> batch) {
  const int64_t now_ms = clock_->NowMs();
  std::vector<NotificationOutcome> outcomes;
  outcomes.reserve(batch.size());
  for (const FinishedTry& t : batch) {
    NotificationOutcome& outcome = outcomes.emplace_back();
    outcome.attempt = t.attempt;
    outcome.owner = options_.owner;
    outcome.delivered = t.outcome == "acknowledged";
    if (!outcome.delivered) {
      outcome.next_try_ms =
          NextTryMs(t.notification.schedule_start_ms, t.notification.tries + 1, now_ms);
    }
  }
  Result<std::vector<TryRecorded>> recorded = store_->RecordNotificationTries(outcomes);
  if (!recorded.ok()) {
    // The leases lapse and the rows are tried again: at least once, never lost.
    spdlog::warn("notifier: cannot record {} tries: {}", batch.size(),
                 recorded.status().ToString());
  }
  int64_t delivered = 0;
  for (size_t i = 0; recorded.ok() && i < batch.size(); ++i) {
    const Notification& n = batch[i].notification;
    const NotificationOutcome& outcome = outcomes[i];
    const bool gave_up =
        !outcome.delivered && outcome.next_try_ms == 0 && (*recorded)[i] == TryRecorded::kMoved;
    if ((*recorded)[i] == TryRecorded::kNoSuchNotification) {
      spdlog::warn("notifier: notification {} is gone; its try is not recorded", n.notification_id);
    }
    if (gave_up) {
      spdlog::warn("notifier: gave up notification {} of order {} after {} tries",
                   n.notification_id, n.order_id, n.tries + 1);
    }
    if (outcome.delivered) ++delivered;
    if (options_.on_try) {
      options_.on_try(TryReport{
          .outcome = batch[i].outcome,
          .gave_up = gave_up,
          .delivered_after_ms =
              outcome.delivered ? std::max<int64_t>(0, now_ms - n.schedule_start_ms) : 0});
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ -= batch.size();
    if (recorded.ok()) {
      tries_recorded_ += static_cast<int64_t>(batch.size());
      delivered_ += delivered;
    }
  }
  changed_.notify_all();
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
