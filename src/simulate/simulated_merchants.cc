#include "simulate/simulated_merchants.h"

#include <array>
#include <cassert>

#include "auth/merchant_keys.h"
#include "core/new_order.h"
#include "simulate/simulated_receiver.h"

namespace topup::simulate {
namespace {

constexpr std::array<int32_t, 5> kFaceValues = {10, 20, 30, 50, 100};
constexpr double kRetryChance = 0.15;
constexpr double kNotifyUrlChance = 0.7;
constexpr int64_t kRetryAfterMaxMs = 30'000;
// While every node is down, a placement is tried again this much later.
constexpr int64_t kNodesDownRetryMs = 1'000;
// The phone prefixes of the three carriers.
constexpr std::array<const char*, 3> kPrefixes = {"138", "186", "189"};

}  // namespace

SimulatedMerchants::SimulatedMerchants(MerchantsOptions options, Random* random, EventQueue* events,
                                       Clock* clock, SimulatedQueue* queue, Trace* trace,
                                       StorePicker pick_store, ViolationSink on_violation)
    : options_(options),
      random_(random),
      events_(events),
      clock_(clock),
      queue_(queue),
      trace_(trace),
      pick_store_(std::move(pick_store)),
      on_violation_(std::move(on_violation)) {
  assert(options_.orders >= 0 && options_.orders <= kMaxOrders);
}

Status SimulatedMerchants::Open(Store* store, const auth::SecretBox& box) {
  const int64_t now_ms = clock_->NowMs();
  for (int m = 0; m < kMerchants; ++m) {
    const std::string id = "m" + std::to_string(m);
    if (Status created = store->CreateMerchant(id, id, now_ms); !created.ok()) return created;
    // The last merchant can pay for only about half of its orders: some are refused.
    const int64_t funding_fen = m + 1 < kMerchants ? 100'000'000 : options_.orders * 700;
    Result<int64_t> funded = store->FundMerchant(id, funding_fen, "simulation", now_ms);
    if (!funded.ok()) return funded.status();
    Result<auth::NewMerchantKey> key = auth::CreateMerchantKey(*store, box, id, now_ms);
    if (!key.ok()) return key.status();
  }
  for (int i = 0; i < options_.orders; ++i) {
    OrderRequest request;
    request.merchant_id = "m" + std::to_string(random_->NextBelow(kMerchants));
    request.merchant_order_id = "mo" + std::to_string(i);
    request.phone = kPrefixes[random_->NextBelow(kPrefixes.size())];
    for (int digit = 0; digit < 8; ++digit) request.phone += char('0' + random_->NextBelow(10));
    request.face_value_yuan = kFaceValues[random_->NextBelow(kFaceValues.size())];
    if (options_.notify_urls && random_->Chance(kNotifyUrlChance)) {
      request.notify_url = SimulatedReceiver::NotifyUrl(request.merchant_id);
    }
    const int64_t at_ms =
        events_->now_ms() +
        static_cast<int64_t>(random_->NextBelow(static_cast<uint64_t>(options_.spread_ms) + 1));
    ++unanswered_;
    events_->Schedule(at_ms, [this, request] { Place(request, /*retry=*/false); });
    if (random_->Chance(kRetryChance)) {
      ++unanswered_;
      const int64_t retry_at_ms =
          at_ms + static_cast<int64_t>(random_->NextBelow(kRetryAfterMaxMs));
      events_->Schedule(retry_at_ms, [this, request] { Place(request, /*retry=*/true); });
    }
  }
  return Status::Ok();
}

void SimulatedMerchants::Place(const OrderRequest& request, bool retry) {
  Store* store = pick_store_();
  if (store == nullptr) {
    events_->Schedule(events_->now_ms() + kNodesDownRetryMs,
                      [this, request, retry] { Place(request, retry); });
    return;
  }
  const Order order = NewAcceptedOrder(request, clock_->NowMs(), options_.deadline_ms,
                                       options_.redeliver_after_ms, *random_);
  Result<AcceptResult> accepted = store->AcceptOrder(order);
  --unanswered_;
  const std::string what = request.merchant_id + "/" + request.merchant_order_id;
  if (!accepted.ok()) {
    ++rejected_;
    trace_->Add(events_->now_ms(), "merchant " + what + " refused: " + accepted.status().reason());
    return;
  }
  const std::string& order_id = accepted->order.order_id;
  auto known = created_.find(request.merchant_order_id);
  if (known != created_.end() && (accepted->created || known->second != order_id)) {
    on_violation_("merchant order " + what + " placed again got " + order_id + " (created " +
                  std::to_string(accepted->created) + ") instead of " + known->second);
    return;
  }
  trace_->Add(events_->now_ms(), "merchant " + what + (retry ? " again: " : ": ") + order_id +
                                     (accepted->created ? " created" : " existing"));
  if (!accepted->created) return;
  created_.emplace(request.merchant_order_id, order_id);
  // Durable from here on; if the queue loses the id, the sweeper finds the order.
  const std::string ids[] = {order_id};
  (void)queue_->Publish(ids);
}

}  // namespace topup::simulate
