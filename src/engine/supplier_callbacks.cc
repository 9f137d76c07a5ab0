#include "engine/supplier_callbacks.h"

#include <spdlog/spdlog.h>

#include "core/hmac.h"
#include "engine/callback_body.h"
#include "engine/deadline_report.h"

namespace topup {
namespace {}  // namespace

SupplierCallbacks::SupplierCallbacks(Store* store, ChannelRouter* router, Clock* clock,
                                     OrderPolicy policy, observe::Metrics* metrics)
    : store_(store), router_(router), clock_(clock), policy_(policy), metrics_(metrics) {}

Result<std::string> SupplierCallbacks::Handle(const std::string& channel_name,
                                              std::string_view body,
                                              std::string_view signature_hex) {
  std::shared_ptr<RoutedChannel> channel = router_->Find(channel_name);
  if (channel == nullptr) {
    return NotFound("unknown_channel", "no channel named \"" + channel_name + "\"");
  }
  const std::string& secret = channel->config().callback_secret;
  if (secret.empty() || !ConstantTimeEquals(HmacSha256Hex(secret, body), signature_hex)) {
    return Status(StatusCode::kUnauthenticated, "bad_signature",
                  "X-Signature is not the HMAC-SHA256 of the body under this channel's secret");
  }

  Result<CallbackBody> parsed = ParseCallbackBody(body);
  if (!parsed.ok()) return parsed.status();
  if (parsed->processing) return std::string("no_change");
  const SupplierAnswer& answer = parsed->answer;
  const std::string& supplier_order_id = parsed->supplier_order_id;

  // The attempt must exist: its order, and an attempt number that was started.
  std::optional<std::string> order_id = OrderIdOfSupplierOrderId(supplier_order_id);
  Result<Order> order = order_id ? store_->GetOrder(*order_id) : Result<Order>(NotFound("", ""));
  int32_t attempt_no = order_id ? std::atoi(supplier_order_id.c_str() + order_id->size() + 1) : 0;
  if (!order.ok() || attempt_no > order->attempt_count) {
    spdlog::warn("callback for an unknown attempt channel={} supplier_order_id={}", channel_name,
                 supplier_order_id);
    return NotFound("unknown_supplier_order_id",
                    "no attempt with supplier_order_id \"" + supplier_order_id + "\"");
  }
  if (order->supplier_order_id == supplier_order_id && order->channel != channel_name) {
    spdlog::warn("callback from channel={} about attempt {} sent to {} order_id={}", channel_name,
                 supplier_order_id, order->channel, order->order_id);
    return NotFound("unknown_supplier_order_id",
                    "attempt \"" + supplier_order_id + "\" was not sent to this channel");
  }
  if (IsFinal(order->status)) {
    if (answer.outcome == SupplierOutcome::kSuccess && order->status == OrderStatus::kFailed) {
      spdlog::error(
          "callback reports success of {} but the order failed and was refunded order_id={} "
          "merchant_id={} channel={}",
          supplier_order_id, order->order_id, order->merchant_id, channel_name);
    }
    return std::string("already_final");
  }
  if (order->supplier_order_id != supplier_order_id) {
    // Not the live attempt: already answered, or an older attempt that was taken as dead. A
    // success of a dead attempt means the supplier broke its word (a not_found past the grace
    // period, or a confirmed failure); it must reach a person.
    if (answer.outcome == SupplierOutcome::kSuccess) {
      spdlog::error(
          "callback reports success of dead attempt {} order_id={} merchant_id={} channel={}",
          supplier_order_id, order->order_id, order->merchant_id, channel_name);
    }
    return std::string("stale_attempt");
  }
  Transition transition =
      PlanAfterAnswer(*order, answer, /*submitted=*/false, policy_, clock_->NowMs());
  transition.event_detail += " (callback)";
  NoteIfLate(*store_, *order, &transition);
  Result<bool> applied = store_->ApplyTransition(transition);
  if (!applied.ok()) return applied.status();
  if (*applied && metrics_ != nullptr) metrics_->TransitionApplied(*order, transition);
  return std::string(*applied ? "applied" : "no_change");
}

}  // namespace topup
