#include "sim/supplier_sim.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "core/hmac.h"
#include "http/http_server.h"
#include "sim/callback_sender.h"
#include "topup/random.h"

namespace topup::sim {
namespace {

namespace json = boost::json;

// z such that P(Z <= z) = 0.99 for a standard normal Z.
constexpr double kZ99 = 2.3263478740408408;
constexpr double kPi = 3.14159265358979323846;
constexpr size_t kMaxSupplierOrderIdBytes = 128;
constexpr size_t kMaxPhoneBytes = 32;
constexpr int64_t kMaxFaceValue = 1'000'000;
constexpr int kMaxIoThreads = 64;
constexpr int kMaxCallbackThreads = 64;
constexpr int kMaxCallbackRetries = 10;
constexpr size_t kMaxChannels = 256;
constexpr size_t kMaxChannelNameBytes = 64;
constexpr size_t kMaxOutagesPerChannel = 1'000;

http::HttpResponse JsonResponse(int status, const json::object& body) {
  http::HttpResponse response;
  response.status = status;
  response.body = json::serialize(body);
  return response;
}

http::HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  return JsonResponse(status, json::object{{"code", code}, {"message", message}});
}

http::HttpResponse MethodNotAllowed() {
  return ErrorResponse(405, "method_not_allowed", "method not allowed on this endpoint");
}

bool IsRate(double rate) { return rate >= 0 && rate <= 1; }

// The statuses a supplier may answer that protocol v1 does not have.
constexpr std::string_view kUnknownStatuses[] = {"SUCCESS_PENDING", "0000", "", "ok", "done"};
constexpr int kServerErrorStatuses[] = {500, 502, 503};

const char* ReasonPhrase(int status) {
  switch (status) {
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    default:
      return "Service Unavailable";
  }
}

// A 5xx as a supplier's application or its proxy would send it.
http::HttpResponse ServerError(int status, bool html) {
  http::HttpResponse response;
  response.status = status;
  if (html) {
    const std::string title = std::to_string(status) + " " + ReasonPhrase(status);
    response.content_type = "text/html";
    response.body = "<html>\r\n<head><title>" + title +
                    "</title></head>\r\n<body>\r\n<center><h1>" + title +
                    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
  } else {
    response.body = R"({"error":"internal"})";
  }
  return response;
}

bool IsLatency(double median_ms, double p99_ms) {
  return (median_ms == 0 && p99_ms == 0) || (median_ms > 0 && median_ms <= p99_ms);
}

bool IsChannelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxChannelNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// Returns an empty string, or what is wrong with the channel's options.
std::string ChannelOptionsError(const ChannelSimOptions& o) {
  if (!IsLatency(o.latency_median_ms, o.latency_p99_ms) || o.latency_max_ms < 0) {
    return "latency must be 0/0 or 0 < median <= p99, with a non-negative cap";
  }
  for (double rate : {o.fail_rate, o.blackhole_rate, o.processing_rate, o.error_after_credit_rate,
                      o.truncated_rate, o.wrong_content_rate, o.unknown_status_rate, o.reset_rate,
                      o.query_error_rate}) {
    if (!IsRate(rate)) return "rates must be in [0, 1]";
  }
  if (o.blackhole_hold_ms < 0 || o.processing_ms < 0 || o.query_lag_ms < 0) {
    return "durations must be non-negative";
  }
  if (o.outages.size() > kMaxOutagesPerChannel) return "at most 1000 outage windows";
  for (const OutageWindow& outage : o.outages) {
    if (outage.start_ms < 0 || outage.end_ms <= outage.start_ms) {
      return "an outage window needs 0 <= start < end";
    }
  }
  if (o.async.has_value()) {
    const AsyncCallbackOptions& a = *o.async;
    if (Result<std::vector<CallbackTarget>> targets = ParseCallbackUrls(a.callback_url);
        !targets.ok()) {
      return targets.status().message();
    }
    if (a.callback_secret.empty()) return "async needs a non-empty callback_secret";
    if (!IsLatency(a.delay_median_ms, a.delay_p99_ms) || a.delay_max_ms < 0) {
      return "callback delay must be 0/0 or 0 < median <= p99, with a non-negative cap";
    }
    if (!IsRate(a.duplicate_rate) || !IsRate(a.loss_rate)) return "rates must be in [0, 1]";
  }
  return {};
}

// Returns an empty string, or what is wrong with the options.
std::string SimOptionsError(const SimOptions& options) {
  if (options.io_threads < 1 || options.io_threads > kMaxIoThreads) {
    return "io_threads must be in [1, 64]";
  }
  if (options.max_attempts == 0) return "max_attempts must be positive";
  if (options.callback_threads < 1 || options.callback_threads > kMaxCallbackThreads ||
      options.callback_queue_max == 0 || options.callback_timeout.count() <= 0 ||
      options.callback_max_retries < 0 || options.callback_max_retries > kMaxCallbackRetries ||
      options.callback_retry_backoff.count() < 0) {
    return "callback_threads must be in [1, 64], callback_queue_max and callback_timeout "
           "positive, callback_max_retries in [0, 10]";
  }
  if (options.channels.empty()) return ChannelOptionsError(options.channel);
  if (options.channels.size() > kMaxChannels) return "at most 256 channels";
  std::vector<std::string_view> names;
  for (const ChannelSimOptions& channel : options.channels) {
    if (!IsChannelName(channel.name)) {
      return "channel name '" + channel.name + "' must be 1 to 64 of [A-Za-z0-9_.-]";
    }
    if (std::find(names.begin(), names.end(), channel.name) != names.end()) {
      return "channel name '" + channel.name + "' is used twice";
    }
    names.push_back(channel.name);
    if (std::string error = ChannelOptionsError(channel); !error.empty()) {
      return "channel '" + channel.name + "': " + error;
    }
  }
  return {};
}

// Channel 0 draws from `seed` itself (so one channel replays as it always did); the others
// from far-apart points of the sequence.
uint64_t ChannelSeed(uint64_t seed, size_t index) {
  if (index == 0) return seed;
  SeededRandom mix(seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(index)));
  return mix.NextU64();
}

// A lognormal distribution in milliseconds given by its median and 99th percentile.
class LogNormalMs {
 public:
  LogNormalMs(double median_ms, double p99_ms, int64_t max_ms)
      : on_(median_ms > 0), max_ms_(static_cast<double>(max_ms)) {
    if (on_) {
      mu_ = std::log(median_ms);
      sigma_ = (std::log(p99_ms) - mu_) / kZ99;
    }
  }

  // One draw, capped at max_ms; 0 when off. Always uses two numbers of `random` when on.
  double Draw(Random& random) const {
    if (!on_) return 0;
    // Box-Muller; 1 - u is in (0, 1], so the logarithm is finite.
    const double u1 = 1.0 - random.NextUnit();
    const double u2 = random.NextUnit();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
    return std::min(std::exp(mu_ + sigma_ * z), max_ms_);
  }

 private:
  bool on_ = false;
  double max_ms_ = 0;
  double mu_ = 0;
  double sigma_ = 0;
};

}  // namespace

SimStats& SimStats::operator+=(const SimStats& other) {
  received += other.received;
  credited += other.credited;
  failed += other.failed;
  blackholed += other.blackholed;
  processing += other.processing;
  duplicates += other.duplicates;
  queries += other.queries;
  outage_refusals += other.outage_refusals;
  errors_after_credit += other.errors_after_credit;
  truncated += other.truncated;
  wrong_content += other.wrong_content;
  unknown_status += other.unknown_status;
  garbled_after_credit += other.garbled_after_credit;
  resets += other.resets;
  query_errors += other.query_errors;
  callbacks_sent += other.callbacks_sent;
  callbacks_duplicated += other.callbacks_duplicated;
  callbacks_lost += other.callbacks_lost;
  callbacks_failed += other.callbacks_failed;
  callbacks_unknown_id += other.callbacks_unknown_id;
  callbacks_dropped += other.callbacks_dropped;
  return *this;
}

class SupplierSim::Impl {
 public:
  explicit Impl(const SimOptions& options)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : SystemClock()),
        path_per_channel_(!options.channels.empty()) {
    const std::vector<ChannelSimOptions> channels =
        path_per_channel_ ? options.channels : std::vector<ChannelSimOptions>{options.channel};
    for (size_t i = 0; i < channels.size(); ++i) {
      auto channel = std::make_unique<Channel>(channels[i], ChannelSeed(options.seed, i),
                                               path_per_channel_ ? channels[i].name : "");
      if (path_per_channel_) by_name_[channel->name] = channel.get();
      channels_.push_back(std::move(channel));
    }
  }

  ~Impl() {
    Stop();
    server_.reset();  // destroys the held answers and due callbacks before what they touch
    if (credits_file_ != nullptr) std::fclose(credits_file_);
  }

  Status Start() {
    if (!options_.credits_file.empty()) {
      credits_file_ = std::fopen(options_.credits_file.c_str(), "a");
      if (credits_file_ == nullptr) {
        return Unavailable("credits_file", "cannot open " + options_.credits_file + " to append");
      }
    }
    const bool any_async = std::any_of(channels_.begin(), channels_.end(),
                                       [](const auto& c) { return c->options.async.has_value(); });
    if (any_async) {
      CallbackSenderOptions sender_options;
      sender_options.threads = options_.callback_threads;
      sender_options.queue_max = options_.callback_queue_max;
      sender_options.timeout = options_.callback_timeout;
      sender_options.max_retries = options_.callback_max_retries;
      sender_options.retry_backoff = options_.callback_retry_backoff;
      sender_ = std::make_unique<CallbackSender>(sender_options);
    }
    http::HttpServerOptions server_options;
    server_options.address = options_.address;
    server_options.port = options_.port;
    server_options.io_threads = options_.io_threads;
    server_options.max_connections = options_.max_connections;
    server_options.tls_cert_file = options_.tls_cert_file;
    server_options.tls_key_file = options_.tls_key_file;
    Result<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Listen(
        server_options, [this](http::HttpRequest request, http::Responder respond) {
          Handle(std::move(request), std::move(respond));
        });
    if (!server.ok()) return server.status();
    server_ = std::move(server).value();
    start_ms_ = clock_->NowMs();
    if (sender_ != nullptr) sender_->Start();
    server_->Start();
    return Status::Ok();
  }

  uint16_t port() const { return server_->port(); }

  // The server first, so that no new callback becomes due while the senders stop.
  void Stop() {
    if (server_ != nullptr) server_->Stop();
    if (sender_ != nullptr) sender_->Stop();
  }

  std::vector<SimCredit> Credits() const {
    std::lock_guard lock(credits_mu_);
    return credits_;
  }

  SimStats Stats() const {
    SimStats total;
    for (const auto& channel : channels_) total += channel->Snapshot();
    total.connections_accepted = server_ != nullptr ? server_->connections_accepted() : 0;
    return total;
  }

  Result<SimStats> ChannelStats(const std::string& name) const {
    const auto it = by_name_.find(name);
    if (it == by_name_.end()) return NotFound("unknown_channel", "no channel named " + name);
    return it->second->Snapshot();
  }

 private:
  enum class Outcome { kSuccess, kFailed };

  struct Attempt {
    Outcome outcome = Outcome::kSuccess;
    std::string supplier_ref;
    int64_t received_ms = 0;
    int64_t visible_ms = 0;  // when /query shows the outcome; "processing" before
  };

  // One simulated supplier. The options, name and callback targets are fixed at construction;
  // the rest is guarded by mu, except the callback counters, which are atomic.
  struct Channel {
    Channel(const ChannelSimOptions& options_in, uint64_t seed, std::string name_in)
        : options(options_in),
          name(std::move(name_in)),
          ref_prefix(name.empty() ? "sim-" : "sim-" + name + "-"),
          latency(options.latency_median_ms, options.latency_p99_ms, options.latency_max_ms),
          callback_delay(options.async ? options.async->delay_median_ms : 0,
                         options.async ? options.async->delay_p99_ms : 0,
                         options.async ? options.async->delay_max_ms : 0),
          random(seed) {
      if (options.async.has_value()) {
        // Validated by SupplierSim::Start.
        Result<std::vector<CallbackTarget>> targets =
            ParseCallbackUrls(options.async->callback_url);
        if (targets.ok()) callback_targets = std::move(targets).value();
      }
    }

    SimStats Snapshot() const {
      SimStats snapshot;
      {
        std::lock_guard lock(mu);
        snapshot = stats;
      }
      snapshot.callbacks_sent = callback_counters.sent.load(std::memory_order_relaxed);
      snapshot.callbacks_failed = callback_counters.failed.load(std::memory_order_relaxed);
      snapshot.callbacks_unknown_id = callback_counters.unknown_id.load(std::memory_order_relaxed);
      snapshot.callbacks_dropped = callback_counters.dropped.load(std::memory_order_relaxed);
      return snapshot;
    }

    const ChannelSimOptions options;
    const std::string name;  // empty for the channel at the root paths
    const std::string ref_prefix;
    const LogNormalMs latency;
    const LogNormalMs callback_delay;
    std::vector<CallbackTarget> callback_targets;  // const once constructed
    CallbackCounters callback_counters;

    mutable std::mutex mu;  // held briefly by handlers on the I/O threads
    SeededRandom random;    // GUARDED_BY(mu) for replayable order
    std::unordered_map<std::string, Attempt> attempts;  // GUARDED_BY(mu)
    SimStats stats;                                     // GUARDED_BY(mu)
    int64_t last_ref = 0;                               // GUARDED_BY(mu)
  };

  // How a credited attempt answered at once is answered instead of a well-formed "success".
  enum class Garble { kNone, kServerError, kTruncated, kWrongContent, kUnknownStatus };

  // The faults drawn for a new attempt; see "The draws of a new attempt" in the header.
  struct AttemptFaults {
    bool reset = false;
    Garble garble = Garble::kNone;  // drawn; applies only to a credited attempt answered at once
    uint64_t variant = 0;           // picks status code, body kind, cut, status string
  };

  // What the intake of an async attempt decided about its callback.
  struct CallbackPlan {
    bool send = false;
    bool twice = false;
    double first_delay_ms = 0;
    double second_delay_ms = 0;  // after the first
    std::string supplier_order_id;
    std::string status;
    std::string supplier_ref;
  };

  // What the intake of a POST decided: how to answer it, and the callback to send.
  struct Intake {
    bool reset = false;      // reset the connection at once (RST), unanswered
    bool blackhole = false;  // hold the connection, then close it unanswered
    http::HttpResponse response;
    CallbackPlan callback;
  };

  // Runs on an I/O thread; never blocks beyond short locks and, with a credits file, one
  // buffered write.
  void Handle(http::HttpRequest request, http::Responder respond) {
    if (request.path == "/credits") {
      if (request.method != "GET") return respond(MethodNotAllowed());
      return respond(CreditsResponse());
    }
    if (path_per_channel_ && request.path == "/stats") {
      if (request.method != "GET") return respond(MethodNotAllowed());
      return respond(StatsResponse(Stats()));
    }
    Channel* channel = nullptr;
    std::string_view endpoint = request.path;
    if (!path_per_channel_) {
      channel = channels_.front().get();
    } else if (endpoint.size() > 1 && endpoint.front() == '/') {
      const size_t slash = endpoint.find('/', 1);
      if (slash != std::string_view::npos) {
        const auto it = by_name_.find(std::string(endpoint.substr(1, slash - 1)));
        if (it != by_name_.end()) channel = it->second;
        endpoint.remove_prefix(slash);
      }
    }
    if (channel != nullptr) {
      if (endpoint == "/recharge") {
        if (request.method != "POST") return respond(MethodNotAllowed());
        return Recharge(*channel, request, std::move(respond));
      }
      if (endpoint == "/query" || endpoint == "/stats") {
        if (request.method != "GET") return respond(MethodNotAllowed());
        if (endpoint == "/query") return respond(Query(*channel, request));
        // The channel at the root paths answers for the whole simulator.
        return respond(StatsResponse(path_per_channel_ ? channel->Snapshot() : Stats()));
      }
    }
    respond(ErrorResponse(404, "not_found", "no such endpoint: " + request.path));
  }

  bool InOutage(const Channel& channel) const {
    if (channel.options.outages.empty()) return false;
    const int64_t since_start_ms = clock_->NowMs() - start_ms_;
    return std::any_of(channel.options.outages.begin(), channel.options.outages.end(),
                       [since_start_ms](const OutageWindow& outage) {
                         return since_start_ms >= outage.start_ms && since_start_ms < outage.end_ms;
                       });
  }

  static void CountOutageRefusal(Channel& channel) {
    std::lock_guard lock(channel.mu);
    ++channel.stats.outage_refusals;
  }

  // Answers as a supplier that is down: 503, or in blackhole outage mode no answer at all.
  // Nothing about the request is remembered.
  void RefuseRechargeForOutage(Channel& channel, http::Responder respond) {
    CountOutageRefusal(channel);
    if (channel.options.outage_mode == OutageMode::kBlackhole) {
      Later(std::chrono::milliseconds(channel.options.blackhole_hold_ms),
            [held = std::move(respond)]() { (void)held; });
      return;
    }
    respond(ErrorResponse(503, "outage", "the supplier is down"));
  }

  void Recharge(Channel& channel, const http::HttpRequest& request, http::Responder respond) {
    if (InOutage(channel)) return RefuseRechargeForOutage(channel, std::move(respond));
    std::string supplier_order_id;
    std::string phone;
    int64_t face_value = 0;
    if (std::string error = ParseRecharge(request.body, &supplier_order_id, &phone, &face_value);
        !error.empty()) {
      return respond(ErrorResponse(400, "bad_request", error));
    }

    const ChannelSimOptions& o = channel.options;
    Intake intake;
    double latency_ms = 0;
    {
      std::lock_guard lock(channel.mu);
      const int64_t now_ms = clock_->NowMs();
      auto it = channel.attempts.find(supplier_order_id);
      const bool is_new = it == channel.attempts.end() || !o.dedup;
      if (is_new && (channel.attempts.size() >= options_.max_attempts || CreditsFull())) {
        return respond(ErrorResponse(503, "sim_full", "the simulator remembers no more attempts"));
      }
      ++channel.stats.received;
      if (it != channel.attempts.end()) ++channel.stats.duplicates;
      if (is_new) {
        intake = NewAttempt(channel, std::move(supplier_order_id), phone, face_value, now_ms);
      } else {
        // A retransmission: the outcome of the first request, as it stands now.
        intake.response = AttemptResponse(it->second, now_ms);
      }
      if (!intake.reset) latency_ms = channel.latency.Draw(channel.random);
    }

    // Nothing was acted on; the client reads ECONNRESET, not an orderly end of stream.
    if (intake.reset) return respond.Reset();
    if (intake.callback.send) ScheduleCallbacks(channel, intake.callback);
    if (intake.blackhole) {
      // Credited, never answered: hold the Responder, then drop it, which closes the connection.
      Later(std::chrono::milliseconds(o.blackhole_hold_ms),
            [held = std::move(respond)]() { (void)held; });
      return;
    }
    if (latency_ms <= 0) return respond(std::move(intake.response));
    Later(std::chrono::microseconds(static_cast<int64_t>(latency_ms * 1000)),
          [respond = std::move(respond), response = std::move(intake.response)]() mutable {
            respond(std::move(response));
          });
  }

  // REQUIRES: channel.mu held. Decides a new attempt and, unless it is reset, credits (if it
  // succeeds) and remembers it; without dedup a repeated id then names its latest attempt.
  Intake NewAttempt(Channel& channel, std::string supplier_order_id, const std::string& phone,
                    int64_t face_value, int64_t now_ms) {
    const ChannelSimOptions& o = channel.options;
    Intake intake;
    // The same draws for every new attempt under the same options (a reset stops them), so the
    // random sequence depends only on the request sequence.
    const bool failed = channel.random.Chance(o.fail_rate);
    intake.blackhole = channel.random.Chance(o.blackhole_rate) && !failed;
    const bool processing = channel.random.Chance(o.processing_rate) && !intake.blackhole;
    const AttemptFaults faults = DrawFaults(channel);
    if (faults.reset) {
      ++channel.stats.resets;
      intake.reset = true;
      intake.blackhole = false;
      return intake;
    }

    Attempt attempt;
    attempt.outcome = failed ? Outcome::kFailed : Outcome::kSuccess;
    attempt.supplier_ref = channel.ref_prefix + NextRefNumber(channel);
    attempt.received_ms = now_ms;
    attempt.visible_ms = processing ? now_ms + o.processing_ms : now_ms;
    if (failed) {
      ++channel.stats.failed;
    } else {
      Credit(channel, supplier_order_id, phone, face_value, attempt.supplier_ref, now_ms);
    }
    if (intake.blackhole) ++channel.stats.blackholed;
    if (o.async.has_value()) {
      // An asynchronous supplier only acknowledges; the outcome comes by callback.
      if (!intake.blackhole) ++channel.stats.processing;
      intake.response = JsonResponse(
          200, json::object{{"status", "processing"}, {"supplier_ref", attempt.supplier_ref}});
      intake.callback = PlanCallback(channel, supplier_order_id, attempt);
    } else {
      if (processing) ++channel.stats.processing;
      intake.response = AttemptResponse(attempt, now_ms);
      if (!failed && !intake.blackhole && !processing) {
        intake.response =
            Garbled(channel, faults, std::move(intake.response), attempt.supplier_ref);
      }
    }
    channel.attempts.insert_or_assign(std::move(supplier_order_id), std::move(attempt));
    return intake;
  }

  // REQUIRES: channel.mu held. The draws that follow fail, blackhole and processing: a knob at 0
  // draws nothing, so seeds keep the meaning they had before the knob existed.
  static AttemptFaults DrawFaults(Channel& channel) {
    const ChannelSimOptions& o = channel.options;
    Random& random = channel.random;
    AttemptFaults faults;
    if (o.reset_rate > 0 && random.Chance(o.reset_rate)) {
      faults.reset = true;
      return faults;
    }
    const std::pair<double, Garble> garbles[] = {{o.error_after_credit_rate, Garble::kServerError},
                                                 {o.truncated_rate, Garble::kTruncated},
                                                 {o.wrong_content_rate, Garble::kWrongContent},
                                                 {o.unknown_status_rate, Garble::kUnknownStatus}};
    bool any = false;
    for (const auto& [rate, garble] : garbles) {
      if (rate <= 0) continue;
      any = true;
      // Every knob above 0 draws, so the count does not depend on which one hit first.
      if (random.Chance(rate) && faults.garble == Garble::kNone) faults.garble = garble;
    }
    if (any) faults.variant = random.NextU64();
    return faults;
  }

  // REQUIRES: channel.mu held; `success` is the well-formed answer of the credited attempt
  // `supplier_ref`. Returns what `faults` make of it, and counts it.
  static http::HttpResponse Garbled(Channel& channel, const AttemptFaults& faults,
                                    http::HttpResponse success, const std::string& supplier_ref) {
    if (faults.garble == Garble::kNone) return success;
    ++channel.stats.garbled_after_credit;
    const uint64_t variant = faults.variant;
    switch (faults.garble) {
      case Garble::kServerError: {
        ++channel.stats.errors_after_credit;
        constexpr uint64_t kStatuses = std::size(kServerErrorStatuses);
        return ServerError(kServerErrorStatuses[variant % kStatuses],
                           /*html=*/(variant / kStatuses) % 2 == 1);
      }
      case Garble::kTruncated: {
        ++channel.stats.truncated;
        // 1 to size - 1 bytes: never empty, never the closing brace, so never valid JSON. The
        // server sets Content-Length from the body it sends.
        assert(success.body.size() > 1);
        success.body.resize(1 + variant % (success.body.size() - 1));
        return success;
      }
      case Garble::kWrongContent:
        ++channel.stats.wrong_content;
        return WrongContent(supplier_ref, /*html=*/variant % 2 == 1);
      case Garble::kUnknownStatus:
        ++channel.stats.unknown_status;
        return JsonResponse(
            200, json::object{{"status", kUnknownStatuses[variant % std::size(kUnknownStatuses)]},
                              {"supplier_ref", supplier_ref}});
      case Garble::kNone:
        break;
    }
    return success;
  }

  // A success told as a web page or as key=value lines instead of JSON.
  static http::HttpResponse WrongContent(const std::string& supplier_ref, bool html) {
    http::HttpResponse response;
    if (html) {
      response.content_type = "text/html";
      response.body =
          "<!DOCTYPE html>\n<html><head><title>Recharge</title></head><body><p>Recharge "
          "successful. Reference: " +
          supplier_ref + "</p></body></html>\n";
    } else {
      response.content_type = "text/plain";
      response.body = "status=success\nsupplier_ref=" + supplier_ref + "\n";
    }
    return response;
  }

  // REQUIRES: channel.mu held, channel is async. Always four draws.
  CallbackPlan PlanCallback(Channel& channel, const std::string& supplier_order_id,
                            const Attempt& attempt) {
    const AsyncCallbackOptions& a = *channel.options.async;
    CallbackPlan plan;
    const bool lost = channel.random.Chance(a.loss_rate);
    const bool twice = channel.random.Chance(a.duplicate_rate);
    plan.first_delay_ms = channel.callback_delay.Draw(channel.random);
    plan.second_delay_ms = channel.callback_delay.Draw(channel.random);
    if (lost) {
      ++channel.stats.callbacks_lost;
      return plan;
    }
    plan.send = true;
    plan.twice = twice;
    if (twice) ++channel.stats.callbacks_duplicated;
    plan.supplier_order_id = supplier_order_id;
    plan.status = attempt.outcome == Outcome::kSuccess ? "success" : "failed";
    plan.supplier_ref = attempt.supplier_ref;
    return plan;
  }

  // Signs the callback once and has each copy handed to the senders when it is due. A copy due
  // at once is queued here, so it is queued before the recharge is answered.
  void ScheduleCallbacks(Channel& channel, const CallbackPlan& plan) {
    CallbackDelivery delivery;
    delivery.targets = &channel.callback_targets;
    delivery.counters = &channel.callback_counters;
    delivery.body = json::serialize(json::object{{"supplier_order_id", plan.supplier_order_id},
                                                 {"status", plan.status},
                                                 {"supplier_ref", plan.supplier_ref}});
    delivery.signature_hex = HmacSha256Hex(channel.options.async->callback_secret, delivery.body);
    auto due = [this](double delay_ms, CallbackDelivery copy) {
      if (delay_ms <= 0) return sender_->Enqueue(std::move(copy));
      Later(std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000)),
            [this, copy = std::move(copy)]() mutable { sender_->Enqueue(std::move(copy)); });
    };
    if (plan.twice) due(plan.first_delay_ms + plan.second_delay_ms, delivery);
    due(plan.first_delay_ms, std::move(delivery));
  }

  http::HttpResponse Query(Channel& channel, const http::HttpRequest& request) {
    if (InOutage(channel)) {
      CountOutageRefusal(channel);
      return ErrorResponse(503, "outage", "the supplier is down");
    }
    const auto it = request.query.find("supplier_order_id");
    if (it == request.query.end() || it->second.empty()) {
      return ErrorResponse(400, "bad_request", "supplier_order_id is required");
    }
    std::lock_guard lock(channel.mu);
    ++channel.stats.queries;
    if (channel.options.query_error_rate > 0) {
      // Always both draws, so the sequence does not depend on which queries failed.
      const bool fail_query = channel.random.Chance(channel.options.query_error_rate);
      const bool html = channel.random.NextBelow(2) == 1;
      if (fail_query) {
        ++channel.stats.query_errors;
        return ServerError(503, html);
      }
    }
    const int64_t now_ms = clock_->NowMs();
    const auto attempt = channel.attempts.find(it->second);
    if (attempt == channel.attempts.end() ||
        now_ms - attempt->second.received_ms < channel.options.query_lag_ms) {
      return JsonResponse(200, json::object{{"status", "not_found"}});
    }
    return AttemptResponse(attempt->second, now_ms);
  }

  http::HttpResponse CreditsResponse() const {
    std::vector<SimCredit> credits = Credits();
    json::array list;
    list.reserve(credits.size());
    for (const SimCredit& credit : credits) list.emplace_back(CreditJson(credit));
    return JsonResponse(200, json::object{{"credits", std::move(list)}});
  }

  static json::object CreditJson(const SimCredit& credit) {
    json::object entry{{"supplier_order_id", credit.supplier_order_id},
                       {"phone", credit.phone},
                       {"face_value", credit.face_value},
                       {"supplier_ref", credit.supplier_ref},
                       {"at_ms", credit.at_ms}};
    if (!credit.channel.empty()) entry["channel"] = credit.channel;
    return entry;
  }

  static http::HttpResponse StatsResponse(const SimStats& stats) {
    return JsonResponse(200, json::object{{"connections_accepted", stats.connections_accepted},
                                          {"received", stats.received},
                                          {"credited", stats.credited},
                                          {"failed", stats.failed},
                                          {"blackholed", stats.blackholed},
                                          {"processing", stats.processing},
                                          {"duplicates", stats.duplicates},
                                          {"queries", stats.queries},
                                          {"outage_refusals", stats.outage_refusals},
                                          {"errors_after_credit", stats.errors_after_credit},
                                          {"truncated", stats.truncated},
                                          {"wrong_content", stats.wrong_content},
                                          {"unknown_status", stats.unknown_status},
                                          {"garbled_after_credit", stats.garbled_after_credit},
                                          {"resets", stats.resets},
                                          {"query_errors", stats.query_errors},
                                          {"callbacks_sent", stats.callbacks_sent},
                                          {"callbacks_duplicated", stats.callbacks_duplicated},
                                          {"callbacks_lost", stats.callbacks_lost},
                                          {"callbacks_failed", stats.callbacks_failed},
                                          {"callbacks_unknown_id", stats.callbacks_unknown_id},
                                          {"callbacks_dropped", stats.callbacks_dropped}});
  }

  // Returns an empty string and fills the outputs, or says what is wrong with the body.
  static std::string ParseRecharge(const std::string& body, std::string* supplier_order_id,
                                   std::string* phone, int64_t* face_value) {
    boost::system::error_code ec;
    const json::value value = json::parse(body, ec);
    const json::object* object = ec ? nullptr : value.if_object();
    if (object == nullptr) return "the body must be a JSON object";
    const json::value* id = object->if_contains("supplier_order_id");
    if (id == nullptr || !id->is_string() || id->get_string().empty() ||
        id->get_string().size() > kMaxSupplierOrderIdBytes) {
      return "supplier_order_id must be a non-empty string of at most 128 bytes";
    }
    const json::value* phone_value = object->if_contains("phone");
    if (phone_value == nullptr || !phone_value->is_string() || phone_value->get_string().empty() ||
        phone_value->get_string().size() > kMaxPhoneBytes) {
      return "phone must be a non-empty string of at most 32 bytes";
    }
    const json::value* face = object->if_contains("face_value");
    int64_t face_int = 0;
    if (face != nullptr && face->is_int64()) {
      face_int = face->get_int64();
    } else if (face != nullptr && face->is_uint64() && face->get_uint64() <= kMaxFaceValue) {
      face_int = static_cast<int64_t>(face->get_uint64());
    }
    if (face_int <= 0 || face_int > kMaxFaceValue) {
      return "face_value must be an integer in [1, 1000000]";
    }
    *supplier_order_id = std::string(id->get_string());
    *phone = std::string(phone_value->get_string());
    *face_value = face_int;
    return {};
  }

  // The answer a POST (now_ms = arrival) or a query gives for an attempt.
  static http::HttpResponse AttemptResponse(const Attempt& attempt, int64_t now_ms) {
    json::object body;
    if (now_ms < attempt.visible_ms) {
      body["status"] = "processing";
    } else if (attempt.outcome == Outcome::kSuccess) {
      body["status"] = "success";
    } else {
      body["status"] = "failed";
      body["reason"] = "declined by the simulator";
    }
    body["supplier_ref"] = attempt.supplier_ref;
    return JsonResponse(200, body);
  }

  // REQUIRES: channel.mu held.
  static std::string NextRefNumber(Channel& channel) {
    char number[24];
    std::snprintf(number, sizeof(number), "%010lld", static_cast<long long>(++channel.last_ref));
    return number;
  }

  bool CreditsFull() const {
    std::lock_guard lock(credits_mu_);
    return credits_.size() >= options_.max_attempts;
  }

  // REQUIRES: channel.mu held (taken before credits_mu_). Credits are written in the order they
  // are made.
  void Credit(Channel& channel, const std::string& supplier_order_id, const std::string& phone,
              int64_t face_value, const std::string& supplier_ref, int64_t now_ms) {
    ++channel.stats.credited;
    SimCredit credit{supplier_order_id, phone, face_value, supplier_ref, now_ms, channel.name};
    std::lock_guard lock(credits_mu_);
    if (credits_file_ != nullptr) {
      std::string line = json::serialize(CreditJson(credit));
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), credits_file_);
      std::fflush(credits_file_);
    }
    credits_.push_back(std::move(credit));
  }

  // Runs `action` on an I/O thread after `delay`. If the server stops first, `action` is
  // destroyed without running (a held Responder is then dropped, which does nothing).
  template <typename Duration, typename Action>
  void Later(Duration delay, Action action) {
    auto timer = std::make_shared<boost::asio::steady_timer>(server_->executor(), delay);
    timer->async_wait([timer, action = std::move(action)](
                          const boost::system::error_code&) mutable { action(); });
  }

  const SimOptions options_;
  Clock* const clock_;
  const bool path_per_channel_;
  // Fixed at construction.
  std::vector<std::unique_ptr<Channel>> channels_;
  std::unordered_map<std::string, Channel*> by_name_;  // path-per-channel mode only
  int64_t start_ms_ = 0;                               // set by Start(), before any request
  // Set by Start(), before any request. The sender is stopped after the server, and destroyed
  // after it, because the server's timers hold callbacks due for it.
  std::unique_ptr<CallbackSender> sender_;
  std::unique_ptr<http::HttpServer> server_;

  mutable std::mutex credits_mu_;      // taken after a channel's mu, never before
  std::vector<SimCredit> credits_;     // GUARDED_BY(credits_mu_)
  std::FILE* credits_file_ = nullptr;  // GUARDED_BY(credits_mu_) once serving
};

Result<std::unique_ptr<SupplierSim>> SupplierSim::Start(const SimOptions& options) {
  if (std::string error = SimOptionsError(options); !error.empty()) {
    return InvalidArgument("bad_sim_options", error);
  }
  auto impl = std::make_unique<Impl>(options);
  Status status = impl->Start();
  if (!status.ok()) return status;
  return std::unique_ptr<SupplierSim>(new SupplierSim(std::move(impl)));
}

SupplierSim::SupplierSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SupplierSim::~SupplierSim() = default;
uint16_t SupplierSim::port() const { return impl_->port(); }
void SupplierSim::Stop() { impl_->Stop(); }
std::vector<SimCredit> SupplierSim::Credits() const { return impl_->Credits(); }
SimStats SupplierSim::Stats() const { return impl_->Stats(); }
Result<SimStats> SupplierSim::ChannelStats(const std::string& name) const {
  return impl_->ChannelStats(name);
}

}  // namespace topup::sim
