#include "sim/supplier_sim.h"

#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "http/http_server.h"
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

http::HttpResponse JsonResponse(int status, const json::object& body) {
  http::HttpResponse response;
  response.status = status;
  response.body = json::serialize(body);
  return response;
}

http::HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  return JsonResponse(status, json::object{{"code", code}, {"message", message}});
}

bool IsRate(double rate) { return rate >= 0 && rate <= 1; }

}  // namespace

class SupplierSim::Impl {
 public:
  explicit Impl(const SimOptions& options)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : SystemClock()),
        random_(options.seed) {
    if (options_.latency_median_ms > 0) {
      latency_mu_ = std::log(options_.latency_median_ms);
      latency_sigma_ = (std::log(options_.latency_p99_ms) - latency_mu_) / kZ99;
    }
  }

  ~Impl() {
    Stop();
    server_.reset();  // destroys the held answers before the state they never touch
    if (credits_file_ != nullptr) std::fclose(credits_file_);
  }

  Status Start() {
    if (!options_.credits_file.empty()) {
      credits_file_ = std::fopen(options_.credits_file.c_str(), "a");
      if (credits_file_ == nullptr) {
        return Unavailable("credits_file", "cannot open " + options_.credits_file + " to append");
      }
    }
    http::HttpServerOptions server_options;
    server_options.address = options_.address;
    server_options.port = options_.port;
    server_options.io_threads = options_.io_threads;
    Result<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Listen(
        server_options, [this](http::HttpRequest request, http::Responder respond) {
          Handle(std::move(request), std::move(respond));
        });
    if (!server.ok()) return server.status();
    server_ = std::move(server).value();
    server_->Start();
    return Status::Ok();
  }

  uint16_t port() const { return server_->port(); }

  void Stop() {
    if (server_ != nullptr) server_->Stop();
  }

  std::vector<SimCredit> Credits() const {
    std::lock_guard lock(mu_);
    return credits_;
  }

  SimStats Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  enum class Outcome { kSuccess, kFailed };

  struct Attempt {
    Outcome outcome = Outcome::kSuccess;
    std::string supplier_ref;
    int64_t received_ms = 0;
    int64_t visible_ms = 0;  // when /query shows the outcome; "processing" before
  };

  // Runs on an I/O thread; never blocks beyond mu_ and, with a credits file, one buffered write.
  void Handle(http::HttpRequest request, http::Responder respond) {
    if (request.path == "/recharge") {
      if (request.method != "POST") return respond(MethodNotAllowed());
      return Recharge(request, std::move(respond));
    }
    if (request.method != "GET") {
      if (request.path == "/query" || request.path == "/credits" || request.path == "/stats") {
        return respond(MethodNotAllowed());
      }
    } else if (request.path == "/query") {
      return respond(Query(request));
    } else if (request.path == "/credits") {
      return respond(CreditsResponse());
    } else if (request.path == "/stats") {
      return respond(StatsResponse());
    }
    respond(ErrorResponse(404, "not_found", "no such endpoint: " + request.path));
  }

  static http::HttpResponse MethodNotAllowed() {
    return ErrorResponse(405, "method_not_allowed", "method not allowed on this endpoint");
  }

  void Recharge(const http::HttpRequest& request, http::Responder respond) {
    std::string supplier_order_id;
    std::string phone;
    int64_t face_value = 0;
    if (std::string error = ParseRecharge(request.body, &supplier_order_id, &phone, &face_value);
        !error.empty()) {
      return respond(ErrorResponse(400, "bad_request", error));
    }

    http::HttpResponse response;
    bool blackhole = false;
    double latency_ms = 0;
    {
      std::lock_guard lock(mu_);
      const int64_t now_ms = clock_->NowMs();
      auto it = attempts_.find(supplier_order_id);
      const bool is_new = it == attempts_.end() || !options_.dedup;
      if (is_new &&
          (attempts_.size() >= options_.max_attempts || credits_.size() >= options_.max_attempts)) {
        return respond(ErrorResponse(503, "sim_full", "the simulator remembers no more attempts"));
      }
      ++stats_.received;
      if (it != attempts_.end()) ++stats_.duplicates;
      if (options_.dedup && it != attempts_.end()) {
        // A retransmission: the outcome of the first request, as it stands now.
        response = AttemptResponse(it->second, now_ms);
      } else {
        // Always three draws, so the random sequence depends only on the request sequence.
        const bool failed = random_.Chance(options_.fail_rate);
        blackhole = random_.Chance(options_.blackhole_rate) && !failed;
        const bool processing = random_.Chance(options_.processing_rate) && !blackhole;

        Attempt attempt;
        attempt.outcome = failed ? Outcome::kFailed : Outcome::kSuccess;
        attempt.supplier_ref = NextSupplierRef();
        attempt.received_ms = now_ms;
        attempt.visible_ms = processing ? now_ms + options_.processing_ms : now_ms;
        if (failed) {
          ++stats_.failed;
        } else {
          Credit(supplier_order_id, phone, face_value, attempt.supplier_ref, now_ms);
        }
        if (blackhole) ++stats_.blackholed;
        if (processing) ++stats_.processing;
        response = AttemptResponse(attempt, now_ms);
        // Without dedup a repeated id names its latest attempt.
        attempts_.insert_or_assign(std::move(supplier_order_id), std::move(attempt));
      }
      latency_ms = DrawLatencyMs();
    }

    if (blackhole) {
      // Credited, never answered: hold the Responder, then drop it, which closes the connection.
      Later(std::chrono::milliseconds(options_.blackhole_hold_ms),
            [held = std::move(respond)]() { (void)held; });
      return;
    }
    if (latency_ms <= 0) return respond(std::move(response));
    Later(std::chrono::microseconds(static_cast<int64_t>(latency_ms * 1000)),
          [respond = std::move(respond), response = std::move(response)]() mutable {
            respond(std::move(response));
          });
  }

  http::HttpResponse Query(const http::HttpRequest& request) {
    const auto it = request.query.find("supplier_order_id");
    if (it == request.query.end() || it->second.empty()) {
      return ErrorResponse(400, "bad_request", "supplier_order_id is required");
    }
    std::lock_guard lock(mu_);
    ++stats_.queries;
    const int64_t now_ms = clock_->NowMs();
    const auto attempt = attempts_.find(it->second);
    if (attempt == attempts_.end() ||
        now_ms - attempt->second.received_ms < options_.query_lag_ms) {
      return JsonResponse(200, json::object{{"status", "not_found"}});
    }
    return AttemptResponse(attempt->second, now_ms);
  }

  http::HttpResponse CreditsResponse() const {
    std::vector<SimCredit> credits = Credits();
    json::array list;
    list.reserve(credits.size());
    for (const SimCredit& credit : credits) {
      list.emplace_back(json::object{{"supplier_order_id", credit.supplier_order_id},
                                     {"phone", credit.phone},
                                     {"face_value", credit.face_value},
                                     {"supplier_ref", credit.supplier_ref},
                                     {"at_ms", credit.at_ms}});
    }
    return JsonResponse(200, json::object{{"credits", std::move(list)}});
  }

  http::HttpResponse StatsResponse() const {
    const SimStats stats = Stats();
    return JsonResponse(200, json::object{{"received", stats.received},
                                          {"credited", stats.credited},
                                          {"failed", stats.failed},
                                          {"blackholed", stats.blackholed},
                                          {"processing", stats.processing},
                                          {"duplicates", stats.duplicates},
                                          {"queries", stats.queries}});
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

  // REQUIRES: mu_ held.
  std::string NextSupplierRef() {
    char ref[32];
    std::snprintf(ref, sizeof(ref), "sim-%010lld", static_cast<long long>(++last_ref_));
    return ref;
  }

  // REQUIRES: mu_ held. Credits are written in the order they are made.
  void Credit(const std::string& supplier_order_id, const std::string& phone, int64_t face_value,
              const std::string& supplier_ref, int64_t now_ms) {
    ++stats_.credited;
    credits_.push_back(SimCredit{supplier_order_id, phone, face_value, supplier_ref, now_ms});
    if (credits_file_ != nullptr) {
      std::string line = json::serialize(json::object{{"supplier_order_id", supplier_order_id},
                                                      {"phone", phone},
                                                      {"face_value", face_value},
                                                      {"supplier_ref", supplier_ref},
                                                      {"at_ms", now_ms}});
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), credits_file_);
      std::fflush(credits_file_);
    }
  }

  // A lognormal draw in milliseconds, 0 when latency is off. REQUIRES: mu_ held (the draws of
  // one request stay together, so the sequence replays).
  double DrawLatencyMs() {
    if (options_.latency_median_ms <= 0) return 0;
    // Box-Muller; 1 - u is in (0, 1], so the logarithm is finite.
    const double u1 = 1.0 - random_.NextUnit();
    const double u2 = random_.NextUnit();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
    const double latency_ms = std::exp(latency_mu_ + latency_sigma_ * z);
    return std::min(latency_ms, static_cast<double>(options_.latency_max_ms));
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
  double latency_mu_ = 0;
  double latency_sigma_ = 0;
  // Set by Start(), before any request; stopped and destroyed by ~Impl.
  std::unique_ptr<http::HttpServer> server_;

  // Guards the simulated supplier's state. Held briefly by handlers on the I/O threads.
  mutable std::mutex mu_;
  SeededRandom random_;                                // GUARDED_BY(mu_) for replayable order
  std::unordered_map<std::string, Attempt> attempts_;  // GUARDED_BY(mu_)
  std::vector<SimCredit> credits_;                     // GUARDED_BY(mu_)
  SimStats stats_;                                     // GUARDED_BY(mu_)
  int64_t last_ref_ = 0;                               // GUARDED_BY(mu_)
  std::FILE* credits_file_ = nullptr;                  // GUARDED_BY(mu_) once serving
};

Result<std::unique_ptr<SupplierSim>> SupplierSim::Start(const SimOptions& options) {
  const bool latency_off = options.latency_median_ms == 0 && options.latency_p99_ms == 0;
  const bool latency_ok = latency_off || (options.latency_median_ms > 0 &&
                                          options.latency_median_ms <= options.latency_p99_ms);
  if (!latency_ok || options.latency_max_ms < 0 || !IsRate(options.fail_rate) ||
      !IsRate(options.blackhole_rate) || !IsRate(options.processing_rate) ||
      options.blackhole_hold_ms < 0 || options.processing_ms < 0 || options.query_lag_ms < 0 ||
      options.io_threads < 1 || options.io_threads > kMaxIoThreads || options.max_attempts == 0) {
    return InvalidArgument(
        "bad_sim_options",
        "rates must be in [0, 1], durations non-negative, io_threads in [1, 64], max_attempts "
        "positive, and latency either 0/0 or 0 < median <= p99");
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

}  // namespace topup::sim
