#include "simulate/simulated_receiver.h"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <utility>

#include "notify/retry_schedule.h"

namespace topup::simulate {
namespace {

constexpr std::array<const char*, 5> kBehaviourNames = {"healthy", "slow", "failing", "refusing",
                                                        "silent"};
constexpr double kSilentChance = 0.1;
// A faulty endpoint is healthy again by this long after the world starts: before the schedule
// (compressed) is spent for any order, so only a silent one gives up.
constexpr int64_t kHealthyByMaxMs = 60'000;
constexpr int64_t kHealthyLatencyMaxMs = 800;
constexpr int64_t kSlowLatencyMaxMs = 8'000;
constexpr int64_t kFailingLatencyMaxMs = 500;
constexpr int64_t kRefusedLatencyMaxMs = 50;
constexpr std::string_view kHostSuffix = ".merchant.invalid";

}  // namespace

class SimulatedReceiver::Sender final : public notify::NotificationSender {
 public:
  Sender(SimulatedReceiver* receiver, const Clock* node_clock, std::shared_ptr<const bool> alive,
         DiesMidDelivery dies)
      : receiver_(receiver),
        node_clock_(node_clock),
        alive_(std::move(alive)),
        dies_(std::move(dies)) {}
  void Send(notify::NotificationRequest request, Done done) override {
    receiver_->Receive(request, node_clock_->NowMs(), alive_, dies_, std::move(done));
  }

 private:
  SimulatedReceiver* const receiver_;
  const Clock* const node_clock_;
  const std::shared_ptr<const bool> alive_;
  const DiesMidDelivery dies_;
};

SimulatedReceiver::SimulatedReceiver(int merchants, int32_t schedule_divisor, Random* random,
                                     const Faults* faults, EventQueue* events, const Clock* clock,
                                     Trace* trace, StorePicker pick_store,
                                     ViolationSink on_violation)
    : schedule_divisor_(schedule_divisor),
      random_(random),
      events_(events),
      clock_(clock),
      trace_(trace),
      pick_store_(std::move(pick_store)),
      on_violation_(std::move(on_violation)) {
  for (int m = 0; m < merchants; ++m) {
    Endpoint endpoint;
    if (faults->receiver) {
      endpoint.behaviour = random_->Chance(kSilentChance)
                               ? Behaviour::kSilent
                               : static_cast<Behaviour>(random_->NextBelow(4));
      endpoint.healthy_from_ms =
          clock_->NowMs() + static_cast<int64_t>(random_->NextBelow(kHealthyByMaxMs));
    }
    endpoints_["m" + std::to_string(m)] = endpoint;
  }
}

std::string SimulatedReceiver::NotifyUrl(const std::string& merchant_id) {
  return "http://" + merchant_id + std::string(kHostSuffix) + "/notify";
}

std::unique_ptr<notify::NotificationSender> SimulatedReceiver::SenderFor(
    const Clock* node_clock, std::shared_ptr<const bool> alive, DiesMidDelivery dies_mid_delivery) {
  return std::make_unique<Sender>(this, node_clock, std::move(alive), std::move(dies_mid_delivery));
}

bool SimulatedReceiver::Silent(const std::string& merchant_id) const {
  auto found = endpoints_.find(merchant_id);
  return found != endpoints_.end() && found->second.behaviour == Behaviour::kSilent;
}

const std::vector<ReceivedTry>* SimulatedReceiver::TriesOf(int64_t notification_id) const {
  auto found = tries_of_.find(notification_id);
  return found == tries_of_.end() ? nullptr : &found->second;
}

std::string SimulatedReceiver::Describe() const {
  std::string text;
  for (const auto& [merchant_id, endpoint] : endpoints_) {
    if (!text.empty()) text += ',';
    text += merchant_id + "=" + kBehaviourNames[static_cast<size_t>(endpoint.behaviour)];
  }
  return text;
}

void SimulatedReceiver::Receive(const notify::NotificationRequest& request, int64_t sent_at_ms,
                                const std::shared_ptr<const bool>& alive,
                                const DiesMidDelivery& dies_mid_delivery,
                                notify::NotificationSender::Done done) {
  int64_t notification_id = 0;
  for (const auto& [name, value] : request.headers) {
    if (name == "X-Topup-Notification-Id") notification_id = std::stoll(value);
  }
  const std::string merchant_id =
      request.host.ends_with(kHostSuffix)
          ? request.host.substr(0, request.host.size() - kHostSuffix.size())
          : request.host;
  auto endpoint = endpoints_.find(merchant_id);
  if (notification_id <= 0 || endpoint == endpoints_.end()) {
    on_violation_("a notification try without its id or to an unknown host " + request.host);
    return;
  }
  CheckArrival(request, notification_id);
  std::vector<ReceivedTry>& seen = tries_of_[notification_id];
  if (!seen.empty()) ++duplicates_;
  ++tries_;
  seen.push_back(ReceivedTry{.at_ms = sent_at_ms, .acknowledged = false, .answered_run = nullptr});

  // What the merchant answers, and after how long.
  Behaviour behaviour = endpoint->second.behaviour;
  if (behaviour != Behaviour::kSilent && sent_at_ms >= endpoint->second.healthy_from_ms) {
    behaviour = Behaviour::kHealthy;
  }
  int64_t latency_ms = 0;
  Result<http::HttpResponse> answer = http::HttpResponse{};
  switch (behaviour) {
    case Behaviour::kHealthy:
      latency_ms = static_cast<int64_t>(random_->NextBelow(kHealthyLatencyMaxMs));
      answer->status = random_->Chance(0.2) ? 204 : 200;
      break;
    case Behaviour::kSlow:
      latency_ms = static_cast<int64_t>(random_->NextBelow(kSlowLatencyMaxMs));
      answer->status = 200;
      break;
    case Behaviour::kFailing:
      latency_ms = static_cast<int64_t>(random_->NextBelow(kFailingLatencyMaxMs));
      answer->status = random_->Chance(0.5) ? 500 : 503;
      break;
    case Behaviour::kRefusing:
      latency_ms = static_cast<int64_t>(random_->NextBelow(kRefusedLatencyMaxMs));
      answer = Unavailable("connect_failed", "connection refused");
      break;
    case Behaviour::kSilent:
      latency_ms = request.timeout.count() + 1;
      break;
  }
  if (latency_ms > request.timeout.count()) {
    latency_ms = request.timeout.count();
    answer = DeadlineExceeded("timeout", "no answer within the try's timeout");
  }
  const bool acknowledged = answer.ok() && answer->status >= 200 && answer->status < 300;
  const size_t index = seen.size() - 1;
  trace_->Add(events_->now_ms(), "notification " + std::to_string(notification_id) + " try " +
                                     std::to_string(index + 1) + " to " + merchant_id + " (" +
                                     kBehaviourNames[static_cast<size_t>(behaviour)] + ")");
  events_->Schedule(
      events_->now_ms() + latency_ms,
      [this, notification_id, index, acknowledged, alive, dies_mid_delivery,
       answer = std::move(answer), done = std::move(done)]() mutable {
        if (!*alive) return;
        // A try the merchant acknowledged counts as such even if the node never hears of it.
        tries_of_[notification_id][index].acknowledged = acknowledged;
        if (dies_mid_delivery && dies_mid_delivery()) return;
        if (!*alive) return;
        tries_of_[notification_id][index].answered_run = alive;
        trace_->Add(events_->now_ms(),
                    "notification " + std::to_string(notification_id) + " answered " +
                        (answer.ok() ? std::to_string(answer->status) : answer.status().reason()));
        done(std::move(answer));
      });
}

void SimulatedReceiver::CheckArrival(const notify::NotificationRequest& request,
                                     int64_t notification_id) {
  const std::string what = "notification " + std::to_string(notification_id);
  Store* store = pick_store_();
  if (store == nullptr) return;  // the sending node is up; a store is always there
  Result<Notification> row = store->GetNotification(notification_id);
  if (!row.ok()) return on_violation_(what + " sent but unreadable: " + row.status().ToString());
  Result<Order> order = store->GetOrder(row->order_id);
  if (!order.ok()) return on_violation_(what + " of a missing order " + row->order_id);
  if (!IsFinal(order->status)) {
    return on_violation_(what + " sent while order " + order->order_id + " is " +
                         std::string(OrderStatusName(order->status)));
  }
  if (row->state != NotificationState::kPending) {
    return on_violation_(what + " sent though it is no longer pending");
  }
  const size_t tries = static_cast<size_t>(row->tries);
  if (tries >= notify::kTryOffsetsMs.size()) {
    return on_violation_(what + " tried after its schedule was spent");
  }
  const int64_t due_ms = row->schedule_start_ms + notify::kTryOffsetsMs[tries] / schedule_divisor_;
  if (clock_->NowMs() + allowed_skew_ms_ < due_ms) {
    return on_violation_(what + " try " + std::to_string(tries + 1) + " sent " +
                         std::to_string(due_ms - clock_->NowMs()) + " ms before it was due");
  }
  boost::system::error_code error;
  const boost::json::value body = boost::json::parse(request.body, error);
  if (error || !body.is_object()) return on_violation_(what + " has an unreadable body");
  const boost::json::object& fields = body.as_object();
  auto text = [&](const char* key) -> std::string {
    const boost::json::value* v = fields.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto number = [&](const char* key) -> int64_t {
    const boost::json::value* v = fields.if_contains(key);
    return v != nullptr && v->is_int64() ? v->as_int64() : -1;
  };
  const bool matches =
      text("order_id") == order->order_id &&
      text("merchant_order_id") == order->merchant_order_id &&
      text("status") == OrderStatusName(order->status) &&
      number("face_value") == order->face_value_yuan && number("price_fen") == order->price_fen &&
      row->order_status == order->status && row->merchant_id == order->merchant_id &&
      row->notify_url == order->notify_url;
  if (!matches) {
    on_violation_(what + " does not announce order " + order->order_id + " as it ended (" +
                  std::string(OrderStatusName(order->status)) + "): " + request.body);
  }
}

}  // namespace topup::simulate
