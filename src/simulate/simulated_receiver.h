// SimulatedReceiver: the merchants' notify_url endpoints of the simulated world. Every node's
// notifier (the real NotificationDelivery) sends through a sender this receiver hands it; a try
// reaches the merchant at once and its answer is an event of the world's EventQueue, at the
// answer's time or at the try's timeout if the answer would come later or never.
//
// Each merchant's endpoint has a behaviour drawn from the seed (with the `receiver` fault; else
// every one is healthy): healthy (a 2xx within a second); slow (answers after up to 8 s, past the
// 5 s timeout often); failing (HTTP 5xx); refusing (connection refused); each of those until a
// time within the first minutes, healthy after; or silent (never answers: its notifications are
// given up). A merchant sees a notification again whenever the notifier cannot know it was
// acknowledged (a timeout, a node that died mid-delivery): those duplicates are counted.
//
// What a try carries is checked when it arrives: the order is final and the body is its final
// state, the row is the order's, and the try is not early by the retry schedule.
//
// Threading: the simulation's one thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "notify/notification_sender.h"
#include "simulate/event_queue.h"
#include "simulate/faults.h"
#include "simulate/trace.h"
#include "topup/clock.h"
#include "topup/random.h"
#include "topup/store.h"

namespace topup::simulate {

// One try as the merchant saw it.
struct ReceivedTry {
  int64_t at_ms = 0;          // the sending node's clock when it was sent (NotificationTry::at_ms)
  bool acknowledged = false;  // the merchant answered 2xx before the try's timeout
  // Set when the answer (or the timeout) reached the node: the try is the node's to record
  // unless that run of the node dies first (its flag then false).
  std::shared_ptr<const bool> answered_run;
};

class SimulatedReceiver {
 public:
  enum class Behaviour { kHealthy, kSlow, kFailing, kRefusing, kSilent };
  // Picks a node that is up and returns its store, or null if every node is down.
  using StorePicker = std::function<Store*()>;
  using ViolationSink = std::function<void(const std::string& violation)>;
  // Asked as an answer is about to reach a node: true if the node dies first (it then never
  // learns the answer). The node is crashed by whoever answers true.
  using DiesMidDelivery = std::function<bool()>;

  // The pointers must outlive the receiver. `schedule_divisor` is the notifiers'
  // NotifierOptions::test_only_schedule_divisor. Draws each merchant's behaviour.
  SimulatedReceiver(int merchants, int32_t schedule_divisor, Random* random, const Faults* faults,
                    EventQueue* events, const Clock* clock, Trace* trace, StorePicker pick_store,
                    ViolationSink on_violation);

  // One node's wall clock now runs up to `skew_ms` ahead of another's. The notifiers schedule
  // tries on their node's wall clock, so a try may come that much early by the world's.
  void AllowClockSkewMs(int64_t skew_ms) { allowed_skew_ms_ = std::max(allowed_skew_ms_, skew_ms); }

  // The notify_url of a merchant's orders.
  static std::string NotifyUrl(const std::string& merchant_id);
  // A sender for one run of a node, which reads `node_clock` (it must outlive the sender): its
  // answers are dropped once `*alive` is false.
  std::unique_ptr<notify::NotificationSender> SenderFor(const Clock* node_clock,
                                                        std::shared_ptr<const bool> alive,
                                                        DiesMidDelivery dies_mid_delivery);

  // The merchant never answers (so its notifications end given up).
  bool Silent(const std::string& merchant_id) const;
  // The tries of a notification, in the order they arrived; null if none did.
  const std::vector<ReceivedTry>* TriesOf(int64_t notification_id) const;
  int64_t tries() const { return tries_; }
  // Tries of a notification that had arrived before (at least once delivery).
  int64_t duplicates() const { return duplicates_; }
  // "m0=healthy,m1=slow..."
  std::string Describe() const;

 private:
  class Sender;
  struct Endpoint {
    Behaviour behaviour = Behaviour::kHealthy;
    int64_t healthy_from_ms = 0;  // by the sending node's clock; unused when silent
  };
  // `sent_at_ms`: the sending node's clock as the try left.
  void Receive(const notify::NotificationRequest& request, int64_t sent_at_ms,
               const std::shared_ptr<const bool>& alive, const DiesMidDelivery& dies_mid_delivery,
               notify::NotificationSender::Done done);
  // The checks made as a try arrives.
  void CheckArrival(const notify::NotificationRequest& request, int64_t notification_id);

  const int32_t schedule_divisor_;
  int64_t allowed_skew_ms_ = 0;  // AllowClockSkewMs
  Random* const random_;
  EventQueue* const events_;
  const Clock* const clock_;
  Trace* const trace_;
  const StorePicker pick_store_;
  const ViolationSink on_violation_;
  std::map<std::string, Endpoint> endpoints_;             // by merchant_id
  std::map<int64_t, std::vector<ReceivedTry>> tries_of_;  // by notification_id
  int64_t tries_ = 0;
  int64_t duplicates_ = 0;
};

}  // namespace topup::simulate
