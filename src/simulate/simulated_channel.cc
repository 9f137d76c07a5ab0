#include "simulate/simulated_channel.h"

#include <algorithm>

#include "engine/supplier_answer.h"

namespace topup::simulate {
namespace {

const Status kTimedOut = DeadlineExceeded("timeout", "no answer within the call's timeout");

}  // namespace

SimulatedChannel::SimulatedChannel(ChannelConfig config, SimulatedSupplier* supplier,
                                   EventQueue* events, std::shared_ptr<const bool> alive,
                                   ViolationSink on_violation, DiesBeforeSend dies_before_send)
    : config_(std::move(config)),
      supplier_(supplier),
      events_(events),
      alive_(std::move(alive)),
      on_violation_(std::move(on_violation)),
      dies_before_send_(std::move(dies_before_send)) {}

int64_t SimulatedChannel::SubmitTimeoutMs(const SubmitRequest& request) const {
  const int64_t asked_ms = request.timeout.count();
  return asked_ms > 0 ? std::min(asked_ms, config_.attempt_timeout_ms) : config_.attempt_timeout_ms;
}

SupplierAnswer SimulatedChannel::Submit(const SubmitRequest& request) {
  std::optional<std::string> violation;
  SupplierReply reply = supplier_->Submit(request, &violation);
  if (violation) on_violation_(*violation);
  return SubmitAnswer(reply.after_ms ? reply.exchange : Result<http::HttpResponse>(kTimedOut));
}

SupplierAnswer SimulatedChannel::Query(std::string_view supplier_order_id) {
  SupplierReply reply = supplier_->Query(supplier_order_id);
  return QueryAnswer(reply.after_ms ? reply.exchange : Result<http::HttpResponse>(kTimedOut));
}

void SimulatedChannel::SubmitAsync(const SubmitRequest& request, AnswerCallback done) {
  if (dies_before_send_()) return;
  const int64_t now_ms = events_->now_ms();
  std::optional<std::string> violation;
  SupplierReply reply = supplier_->Submit(request, &violation);
  if (violation) on_violation_(*violation);
  const int64_t timeout_ms = SubmitTimeoutMs(request);
  if (!reply.after_ms || *reply.after_ms > timeout_ms) {
    AnswerAt(now_ms + timeout_ms, SubmitAnswer(kTimedOut), std::move(done));
  } else {
    AnswerAt(now_ms + *reply.after_ms, SubmitAnswer(reply.exchange), std::move(done));
  }
}

void SimulatedChannel::QueryAsync(std::string_view supplier_order_id, AnswerCallback done) {
  if (dies_before_send_()) return;
  const int64_t now_ms = events_->now_ms();
  SupplierReply reply = supplier_->Query(supplier_order_id);
  const int64_t timeout_ms = config_.query_timeout_ms;
  if (!reply.after_ms || *reply.after_ms > timeout_ms) {
    AnswerAt(now_ms + timeout_ms, QueryAnswer(kTimedOut), std::move(done));
  } else {
    AnswerAt(now_ms + *reply.after_ms, QueryAnswer(reply.exchange), std::move(done));
  }
}

void SimulatedChannel::AnswerAt(int64_t at_ms, SupplierAnswer answer, AnswerCallback done) {
  events_->Schedule(at_ms,
                    [alive = alive_, answer = std::move(answer), done = std::move(done)]() mutable {
                      if (*alive) done(std::move(answer));
                    });
}

}  // namespace topup::simulate
