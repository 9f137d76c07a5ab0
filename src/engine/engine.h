// Engine: drives every order taken off the queue to a final state, renews the leases it holds
// (LeaseKeeper, lease_keeper.h), and sweeps the store for due work the queue lost (Sweeper,
// sweeper.h). One Engine per process; several processes may share a store and a queue.
//
// Orders flow in batches through three loops, so that neither a store write nor a supplier call
// costs a thread per order:
//  * the dispatcher receives a batch of ids from the queue and reads their orders (a read, no
//    write), and, with local_handoff, orders straight from this process's merchant API (HandOff:
//    the accepted order itself, nothing to read), plans each
//    one's next step and records the steps in one store write whose compare-and-sets also take
//    the leases (so starting an attempt is one write, not a claim and then a start), then hands
//    the attempts to their channels without waiting for the answers. Only queries of live
//    attempts (an order taken up after a process died, say) are claimed before they are asked;
//  * the channels call back with each answer; the finisher records the answers of everything
//    that came back meanwhile (one store write), acknowledges the deliveries and lets go of the
//    leases;
//  * an answer that would change nothing but the order's schedule (the supplier is still
//    processing it) is not written: the order stays leased to this process, which asks again on
//    the poller's in-memory timer, and writes only once the answer changes something. If the
//    process dies meanwhile, the lease lapses and the sweeper takes the order up from the store,
//    where its next check was due since the attempt's timeout.
//
// Each loop is a pass that never waits on its own (no sleep, no timed wait, no clock but clock_):
// DispatchOnce, FinishOnce, PollOnce, plus the sweeper's and lease keeper's. Start() runs each on
// a thread of its own (LoopRunner), resting as the pass says or until woken; the deterministic
// simulation (src/simulate) calls them itself from one thread in simulated time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/loop_runner.h"
#include "engine/channel_router.h"
#include "engine/first_calls.h"
#include "engine/lease_keeper.h"
#include "engine/order_policy.h"
#include "engine/sweeper.h"
#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/queue.h"
#include "topup/store.h"
#include "topup/supplier_channel.h"

namespace topup {

struct EngineOptions {
  std::string owner;  // unique per process: written into leases
  // Orders worked at once: claimed and waiting for a supplier's answer.
  int max_in_flight = 1024;
  // Orders taken off the queue (and claimed) per store write.
  size_t batch_max = 1024;
  // A claimed order is leased for this long and renewed every lease_ms / 3 while the engine holds
  // it, so a crashed process's orders are taken up again within about lease_ms.
  int64_t lease_ms = 5'000;
  int64_t sweep_interval_ms = 250;
  // An id the sweeper published is published again after this long if no worker took it up
  // (the queue lost it).
  int64_t redeliver_after_ms = 5'000;
  size_t sweep_batch_max = 2'000;
  // Orders whose attempt is polled on this process's timer at most (each a few hundred bytes);
  // beyond that, a "processing" answer is written and the order goes back to the store.
  size_t max_polled_in_memory = 20'000;
  // Orders waiting for a channel whose wait the dispatcher remembers (a few dozen bytes each);
  // beyond that, an order's wait is counted from its acceptance (waits_not_remembered).
  size_t max_remembered_waits = 100'000;
  // Live attempts whose first call from this process is remembered (FirstCalls, a few dozen
  // bytes each); beyond that, one is forgotten, and its next not_found is believed later.
  size_t max_remembered_first_calls = 100'000;
  // How long the dispatcher's Queue::Receive waits for deliveries. 0 for an engine run step by
  // step, whose dispatcher must not block.
  std::chrono::milliseconds receive_wait{200};
  // HandOff() takes accepted orders straight from this process's API. A hand-off wakes the
  // dispatcher wherever it waits: resting between passes, or in Queue::Receive (Queue::Wake).
  bool local_handoff = false;
  OrderPolicy policy;
  observe::Metrics* metrics = nullptr;  // optional: told of answers and applied transitions
};

// Exported at /metrics as topup_engine_<name>_total; lease_expiries as topup_lease_expiries_total.
struct EngineCounters {
  std::atomic<int64_t> claimed{0};
  std::atomic<int64_t> submitted{0};
  std::atomic<int64_t> queried{0};
  std::atomic<int64_t> cas_lost{0};
  std::atomic<int64_t> swept{0};
  std::atomic<int64_t> store_errors{0};
  std::atomic<int64_t> lease_renewal_failures{0};
  // Leases that lapsed without being released, found by this node's sweeper (Sweeper).
  std::atomic<int64_t> lease_expiries{0};
  std::atomic<int64_t> polled_in_memory{0};  // queries asked from the poller's timer
  std::atomic<int64_t> handed_off{0};        // orders taken by HandOff(), without the queue
  // Waits for a channel counted from the order's acceptance: max_remembered_waits were full.
  std::atomic<int64_t> waits_not_remembered{0};
};

// When one of the engine's loops last finished a pass, and how long a pass may take before the
// loop counts as stuck (for readiness checks).
struct EngineLoopProgress {
  std::string_view loop;
  int64_t last_ms = 0;
  int64_t bound_ms = 0;
};

enum class EngineLoop { kDispatcher, kFinisher, kPoller };

// Runs the engine's loops: told when one of them has work to do at once. Wake() is called with
// the engine's locks held and from any thread that answers: it must not call into the engine.
class EngineLoopWaker {
 public:
  virtual ~EngineLoopWaker() = default;
  virtual void Wake(EngineLoop loop) = 0;
};

class Engine {
 public:
  // The pointers must outlive the Engine.
  Engine(Store* store, Queue* queue, ChannelRouter* router, Clock* clock, EngineOptions options);
  ~Engine();  // Stop()s, unless run step by step
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs every loop on a thread of its own with real time, until Stop().
  void Start();
  // Stops taking work and waits up to `answer_wait` for the answers of the calls in flight. The
  // calls still unanswered then are cut (ChannelRouter::ShutDownChannels): a submit that may have
  // reached the supplier is recorded as of unknown outcome, so its attempt stays live and is
  // queried later, never sent again. Records every answer, joins every thread, and hands back to
  // the store every lease it still holds (Store::ReleaseLeases), so that another process, or this
  // one restarted, takes the orders up at once rather than once the leases lapse. Idempotent.
  void Stop(std::chrono::milliseconds answer_wait = kWaitForEveryAnswer);
  // Without a bound of its own: each call in flight is bounded by its channel's timeout.
  static constexpr std::chrono::milliseconds kWaitForEveryAnswer = std::chrono::hours(24);

  // Step by step instead of Start(): nothing runs unless one of the passes below is called, all
  // from one thread; `waker` (which must outlive the Engine) hears when a loop has work at once.
  // Destroying an Engine run this way hands nothing back, as a crash would; answers that arrive
  // afterwards must not (the caller drops its channels' pending answers first).
  void StartStepping(EngineLoopWaker* waker);
  // One pass of each loop; each returns how long it may rest before the next (less if woken).
  // Receives a batch, claims, records and sends its attempts.
  PassRest DispatchOnce();
  // Records the answers that came back, acknowledges and lets go of their orders.
  PassRest FinishOnce();
  // Asks again the orders polled in memory that are due; acknowledges their deliveries.
  PassRest PollOnce();
  PassRest SweepOnce() { return sweeper_.SweepOnce(); }
  PassRest RenewLeasesOnce() { return lease_keeper_.RenewOnce(); }

  // Takes an order just accepted by this process straight to its dispatcher, without the queue,
  // if local_handoff is on and there is room (calls in flight plus hand-offs waiting below
  // max_in_flight). Returns false otherwise, or once stopping: the caller publishes the id, so
  // that another node takes it. `accepted` is the order as its accept committed it (the
  // dispatcher plans from it without reading it back; a step planned from a copy that is no
  // longer current loses its compare-and-set and sends nothing). REQUIRES: the order is committed
  // and due redeliver_after_ms after its acceptance, so that if this process dies before it works
  // the order (nothing was ever leased), the sweeper of any node finds it then. Any thread; never
  // blocks on the store or queue.
  bool HandOff(Order accepted);

  const EngineCounters& counters() const { return counters_; }
  // One entry per loop. Any thread.
  std::vector<EngineLoopProgress> Progress() const;

 private:
  // One claimed order between its claim and the record of its step.
  struct Work {
    // Empty for a hand-off, and once acknowledged (an order polled in memory).
    std::optional<Delivery> delivery;
    Order order;
    std::shared_ptr<RoutedChannel> channel;  // null when no supplier call is made
    bool submit = false;                     // true: a new attempt (holds a channel slot)
    OrderPolicy policy;
    Transition step;        // what to record; planned by the dispatcher or on the answer
    int64_t called_ms = 0;  // when the supplier call was made
    QueryAsked asked;       // the same, on both clocks, for a query
  };

  // Wakes the engine's own threads (Start).
  class RunnerWaker final : public EngineLoopWaker {
   public:
    explicit RunnerWaker(Engine* engine) : engine_(engine) {}
    void Wake(EngineLoop loop) override;

   private:
    Engine* const engine_;
  };
  void WakeLoop(EngineLoop loop) { waker_->Wake(loop); }
  // On Stop(), once the poller is gone: lets go of the orders it was polling.
  void ClosePolls();
  bool NothingInFlight();
  // Claims a batch of queue deliveries and hand-offs (orders with no delivery to acknowledge)
  // and sets each claimed order on its way.
  void Dispatch(std::vector<Delivery> deliveries, std::vector<Order> handed_off);
  // On Stop(), once the dispatcher is gone: publishes the hand-offs it did not take.
  void CloseHandOffs();
  // Plans the first step of a claimed order: an attempt to start, a query, or a transition to
  // record without calling anyone. `delivery` is empty for a hand-off.
  std::unique_ptr<Work> Plan(std::optional<Delivery> delivery, Order order, int64_t now_ms);
  // Drops the waits of orders this process no longer works on. REQUIRES: dispatcher thread.
  void ForgetOldWaits(int64_t now_ms);
  // Makes each work's supplier call (a submit, or a query of its live attempt) without waiting.
  void Call(std::vector<std::unique_ptr<Work>>& works);
  // Call for works already counted in in_flight_.
  void Ask(std::vector<std::unique_ptr<Work>>& works);
  // Claims the orders of `queries` (their live attempts are asked only under a lease). Returns
  // those claimed in the state they were read in; lets go of the others.
  std::vector<std::unique_ptr<Work>> ClaimForQueries(std::vector<std::unique_ptr<Work>> queries,
                                                     int64_t now_ms);
  // Called by a channel with an answer: plans the transition and queues it for the finisher.
  void OnAnswer(std::unique_ptr<Work> work, const SupplierAnswer& answer);
  // Applies the steps of `works` in one store write; returns whether each one applied.
  std::vector<bool> Record(const std::vector<std::unique_ptr<Work>>& works);
  // Lets go of finished work: the leases and the deliveries.
  void Release(std::vector<std::unique_ptr<Work>>& works);
  // The policy with the channel's own timeouts.
  OrderPolicy PolicyFor(const RoutedChannel& channel) const;

  Store* const store_;
  Queue* const queue_;
  ChannelRouter* const router_;
  Clock* const clock_;
  const EngineOptions options_;
  EngineCounters counters_;

  RunnerWaker runner_waker_{this};
  EngineLoopWaker* waker_ = &runner_waker_;  // set before any loop runs
  bool stepping_ = false;                    // StartStepping() was called
  std::atomic<bool> stopping_{false};
  // Written by each loop after every pass; read by Progress().
  std::atomic<int64_t> dispatcher_pass_ms_{0};
  std::atomic<int64_t> finisher_pass_ms_{0};
  std::atomic<int64_t> poller_pass_ms_{0};
  std::mutex stop_mu_;

  // Owned by the dispatcher thread: since when each order that no channel admitted has waited
  // for one (it paces the order's next look and is written into its history once it starts).
  // At most max_remembered_waits entries.
  std::unordered_map<std::string, int64_t> waiting_since_ms_;
  int64_t waits_forgotten_at_ms_ = 0;

  LeaseKeeper lease_keeper_;  // the leases of the orders claimed and not yet released
  Sweeper sweeper_;
  FirstCalls first_calls_;  // of the live attempts this process called about

  // The dispatcher is woken when in_flight_ drops, the finisher when answers_ gains work, the
  // poller when polls_ gains an earlier due time, poll_acks_ gains work or room frees for a poll.
  std::mutex flow_mu_;
  std::vector<std::unique_ptr<Work>> answers_;  // GUARDED_BY(flow_mu_): for the finisher
  int in_flight_ = 0;  // GUARDED_BY(flow_mu_): calls made whose step is not recorded
  // Orders polled in memory, by when they are asked again: at most max_polled_in_memory.
  std::multimap<int64_t, std::unique_ptr<Work>> polls_;  // GUARDED_BY(flow_mu_)
  std::vector<Delivery> poll_acks_;  // GUARDED_BY(flow_mu_): deliveries of polled orders
  // Polls due that found no room for their query at the poller's last pass (at most
  // max_in_flight): the dispatcher leaves that much room to them.
  size_t polls_waiting_for_room_ = 0;  // GUARDED_BY(flow_mu_)
  bool polls_closed_ = false;          // GUARDED_BY(flow_mu_): set once the poller stopped
  // Orders given to HandOff() for the dispatcher's next pass. HandOff() keeps them, with
  // in_flight_ and dispatching_, below max_in_flight.
  std::vector<Order> handed_off_;  // GUARDED_BY(flow_mu_)
  // What the dispatcher's pass under way took (hand-offs and deliveries), until its calls count
  // in in_flight_.
  size_t dispatching_ = 0;        // GUARDED_BY(flow_mu_)
  bool handoffs_closed_ = false;  // GUARDED_BY(flow_mu_): set once the dispatcher stopped

  // Declared last: their threads stop before anything above goes.
  LoopRunner dispatcher_{"dispatcher", [this] { return DispatchOnce(); }};
  LoopRunner finisher_{"finisher", [this] { return FinishOnce(); }};
  LoopRunner poller_{"poller", [this] { return PollOnce(); }};
};

}  // namespace topup
