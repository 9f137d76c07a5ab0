#include "simulate/world.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "auth/secret_box.h"
#include "simulate/credit_book.h"
#include "simulate/event_queue.h"
#include "simulate/invariants.h"
#include "simulate/simulated_callbacks.h"
#include "simulate/simulated_merchants.h"
#include "simulate/simulated_node.h"
#include "simulate/simulated_queue.h"
#include "simulate/simulated_receiver.h"
#include "simulate/simulated_supplier.h"
#include "simulate/trace.h"

namespace topup::simulate {
namespace {

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr int64_t kOrderSpreadMs = 60'000;
// Faults happen while orders come in, and a little after.
constexpr int64_t kFaultWindowMs = kOrderSpreadMs + 30'000;
// Every order must be final this long after the last one was placed (the promise is 180 s; an
// attempt whose outcome is unknown is queried until known, up to a few minutes more).
constexpr int64_t kSettleMaxMs = 30 * 60'000;
constexpr uint64_t kMaxEvents = 50'000'000;
constexpr uint64_t kLedgerCheckEvery = 500;
constexpr int64_t kFinalCheckEveryMs = 1'000;
// Per supplier call: the node dies after recording the step and before the call leaves.
constexpr double kDiesBeforeSendChance = 0.002;
// The notifiers run the retry schedule (6 h to its end) this many times faster: 90 s.
constexpr int32_t kNotifyScheduleDivisor = 240;
// Crashes that hit notifications under way come over this long (after the orders' faults).
constexpr int64_t kNotifyFaultWindowMs = 3 * 60'000;
// Per notification answer: the node dies as it arrives, before the try is recorded.
constexpr double kDiesMidDeliveryChance = 0.01;

class World {
 public:
  explicit World(const SimulationOptions& options)
      : options_(options),
        random_(options.seed),
        events_(&random_, kStartMs),
        faults_(options.faults) {}
  ~World() {
    merchants_.reset();
    nodes_.clear();
    receiver_.reset();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  SimulationResult Run();

 private:
  Status SetUp();
  void ScheduleFaults();
  void Violation(const std::string& what) {
    if (!violation_) violation_ = what;
  }
  Store* PickStore();
  // How long a crashed node stays down.
  int64_t DownMs() { return static_cast<int64_t>(random_.NextBelow(5'000)); }
  SimulatedNode* PickUpNode();
  // True once every order is final and every notification delivered or given up, none of them
  // still being recorded (asked of a node that is up).
  bool Settled();
  // "notifications=.. delivered=.." for the summary; fills the result's counts.
  std::string NotificationSummary(SimulationResult& result);
  // The store's history of each order that `text` names, one event a line.
  std::string HistoryOfOrdersIn(const std::string& text);

  const SimulationOptions options_;
  SeededRandom random_;
  Trace trace_;
  EventQueue events_;
  const Faults faults_;
  FakeClock clock_{kStartMs};
  int64_t clock_skew_ms_ = 0;  // the jumps so far
  CreditBook book_;
  std::vector<std::unique_ptr<SimulatedCallbacks>> callbacks_;
  std::vector<std::unique_ptr<SimulatedSupplier>> suppliers_;
  std::unique_ptr<SimulatedQueue> queue_;
  NodeWiring wiring_;
  std::vector<std::unique_ptr<SimulatedNode>> nodes_;
  std::unique_ptr<SimulatedMerchants> merchants_;
  const auth::SecretBox secret_box_ = auth::SecretBox::Ephemeral();
  std::unique_ptr<SimulatedReceiver> receiver_;
  std::string dir_;
  std::optional<std::string> violation_;
  int crashes_ = 0;
  int jumps_ = 0;
  int node_jumps_ = 0;                 // of one node's clock alone
  std::vector<int64_t> node_skew_ms_;  // by node: its clock's own jumps so far
};

RoutingConfig SimulatedRouting() {
  RoutingConfig routing;
  auto channel = [](std::string name, int32_t priority, int32_t weight, int32_t max_concurrent) {
    ChannelConfig config;
    config.name = std::move(name);
    config.base_url = "http://" + config.name + ".invalid";
    config.priority = priority;
    config.weight = weight;
    config.max_concurrent_attempts = max_concurrent;
    config.attempt_timeout_ms = 2'000;
    config.query_timeout_ms = 1'000;
    config.query_interval_ms = 500;
    config.callback_secret = config.name + "-callback-secret";
    return config;
  };
  routing.channels.push_back(channel("alpha", 1, 2, 8));
  routing.channels.push_back(channel("beta", 1, 1, 8));
  ChannelConfig gamma = channel("gamma", 2, 1, 4);
  gamma.carriers = {Carrier::kChinaMobile};
  routing.channels.push_back(gamma);
  return routing;
}

Status World::SetUp() {
  std::string base = options_.temp_dir;
  if (base.empty()) {
    // In memory when possible: a simulated crash is the process's, not the machine's, so the
    // store's syncs need not reach a disk, and each costs a disk's latency on one.
    std::error_code error;
    base = std::filesystem::is_directory("/dev/shm", error)
               ? "/dev/shm"
               : std::filesystem::temp_directory_path().string();
  }
  std::string pattern = base + "/topup_simulate_XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return Unavailable("temp_dir", "cannot make a directory under " + base);
  }
  dir_ = pattern;
  queue_ = std::make_unique<SimulatedQueue>(&random_, &faults_, &trace_, &events_);
  wiring_.store_path = dir_ + "/topup.db";
  wiring_.events = &events_;
  wiring_.clock = &clock_;
  wiring_.queue = queue_.get();
  wiring_.routing = SimulatedRouting();
  for (const ChannelConfig& config : wiring_.routing.channels) {
    SimulatedCallbacks* callbacks = nullptr;
    if (faults_.callbacks) {
      callbacks_.push_back(std::make_unique<SimulatedCallbacks>(
          config.name, config.callback_secret, &events_, &clock_, &random_, &book_, &trace_,
          [this](const std::string& channel, std::string_view body,
                 std::string_view signature_hex) -> Result<std::string> {
            SimulatedNode* node = PickUpNode();
            if (node == nullptr) return Unavailable("no_node_up", "every topup node is down");
            return node->callbacks()->Handle(channel, body, signature_hex);
          },
          [this](const std::string& what) { Violation(what); }));
      callbacks = callbacks_.back().get();
    }
    suppliers_.push_back(std::make_unique<SimulatedSupplier>(config.name, &clock_, &random_,
                                                             &faults_, &book_, &trace_, callbacks));
    wiring_.suppliers[config.name] = suppliers_.back().get();
  }
  EngineOptions& engine = wiring_.engine;
  engine.max_in_flight = 64;
  engine.batch_max = 32;
  engine.sweep_batch_max = 200;
  engine.max_polled_in_memory = 1'000;
  engine.receive_wait = std::chrono::milliseconds(0);
  engine.policy.test_only_resend_unknown = options_.inject_resend_bug;
  wiring_.trace = &trace_;
  wiring_.on_violation = [this](const std::string& what) { Violation(what); };
  if (faults_.crash) {
    wiring_.dies_before_send = [this]() -> std::optional<int64_t> {
      if (!random_.Chance(kDiesBeforeSendChance)) return std::nullopt;
      ++crashes_;
      return DownMs();
    };
  }

  if (options_.notifications) {
    receiver_ = std::make_unique<SimulatedReceiver>(
        SimulatedMerchants::kMerchants, kNotifyScheduleDivisor, &random_, &faults_, &events_,
        &clock_, &trace_, [this] { return PickStore(); },
        [this](const std::string& what) { Violation(what); });
    wiring_.receiver = receiver_.get();
    wiring_.secret_box = &secret_box_;
    notify::NotifierOptions& notifier = wiring_.notifier;
    notifier.max_in_flight = 64;
    notifier.poll_interval_ms = 1'000;
    notifier.nice = 0;
    notifier.test_only_schedule_divisor = kNotifyScheduleDivisor;
    notifier.test_only_ack_on_timeout = options_.inject_ack_on_timeout_bug;
    if (faults_.crash) {
      wiring_.dies_mid_delivery = [this]() -> std::optional<int64_t> {
        if (!random_.Chance(kDiesMidDeliveryChance)) return std::nullopt;
        ++crashes_;
        return DownMs();
      };
    }
  }
  const int nodes =
      options_.nodes > 0 ? options_.nodes : 1 + static_cast<int>(random_.NextBelow(2));
  for (int i = 0; i < nodes; ++i) {
    nodes_.push_back(std::make_unique<SimulatedNode>(i, &wiring_, random_.NextU64()));
    if (Status started = nodes_.back()->Start(); !started.ok()) return started;
  }
  node_skew_ms_.assign(nodes_.size(), 0);
  queue_->set_on_publish([this] {
    for (auto& node : nodes_) {
      if (node->up()) node->Wake(EngineLoop::kDispatcher);
    }
  });
  MerchantsOptions merchants{.orders = options_.orders, .spread_ms = kOrderSpreadMs};
  merchants.notify_urls = options_.notifications;
  merchants_ = std::make_unique<SimulatedMerchants>(
      merchants, &random_, &events_, &clock_, queue_.get(), &trace_, [this] { return PickStore(); },
      [this](const std::string& what) { Violation(what); });
  if (Status opened = merchants_->Open(nodes_[0]->store(), secret_box_); !opened.ok()) {
    return opened;
  }
  ScheduleFaults();
  return Status::Ok();
}

SimulatedNode* World::PickUpNode() {
  std::vector<SimulatedNode*> up;
  for (auto& node : nodes_) {
    if (node->up()) up.push_back(node.get());
  }
  return up.empty() ? nullptr : up[random_.NextBelow(up.size())];
}

Store* World::PickStore() {
  SimulatedNode* node = PickUpNode();
  return node == nullptr ? nullptr : node->store();
}

void World::ScheduleFaults() {
  auto at = [this](int64_t window_ms) {
    return events_.now_ms() + static_cast<int64_t>(random_.NextBelow(window_ms));
  };
  auto crash_some = [this, &at](int64_t window_ms) {
    const uint64_t crashes = random_.NextBelow(3);
    for (uint64_t i = 0; i < crashes; ++i) {
      events_.Schedule(at(window_ms), [this] {
        SimulatedNode* node = PickUpNode();
        if (node == nullptr) return;
        ++crashes_;
        node->CrashFor(DownMs());
      });
    }
  };
  if (faults_.crash) crash_some(kFaultWindowMs);
  if (faults_.crash && receiver_) crash_some(kNotifyFaultWindowMs);
  if (faults_.clock_jump) {
    const uint64_t jumps = random_.NextBelow(3);
    for (uint64_t i = 0; i < jumps; ++i) {
      events_.Schedule(at(kFaultWindowMs), [this] {
        const int64_t jump_ms = 1'000 + static_cast<int64_t>(random_.NextBelow(60'000));
        ++jumps_;
        clock_skew_ms_ += jump_ms;
        trace_.Add(events_.now_ms(), "clock jumped " + std::to_string(jump_ms) + " ms");
      });
    }
  }
  if (faults_.node_clock_jump) {
    const uint64_t jumps = random_.NextBelow(3);
    for (uint64_t i = 0; i < jumps; ++i) {
      events_.Schedule(at(kFaultWindowMs), [this] {
        const int64_t jump_ms = 2'000 + static_cast<int64_t>(random_.NextBelow(88'000));
        ++node_jumps_;
        SimulatedNode& node = *nodes_[random_.NextBelow(nodes_.size())];
        node.JumpClockMs(jump_ms);
        node_skew_ms_[static_cast<size_t>(node.index())] += jump_ms;
        // Ahead of the world's clock and of every other node's (the jumps are forward only).
        if (receiver_)
          receiver_->AllowClockSkewMs(node_skew_ms_[static_cast<size_t>(node.index())]);
      });
    }
  }
  if (faults_.outage) {
    for (auto& supplier : suppliers_) {
      if (!random_.Chance(0.3)) continue;
      supplier->ScheduleOutage(at(kFaultWindowMs),
                               1'000 + static_cast<int64_t>(random_.NextBelow(30'000)));
    }
  }
}

bool World::Settled() {
  Store* store = PickStore();
  if (store == nullptr || !merchants_->done()) return false;
  Result<OrderCounts> counts = store->CountOrders();
  if (!counts.ok()) return false;
  for (const auto& [status, count] : *counts) {
    if (!IsFinal(status) && count > 0) return false;
  }
  if (!receiver_) return true;
  Result<NotificationCounts> notifications = store->CountNotifications();
  if (!notifications.ok() || (*notifications)[NotificationState::kPending] > 0) return false;
  for (auto& node : nodes_) {
    if (node->up() && !node->notifier_idle()) return false;
  }
  return true;
}

std::string World::NotificationSummary(SimulationResult& result) {
  if (!receiver_) return "";
  if (Store* store = PickStore()) {
    if (Result<NotificationCounts> counts = store->CountNotifications(); counts.ok()) {
      for (const auto& [state, count] : *counts) result.notifications += static_cast<int>(count);
      result.notifications_delivered = static_cast<int>((*counts)[NotificationState::kDelivered]);
      result.notifications_given_up = static_cast<int>((*counts)[NotificationState::kGivenUp]);
    }
  }
  return " notifications=" + std::to_string(result.notifications) +
         " delivered=" + std::to_string(result.notifications_delivered) +
         " given_up=" + std::to_string(result.notifications_given_up) +
         " notify_tries=" + std::to_string(receiver_->tries()) +
         " notify_duplicates=" + std::to_string(receiver_->duplicates()) +
         " receivers=" + receiver_->Describe();
}

std::string World::HistoryOfOrdersIn(const std::string& text) {
  Store* store = PickStore();
  if (store == nullptr) return "";
  std::string history;
  for (const auto& [merchant_order_id, order_id] : merchants_->created()) {
    if (text.find(order_id) == std::string::npos) continue;
    Result<std::vector<OrderEvent>> events = store->ListEvents(order_id);
    if (!events.ok()) continue;
    history += "history of " + order_id + ":\n";
    for (const OrderEvent& event : *events) {
      history += "  " + std::to_string(event.at_ms) + " " + event.kind + " " +
                 std::string(OrderStatusName(event.from)) + "->" +
                 std::string(OrderStatusName(event.to)) + " #" + std::to_string(event.attempt_no) +
                 " " + event.detail + "\n";
    }
  }
  return history;
}

SimulationResult World::Run() {
  SimulationResult result;
  result.seed = options_.seed;
  if (Status set_up = SetUp(); !set_up.ok()) {
    Violation("set-up failed: " + set_up.ToString());
  }
  uint64_t steps = 0;
  int64_t checked_final_ms = 0;
  const int64_t settle_by_ms = kStartMs + kOrderSpreadMs + kSettleMaxMs;
  while (!violation_) {
    if (events_.empty()) {
      Violation("nothing left to run");
      break;
    }
    clock_.SetMs(events_.next_ms() + clock_skew_ms_);
    clock_.SetMonotonicMs(events_.next_ms());
    events_.Pop()();
    if (events_.overflowed())
      Violation("more than " + std::to_string(EventQueue::kMaxPending) + " events pending");
    if (++steps % kLedgerCheckEvery == 0) {
      if (Store* store = PickStore()) {
        if (std::optional<std::string> broken = CheckLedger(*store)) Violation(*broken);
      }
    }
    if (events_.now_ms() - checked_final_ms >= kFinalCheckEveryMs) {
      checked_final_ms = events_.now_ms();
      if (Settled()) break;
      if (events_.now_ms() > settle_by_ms) {
        Violation("orders or notifications still open " + std::to_string(kSettleMaxMs / 60'000) +
                  " min after the last order was placed");
      }
    }
    if (steps >= kMaxEvents) Violation("more than " + std::to_string(kMaxEvents) + " events");
  }
  if (!violation_) {
    Store* store = PickStore();
    if (std::optional<std::string> broken = CheckLedger(*store)) Violation(*broken);
    if (!violation_) {
      if (std::optional<std::string> broken = CheckFinal(*store, book_, merchants_->created())) {
        Violation(*broken);
      }
    }
    if (!violation_ && receiver_) {
      if (std::optional<std::string> broken =
              CheckNotifications(*store, *receiver_, merchants_->created())) {
        Violation(*broken);
      }
    }
  }
  result.ok = !violation_.has_value();
  result.violation = violation_.value_or("");
  result.simulated_ms = events_.now_ms() - kStartMs;
  result.orders = merchants_ ? static_cast<int>(merchants_->created().size()) : 0;
  int64_t succeeded = 0;
  int64_t refunded = 0;
  if (Store* store = PickStore()) {
    if (Result<OrderCounts> counts = store->CountOrders(); counts.ok()) {
      succeeded = (*counts)[OrderStatus::kSuccess];
      refunded = (*counts)[OrderStatus::kFailed];
    }
  }
  result.refunded = static_cast<int>(refunded);
  int callbacks_applied = 0;
  for (const auto& callbacks : callbacks_) callbacks_applied += callbacks->applied();
  result.summary =
      (result.ok ? "ok" : "FAILED") + std::string(" nodes=") + std::to_string(nodes_.size()) +
      " orders=" + std::to_string(result.orders) + " succeeded=" + std::to_string(succeeded) +
      " refunded=" + std::to_string(refunded) +
      " refused=" + std::to_string(merchants_ ? merchants_->rejected() : 0) +
      " attempts=" + std::to_string(book_.attempts()) +
      " credits=" + std::to_string(book_.credits()) +
      " callbacks_applied=" + std::to_string(callbacks_applied) +
      " crashes=" + std::to_string(crashes_) + " clock_jumps=" + std::to_string(jumps_) +
      " node_clock_jumps=" + std::to_string(node_jumps_) + NotificationSummary(result) +
      " events=" + std::to_string(steps) +
      " simulated_s=" + std::to_string(result.simulated_ms / 1000) +
      " faults=" + faults_.ToString();
  // The counts are the trace's last line: a run that ends alike but counts otherwise hashes
  // otherwise.
  trace_.Add(events_.now_ms(), result.ok ? "ok" : "violation: " + result.violation);
  trace_.Add(events_.now_ms(), result.summary);
  result.trace_hash = trace_.hash();
  if (!result.ok) result.trace_tail = trace_.Tail() + HistoryOfOrdersIn(result.violation);
  return result;
}

}  // namespace

SimulationResult RunSimulation(const SimulationOptions& options) {
  World world(options);
  return world.Run();
}

}  // namespace topup::simulate
