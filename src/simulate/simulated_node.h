// SimulatedNode: one topup process of the simulated world: its own connection to the store file,
// its own channel router (over the world's suppliers), the real Engine, run step by step, the
// engine's SupplierCallbacks, which the suppliers' callbacks reach, and the real notifier's
// NotificationDelivery, which sends to the world's SimulatedReceiver.
// Each of the engine's loops (dispatcher, finisher, poller, sweeper, lease keeper) and the
// notifier's is an event of the world's EventQueue at the time its last pass asked for, or
// earlier when woken.
//
// Crash() drops the process's memory at once: the engine and its leases, its polls and its calls
// in flight (their answers are never delivered), the router and its breakers, the callbacks'
// handler, the notifier and its tries under way (their answers are never delivered either), the
// store's connection. The store keeps what was committed; Start() opens it again as a
// restarted process.
//
// Threading: the simulation's one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "engine/channel_router.h"
#include "engine/engine.h"
#include "engine/supplier_callbacks.h"
#include "notify/notification_delivery.h"
#include "simulate/event_queue.h"
#include "simulate/node_clock.h"
#include "simulate/simulated_channel.h"
#include "simulate/simulated_queue.h"
#include "simulate/simulated_receiver.h"
#include "simulate/simulated_supplier.h"
#include "simulate/trace.h"
#include "topup/clock.h"
#include "topup/random.h"
#include "topup/store.h"

namespace topup::simulate {

// What every node of a world shares. The pointers must outlive the nodes.
struct NodeWiring {
  std::string store_path;
  EventQueue* events = nullptr;
  // The world's clock (world time, plus the jumps of every clock at once); each node reads its
  // own NodeClock over it.
  Clock* clock = nullptr;
  SimulatedQueue* queue = nullptr;
  std::map<std::string, SimulatedSupplier*> suppliers;  // by channel name
  RoutingConfig routing;
  EngineOptions engine;  // owner is set per node and run
  Trace* trace = nullptr;
  SimulatedChannel::ViolationSink on_violation;
  // Asked before each supplier call leaves a node: how long the node is down if it dies right
  // then, between recording a step and sending it; nullopt if it lives on.
  std::function<std::optional<int64_t>()> dies_before_send;
  // Null: the nodes run no notifier.
  SimulatedReceiver* receiver = nullptr;
  const auth::SecretBox* secret_box = nullptr;
  notify::NotifierOptions notifier;  // owner is set per node and run
  // Asked as a notification's answer is about to reach a node, as dies_before_send.
  std::function<std::optional<int64_t>()> dies_mid_delivery;
};

class SimulatedNode final : public EngineLoopWaker {
 public:
  SimulatedNode(int index, const NodeWiring* wiring, uint64_t seed);
  ~SimulatedNode() override;

  // Opens the store and starts a new engine (a new owner: "node<index>.<run>").
  Status Start();
  // Drops everything in memory, as a killed process does, and starts again `down_ms` later.
  // REQUIRES: up().
  void CrashFor(int64_t down_ms);
  bool up() const { return engine_ != nullptr; }
  // REQUIRES: up().
  Store* store() { return store_.get(); }
  // What POST /v1/supplier-callbacks/{channel} calls. REQUIRES: up().
  SupplierCallbacks* callbacks() { return callbacks_.get(); }
  int index() const { return index_; }
  // This node's wall clock alone jumps forward by `delta_ms`; its monotonic time does not.
  void JumpClockMs(int64_t delta_ms);
  // No notification is claimed and unrecorded. REQUIRES: up().
  bool notifier_idle() const { return !delivery_ || delivery_->in_flight() == 0; }

  void Wake(EngineLoop loop) override;

 private:
  enum Loop { kDispatcher, kFinisher, kPoller, kSweeper, kLeaseKeeper, kNotifier, kLoops };
  void Crash();
  void ScheduleLoop(Loop loop, int64_t at_ms);
  void RunLoop(Loop loop);
  // For the channels: true if this node dies before the call leaves (SimulatedChannel).
  bool DiesBeforeSend();
  // For the receiver: true if this node dies as an answer reaches it (crashed at once).
  bool DiesMidDelivery();

  const int index_;
  const NodeWiring* const wiring_;
  SeededRandom random_;  // the router's weighted picks
  NodeClock clock_;      // what the node's engine, callbacks and notifier read
  int runs_ = 0;
  std::shared_ptr<bool> alive_;  // false once this run crashed: its pending events are dropped
  bool dying_ = false;           // this run dies at the end of the step under way
  std::unique_ptr<Store> store_;
  std::unique_ptr<ChannelRouter> router_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SupplierCallbacks> callbacks_;
  std::unique_ptr<notify::NotificationSender> sender_;
  std::unique_ptr<notify::NotificationDelivery> delivery_;
  // Each loop's next pass: its time and a token; an event whose token is stale was superseded.
  std::array<std::optional<int64_t>, kLoops> pending_at_ms_{};
  std::array<uint64_t, kLoops> tokens_{};
};

}  // namespace topup::simulate
