#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <optional>
#include <unordered_map>

#include "core/thread_name.h"
#include "engine/deadline_report.h"

namespace topup {
namespace {

constexpr std::chrono::milliseconds kReceiveWait{200};
// An idle finisher still reports a pass this often.
constexpr std::chrono::milliseconds kFinisherIdlePass{1'000};
// A loop whose pass takes longer than this (or than a few of its intervals) counts as stuck.
constexpr int64_t kStuckAfterMs = 5'000;
// Entries of orders that waited for a channel and were then taken up elsewhere are dropped after
// this long.
constexpr int64_t kWaitingForgetMs = 600'000;

// What an answer says about the health of the channel it came from (see CircuitBreaker), if
// anything. `step` is the transition planned from it.
std::optional<CircuitBreaker::Outcome> HealthOutcome(bool submitted, const SupplierAnswer& answer,
                                                     const Transition& step) {
  using Health = CircuitBreaker::Outcome;
  switch (answer.outcome) {
    case SupplierOutcome::kSuccess:
      return Health::kSuccess;
    case SupplierOutcome::kProcessing:
      return submitted ? std::optional(Health::kSuccess) : std::nullopt;
    case SupplierOutcome::kFailed:
      return Health::kFailure;
    case SupplierOutcome::kNotSent:
      return submitted ? std::optional(Health::kFailure) : std::nullopt;
    case SupplierOutcome::kNotFound:
      // Only once the attempt is taken as lost; earlier, the supplier's index may just lag.
      return step.attempt == Transition::Attempt::kClear ? std::optional(Health::kFailure)
                                                         : std::nullopt;
    case SupplierOutcome::kUnknown:
      return submitted ? std::optional(Health::kNoAnswer) : std::nullopt;
  }
  return std::nullopt;
}

// True if recording `step` would change nothing but the order's schedule (and hand back its
// lease): the same status, the same live attempt, no event. Such a step need not be written while
// this process keeps the order leased and looks at it again itself.
bool OnlyReschedules(const Transition& step) {
  return step.from == step.to && !IsFinal(step.to) && step.attempt == Transition::Attempt::kKeep &&
         step.event_kind.empty() && step.deadline_missed_detail.empty() &&
         step.supplier_ref.empty();
}

// The longest the poller sleeps before it looks at the clock again (the clock may be a test's).
constexpr int64_t kPollerMaxSleepMs = 50;

}  // namespace

Engine::Engine(Store* store, Queue* queue, ChannelRouter* router, Clock* clock,
               EngineOptions options)
    : store_(store),
      queue_(queue),
      router_(router),
      clock_(clock),
      options_(std::move(options)),
      lease_keeper_(store, clock,
                    LeaseKeeperOptions{.owner = options_.owner,
                                       .lease_ms = options_.lease_ms,
                                       .batch_max = options_.batch_max},
                    &counters_),
      sweeper_(store, queue, clock,
               SweeperOptions{.interval_ms = options_.sweep_interval_ms,
                              .batch_max = options_.sweep_batch_max,
                              .redeliver_after_ms = options_.redeliver_after_ms},
               &counters_) {
  assert(!options_.owner.empty());
  assert(options_.max_in_flight > 0 && options_.batch_max > 0 && options_.lease_ms > 0);
}

Engine::~Engine() { Stop(); }

void Engine::Start() {
  assert(!dispatcher_.joinable() && !finisher_.joinable() && !poller_.joinable());
  const int64_t now_ms = clock_->NowMs();
  for (std::atomic<int64_t>* pass_ms :
       {&dispatcher_pass_ms_, &finisher_pass_ms_, &poller_pass_ms_}) {
    pass_ms->store(now_ms);
  }
  lease_keeper_.Start();
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  finisher_ = std::thread([this] { FinishLoop(); });
  poller_ = std::thread([this] { PollLoop(); });
  sweeper_.Start();
}

void Engine::Stop(std::chrono::milliseconds answer_wait) {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_.exchange(true)) return;
  }
  sweeper_.Stop();
  stop_cv_.notify_all();
  {
    std::lock_guard lock(flow_mu_);
    room_cv_.notify_all();
    poll_cv_.notify_all();
  }
  // Once the dispatcher and the poller are gone nothing is claimed or sent any more, so
  // in_flight_ only drops. The poller lets go of the orders it was polling; their leases are
  // handed back below with the others.
  if (dispatcher_.joinable()) dispatcher_.join();
  if (poller_.joinable()) poller_.join();
  bool answered = true;
  {
    std::unique_lock lock(flow_mu_);
    answered = room_cv_.wait_for(lock, answer_wait, [this] { return in_flight_ == 0; });
  }
  if (!answered) {
    spdlog::warn("stopping: calls still unanswered after {} ms are cut", answer_wait.count());
    router_->ShutDownChannels();
  }
  if (finisher_.joinable()) finisher_.join();
  // The renewals stop only now: the leases are kept while the answers are recorded.
  lease_keeper_.Stop();
  Result<int64_t> released = store_->ReleaseLeases(options_.owner, clock_->NowMs());
  if (released.ok()) {
    spdlog::info("stopping: {} leases handed back", *released);
  } else {
    // They lapse within lease_ms instead.
    counters_.store_errors++;
    spdlog::warn("stopping: leases not handed back: {}", released.status().ToString());
  }
}

std::vector<EngineLoopProgress> Engine::Progress() const {
  return {
      {"dispatcher", dispatcher_pass_ms_.load(), kStuckAfterMs},
      {"finisher", finisher_pass_ms_.load(), kStuckAfterMs},
      {"poller", poller_pass_ms_.load(), kStuckAfterMs},
      {"sweeper", sweeper_.last_pass_ms(), std::max(kStuckAfterMs, 4 * options_.sweep_interval_ms)},
      {"lease-keeper", lease_keeper_.last_pass_ms(), std::max(kStuckAfterMs, options_.lease_ms)},
  };
}

bool Engine::SleepUnlessStopping(int64_t duration_ms) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, std::chrono::milliseconds(duration_ms),
                            [this] { return stopping_.load(); });
}

OrderPolicy Engine::PolicyFor(const RoutedChannel& channel) const {
  OrderPolicy policy = options_.policy;
  policy.attempt_timeout_ms = channel.config().attempt_timeout_ms;
  policy.attempt_budget_ms = channel.AttemptBudgetMs();
  policy.first_query_delay_ms = channel.config().query_interval_ms;
  return policy;
}

void Engine::DispatchLoop() {
  SetThreadName("dispatcher");
  const auto max_in_flight = static_cast<size_t>(options_.max_in_flight);
  while (!stopping_) {
    dispatcher_pass_ms_ = clock_->NowMs();
    size_t room = 0;
    {
      std::unique_lock lock(flow_mu_);
      // Due polls go first: they are older orders, already started.
      auto taken = [&] { return static_cast<size_t>(in_flight_) + polls_waiting_for_room_; };
      room_cv_.wait_for(lock, kReceiveWait, [&] { return stopping_ || taken() < max_in_flight; });
      room = max_in_flight - std::min(max_in_flight, taken());
    }
    if (stopping_) break;
    if (room == 0) continue;
    Result<std::vector<Delivery>> deliveries =
        queue_->Receive(std::min(room, options_.batch_max), kReceiveWait);
    if (!deliveries.ok()) {
      if (!SleepUnlessStopping(100)) break;
      continue;
    }
    if (!deliveries->empty()) Dispatch(std::move(*deliveries));
  }
  {
    std::lock_guard lock(flow_mu_);
    dispatcher_done_ = true;
  }
  answered_cv_.notify_all();
}

void Engine::Dispatch(std::vector<Delivery> deliveries) {
  // Deliveries that need nothing more from this process: acknowledged once the batch is done.
  std::vector<Delivery> redundant;
  std::vector<Delivery> fresh;
  std::vector<std::string> ids;
  for (Delivery& delivery : deliveries) {
    // An order this process already works on is finished by that work.
    if (lease_keeper_.Holds(delivery.order_id)) {
      redundant.push_back(std::move(delivery));
    } else {
      ids.push_back(delivery.order_id);
      fresh.push_back(std::move(delivery));
    }
  }
  const int64_t now_ms = clock_->NowMs();
  ForgetOldWaits(now_ms);
  Result<std::vector<Order>> read = ids.empty() ? std::vector<Order>() : store_->ReadOrders(ids);
  if (!read.ok()) {
    // Not acknowledged: the queue or the sweeper brings the orders back.
    counters_.store_errors++;
    spdlog::warn("read of {} orders failed: {}", ids.size(), read.status().ToString());
    return;
  }

  // Each order that this process may take goes with the first delivery of its id; the others
  // are final or leased to someone else, who finishes them.
  std::unordered_map<std::string_view, Order*> unmatched;
  for (Order& order : *read) {
    const bool leased_elsewhere =
        order.lease_owner != options_.owner && order.lease_expires_ms > now_ms;
    if (!IsFinal(order.status) && !leased_elsewhere) unmatched.emplace(order.order_id, &order);
  }
  std::vector<std::unique_ptr<Work>> record_now;
  std::vector<std::unique_ptr<Work>> queries;
  for (Delivery& delivery : fresh) {
    auto it = unmatched.find(delivery.order_id);
    if (it == unmatched.end()) {
      redundant.push_back(std::move(delivery));
      continue;
    }
    Order& order = *it->second;
    unmatched.erase(it);
    lease_keeper_.Hold(order.order_id);
    std::unique_ptr<Work> work = Plan(std::move(delivery), std::move(order), now_ms);
    if (work->channel && !work->submit) {
      queries.push_back(std::move(work));
    } else {
      // The step's compare-and-set takes the lease: one write claims the order and records it.
      work->step.claim_owner = options_.owner;
      work->step.claim_lease_ms = options_.lease_ms;
      record_now.push_back(std::move(work));
    }
  }
  if (!redundant.empty()) (void)queue_->Ack(redundant);

  // Every attempt is durably started (and its order leased) before anything is sent.
  std::vector<bool> applied = Record(record_now);
  std::vector<std::unique_ptr<Work>> submits;
  std::vector<std::unique_ptr<Work>> done;
  for (size_t i = 0; i < record_now.size(); ++i) {
    std::unique_ptr<Work>& work = record_now[i];
    if (applied[i]) counters_.claimed++;
    if (work->submit && applied[i] && work->step.attempt == Transition::Attempt::kStart) {
      submits.push_back(std::move(work));
      continue;
    }
    if (work->submit) work->channel->Release();
    done.push_back(std::move(work));
  }
  Release(done);

  Call(submits);
  std::vector<std::unique_ptr<Work>> claimed = ClaimForQueries(std::move(queries), now_ms);
  Call(claimed);
}

std::vector<std::unique_ptr<Engine::Work>> Engine::ClaimForQueries(
    std::vector<std::unique_ptr<Work>> queries, int64_t now_ms) {
  if (queries.empty()) return queries;
  std::vector<std::string> ids;
  ids.reserve(queries.size());
  for (const std::unique_ptr<Work>& work : queries) ids.push_back(work->order.order_id);
  Result<std::vector<Order>> claimed =
      store_->ClaimOrders(ids, options_.owner, now_ms, options_.lease_ms);
  if (!claimed.ok()) {
    // Not acknowledged: the queue or the sweeper brings the orders back.
    counters_.store_errors++;
    spdlog::warn("claim of {} orders failed: {}", ids.size(), claimed.status().ToString());
    for (std::unique_ptr<Work>& work : queries) lease_keeper_.LetGo(work->order.order_id);
    return {};
  }
  counters_.claimed += static_cast<int64_t>(claimed->size());
  // An order that moved between the read and the claim is left to whoever moved it (or to the
  // sweeper): the plan was made for the state that was read.
  std::unordered_map<std::string_view, const Order*> by_id;
  for (const Order& order : *claimed) by_id.emplace(order.order_id, &order);
  std::vector<std::unique_ptr<Work>> asked;
  std::vector<std::unique_ptr<Work>> dropped;
  for (std::unique_ptr<Work>& work : queries) {
    auto it = by_id.find(work->order.order_id);
    const bool unchanged = it != by_id.end() && it->second->status == work->order.status &&
                           it->second->attempt_count == work->order.attempt_count &&
                           it->second->supplier_order_id == work->order.supplier_order_id;
    (unchanged ? asked : dropped).push_back(std::move(work));
  }
  Release(dropped);
  return asked;
}

void Engine::Call(std::vector<std::unique_ptr<Work>>& works) {
  {
    std::lock_guard lock(flow_mu_);
    in_flight_ += static_cast<int>(works.size());
  }
  Ask(works);
}

void Engine::Ask(std::vector<std::unique_ptr<Work>>& works) {
  for (std::unique_ptr<Work>& work : works) {
    work->called_ms = clock_->NowMs();
    SupplierChannel& channel = work->channel->channel();
    const bool submit = work->submit;
    SubmitRequest request{work->order.supplier_order_id, work->order.phone,
                          work->order.face_value_yuan};
    if (submit) {
      // An attempt is sent by attempt_sent_ms + attempt_timeout_ms or never, which is what lets
      // the order policy bound when the supplier can have received it (NotFoundBelievedFromMs).
      const int64_t left_ms =
          work->order.attempt_sent_ms + work->policy.attempt_timeout_ms - clock_->NowMs();
      if (left_ms <= 0) {
        OnAnswer(std::move(work), SupplierAnswer{SupplierOutcome::kNotSent, "",
                                                 "not sent: its time to be sent had passed"});
        continue;
      }
      request.timeout = std::chrono::milliseconds(left_ms);
    }
    // Back in a unique_ptr in the callback, which runs exactly once, maybe before the call
    // returns: the work may be gone once the call is made.
    Work* owned = work.release();
    AnswerCallback on_answer = [this, owned](SupplierAnswer answer) {
      OnAnswer(std::unique_ptr<Work>(owned), answer);
    };
    if (submit) {
      counters_.submitted++;
      channel.SubmitAsync(request, std::move(on_answer));
    } else {
      counters_.queried++;
      channel.QueryAsync(request.supplier_order_id, std::move(on_answer));
    }
  }
}

void Engine::ForgetOldWaits(int64_t now_ms) {
  if (now_ms - waits_forgotten_at_ms_ < kWaitingForgetMs / 10) return;
  waits_forgotten_at_ms_ = now_ms;
  std::erase_if(waiting_since_ms_,
                [&](const auto& entry) { return now_ms - entry.second > kWaitingForgetMs; });
}

std::unique_ptr<Engine::Work> Engine::Plan(Delivery delivery, Order order, int64_t now_ms) {
  assert(!IsFinal(order.status));
  auto work = std::make_unique<Work>();
  work->delivery = std::move(delivery);
  work->order = std::move(order);
  work->policy = options_.policy;
  const Order& o = work->order;
  if (o.supplier_order_id.empty()) {
    // No live attempt: start one, or fail the order if none can be started.
    Result<std::shared_ptr<RoutedChannel>> routed = router_->Admit(o, now_ms);
    if (!routed.ok()) {
      auto waiting = waiting_since_ms_.try_emplace(o.order_id, now_ms).first;
      work->step = PlanWithoutChannel(o, work->policy, routed.status(), waiting->second, now_ms);
      if (IsFinal(work->step.to)) waiting_since_ms_.erase(waiting);
      return work;
    }
    int64_t waited_ms = 0;
    if (auto waiting = waiting_since_ms_.find(o.order_id); waiting != waiting_since_ms_.end()) {
      waited_ms = now_ms - waiting->second;
      waiting_since_ms_.erase(waiting);
    }
    work->channel = std::move(*routed);
    work->submit = true;
    work->policy = PolicyFor(*work->channel);
    work->step = PlanNextAttempt(o, work->policy, work->channel->config().name, now_ms, waited_ms);
    return work;
  }
  // A live attempt, possibly sent by a process that died: ask, never resend.
  work->channel = router_->Find(o.channel);
  if (work->channel == nullptr) {
    spdlog::error("live attempt on an unconfigured channel order_id={} merchant_id={} channel={}",
                  o.order_id, o.merchant_id, o.channel);
    const SupplierAnswer unknown{SupplierOutcome::kUnknown, "",
                                 "channel " + o.channel + " is not configured"};
    work->step = PlanAfterAnswer(o, unknown, /*submitted=*/false, work->policy, now_ms);
    return work;
  }
  work->policy = PolicyFor(*work->channel);
  return work;
}

void Engine::OnAnswer(std::unique_ptr<Work> work, const SupplierAnswer& answer) {
  const int64_t now_ms = clock_->NowMs();
  if (work->submit) work->channel->Release();
  if (options_.metrics != nullptr) {
    options_.metrics->SupplierAnswered(work->channel->config().name, work->submit, answer.outcome,
                                       now_ms - work->called_ms);
  }
  work->step = PlanAfterAnswer(work->order, answer, work->submit, work->policy, now_ms);
  if (std::optional<CircuitBreaker::Outcome> health =
          HealthOutcome(work->submit, answer, work->step)) {
    work->channel->breaker().Record(*health, now_ms);
  }
  if (answer.outcome == SupplierOutcome::kSuccess || answer.outcome == SupplierOutcome::kFailed) {
    work->channel->time_to_final().Record(now_ms - work->order.attempt_sent_ms);
  }
  // Nothing to write: this process keeps the lease and asks again when the step says. Before the
  // deadline only, since the first step after it writes why the order is late.
  const bool poll_in_memory = work->channel != nullptr && OnlyReschedules(work->step) &&
                              !IsFirstStepAfterDeadline(work->order, now_ms);
  // Notified under the lock: once the finisher can see this answer, it may record it, bring
  // in_flight_ to 0 and let Stop() return and the Engine be destroyed, so this (channel) thread
  // must not touch the Engine after releasing flow_mu_.
  std::lock_guard lock(flow_mu_);
  if (poll_in_memory && !polls_closed_ && !stopping_ &&
      polls_.size() < options_.max_polled_in_memory) {
    // The lease keeper renews the lease meanwhile; the delivery is done with. Waiting for its
    // next look, the order holds no room for calls.
    if (work->delivery) {
      poll_acks_.push_back(std::move(*work->delivery));
      work->delivery.reset();
    }
    work->submit = false;
    const int64_t due_ms = work->step.next_check_ms;
    const bool first = polls_.empty() || due_ms < polls_.begin()->first;
    polls_.emplace(due_ms, std::move(work));
    in_flight_--;
    room_cv_.notify_one();
    if (first || poll_acks_.size() == 1) poll_cv_.notify_one();
    return;
  }
  const bool was_empty = answers_.empty();
  answers_.push_back(std::move(work));
  if (was_empty) answered_cv_.notify_one();
}

void Engine::PollLoop() {
  SetThreadName("poller");
  std::unique_lock lock(flow_mu_);
  while (!stopping_) {
    const int64_t now_ms = clock_->NowMs();
    poller_pass_ms_ = now_ms;
    if (!poll_acks_.empty()) {
      std::vector<Delivery> acks;
      acks.swap(poll_acks_);
      lock.unlock();
      (void)queue_->Ack(acks);
      lock.lock();
      continue;
    }
    // Queries count against max_in_flight as every call does: beyond it they would only wait for
    // a connection. Those left waiting for room are kept from the dispatcher's share.
    const size_t max_in_flight = static_cast<size_t>(options_.max_in_flight);
    std::vector<std::unique_ptr<Work>> due;
    while (!polls_.empty() && polls_.begin()->first <= now_ms &&
           static_cast<size_t>(in_flight_) + due.size() < max_in_flight) {
      due.push_back(std::move(polls_.begin()->second));
      polls_.erase(polls_.begin());
    }
    polls_waiting_for_room_ = 0;
    for (auto it = polls_.begin();
         it != polls_.end() && it->first <= now_ms && polls_waiting_for_room_ < max_in_flight;
         ++it) {
      ++polls_waiting_for_room_;
    }
    if (!due.empty()) {
      in_flight_ += static_cast<int>(due.size());
      lock.unlock();
      counters_.polled_in_memory += static_cast<int64_t>(due.size());
      Ask(due);
      lock.lock();
      continue;
    }
    // Waiting for room, the finisher wakes it as calls end.
    const int64_t sleep_ms =
        polls_.empty() || polls_waiting_for_room_ > 0
            ? kPollerMaxSleepMs
            : std::clamp<int64_t>(polls_.begin()->first - now_ms, 1, kPollerMaxSleepMs);
    poll_cv_.wait_for(lock, std::chrono::milliseconds(sleep_ms));
  }
  // Stopping: the orders not asked again are let go; their leases lapse and the sweeper (here or
  // on another node) takes them up from the store, where their next check is due.
  polls_closed_ = true;
  std::vector<Delivery> acks;
  acks.swap(poll_acks_);
  std::vector<std::string> let_go;
  for (auto& [due_ms, work] : polls_) let_go.push_back(work->order.order_id);
  polls_.clear();
  lock.unlock();
  for (const std::string& order_id : let_go) lease_keeper_.LetGo(order_id);
  if (!acks.empty()) (void)queue_->Ack(acks);
  answered_cv_.notify_all();
  room_cv_.notify_all();
}

void Engine::FinishLoop() {
  SetThreadName("finisher");
  std::vector<std::unique_ptr<Work>> batch;
  while (true) {
    {
      std::unique_lock lock(flow_mu_);
      while (!answered_cv_.wait_for(lock, kFinisherIdlePass, [this] {
        return !answers_.empty() || (dispatcher_done_ && in_flight_ == 0);
      })) {
        finisher_pass_ms_ = clock_->NowMs();
      }
      if (answers_.empty()) return;
      batch.swap(answers_);
    }
    Record(batch);
    Release(batch);
    {
      std::lock_guard lock(flow_mu_);
      in_flight_ -= static_cast<int>(batch.size());
      if (polls_waiting_for_room_ > 0) poll_cv_.notify_one();
    }
    room_cv_.notify_all();  // the dispatcher, or Stop() waiting for the answers
    batch.clear();
    finisher_pass_ms_ = clock_->NowMs();
  }
}

std::vector<bool> Engine::Record(const std::vector<std::unique_ptr<Work>>& works) {
  if (works.empty()) return {};
  std::vector<Transition> transitions;
  transitions.reserve(works.size());
  for (const std::unique_ptr<Work>& work : works) {
    Transition& t = work->step;
    assert(IsAllowedTransition(t.from, t.to));
    NoteIfLate(*store_, work->order, &t);
    transitions.push_back(t);
  }
  std::vector<Result<bool>> results = store_->ApplyTransitions(transitions);
  assert(results.size() == works.size());
  std::vector<bool> applied(works.size(), false);
  for (size_t i = 0; i < works.size(); ++i) {
    if (!results[i].ok()) {
      // The lease lapses and the order is looked at again later.
      counters_.store_errors++;
      spdlog::warn("transition failed order_id={} channel={}: {}", works[i]->order.order_id,
                   works[i]->order.channel, results[i].status().ToString());
    } else if (!*results[i]) {
      counters_.cas_lost++;
    } else {
      if (options_.metrics != nullptr) {
        options_.metrics->TransitionApplied(works[i]->order, works[i]->step);
      }
      ApplyToOrder(works[i]->step, &works[i]->order);
      applied[i] = true;
    }
  }
  return applied;
}

void Engine::Release(std::vector<std::unique_ptr<Work>>& works) {
  if (works.empty()) return;
  std::vector<Delivery> deliveries;
  deliveries.reserve(works.size());
  for (std::unique_ptr<Work>& work : works) {
    lease_keeper_.LetGo(work->order.order_id);
    if (work->delivery) deliveries.push_back(std::move(*work->delivery));
  }
  // Either the step is durable, or the order was final or someone else's, or the store failed
  // and the sweeper brings the order back: nothing for the queue to redo.
  if (!deliveries.empty()) (void)queue_->Ack(deliveries);
}

}  // namespace topup
