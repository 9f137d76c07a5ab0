#include "api/strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <set>
#include <string>
#include <vector>

namespace topup::api {
namespace {

namespace json = boost::json;
using boost::system::error_code;

// A basic_parser handler that keeps nothing but the keys of the objects being read, to find a
// repeated one. The depth is bounded by the parser (parse_options::max_depth).
class DuplicateKeyFinder {
 public:
  static constexpr size_t max_object_size = size_t(-1);
  static constexpr size_t max_array_size = size_t(-1);
  static constexpr size_t max_key_size = size_t(-1);
  static constexpr size_t max_string_size = size_t(-1);

  bool found() const { return found_; }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(size_t, error_code&) { return true; }
  bool on_object_begin(error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(size_t, error_code&) {
    keys_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, size_t, error_code&) { return true; }
  bool on_string(json::string_view, size_t, error_code&) { return true; }
  bool on_key_part(json::string_view part, size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, size_t, error_code& ec) {
    key_.append(part.data(), part.size());
    const bool inserted = keys_.back().insert(std::move(key_)).second;
    key_.clear();
    if (!inserted) {
      found_ = true;
      ec = json::error::syntax;  // stops the parse
      return false;
    }
    return true;
  }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, error_code&) { return true; }
  bool on_double(double, json::string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  std::vector<std::set<std::string>> keys_;  // one set per object open at this point
  std::string key_;                          // the key being read
  bool found_ = false;
};

}  // namespace

Result<json::value> ParseJsonStrict(std::string_view text) {
  json::basic_parser<DuplicateKeyFinder> finder(json::parse_options{});
  error_code ec;
  finder.write_some(false, text.data(), text.size(), ec);
  if (finder.handler().found()) {
    return InvalidArgument("duplicate_json_key", "a JSON object in the body has a key twice");
  }
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return InvalidArgument("malformed_json", "request body is not valid JSON");
  return value;
}

}  // namespace topup::api
