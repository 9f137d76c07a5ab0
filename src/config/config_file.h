// ConfigFile: a command's flags read from a TOML file (toml++), for `topup serve --config FILE`.
//
// Every long flag of the command is a top-level key of the same name without its dashes
// (`attempt-timeout-ms = 10000`; `attempt_timeout_ms` is the same key); a flag that may be
// repeated takes an array (`merchant-rate = ["shop1=50", "shop2=5:10"]`). A flag given on the
// command line (or through its environment variable) wins over the file; the file wins over the
// built-in default. The file is refused as a whole, naming the file, the line and the key, when it
// is not valid TOML, holds a key no flag has, or holds a value the flag would refuse on the
// command line (wrong type or out of range).
#pragma once

#include <CLI/CLI.hpp>

#include <set>
#include <string>

#include "topup/status.h"

namespace topup::config {

// Applies the file at `path` to the options of `command` that were not given. Keys in
// `refused_keys` (e.g. "config" itself) count as unknown. Must run after `command` was parsed
// and before its values are used. Errors: InvalidArgument("config_file_refused") with the
// message "FILE:LINE: key \"KEY\": why".
Status ApplyConfigFile(const std::string& path, CLI::App* command,
                       const std::set<std::string>& refused_keys = {});

// The keys a file may hold for `command`: the long names of its options, without dashes.
std::set<std::string> ConfigKeys(const CLI::App& command,
                                 const std::set<std::string>& refused_keys);

}  // namespace topup::config
