// SimulatedChannel: a node's SupplierChannel to a SimulatedSupplier. A call reaches the supplier
// at once; its answer is an event of the world's EventQueue at the reply's time, or at the call's
// timeout if the reply would come later or never. The supplier's HTTP exchange is read by the
// engine's own SubmitAnswer/QueryAnswer, as HttpSupplierChannel reads a real one.
//
// Threading: the simulation's one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/channel_config.h"
#include "simulate/event_queue.h"
#include "simulate/simulated_supplier.h"
#include "topup/supplier_channel.h"

namespace topup::simulate {

class SimulatedChannel final : public SupplierChannel {
 public:
  // Told of an attempt that breaks "one live attempt per order".
  using ViolationSink = std::function<void(const std::string& violation)>;
  // Asked before each call leaves: true if the node dies first (nothing is sent, and the call is
  // never answered).
  using DiesBeforeSend = std::function<bool()>;

  // The pointers must outlive the channel. Answers are dropped, never delivered, once `*alive`
  // is false (the node crashed).
  SimulatedChannel(ChannelConfig config, SimulatedSupplier* supplier, EventQueue* events,
                   std::shared_ptr<const bool> alive, ViolationSink on_violation,
                   DiesBeforeSend dies_before_send);

  const std::string& name() const override { return config_.name; }
  // The blocking calls answer at once, without spending the reply's simulated time: the engine
  // makes only asynchronous calls.
  SupplierAnswer Submit(const SubmitRequest& request) override;
  SupplierAnswer Query(std::string_view supplier_order_id) override;
  void SubmitAsync(const SubmitRequest& request, AnswerCallback done) override;
  void QueryAsync(std::string_view supplier_order_id, AnswerCallback done) override;

 private:
  // Answers `done` with `answer` at `at_ms`, if the node is still alive then.
  void AnswerAt(int64_t at_ms, SupplierAnswer answer, AnswerCallback done);
  int64_t SubmitTimeoutMs(const SubmitRequest& request) const;

  const ChannelConfig config_;
  SimulatedSupplier* const supplier_;
  EventQueue* const events_;
  const std::shared_ptr<const bool> alive_;
  const ViolationSink on_violation_;
  const DiesBeforeSend dies_before_send_;
};

}  // namespace topup::simulate
