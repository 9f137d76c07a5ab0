#include "engine/channel_config.h"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "core/validation.h"

namespace topup {
namespace {

namespace json = boost::json;

Status Invalid(const std::string& what) { return InvalidArgument("invalid_channel_config", what); }

std::optional<Carrier> ParseCarrier(std::string_view name) {
  for (Carrier c : {Carrier::kChinaMobile, Carrier::kChinaUnicom, Carrier::kChinaTelecom,
                    Carrier::kChinaBroadnet}) {
    if (CarrierName(c) == name) return c;
  }
  return std::nullopt;
}

// Reads an optional integer field into *out, checking [min, max].
Status ReadInt(const json::object& object, const char* field, int64_t min, int64_t max,
               const std::string& where, auto* out) {
  const json::value* value = object.if_contains(field);
  if (value == nullptr) return Status::Ok();
  if (!value->is_int64() || value->as_int64() < min || value->as_int64() > max) {
    return Invalid(where + "." + field + " must be an integer in [" + std::to_string(min) + ", " +
                   std::to_string(max) + "]");
  }
  *out = static_cast<std::remove_reference_t<decltype(*out)>>(value->as_int64());
  return Status::Ok();
}

Result<ChannelConfig> ParseChannel(const json::value& value, size_t index) {
  std::string where = "channels[" + std::to_string(index) + "]";
  if (!value.is_object()) return Invalid(where + " must be an object");
  const json::object& object = value.as_object();
  ChannelConfig channel;
  const json::value* name = object.if_contains("name");
  if (name == nullptr || !name->is_string() ||
      !IsValidIdentifier(json::value_to<std::string>(*name))) {
    return Invalid(where + ".name must be 1-64 characters of [A-Za-z0-9_.-]");
  }
  channel.name = json::value_to<std::string>(*name);
  where = "channel " + channel.name;
  const json::value* url = object.if_contains("base_url");
  if (url == nullptr || !url->is_string()) return Invalid(where + ".base_url is required");
  channel.base_url = json::value_to<std::string>(*url);
  if (const json::value* carriers = object.if_contains("carriers")) {
    if (!carriers->is_array()) return Invalid(where + ".carriers must be an array");
    for (const json::value& c : carriers->as_array()) {
      std::optional<Carrier> carrier =
          c.is_string() ? ParseCarrier(c.as_string().c_str()) : std::nullopt;
      if (!carrier) return Invalid(where + ".carriers has an unknown carrier");
      channel.carriers.insert(*carrier);
    }
  }
  if (const json::value* faces = object.if_contains("face_values")) {
    if (!faces->is_array()) return Invalid(where + ".face_values must be an array");
    for (const json::value& f : faces->as_array()) {
      if (!f.is_int64()) return Invalid(where + ".face_values must hold integers (yuan)");
      channel.face_values.insert(static_cast<int32_t>(f.as_int64()));
    }
  }
  for (Status s :
       {ReadInt(object, "priority", 0, 1000, where, &channel.priority),
        ReadInt(object, "weight", 1, 1000, where, &channel.weight),
        ReadInt(object, "max_concurrent_attempts", 1, 100'000, where,
                &channel.max_concurrent_attempts),
        ReadInt(object, "max_connections", 1, 200'000, where, &channel.max_connections),
        ReadInt(object, "new_connections_per_s", 1, 1'000'000, where,
                &channel.new_connections_per_s),
        ReadInt(object, "attempt_timeout_ms", 100, 600'000, where, &channel.attempt_timeout_ms),
        ReadInt(object, "query_timeout_ms", 100, 600'000, where, &channel.query_timeout_ms),
        ReadInt(object, "query_interval_ms", 10, 600'000, where, &channel.query_interval_ms)}) {
    if (!s.ok()) return s;
  }
  if (const json::value* rate = object.if_contains("rate_limit_per_s")) {
    if (!rate->is_number() || rate->to_number<double>() < 0) {
      return Invalid(where + ".rate_limit_per_s must be a number >= 0");
    }
    channel.rate_limit_per_s = rate->to_number<double>();
  }
  if (const json::value* ca_file = object.if_contains("ca_file")) {
    if (!ca_file->is_string()) return Invalid(where + ".ca_file must be a string");
    channel.ca_file = json::value_to<std::string>(*ca_file);
  }
  if (const json::value* secret = object.if_contains("callback_secret")) {
    if (!secret->is_string()) return Invalid(where + ".callback_secret must be a string");
    channel.callback_secret = json::value_to<std::string>(*secret);
  }
  return channel;
}

}  // namespace

Result<RoutingConfig> ParseRoutingConfig(const std::string& json_text) {
  boost::system::error_code error;
  json::value root = json::parse(json_text, error);
  if (error || !root.is_object()) return Invalid("the file is not a JSON object");
  RoutingConfig config;
  const json::value* channels = root.as_object().if_contains("channels");
  if (channels == nullptr || !channels->is_array() || channels->as_array().empty()) {
    return Invalid("\"channels\" must be a non-empty array");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < channels->as_array().size(); ++i) {
    Result<ChannelConfig> channel = ParseChannel(channels->as_array()[i], i);
    if (!channel.ok()) return channel.status();
    if (!names.insert(channel->name).second) {
      return Invalid("channel name \"" + channel->name + "\" appears twice");
    }
    config.channels.push_back(std::move(*channel));
  }
  if (const json::value* ported = root.as_object().if_contains("ported_numbers")) {
    if (!ported->is_object()) return Invalid("\"ported_numbers\" must be an object");
    for (const auto& [phone, carrier_name] : ported->as_object()) {
      std::optional<Carrier> carrier =
          carrier_name.is_string() ? ParseCarrier(carrier_name.as_string().c_str()) : std::nullopt;
      if (!carrier)
        return Invalid("ported number " + std::string(phone) + " has an unknown carrier");
      config.ported_numbers[std::string(phone)] = *carrier;
    }
  }
  return config;
}

Result<RoutingConfig> LoadRoutingConfig(const std::string& path) {
  std::ifstream file(path);
  if (!file) return InvalidArgument("invalid_channel_config", "cannot read " + path);
  std::stringstream text;
  text << file.rdbuf();
  return ParseRoutingConfig(text.str());
}

}  // namespace topup
