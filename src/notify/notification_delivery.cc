#include "notify/notification_delivery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "auth/request_signature.h"
#include "core/notify_address.h"
#include "core/url.h"
#include "notify/notification_body.h"
#include "notify/retry_schedule.h"

namespace topup::notify {
namespace {

// Outcomes per store write at most (the stores take up to 4,096).
constexpr size_t kMaxTriesPerRecord = 1'024;

}  // namespace

NotificationDelivery::NotificationDelivery(Store* store, const Clock* clock,
                                           const auth::SecretBox* secret_box,
                                           NotificationSender* sender, NotifierOptions options,
                                           Waker wake)
    : store_(store),
      clock_(clock),
      sender_(sender),
      options_(std::move(options)),
      wake_(std::move(wake)),
      signing_keys_(store, secret_box, options_.key_cache_ms, options_.key_cache_merchants) {}

std::chrono::milliseconds NotificationDelivery::DeliverOnce() {
  RecordTries(TakeFinished(/*all=*/false));
  // Every recording frees slots and is followed by a claim, so a backlog is worked through
  // without waiting for the poll.
  ClaimAndSend();
  const std::chrono::milliseconds poll(options_.poll_interval_ms);
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_.empty()) return poll;
  return std::clamp(std::chrono::milliseconds(record_due_ms_ - clock_->NowMs()),
                    std::chrono::milliseconds(0), poll);
}

void NotificationDelivery::RecordFinished() { RecordTries(TakeFinished(/*all=*/true)); }

bool NotificationDelivery::sender_idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_ == finished_.size();
}

size_t NotificationDelivery::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int64_t NotificationDelivery::tries_recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tries_recorded_;
}

int64_t NotificationDelivery::delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivered_;
}

std::vector<NotificationDelivery::FinishedTry> NotificationDelivery::TakeFinished(bool all) {
  std::vector<FinishedTry> taken;
  std::lock_guard<std::mutex> lock(mu_);
  // Lingering gathers tries into one write; with none still out there is nothing to wait for.
  if (all || finished_.size() >= options_.record_batch || in_flight_ == finished_.size() ||
      clock_->NowMs() >= record_due_ms_) {
    taken.swap(finished_);
  }
  return taken;
}

void NotificationDelivery::ClaimAndSend() {
  size_t room = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    room = options_.max_in_flight - std::min(options_.max_in_flight, in_flight_);
  }
  // A claim is a store write: it waits until a quarter of the slots are free, so that each leases
  // many rows rather than a few as tries trickle back.
  if (room < std::max<size_t>(1, options_.max_in_flight / 4)) return;
  Result<std::vector<ClaimedNotification>> claimed =
      store_->ClaimNotifications(options_.owner, clock_->NowMs(), options_.lease_ms, room);
  if (!claimed.ok()) {
    spdlog::warn("notifier: cannot claim notifications: {}", claimed.status().ToString());
    return;
  }
  for (const ClaimedNotification& one : *claimed) {
    // A row whose lease lapsed while its try was out (a stalled node, a clock jump) comes back
    // to this owner: it is not sent again until that try is recorded, whose outcome counts the
    // tries and plans the next from what was claimed.
    bool out = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out = !out_.insert(one.notification.notification_id).second;
    }
    if (!out) Send(one);
  }
}

void NotificationDelivery::Send(const ClaimedNotification& claimed) {
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

  NotificationRequest request;
  request.scheme = url->scheme;
  request.host = url->host;
  request.port = url->port;
  request.target = url->target;
  request.body = NotificationBody(claimed);
  request.headers = auth::SignatureHeaders(key->key_id, key->secret, "POST", url->target,
                                           request.body, start_ms / 1000, auth::NewNonce());
  request.headers.emplace_back("X-Topup-Notification-Id",
                               std::to_string(notification.notification_id));
  request.timeout = std::chrono::milliseconds(options_.try_timeout_ms);
  sender_->Send(std::move(request),
                [this, notification, start_ms](Result<http::HttpResponse> response) {
                  NotificationTry attempt;
                  attempt.notification_id = notification.notification_id;
                  attempt.at_ms = start_ms;
                  attempt.latency_ms = std::max<int64_t>(0, clock_->NowMs() - start_ms);
                  if (response.ok()) {
                    attempt.http_status = static_cast<int32_t>(response->status);
                  } else {
                    attempt.error = response.status().ToString();
                  }
                  const std::string_view outcome = OutcomeOf(response);
                  Finish(notification, std::move(attempt), outcome);
                });
}

std::string_view NotificationDelivery::OutcomeOf(const Result<http::HttpResponse>& response) const {
  if (response.ok()) {
    return response->status >= 200 && response->status < 300 ? "acknowledged" : "failed";
  }
  if (response.status().code() == StatusCode::kDeadlineExceeded) {
    return options_.test_only_ack_on_timeout ? "acknowledged" : "timeout";
  }
  if (response.status().message().starts_with(http::kRefusedAddressMessage)) return "refused";
  return "failed";
}

void NotificationDelivery::Finish(const Notification& notification, NotificationTry attempt,
                                  std::string_view outcome) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The first starts the linger; a full batch cuts it short; the last out lets a stopping
    // owner go on. Others need no wake.
    if (finished_.empty()) {
      record_due_ms_ = clock_->NowMs() + options_.record_linger_ms;
      wake = true;
    }
    finished_.push_back(FinishedTry{notification, std::move(attempt), outcome});
    wake = wake || finished_.size() == options_.record_batch || in_flight_ == finished_.size();
  }
  if (wake && wake_) wake_();
}

void NotificationDelivery::RecordTries(std::vector<FinishedTry> tries) {
  // Each names a distinct notification (one try of each is out at a time).
  const std::span<const FinishedTry> all(tries);
  for (size_t i = 0; i < all.size(); i += kMaxTriesPerRecord) {
    RecordBatch(all.subspan(i, std::min(kMaxTriesPerRecord, all.size() - i)));
  }
}

void NotificationDelivery::RecordBatch(std::span<const FinishedTry> batch) {
  const int64_t now_ms = clock_->NowMs();
  std::vector<NotificationOutcome> outcomes;
  outcomes.reserve(batch.size());
  for (const FinishedTry& t : batch) {
    NotificationOutcome& outcome = outcomes.emplace_back();
    outcome.attempt = t.attempt;
    outcome.owner = options_.owner;
    outcome.delivered = t.outcome == "acknowledged";
    if (!outcome.delivered) {
      outcome.next_try_ms = NextTryMs(t.notification.schedule_start_ms, t.notification.tries + 1,
                                      now_ms, options_.test_only_schedule_divisor);
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
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ -= batch.size();
  for (const FinishedTry& t : batch) out_.erase(t.notification.notification_id);
  if (recorded.ok()) {
    tries_recorded_ += static_cast<int64_t>(batch.size());
    delivered_ += delivered;
  }
}

}  // namespace topup::notify
