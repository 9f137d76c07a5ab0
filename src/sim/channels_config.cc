#include "sim/channels_config.h"

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>

#include <boost/json.hpp>

namespace topup::sim {
namespace {

namespace json = boost::json;

constexpr size_t kMaxConfigBytes = 1 << 20;

Status Bad(const std::string& where, std::string_view what) {
  return InvalidArgument("bad_sim_config", where + " " + std::string(what));
}

// Every field of `object` is one of `known`.
Status OnlyKnownFields(const json::object& object, const std::string& where,
                       std::initializer_list<std::string_view> known) {
  for (const auto& field : object) {
    bool found = false;
    for (std::string_view name : known) found = found || field.key() == name;
    if (!found) return Bad(where + "." + std::string(field.key()), "is not a known field");
  }
  return Status::Ok();
}

// Reads optional fields of one JSON object, remembering the first error.
class FieldReader {
 public:
  FieldReader(const json::object& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  void Number(std::string_view key, double* out) {
    const json::value* value = Find(key);
    if (value == nullptr) return;
    if (value->is_int64()) {
      *out = static_cast<double>(value->get_int64());
    } else if (value->is_uint64()) {
      *out = static_cast<double>(value->get_uint64());
    } else if (value->is_double() && std::isfinite(value->get_double())) {
      *out = value->get_double();
    } else {
      Fail(key, "must be a number");
    }
  }

  // A probability: a number in [0, 1].
  void Rate(std::string_view key, double* out) {
    double rate = *out;
    Number(key, &rate);
    if (!status_.ok()) return;
    if (rate < 0 || rate > 1) return Fail(key, "must be in [0, 1]");
    *out = rate;
  }

  void Integer(std::string_view key, int64_t* out) {
    const json::value* value = Find(key);
    if (value == nullptr) return;
    if (value->is_int64()) {
      *out = value->get_int64();
    } else {
      Fail(key, "must be an integer");
    }
  }

  void Unsigned(std::string_view key, uint64_t* out) {
    const json::value* value = Find(key);
    if (value == nullptr) return;
    if (value->is_uint64()) {
      *out = value->get_uint64();
    } else if (value->is_int64() && value->get_int64() >= 0) {
      *out = static_cast<uint64_t>(value->get_int64());
    } else {
      Fail(key, "must be a non-negative integer");
    }
  }

  // Seconds, as in the file, to whole milliseconds.
  void SecondsAsMs(std::string_view key, int64_t* out_ms) {
    double seconds = -1;
    const bool present = Find(key) != nullptr;
    Number(key, &seconds);
    if (!present && status_.ok()) return Fail(key, "is required");
    if (status_.ok()) *out_ms = std::llround(seconds * 1000);
  }

  void Bool(std::string_view key, bool* out) {
    const json::value* value = Find(key);
    if (value == nullptr) return;
    if (value->is_bool()) {
      *out = value->get_bool();
    } else {
      Fail(key, "must be true or false");
    }
  }

  void String(std::string_view key, std::string* out) {
    const json::value* value = Find(key);
    if (value == nullptr) return;
    if (value->is_string()) {
      *out = std::string(value->get_string());
    } else {
      Fail(key, "must be a string");
    }
  }

  const json::value* Find(std::string_view key) const { return object_.if_contains(key); }
  void Fail(std::string_view key, std::string_view what) {
    if (status_.ok()) status_ = Bad(where_ + "." + std::string(key), what);
  }
  const Status& status() const { return status_; }

 private:
  const json::object& object_;
  const std::string where_;
  Status status_;
};

Status ParseAsync(const json::value& value, const std::string& where, AsyncCallbackOptions* async) {
  if (!value.is_object()) return Bad(where, "must be an object");
  const json::object& object = value.get_object();
  Status known = OnlyKnownFields(object, where,
                                 {"callback_url", "callback_secret", "delay_median_ms",
                                  "delay_p99_ms", "delay_max_ms", "duplicate_rate", "loss_rate"});
  if (!known.ok()) return known;
  FieldReader read(object, where);
  if (read.Find("callback_url") == nullptr) read.Fail("callback_url", "is required");
  read.String("callback_url", &async->callback_url);
  read.String("callback_secret", &async->callback_secret);
  read.Number("delay_median_ms", &async->delay_median_ms);
  read.Number("delay_p99_ms", &async->delay_p99_ms);
  read.Integer("delay_max_ms", &async->delay_max_ms);
  read.Rate("duplicate_rate", &async->duplicate_rate);
  read.Rate("loss_rate", &async->loss_rate);
  return read.status();
}

Status ParseOutages(const json::value& value, const std::string& where,
                    std::vector<OutageWindow>* outages) {
  if (!value.is_array()) return Bad(where, "must be an array");
  for (size_t i = 0; i < value.get_array().size(); ++i) {
    const std::string item = where + "[" + std::to_string(i) + "]";
    const json::value& window = value.get_array()[i];
    if (!window.is_object()) return Bad(item, "must be an object");
    Status known = OnlyKnownFields(window.get_object(), item, {"start_s", "end_s"});
    if (!known.ok()) return known;
    FieldReader read(window.get_object(), item);
    OutageWindow outage;
    read.SecondsAsMs("start_s", &outage.start_ms);
    read.SecondsAsMs("end_s", &outage.end_ms);
    if (!read.status().ok()) return read.status();
    outages->push_back(outage);
  }
  return Status::Ok();
}

Status ParseChannel(const json::value& value, const std::string& where,
                    ChannelSimOptions* channel) {
  if (!value.is_object()) return Bad(where, "must be an object");
  const json::object& object = value.get_object();
  Status known = OnlyKnownFields(object, where,
                                 {"name",
                                  "latency_median_ms",
                                  "latency_p99_ms",
                                  "latency_max_ms",
                                  "fail_rate",
                                  "blackhole_rate",
                                  "blackhole_hold_ms",
                                  "processing_rate",
                                  "processing_ms",
                                  "query_lag_ms",
                                  "dedup",
                                  "error_after_credit_rate",
                                  "truncated_rate",
                                  "wrong_content_rate",
                                  "unknown_status_rate",
                                  "reset_rate",
                                  "query_error_rate",
                                  "outages",
                                  "outage_mode",
                                  "async"});
  if (!known.ok()) return known;
  FieldReader read(object, where);
  if (read.Find("name") == nullptr) read.Fail("name", "is required");
  read.String("name", &channel->name);
  read.Number("latency_median_ms", &channel->latency_median_ms);
  read.Number("latency_p99_ms", &channel->latency_p99_ms);
  read.Integer("latency_max_ms", &channel->latency_max_ms);
  read.Rate("fail_rate", &channel->fail_rate);
  read.Rate("blackhole_rate", &channel->blackhole_rate);
  read.Integer("blackhole_hold_ms", &channel->blackhole_hold_ms);
  read.Rate("processing_rate", &channel->processing_rate);
  read.Integer("processing_ms", &channel->processing_ms);
  read.Integer("query_lag_ms", &channel->query_lag_ms);
  read.Bool("dedup", &channel->dedup);
  read.Rate("error_after_credit_rate", &channel->error_after_credit_rate);
  read.Rate("truncated_rate", &channel->truncated_rate);
  read.Rate("wrong_content_rate", &channel->wrong_content_rate);
  read.Rate("unknown_status_rate", &channel->unknown_status_rate);
  read.Rate("reset_rate", &channel->reset_rate);
  read.Rate("query_error_rate", &channel->query_error_rate);
  std::string outage_mode = "refuse";
  read.String("outage_mode", &outage_mode);
  if (!read.status().ok()) return read.status();
  if (outage_mode == "refuse") {
    channel->outage_mode = OutageMode::kRefuse;
  } else if (outage_mode == "blackhole") {
    channel->outage_mode = OutageMode::kBlackhole;
  } else {
    return Bad(where + ".outage_mode", "must be \"refuse\" or \"blackhole\"");
  }
  if (const json::value* outages = read.Find("outages"); outages != nullptr) {
    Status status = ParseOutages(*outages, where + ".outages", &channel->outages);
    if (!status.ok()) return status;
  }
  if (const json::value* async = read.Find("async"); async != nullptr && !async->is_null()) {
    channel->async.emplace();
    Status status = ParseAsync(*async, where + ".async", &*channel->async);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace

Status ParseSimChannelsConfig(const std::string& json_text, SimOptions* options) {
  boost::system::error_code ec;
  const json::value root = json::parse(json_text, ec);
  if (ec || !root.is_object()) return Bad("the file", "must hold one JSON object");
  const json::object& object = root.get_object();
  Status known =
      OnlyKnownFields(object, "", {"channels", "seed", "callback_threads", "callback_queue_max"});
  if (!known.ok()) return known;
  const json::value* channels = object.if_contains("channels");
  if (channels == nullptr || !channels->is_array() || channels->get_array().empty()) {
    return Bad(".channels", "must be a non-empty array");
  }
  SimOptions parsed = *options;
  parsed.channels.clear();
  FieldReader read(object, "");
  int64_t callback_threads = parsed.callback_threads;
  int64_t callback_queue_max = static_cast<int64_t>(parsed.callback_queue_max);
  read.Unsigned("seed", &parsed.seed);
  read.Integer("callback_threads", &callback_threads);
  read.Integer("callback_queue_max", &callback_queue_max);
  if (!read.status().ok()) return read.status();
  if (callback_threads < 1 || callback_threads > 64)
    return Bad(".callback_threads", "must be in [1, 64]");
  if (callback_queue_max < 1) return Bad(".callback_queue_max", "must be positive");
  for (size_t i = 0; i < channels->get_array().size(); ++i) {
    ChannelSimOptions channel;
    Status status =
        ParseChannel(channels->get_array()[i], ".channels[" + std::to_string(i) + "]", &channel);
    if (!status.ok()) return status;
    parsed.channels.push_back(std::move(channel));
  }
  parsed.callback_threads = static_cast<int>(callback_threads);
  parsed.callback_queue_max = static_cast<size_t>(callback_queue_max);
  *options = std::move(parsed);
  return Status::Ok();
}

Status LoadSimChannelsConfig(const std::string& path, SimOptions* options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Unavailable("sim_config_file", "cannot read " + path);
  std::ostringstream text;
  text << file.rdbuf();
  if (text.str().size() > kMaxConfigBytes) return Bad(path, "is larger than 1 MiB");
  return ParseSimChannelsConfig(text.str(), options);
}

}  // namespace topup::sim
