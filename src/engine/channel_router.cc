#include "engine/channel_router.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <tuple>

#include "core/carrier.h"
#include "core/invariant.h"

namespace topup {

RoutedChannel::RoutedChannel(ChannelConfig config, std::unique_ptr<SupplierChannel> channel)
    : config_(std::move(config)), channel_(std::move(channel)) {}

bool RoutedChannel::TryAdmit(int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (in_flight_ >= config_.max_concurrent_attempts) return false;
  if (config_.rate_limit_per_s > 0) {
    // Token bucket holding at most one second's worth (at least one token).
    double capacity = std::max(1.0, config_.rate_limit_per_s);
    if (tokens_at_ms_ < 0) {
      tokens_ = capacity;
    } else {
      tokens_ = std::min(capacity, tokens_ + static_cast<double>(now_ms - tokens_at_ms_) *
                                                 config_.rate_limit_per_s / 1000.0);
    }
    tokens_at_ms_ = now_ms;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
  }
  ++in_flight_;
  return true;
}

void RoutedChannel::Release() {
  std::lock_guard lock(mu_);
  TOPUP_ASSERT(in_flight_ > 0, "a channel slot released that was not taken");
  --in_flight_;
}

int64_t RoutedChannel::AttemptBudgetMs() const {
  return std::max(config_.attempt_timeout_ms, time_to_final_.QuantileMs());
}

int RoutedChannel::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

ChannelRouter::ChannelRouter(ChannelFactory factory, Random* random)
    : factory_(std::move(factory)), random_(random) {}

Result<std::unique_ptr<ChannelRouter>> ChannelRouter::Create(RoutingConfig config,
                                                             ChannelFactory factory,
                                                             Random* random) {
  std::unique_ptr<ChannelRouter> router(new ChannelRouter(std::move(factory), random));
  if (Status s = router->Reload(std::move(config)); !s.ok()) return s;
  return router;
}

Status ChannelRouter::Reload(RoutingConfig config) {
  if (config.channels.empty()) {
    return InvalidArgument("invalid_channel_config", "at least one channel is needed");
  }
  std::vector<std::shared_ptr<RoutedChannel>> channels;
  for (ChannelConfig& channel_config : config.channels) {
    std::shared_ptr<RoutedChannel> existing = Find(channel_config.name);
    if (existing != nullptr && existing->config() == channel_config) {
      channels.push_back(existing);  // unchanged: keeps its health and in-flight count
      continue;
    }
    Result<std::unique_ptr<SupplierChannel>> client = factory_(channel_config);
    if (!client.ok()) return client.status();
    channels.push_back(
        std::make_shared<RoutedChannel>(std::move(channel_config), std::move(*client)));
  }
  std::unique_lock lock(mu_);
  channels_ = std::move(channels);
  for (const auto& channel : channels_) by_name_[channel->config().name] = channel;
  ported_numbers_ = std::move(config.ported_numbers);
  return Status::Ok();
}

std::shared_ptr<RoutedChannel> ChannelRouter::Find(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<RoutedChannel>> ChannelRouter::Channels() const {
  std::shared_lock lock(mu_);
  return channels_;
}

void ChannelRouter::ShutDownChannels() {
  std::shared_lock lock(mu_);
  for (const auto& [name, channel] : by_name_) channel->channel().ShutDown();
}

Carrier ChannelRouter::CarrierOf(const Order& order) const {
  std::shared_lock lock(mu_);
  auto it = ported_numbers_.find(order.phone);
  if (it != ported_numbers_.end()) return it->second;
  return order.carrier != Carrier::kUnknown ? order.carrier : CarrierOfPhone(order.phone);
}

Result<std::shared_ptr<RoutedChannel>> ChannelRouter::Admit(const Order& order, int64_t now_ms) {
  const Carrier carrier = CarrierOf(order);
  struct Candidate {
    bool just_failed;
    int32_t priority;
    double weighted_key;  // smaller first: a weighted random order within a priority
    std::shared_ptr<RoutedChannel> channel;
  };
  std::vector<Candidate> candidates;
  for (const auto& channel : Channels()) {
    const ChannelConfig& config = channel->config();
    if (!config.Serves(carrier, order.face_value_yuan)) continue;
    // Exponential keys with rate = weight give a weighted random permutation.
    double u = std::max(random_->NextUnit(), 1e-12);
    candidates.push_back({config.name == order.channel, config.priority,
                          -std::log(u) / static_cast<double>(config.weight), channel});
  }
  if (candidates.empty()) {
    return NotFound("no_channel", "no channel serves " + std::string(CarrierName(carrier)) + " " +
                                      std::to_string(order.face_value_yuan) + " yuan");
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.just_failed, a.priority, a.weighted_key) <
           std::tie(b.just_failed, b.priority, b.weighted_key);
  });
  std::shared_ptr<RoutedChannel> held_back;  // the first candidate refused only by its breaker
  for (Candidate& candidate : candidates) {
    if (!candidate.channel->TryAdmit(now_ms)) continue;
    if (candidate.channel->breaker().Allow(now_ms)) return candidate.channel;
    candidate.channel->Release();
    if (held_back == nullptr) held_back = candidate.channel;
  }
  if (held_back != nullptr && order.deadline_ms - now_ms <= 2 * held_back->AttemptBudgetMs() &&
      held_back->TryAdmit(now_ms)) {
    return held_back;  // its last chance: see the header
  }
  return Unavailable("channels_busy", "every channel for this order is open or at its limits");
}

}  // namespace topup
