// ChannelRouter: which supplier channel gets an order's next attempt.
//
// A channel qualifies if it serves the order's carrier (after the ported-number overrides) and
// face value. Among those, a channel other than the one whose attempt just died comes first
// (failover), then lower priority numbers, then a weighted random pick among equal priorities.
// A candidate is admitted only if it has a free concurrency slot and a rate token (these limits
// hold across all of the process's calls) and its circuit breaker allows it. The breaker holds an
// order back only while the order can afford to wait: once what is left before its deadline is
// within twice the channel's attempt budget and no other channel takes it, a channel whose breaker
// is open is used anyway, since waiting any longer would only spend the deadline.
//
// Thread-safe. Reload() swaps the configuration without losing anything: channels that stay keep
// their health and limits; removed channels stay reachable by name so their live attempts can
// still be queried.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "engine/channel_config.h"
#include "engine/circuit_breaker.h"
#include "engine/latency_window.h"
#include "topup/random.h"
#include "topup/status.h"
#include "topup/supplier_channel.h"

namespace topup {

// One configured channel: its client, health and admission state.
class RoutedChannel {
 public:
  RoutedChannel(ChannelConfig config, std::unique_ptr<SupplierChannel> channel);

  const ChannelConfig& config() const { return config_; }
  SupplierChannel& channel() { return *channel_; }
  CircuitBreaker& breaker() { return breaker_; }
  // Time from sending an attempt to its final answer (success or failed), of recent attempts.
  LatencyWindow& time_to_final() { return time_to_final_; }
  // What an attempt on this channel must have left before the deadline: the attempt timeout, or
  // the channel's 95th percentile time to a final answer if that is longer.
  int64_t AttemptBudgetMs() const;

  // Takes a concurrency slot and a rate token. Returns false, taking nothing, if either is out.
  bool TryAdmit(int64_t now_ms);
  // Returns the concurrency slot of an admitted attempt. REQUIRES: a matching TryAdmit() == true.
  void Release();
  int in_flight() const;

 private:
  const ChannelConfig config_;
  const std::unique_ptr<SupplierChannel> channel_;
  CircuitBreaker breaker_;
  LatencyWindow time_to_final_;
  mutable std::mutex mu_;
  int in_flight_ = 0;          // GUARDED_BY(mu_)
  double tokens_ = 0;          // GUARDED_BY(mu_): rate tokens available
  int64_t tokens_at_ms_ = -1;  // GUARDED_BY(mu_): when tokens_ was last refilled
};

using ChannelFactory =
    std::function<Result<std::unique_ptr<SupplierChannel>>(const ChannelConfig& config)>;

class ChannelRouter {
 public:
  // `random` must outlive the router.
  static Result<std::unique_ptr<ChannelRouter>> Create(RoutingConfig config, ChannelFactory factory,
                                                       Random* random);

  // Picks and admits a channel for the next attempt of `order`. The caller must Release() it
  // after the submit. Errors: NotFound("no_channel") when no channel serves the order at all;
  // Unavailable("channels_busy") when every one that does is at its limits right now, or open
  // while the order can still afford to wait.
  Result<std::shared_ptr<RoutedChannel>> Admit(const Order& order, int64_t now_ms);
  // The channel named `name`, current or retired; null if never configured.
  std::shared_ptr<RoutedChannel> Find(const std::string& name) const;
  Carrier CarrierOf(const Order& order) const;
  Status Reload(RoutingConfig config);
  std::vector<std::shared_ptr<RoutedChannel>> Channels() const;
  // Shuts down every channel, current and retired (SupplierChannel::ShutDown): their calls in
  // flight are answered at once. For a process shutting down.
  void ShutDownChannels();

 private:
  ChannelRouter(ChannelFactory factory, Random* random);

  const ChannelFactory factory_;
  Random* const random_;
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<RoutedChannel>> channels_;           // GUARDED_BY(mu_)
  std::map<std::string, std::shared_ptr<RoutedChannel>> by_name_;  // GUARDED_BY(mu_), + retired
  std::map<std::string, Carrier> ported_numbers_;                  // GUARDED_BY(mu_)
};

}  // namespace topup
