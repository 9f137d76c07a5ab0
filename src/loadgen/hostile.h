// The hostile supplier: one that misbehaves the way real recharge suppliers do, for `topup
// hostile` and its tests. It credits the phone and then answers 5xx, truncated JSON, HTML or
// key=value text, or a status the protocol does not have (about a third of its answers); it resets
// connections before reading them; it answers "processing" for a minute; its query index lags
// 20 s; its queries fail now and then; it loses some answers altogether; it does not deduplicate.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace topup::loadgen {

// `topup sim` flags that make the channel at the root paths hostile.
std::vector<std::string> HostileSimFlags();
// The same channel as an entry of `topup sim --channels-config`.
boost::json::object HostileSimChannel(std::string name);

}  // namespace topup::loadgen
