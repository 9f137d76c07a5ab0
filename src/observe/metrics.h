// Metrics: the process's figures in the Prometheus text format (served at GET /metrics).
//
// Two kinds of figures:
//  * events counted where they happen (an order accepted or finished, a supplier call answered,
//    an HTTP request answered, a store commit): counters and histograms updated on the thread of
//    the event, each update a few atomic operations and at most one short lock;
//  * values read at scrape time through callbacks registered with AddGauge/AddCounter (breaker
//    states, the engine's counters, the periodic store summary, process figures). A callback must
//    be cheap: it runs on the scraping HTTP thread, so it never queries the store.
//
// Thread-safe. Every name starts with "topup_" except the standard process_* figures.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "topup/order.h"
#include "topup/store.h"
#include "topup/supplier_channel.h"

namespace topup::observe {

// One labelled value of a scrape-time figure.
struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};
using SampleReader = std::function<std::vector<Sample>()>;

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // An order request the store answered: created (and debited price_fen) or a repeat.
  void OrderAccepted(bool created, int64_t price_fen);
  // A transition that the store applied to `before`. Counts finished orders by outcome and
  // channel, their acceptance-to-final latency, deadline misses and refunds.
  void TransitionApplied(const Order& before, const Transition& transition);
  // A supplier call's answer; `submit` false for a query. latency_ms from the call to the answer.
  void SupplierAnswered(std::string_view channel, bool submit, SupplierOutcome outcome,
                        int64_t latency_ms);
  // An HTTP response the server sent. `route` is a template such as "/v1/orders/{order_id}".
  void HttpAnswered(std::string_view route, int status, std::chrono::nanoseconds took);
  // A group commit of the store (see CommitObserver).
  void StoreCommitted(size_t writes, std::chrono::microseconds took);
  // A notification try this process recorded: its outcome ("acknowledged", "failed", "timeout",
  // "refused"), whether it was the last of the schedule and failed (given up), and for an
  // acknowledged one the time from its order's finality (or re-send) to the acknowledgement.
  void NotificationTried(std::string_view outcome, bool gave_up, int64_t delivered_after_ms);

  // Registers a figure read at every scrape. `name` and label names must be valid Prometheus
  // names; a counter's name ends in "_total". REQUIRES: before the first scrape.
  void AddGauge(std::string name, std::string help, SampleReader read);
  void AddCounter(std::string name, std::string help, SampleReader read);

  // Every figure, in the text exposition format (version 0.0.4).
  std::string Serialize() const;
  // The samples of the figure `name` as a scrape reads them, for the dashboard. A histogram is
  // read as "<name>_sum" and "<name>_count"; an unknown name reads as no sample.
  std::vector<Sample> Read(std::string_view name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The content type of Serialize()'s text.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace topup::observe
