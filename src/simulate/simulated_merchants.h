// SimulatedMerchants: the merchants of the simulated world. Each order is placed at a random
// time through a node that is up (as the merchant API does: the store accepts it, then its id is
// published), and some are placed again later with the same merchant_order_id, as a merchant
// does whose answer was lost: the store must hand back the same order, never a second one. Most
// orders name a notify_url (SimulatedReceiver::NotifyUrl); each merchant has a signing key for
// the notifier to sign with.
//
// Threading: the simulation's one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "auth/secret_box.h"
#include "simulate/event_queue.h"
#include "simulate/simulated_queue.h"
#include "simulate/trace.h"
#include "topup/clock.h"
#include "topup/random.h"
#include "topup/store.h"

namespace topup::simulate {

struct MerchantsOptions {
  int orders = 50;
  int64_t spread_ms = 60'000;  // orders are placed over this long from the start
  int64_t deadline_ms = 180'000;
  int64_t redeliver_after_ms = 5'000;
  bool notify_urls = true;  // off: no order names a notify_url
};

class SimulatedMerchants {
 public:
  static constexpr int kMerchants = 3;
  static constexpr int kMaxOrders = 100'000;
  // Picks a node that is up and returns its store, or null if every node is down.
  using StorePicker = std::function<Store*()>;
  // Told when an answer breaks a rule.
  using ViolationSink = std::function<void(const std::string& violation)>;

  // The pointers must outlive the merchants.
  SimulatedMerchants(MerchantsOptions options, Random* random, EventQueue* events, Clock* clock,
                     SimulatedQueue* queue, Trace* trace, StorePicker pick_store,
                     ViolationSink on_violation);

  // Creates and funds the merchants (through `store`), gives each a signing key sealed under
  // `box` and schedules every placement.
  Status Open(Store* store, const auth::SecretBox& box);
  // True once every placement (and retry) has been answered.
  bool done() const { return unanswered_ == 0; }
  // merchant_order_id -> order_id of every order the store created.
  const std::map<std::string, std::string>& created() const { return created_; }
  int rejected() const { return rejected_; }

 private:
  void Place(const OrderRequest& request, bool retry);

  const MerchantsOptions options_;
  Random* const random_;
  EventQueue* const events_;
  Clock* const clock_;
  SimulatedQueue* const queue_;
  Trace* const trace_;
  const StorePicker pick_store_;
  const ViolationSink on_violation_;
  std::map<std::string, std::string> created_;
  int unanswered_ = 0;
  int rejected_ = 0;
};

}  // namespace topup::simulate
