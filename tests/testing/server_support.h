// Small helpers shared by the private test servers.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "topup/status.h"

namespace topup::testing {

// The path of an executable found on PATH, in the usual system directories or in `extra_dirs`
// (colon-separated); empty if none.
std::string FindExecutable(const std::string& name, const std::string& extra_dirs = "");

// A new empty directory under the system's temporary directory, named prefix + random.
Result<std::string> MakeTempDir(const std::string& prefix);

// True once the child has exited (it is a zombie until its parent reaps it) or is gone.
bool ChildExited(pid_t pid);

// The last `max_lines` lines of a log file, each indented, for error messages.
std::string LastLines(const std::string& path, size_t max_lines);

}  // namespace topup::testing
