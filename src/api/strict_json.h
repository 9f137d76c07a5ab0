// JSON parsing that refuses what a lenient parser would quietly resolve: an object with the same
// key twice ("merchant_id" twice would otherwise mean whichever one the parser keeps).
#pragma once

#include <string_view>

#include <boost/json/value.hpp>

#include "topup/status.h"

namespace topup::api {

// The value of `text`. InvalidArgument("duplicate_json_key") if any object, at any depth, has a
// key twice; InvalidArgument("malformed_json") if it is not JSON. Messages never repeat input.
Result<boost::json::value> ParseJsonStrict(std::string_view text);

}  // namespace topup::api
