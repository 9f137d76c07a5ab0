#include "notify/notifier.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "core/thread_priority.h"

namespace topup::notify {
namespace {

HttpNotificationSenderOptions SenderOptions(const NotifierOptions& options) {
  return HttpNotificationSenderOptions{
      .allow_private = options.allow_private,
      .ca_file = options.ca_file,
      .max_connections_per_origin = options.max_connections_per_origin,
      .max_origins = options.max_origins,
  };
}

}  // namespace

Notifier::Notifier(Store* store, Clock* clock, const auth::SecretBox* secret_box,
                   NotifierOptions options)
    : options_(std::move(options)),
      sender_(std::make_unique<HttpNotificationSender>(clock, SenderOptions(options_))),
      delivery_(store, clock, secret_box, sender_.get(), options_, [this] { Woken(); }),
      runner_("notifier", [this] { return Pass(); }) {
  runner_.Start();
}

Notifier::~Notifier() {
  runner_.Stop();
  // Tries under way get up to one timeout to finish; the sender's destruction ends the rest,
  // whose callbacks finish them as failed.
  {
    std::unique_lock<std::mutex> lock(mu_);
    finished_cv_.wait_for(lock, std::chrono::milliseconds(options_.try_timeout_ms + 1'000),
                          [this] { return delivery_.sender_idle(); });
  }
  sender_.reset();
  delivery_.RecordFinished();
}

void Notifier::Wake() { runner_.Wake(); }

void Notifier::Woken() {
  { std::lock_guard<std::mutex> lock(mu_); }
  finished_cv_.notify_all();
  runner_.Wake();
}

std::chrono::milliseconds Notifier::Pass() {
  if (!priority_lowered_) {
    // Here, so that the HTTP clients' I/O threads, started from this thread, inherit it.
    priority_lowered_ = true;
    if (options_.nice > 0 && !LowerThreadPriority(options_.nice)) {
      spdlog::warn("notifier: cannot lower the priority of its threads");
    }
  }
  const std::chrono::milliseconds rest = delivery_.DeliverOnce();
  sender_->DropIdleOrigins();
  return rest;
}

}  // namespace topup::notify
