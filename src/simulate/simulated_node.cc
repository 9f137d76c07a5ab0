#include "simulate/simulated_node.h"

#include <algorithm>

#include "store/sqlite/sqlite_store.h"

namespace topup::simulate {
namespace {

constexpr std::array<const char*, 6> kLoopNames = {"dispatcher", "finisher",     "poller",
                                                   "sweeper",    "lease-keeper", "notifier"};
// Simulated time a pass that did work takes, so that no loop runs twice at one instant.
constexpr int64_t kPassMs = 1;
// Each node's monotonic clock counts from its own origin, as processes' do.
constexpr int64_t kMonotonicOriginSpacingMs = 1'000'000'000;

}  // namespace

SimulatedNode::SimulatedNode(int index, const NodeWiring* wiring, uint64_t seed)
    : index_(index),
      wiring_(wiring),
      random_(seed),
      clock_(wiring->clock, kMonotonicOriginSpacingMs * index) {}

void SimulatedNode::JumpClockMs(int64_t delta_ms) {
  clock_.JumpMs(delta_ms);
  wiring_->trace->Add(
      wiring_->events->now_ms(),
      "node" + std::to_string(index_) + " clock jumped " + std::to_string(delta_ms) + " ms");
}

SimulatedNode::~SimulatedNode() {
  if (up()) Crash();
}

Status SimulatedNode::Start() {
  SqliteStoreOptions store_options;
  store_options.path = wiring_->store_path;
  store_options.read_connections = 1;
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(store_options);
  if (!store.ok()) return store.status();
  alive_ = std::make_shared<bool>(true);
  dying_ = false;
  std::shared_ptr<const bool> alive = alive_;
  ChannelFactory factory =
      [this, alive](const ChannelConfig& config) -> Result<std::unique_ptr<SupplierChannel>> {
    auto supplier = wiring_->suppliers.find(config.name);
    if (supplier == wiring_->suppliers.end()) {
      return InvalidArgument("invalid_channel_config", "no simulated supplier " + config.name);
    }
    return std::unique_ptr<SupplierChannel>(std::make_unique<SimulatedChannel>(
        config, supplier->second, wiring_->events, alive, wiring_->on_violation,
        [this] { return DiesBeforeSend(); }));
  };
  Result<std::unique_ptr<ChannelRouter>> router =
      ChannelRouter::Create(wiring_->routing, std::move(factory), &random_);
  if (!router.ok()) return router.status();
  store_ = std::move(store).value();
  router_ = std::move(router).value();
  EngineOptions options = wiring_->engine;
  options.owner = "node" + std::to_string(index_) + "." + std::to_string(++runs_);
  engine_ = std::make_unique<Engine>(store_.get(), wiring_->queue, router_.get(), &clock_, options);
  engine_->StartStepping(this);
  callbacks_ =
      std::make_unique<SupplierCallbacks>(store_.get(), router_.get(), &clock_, options.policy);
  if (wiring_->receiver != nullptr) {
    sender_ = wiring_->receiver->SenderFor(&clock_, alive, [this] { return DiesMidDelivery(); });
    notify::NotifierOptions notifier = wiring_->notifier;
    notifier.owner = options.owner;
    delivery_ = std::make_unique<notify::NotificationDelivery>(
        store_.get(), &clock_, wiring_->secret_box, sender_.get(), notifier, [this, alive] {
          if (*alive) ScheduleLoop(kNotifier, wiring_->events->now_ms());
        });
  }
  wiring_->trace->Add(wiring_->events->now_ms(), options.owner + " started");
  const int64_t now_ms = wiring_->events->now_ms();
  pending_at_ms_.fill(std::nullopt);
  for (int loop = 0; loop < kLoops; ++loop) {
    if (loop != kNotifier || delivery_) ScheduleLoop(static_cast<Loop>(loop), now_ms);
  }
  return Status::Ok();
}

void SimulatedNode::Crash() {
  *alive_ = false;
  wiring_->trace->Add(wiring_->events->now_ms(), "node" + std::to_string(index_) + " crashed");
  // The notifier before its sender; the engine before the router: its works hold the channels.
  delivery_.reset();
  sender_.reset();
  callbacks_.reset();
  engine_.reset();
  router_.reset();
  store_.reset();
  wiring_->queue->ConsumerDied(index_);
}

void SimulatedNode::CrashFor(int64_t down_ms) {
  Crash();
  wiring_->events->Schedule(wiring_->events->now_ms() + down_ms, [this] {
    if (Status started = Start(); !started.ok()) {
      wiring_->on_violation("node" + std::to_string(index_) +
                            " did not restart: " + started.ToString());
    }
  });
}

bool SimulatedNode::DiesBeforeSend() {
  if (dying_) return true;
  if (!wiring_->dies_before_send) return false;
  const std::optional<int64_t> down_ms = wiring_->dies_before_send();
  if (!down_ms) return false;
  // The rest of the step runs (the engine cannot be cut mid-call) but sends nothing more; the
  // node is dropped as soon as the step ends.
  dying_ = true;
  wiring_->trace->Add(wiring_->events->now_ms(),
                      "node" + std::to_string(index_) + " dies before a call leaves");
  wiring_->events->Schedule(wiring_->events->now_ms(), [this, alive = alive_, down = *down_ms] {
    if (*alive) CrashFor(down);
  });
  return true;
}

bool SimulatedNode::DiesMidDelivery() {
  if (!wiring_->dies_mid_delivery) return false;
  const std::optional<int64_t> down_ms = wiring_->dies_mid_delivery();
  if (!down_ms) return false;
  wiring_->trace->Add(wiring_->events->now_ms(),
                      "node" + std::to_string(index_) + " dies as a notification's answer comes");
  CrashFor(*down_ms);
  return true;
}

void SimulatedNode::Wake(EngineLoop loop) {
  switch (loop) {
    case EngineLoop::kDispatcher:
      return ScheduleLoop(kDispatcher, wiring_->events->now_ms());
    case EngineLoop::kFinisher:
      return ScheduleLoop(kFinisher, wiring_->events->now_ms());
    case EngineLoop::kPoller:
      return ScheduleLoop(kPoller, wiring_->events->now_ms());
  }
}

void SimulatedNode::ScheduleLoop(Loop loop, int64_t at_ms) {
  if (pending_at_ms_[loop] && *pending_at_ms_[loop] <= at_ms) return;
  pending_at_ms_[loop] = at_ms;
  const uint64_t token = ++tokens_[loop];
  wiring_->events->Schedule(at_ms, [this, loop, token, alive = alive_] {
    if (!*alive || tokens_[loop] != token) return;
    pending_at_ms_[loop] = std::nullopt;
    RunLoop(loop);
  });
}

void SimulatedNode::RunLoop(Loop loop) {
  wiring_->queue->set_consumer(index_);
  PassRest rest = kAtOnce;
  switch (loop) {
    case kDispatcher:
      rest = engine_->DispatchOnce();
      break;
    case kFinisher:
      rest = engine_->FinishOnce();
      break;
    case kPoller:
      rest = engine_->PollOnce();
      break;
    case kSweeper:
      rest = engine_->SweepOnce();
      break;
    case kLeaseKeeper:
      rest = engine_->RenewLeasesOnce();
      break;
    case kNotifier:
      rest = delivery_->DeliverOnce();
      break;
    case kLoops:
      return;
  }
  if (rest == kAtOnce) {
    wiring_->trace->Add(wiring_->events->now_ms(),
                        "node" + std::to_string(index_) + " " + kLoopNames[loop] + " worked");
  }
  ScheduleLoop(loop, wiring_->events->now_ms() + std::max<int64_t>(rest.count(), kPassMs));
}

}  // namespace topup::simulate
