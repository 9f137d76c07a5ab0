#include "loadgen/merchant_load.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <memory>
#include <optional>

#include "auth/request_signature.h"
#include "http/async_http_client.h"
#include "topup/clock.h"

namespace topup::loadgen {
namespace {

namespace json = boost::json;
namespace net = boost::asio;
using SteadyClock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRequestTimeout{10'000};
constexpr std::chrono::milliseconds kRetryDelay{100};

// The value of `field` in a JSON object body, or "" if there is none.
std::string StringField(const std::string& body, const char* field) {
  boost::system::error_code error;
  json::value parsed = json::parse(body, error);
  const json::object* object = error ? nullptr : parsed.if_object();
  const json::value* value = object ? object->if_contains(field) : nullptr;
  return value && value->is_string() ? std::string(value->as_string()) : "";
}

}  // namespace

MerchantLoad::MerchantLoad(MerchantLoadOptions options, const std::vector<std::string>& bodies)
    : options_(std::move(options)), bodies_(bodies) {}

int64_t MerchantLoad::acknowledged() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(tally_.order_ids.size());
}

LoadTally MerchantLoad::Run() {
  // Every lane's steps run on this thread (the io_context's); the clients' answers are posted
  // back to it, so a lane's state needs no lock.
  net::io_context ioc(1);
  auto keep_running = net::make_work_guard(ioc);
  std::vector<std::unique_ptr<http::AsyncHttpClient>> clients;
  for (uint16_t port : options_.ports) {
    clients.push_back(std::make_unique<http::AsyncHttpClient>("127.0.0.1", port));
  }

  struct Lane {
    explicit Lane(net::io_context& ioc) : timer(ioc) {}
    size_t order = 0;   // index into bodies_
    int64_t round = 0;  // how many orders this lane placed before this one
    size_t node = 0;
    net::steady_timer timer;
  };
  const size_t lane_count = static_cast<size_t>(std::max(1, options_.lanes));
  std::vector<std::unique_ptr<Lane>> lanes;
  size_t lanes_running = 0;

  // Mutually recursive steps, as std::function so each can name the others.
  std::function<void(Lane&)> start;  // waits for the lane's turn under the rate limit, sends
  std::function<void(Lane&)> send;   // sends the lane's order, or gives up at the deadline
  std::function<void(Lane&)> next;   // moves the lane to its next order, or ends it
  std::function<void(Lane&, Result<http::HttpResponse>)> answered;

  start = [&](Lane& lane) {
    if (options_.rate_limit_per_s <= 0) return send(lane);
    const auto due =
        options_.start +
        std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
            static_cast<double>(lane.round) * static_cast<double>(lane_count) /
            options_.rate_limit_per_s));
    lane.timer.expires_at(due);
    lane.timer.async_wait([&](boost::system::error_code) { send(lane); });
  };
  send = [&](Lane& lane) {
    if (SteadyClock::now() >= options_.deadline) {
      {
        std::lock_guard lock(mu_);
        tally_.not_acknowledged++;
      }
      return next(lane);
    }
    const std::string& body = bodies_[lane.order];
    clients[lane.node]->Send(
        "POST", "/v1/orders", body, kRequestTimeout,
        [&](Result<http::HttpResponse> response) {
          net::post(ioc, [&, response = std::move(response)]() mutable {
            answered(lane, std::move(response));
          });
        },
        auth::SignatureHeaders(options_.key_id, options_.secret, "POST", "/v1/orders", body,
                               SystemClock()->NowMs() / 1000, auth::NewNonce()));
  };
  answered = [&](Lane& lane, Result<http::HttpResponse> response) {
    if (response.ok() && (response->status == 200 || response->status == 201)) {
      std::string order_id = StringField(response->body, "order_id");
      std::lock_guard lock(mu_);
      if (!order_id.empty()) tally_.order_ids.insert(std::move(order_id));
    } else if (response.ok() && response->status >= 400 && response->status < 500) {
      std::string code = StringField(response->body, "code");
      if (code.empty()) code = std::to_string(response->status);
      std::lock_guard lock(mu_);
      tally_.rejected_by_code[code]++;
      tally_.rejected++;
    } else {
      // The node may be restarting, or gone: try the next one shortly.
      lane.node = (lane.node + 1) % clients.size();
      lane.timer.expires_after(kRetryDelay);
      lane.timer.async_wait([&](boost::system::error_code) { send(lane); });
      return;
    }
    next(lane);
  };
  next = [&](Lane& lane) {
    lane.order += lane_count;
    lane.round++;
    if (lane.order < bodies_.size()) return start(lane);
    if (--lanes_running == 0) keep_running.reset();
  };

  for (size_t i = 0; i < lane_count && i < bodies_.size(); ++i) {
    auto lane = std::make_unique<Lane>(ioc);
    lane->order = i;
    lane->node = i % clients.size();
    lanes.push_back(std::move(lane));
  }
  lanes_running = lanes.size();
  for (std::unique_ptr<Lane>& lane : lanes) net::post(ioc, [&, raw = lane.get()] { start(*raw); });
  if (lanes.empty()) keep_running.reset();
  ioc.run();
  clients.clear();  // every exchange has ended: each lane waited for its answer
  std::lock_guard lock(mu_);
  return tally_;
}

}  // namespace topup::loadgen
