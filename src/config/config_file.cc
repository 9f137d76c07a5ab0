#include "config/config_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <sstream>

namespace topup::config {
namespace {

Status Refused(const std::string& path, int64_t line, const std::string& key,
               const std::string& why) {
  std::string message = path + ":" + std::to_string(line) + ":";
  if (!key.empty()) message += " key \"" + key + "\":";
  return InvalidArgument("config_file_refused", message + " " + why);
}

// `attempt_timeout_ms` and `attempt-timeout-ms` name the same key.
std::string CanonicalKey(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// The option whose long name is `key`, or null.
CLI::Option* FindOption(CLI::App* command, const std::string& key) {
  for (CLI::Option* option : command->get_options()) {
    const std::vector<std::string>& names = option->get_lnames();
    if (std::find(names.begin(), names.end(), key) != names.end()) return option;
  }
  return nullptr;
}

// A scalar value as the command line would have spelled it; false for arrays and tables.
bool AsFlagValue(const toml::node& node, std::string* out) {
  if (const auto* text = node.as_string()) {
    *out = text->get();
  } else if (const auto* integer = node.as_integer()) {
    *out = std::to_string(integer->get());
  } else if (const auto* floating = node.as_floating_point()) {
    std::ostringstream formatted;
    formatted << floating->get();
    *out = formatted.str();
  } else if (const auto* boolean = node.as_boolean()) {
    *out = boolean->get() ? "true" : "false";
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::set<std::string> ConfigKeys(const CLI::App& command,
                                 const std::set<std::string>& refused_keys) {
  std::set<std::string> keys;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& name : option->get_lnames()) {
      if (name != "help" && !refused_keys.contains(name)) keys.insert(name);
    }
  }
  return keys;
}

Status ApplyConfigFile(const std::string& path, CLI::App* command,
                       const std::set<std::string>& refused_keys) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    const int64_t line = error.source().begin.line;
    return Refused(path, line, "", std::string(error.description()));
  }
  const std::set<std::string> known = ConfigKeys(*command, refused_keys);
  for (const auto& [toml_key, node] : table) {
    const std::string written(toml_key.str());
    const std::string key = CanonicalKey(written);
    const int64_t line = toml_key.source().begin.line;
    if (!known.contains(key)) return Refused(path, line, written, "no such setting");
    // A scalar, or for a flag that may be repeated, an array of scalars.
    std::vector<std::string> values;
    bool scalars = true;
    if (const toml::array* array = node.as_array()) {
      for (const toml::node& element : *array) {
        scalars = scalars && AsFlagValue(element, &values.emplace_back());
      }
    } else {
      scalars = AsFlagValue(node, &values.emplace_back());
    }
    if (!scalars) {
      return Refused(path, line, written,
                     "must be a string, a number, a boolean or an array of them");
    }
    CLI::Option* option = FindOption(command, key);
    if (option->count() > 0) continue;  // given on the command line: it wins
    if (values.empty()) continue;       // an empty array: the flag not given
    // The option's own conversion and checks, as for values given on the command line.
    try {
      option->clear();
      for (std::string& value : values) option->add_result(std::move(value));
      option->run_callback();
    } catch (const CLI::Error& error) {
      return Refused(path, line, written, error.what());
    }
  }
  return Status::Ok();
}

}  // namespace topup::config
