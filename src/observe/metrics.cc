#include "observe/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <initializer_list>
#include <mutex>
#include <unordered_map>

namespace topup::observe {
namespace {

// Acceptance to final: fine below the 3-minute promise, and past it to show how late.
const prometheus::Histogram::BucketBoundaries kFinalLatencyBucketsS = {
    0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, 120, 150, 180, 210, 240, 300, 600};
const prometheus::Histogram::BucketBoundaries kSupplierLatencyBucketsS = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const prometheus::Histogram::BucketBoundaries kHttpLatencyBucketsS = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
const prometheus::Histogram::BucketBoundaries kCommitWritesBuckets = {1,  2,   4,   8,   16,  32,
                                                                      64, 128, 256, 512, 1024};
const prometheus::Histogram::BucketBoundaries kCommitLatencyBucketsS = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1};
// Finality to acknowledgement: fine for a first try, then around the retries (15 s, 1 min, 5 min,
// 30 min, 2 h, 6 h).
const prometheus::Histogram::BucketBoundaries kNotificationDeliveryBucketsS = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 70, 330, 1830, 7230, 21630};

// The figures registered with AddGauge/AddCounter, collected at scrape time.
class ScrapeTimeFigures final : public prometheus::Collectable {
 public:
  void Add(std::string name, std::string help, prometheus::MetricType type, SampleReader read) {
    std::lock_guard lock(mu_);
    figures_.push_back(Figure{std::move(name), std::move(help), type, std::move(read)});
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);
    std::vector<prometheus::MetricFamily> families;
    families.reserve(figures_.size());
    for (const Figure& figure : figures_) {
      prometheus::MetricFamily family{figure.name, figure.help, figure.type, {}};
      for (Sample& sample : figure.read()) {
        prometheus::ClientMetric metric;
        for (auto& [name, value] : sample.labels) {
          metric.label.push_back({std::move(name), std::move(value)});
        }
        if (figure.type == prometheus::MetricType::Counter) {
          metric.counter.value = sample.value;
        } else {
          metric.gauge.value = sample.value;
        }
        family.metric.push_back(std::move(metric));
      }
      families.push_back(std::move(family));
    }
    return families;
  }

 private:
  struct Figure {
    std::string name;
    std::string help;
    prometheus::MetricType type;
    SampleReader read;
  };
  mutable std::mutex mu_;
  std::vector<Figure> figures_;  // GUARDED_BY(mu_)
};

// The series of a family by label values, so the hot path finds a series with one short lock and
// one hash lookup instead of Family::Add's construction of a new metric on every call.
template <typename T>
class SeriesCache {
 public:
  explicit SeriesCache(prometheus::Family<T>& family) : family_(family) {}

  // `names` and `values` pair up. Extra arguments construct a new series (a histogram's buckets).
  template <typename... Args>
  T& Get(std::initializer_list<std::string_view> names,
         std::initializer_list<std::string_view> values, const Args&... args) {
    std::string key;
    for (std::string_view value : values) key.append(value).push_back('\0');
    std::lock_guard lock(mu_);
    auto it = series_.find(key);
    if (it != series_.end()) return *it->second;
    prometheus::Labels labels;
    auto value = values.begin();
    for (std::string_view name : names) labels.emplace(name, *value++);
    T& series = family_.Add(labels, args...);
    series_.emplace(std::move(key), &series);
    return series;
  }

 private:
  prometheus::Family<T>& family_;
  std::mutex mu_;
  std::unordered_map<std::string, T*> series_;  // GUARDED_BY(mu_); the family owns the series
};

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

struct Metrics::Impl {
  prometheus::Registry registry;
  ScrapeTimeFigures scrape_time;

  prometheus::Family<prometheus::Counter>& accepted =
      prometheus::BuildCounter()
          .Name("topup_orders_accepted_total")
          .Help(
              "Order requests the store answered: created (debited) or a repeat of an earlier one")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& finished =
      prometheus::BuildCounter()
          .Name("topup_orders_finished_total")
          .Help("Orders brought to a final state by this process, by outcome and channel")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& final_latency =
      prometheus::BuildHistogram()
          .Name("topup_order_final_latency_seconds")
          .Help("From acceptance to the final state, of orders finished by this process")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& deadline_missed =
      prometheus::BuildCounter()
          .Name("topup_deadline_missed_total")
          .Help("Orders whose first step at or after their deadline was recorded by this process")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& ledger =
      prometheus::BuildCounter()
          .Name("topup_ledger_fen_total")
          .Help("Money moved by this process's orders, in fen: debited at acceptance, refunded")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& supplier_calls =
      prometheus::BuildCounter()
          .Name("topup_supplier_calls_total")
          .Help("Supplier calls answered, by channel, call (submit or query) and outcome")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& supplier_latency =
      prometheus::BuildHistogram()
          .Name("topup_supplier_call_latency_seconds")
          .Help("From a supplier call to its answer, by channel and call")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& http_requests =
      prometheus::BuildCounter()
          .Name("topup_http_requests_total")
          .Help("HTTP responses sent, by route and status code")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& http_latency =
      prometheus::BuildHistogram()
          .Name("topup_http_request_duration_seconds")
          .Help("From a request read to its response handed to the connection, by route")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& commit_writes =
      prometheus::BuildHistogram()
          .Name("topup_store_commit_writes")
          .Help("Callers' writes per group transaction of the store")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& commit_latency =
      prometheus::BuildHistogram()
          .Name("topup_store_commit_seconds")
          .Help("From BEGIN to COMMIT of a group transaction of the store")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& notification_tries =
      prometheus::BuildCounter()
          .Name("topup_notification_tries_total")
          .Help(
              "Notification tries recorded by this process, by outcome: acknowledged (2xx), "
              "failed (another answer or a transport error), timeout, refused (SSRF guard)")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& notifications_given_up =
      prometheus::BuildCounter()
          .Name("topup_notifications_given_up_total")
          .Help("Notifications whose every try failed, given up by this process")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& notification_delivery =
      prometheus::BuildHistogram()
          .Name("topup_notification_delivery_seconds")
          .Help(
              "From an order's final state (or a re-send) to the merchant's acknowledgement, "
              "of notifications delivered by this process")
          .Register(registry);

  prometheus::Counter& created = accepted.Add({{"outcome", "created"}});
  prometheus::Counter& repeated = accepted.Add({{"outcome", "repeat"}});
  prometheus::Counter& missed = deadline_missed.Add({});
  prometheus::Counter& debited_fen = ledger.Add({{"kind", "debited"}});
  prometheus::Counter& refunded_fen = ledger.Add({{"kind", "refunded"}});
  prometheus::Histogram& final_seconds = final_latency.Add({}, kFinalLatencyBucketsS);
  SeriesCache<prometheus::Counter> finished_by = SeriesCache(finished);
  SeriesCache<prometheus::Counter> supplier_calls_by = SeriesCache(supplier_calls);
  SeriesCache<prometheus::Histogram> supplier_latency_by = SeriesCache(supplier_latency);
  SeriesCache<prometheus::Counter> http_requests_by = SeriesCache(http_requests);
  SeriesCache<prometheus::Histogram> http_latency_by = SeriesCache(http_latency);
  prometheus::Histogram& writes_per_commit = commit_writes.Add({}, kCommitWritesBuckets);
  prometheus::Histogram& commit_seconds = commit_latency.Add({}, kCommitLatencyBucketsS);
  prometheus::Counter& tries_acknowledged = notification_tries.Add({{"outcome", "acknowledged"}});
  prometheus::Counter& tries_failed = notification_tries.Add({{"outcome", "failed"}});
  prometheus::Counter& tries_timeout = notification_tries.Add({{"outcome", "timeout"}});
  prometheus::Counter& tries_refused = notification_tries.Add({{"outcome", "refused"}});
  prometheus::Counter& given_up = notifications_given_up.Add({});
  prometheus::Histogram& delivery_seconds =
      notification_delivery.Add({}, kNotificationDeliveryBucketsS);
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::OrderAccepted(bool created, int64_t price_fen) {
  if (!created) {
    impl_->repeated.Increment();
    return;
  }
  impl_->created.Increment();
  impl_->debited_fen.Increment(static_cast<double>(price_fen));
}

void Metrics::TransitionApplied(const Order& before, const Transition& transition) {
  if (!transition.deadline_missed_detail.empty()) impl_->missed.Increment();
  if (!IsFinal(transition.to) || IsFinal(before.status)) return;
  const std::string& channel =
      transition.attempt == Transition::Attempt::kStart ? transition.channel : before.channel;
  const bool success = transition.to == OrderStatus::kSuccess;
  impl_->finished_by.Get({"outcome", "channel"}, {success ? "success" : "failed", channel})
      .Increment();
  impl_->final_seconds.Observe(Seconds(transition.now_ms - before.created_ms));
  if (!success) impl_->refunded_fen.Increment(static_cast<double>(before.price_fen));
}

void Metrics::SupplierAnswered(std::string_view channel, bool submit, SupplierOutcome outcome,
                               int64_t latency_ms) {
  const std::string_view call = submit ? "submit" : "query";
  impl_->supplier_calls_by
      .Get({"channel", "call", "outcome"}, {channel, call, SupplierOutcomeName(outcome)})
      .Increment();
  impl_->supplier_latency_by.Get({"channel", "call"}, {channel, call}, kSupplierLatencyBucketsS)
      .Observe(Seconds(latency_ms));
}

void Metrics::HttpAnswered(std::string_view route, int status, std::chrono::nanoseconds took) {
  impl_->http_requests_by.Get({"route", "code"}, {route, std::to_string(status)}).Increment();
  impl_->http_latency_by.Get({"route"}, {route}, kHttpLatencyBucketsS)
      .Observe(std::chrono::duration<double>(took).count());
}

void Metrics::StoreCommitted(size_t writes, std::chrono::microseconds took) {
  impl_->writes_per_commit.Observe(static_cast<double>(writes));
  impl_->commit_seconds.Observe(std::chrono::duration<double>(took).count());
}

void Metrics::NotificationTried(std::string_view outcome, bool gave_up,
                                int64_t delivered_after_ms) {
  if (outcome == "acknowledged") {
    impl_->tries_acknowledged.Increment();
    impl_->delivery_seconds.Observe(Seconds(delivered_after_ms));
  } else if (outcome == "timeout") {
    impl_->tries_timeout.Increment();
  } else if (outcome == "refused") {
    impl_->tries_refused.Increment();
  } else {
    impl_->tries_failed.Increment();
  }
  if (gave_up) impl_->given_up.Increment();
}

void Metrics::AddGauge(std::string name, std::string help, SampleReader read) {
  impl_->scrape_time.Add(std::move(name), std::move(help), prometheus::MetricType::Gauge,
                         std::move(read));
}

void Metrics::AddCounter(std::string name, std::string help, SampleReader read) {
  impl_->scrape_time.Add(std::move(name), std::move(help), prometheus::MetricType::Counter,
                         std::move(read));
}

std::string Metrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry.Collect();
  std::vector<prometheus::MetricFamily> scraped = impl_->scrape_time.Collect();
  families.insert(families.end(), std::make_move_iterator(scraped.begin()),
                  std::make_move_iterator(scraped.end()));
  return prometheus::TextSerializer().Serialize(families);
}

std::vector<Sample> Metrics::Read(std::string_view name) const {
  std::vector<prometheus::MetricFamily> families = impl_->registry.Collect();
  std::vector<prometheus::MetricFamily> scraped = impl_->scrape_time.Collect();
  families.insert(families.end(), std::make_move_iterator(scraped.begin()),
                  std::make_move_iterator(scraped.end()));
  std::vector<Sample> samples;
  for (const prometheus::MetricFamily& family : families) {
    const bool histogram = family.type == prometheus::MetricType::Histogram;
    const bool sum = histogram && name == family.name + "_sum";
    if (!(histogram ? sum || name == family.name + "_count" : name == family.name)) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      Sample sample;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        sample.labels.emplace_back(label.name, label.value);
      }
      switch (family.type) {
        case prometheus::MetricType::Counter:
          sample.value = metric.counter.value;
          break;
        case prometheus::MetricType::Gauge:
          sample.value = metric.gauge.value;
          break;
        case prometheus::MetricType::Histogram:
          sample.value = sum ? metric.histogram.sample_sum
                             : static_cast<double>(metric.histogram.sample_count);
          break;
        default:
          continue;
      }
      samples.push_back(std::move(sample));
    }
  }
  return samples;
}

}  // namespace topup::observe
